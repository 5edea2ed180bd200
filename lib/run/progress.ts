// What a training run tells its caller while it works, and the console's rendering of it: one
// rewritten line on a terminal, plain lines otherwise, JSON lines with --json.
import type { Phase } from './run-folder.js';

export interface BatchProgress {
  type: 'batch';
  phase: Phase;
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  /** Mean training loss of the epoch so far; null until the first read (about a second in). */
  loss: number | null;
  imagesPerSecond: number;
  /** Seconds left in this phase at the current pace. */
  etaSeconds: number;
}

export interface EpochRecord {
  phase: Phase;
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number;
  valAccuracy: number;
  lr: number;
  seconds: number;
  imagesPerSecond: number;
}

export type ProgressEvent =
  | BatchProgress
  | ({ type: 'epoch'; epochs: number; best: boolean } & EpochRecord)
  | { type: 'phase'; phase: Phase; state: 'start' | 'done' | 'stopped'; runDir: string; message: string };

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Plain (non-TTY) batch lines at most this often: logs stay short, long epochs still show life. */
const PLAIN_INTERVAL_MS = 10_000;

/** A progress callback writing to `stream`: JSON lines, a live line on a TTY, or a plain line every 10 s. */
export function consoleProgress(options: {
  json?: boolean;
  stream?: NodeJS.WriteStream;
}): (event: ProgressEvent) => void {
  const stream = options.stream ?? process.stderr;
  const live = !options.json && stream.isTTY === true;
  let lineOpen = false;
  let lastPlain = performance.now();
  const endLine = () => {
    if (lineOpen) stream.write('\n');
    lineOpen = false;
  };
  return (event) => {
    if (options.json) {
      stream.write(`${JSON.stringify(event)}\n`);
      return;
    }
    if (event.type === 'batch') {
      if (!live) {
        if (performance.now() - lastPlain < PLAIN_INTERVAL_MS) return;
        lastPlain = performance.now();
      }
      const line =
        `${event.phase} epoch ${event.epoch}/${event.epochs} batch ${event.batch}/${event.batches}` +
        `  loss ${event.loss === null ? '…' : event.loss.toFixed(4)}  ${event.imagesPerSecond.toFixed(0)} img/s  ETA ${formatSeconds(event.etaSeconds)}`;
      if (live) {
        stream.write(`\r\x1b[K${line}`);
        lineOpen = true;
      } else {
        stream.write(`${line}\n`);
      }
      return;
    }
    endLine();
    lastPlain = performance.now();
    if (event.type === 'epoch') {
      stream.write(
        `${event.phase} epoch ${event.epoch}/${event.epochs}: train loss ${event.trainLoss.toFixed(4)} acc ${(100 * event.trainAccuracy).toFixed(1)}%` +
          `  val loss ${event.valLoss.toFixed(4)} acc ${(100 * event.valAccuracy).toFixed(1)}%` +
          `  ${formatSeconds(event.seconds)}, ${event.imagesPerSecond.toFixed(0)} img/s${event.best ? '  (best)' : ''}\n`,
      );
    } else {
      stream.write(`${event.message}\n`);
    }
  };
}
