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
  /** Mean training loss of the epoch so far. */
  loss: number;
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

/** A progress callback writing to `stream`: JSON lines, a live line on a TTY, or a line per tenth of an epoch. */
export function consoleProgress(options: {
  json?: boolean;
  stream?: NodeJS.WriteStream;
}): (event: ProgressEvent) => void {
  const stream = options.stream ?? process.stderr;
  const live = !options.json && stream.isTTY === true;
  let lineOpen = false;
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
      const tenth = Math.max(1, Math.round(event.batches / 10));
      if (!live && event.batch % tenth !== 0 && event.batch !== event.batches) return;
      const line =
        `${event.phase} epoch ${event.epoch}/${event.epochs} batch ${event.batch}/${event.batches}` +
        `  loss ${event.loss.toFixed(4)}  ${event.imagesPerSecond.toFixed(0)} img/s  ETA ${formatSeconds(event.etaSeconds)}`;
      if (live) {
        stream.write(`\r\x1b[K${line}`);
        lineOpen = true;
      } else {
        stream.write(`${line}\n`);
      }
      return;
    }
    endLine();
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
