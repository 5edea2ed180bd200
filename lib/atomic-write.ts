// Every file kdtorch writes is written whole to a temporary name beside it, then renamed over it, so a
// reader (or a run stopped mid-write) never sees half a file. native/core/safetensors.cc does the same.
import fs from 'node:fs';
import path from 'node:path';

/** The temporary name a writer in this process uses for `file`. */
function temporaryName(file: string): string {
  return `${file}.${process.pid}.tmp`;
}

export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = temporaryName(file);
  fs.writeFileSync(temp, data);
  fs.renameSync(temp, file);
}

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const temp = temporaryName(file);
  await fs.promises.writeFile(temp, data);
  await fs.promises.rename(temp, file);
}
