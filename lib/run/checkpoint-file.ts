// Checkpoints that resume only when intact: each is saved beside a sha256 of its bytes, the one before
// it kept as <name>.previous, so a checkpoint damaged on disk (flipped bits, a torn copy) falls back to
// the previous good one instead of resuming from wrong weights.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { writeFileAtomicSync } from '../atomic-write.js';
import { KdtorchError } from '../errors.js';

const digestOf = (file: string) => `${file}.sha256`;
const previousOf = (file: string) => file.replace(/\.safetensors$/, '.previous.safetensors');

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function intact(file: string): boolean {
  return (
    fs.existsSync(file) &&
    fs.existsSync(digestOf(file)) &&
    fs.readFileSync(digestOf(file), 'utf8').trim() === sha256(file)
  );
}

/**
 * Saves through `write` (which writes `file` atomically), keeping the checkpoint before it as the fallback.
 * The one kept is not hashed again here: resume checks whichever it reads.
 */
export async function saveCheckpointFile(file: string, write: (file: string) => Promise<void>): Promise<void> {
  if (fs.existsSync(file) && fs.existsSync(digestOf(file))) {
    fs.renameSync(digestOf(file), digestOf(previousOf(file)));
    fs.renameSync(file, previousOf(file));
  }
  await write(file);
  writeFileAtomicSync(digestOf(file), `${sha256(file)}\n`);
}

/**
 * The checkpoint to resume from: `file` when its digest matches, else the previous one when it does
 * (`onFallback` says why), else none when neither exists. A checkpoint that exists but matches nothing
 * is an E_BAD_WEIGHTS_FILE naming it.
 */
export function intactCheckpoint(file: string, onFallback: (message: string) => void): string | undefined {
  if (intact(file)) return file;
  const previous = previousOf(file);
  if (intact(previous)) {
    if (fs.existsSync(file)) onFallback(`${file} does not match its sha256 (damaged); resuming from ${previous}`);
    return previous;
  }
  if (!fs.existsSync(file) && !fs.existsSync(previous)) return undefined;
  throw new KdtorchError(
    'E_BAD_WEIGHTS_FILE',
    `${file}: the checkpoint does not match its sha256 and no intact previous one is left; delete ${file} to restart the phase`,
    { file },
  );
}
