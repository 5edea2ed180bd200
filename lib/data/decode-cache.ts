// Every image decoded and resized once: pixels kept as uint8 in memory and, optionally, in a file
// cache keyed by the file's path, size and mtime and by the decode settings, so a second run skips
// decoding altogether. Failures are remembered too, so a bad file is reported once.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { DECODE_SETTINGS, type DecodeOptions, decodeImage } from './decode.js';

export class DecodeCache {
  private readonly memory = new Map<string, Promise<Uint8Array>>();
  private readonly ready = new Map<string, Uint8Array>();
  /** Images decoded from their files (not found in memory or the file cache). */
  decoded = 0;
  /** Images read back from the file cache. */
  fromFiles = 0;

  /** @param directory where the file cache lives; none keeps the cache in memory only */
  constructor(
    readonly options: DecodeOptions,
    readonly directory?: string,
  ) {}

  get(file: string): Promise<Uint8Array> {
    let pixels = this.memory.get(file);
    if (!pixels) {
      pixels = this.load(file).then((decoded) => {
        this.ready.set(file, decoded);
        return decoded;
      });
      this.memory.set(file, pixels);
    }
    return pixels;
  }

  /** The pixels of `file` if they are already decoded: cached epochs assemble batches without awaiting. */
  peek(file: string): Uint8Array | undefined {
    return this.ready.get(file);
  }

  get size(): number {
    return this.memory.size;
  }

  private async load(file: string): Promise<Uint8Array> {
    if (!this.directory) {
      this.decoded++;
      return decodeImage(file, this.options);
    }
    const stat = await fs.stat(file).catch(() => undefined);
    const key = createHash('sha256')
      .update(JSON.stringify([path.resolve(file), stat?.size, stat?.mtimeMs, this.options, DECODE_SETTINGS]))
      .digest('hex');
    const cached = path.join(this.directory, key.slice(0, 2), `${key}.u8`);
    const expected = this.options.height * this.options.width * this.options.channels;
    const bytes = await fs.readFile(cached).catch(() => undefined);
    if (bytes?.length === expected) {
      this.fromFiles++;
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    this.decoded++;
    const pixels = await decodeImage(file, this.options);
    await writeFileAtomic(cached, pixels);
    return pixels;
  }
}
