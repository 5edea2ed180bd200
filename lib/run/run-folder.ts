// A run on disk: config.json (the resolved config), splits.json (which images each split holds),
// metrics.jsonl (one line per epoch and phase), one folder per phase with its checkpoints and result,
// and the reports. Files are written to a temporary name and renamed, so a stopped run never leaves
// half a file.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../atomic-write.js';
import { withCurrentNames } from '../config/resolve.js';
import type { Config } from '../config/schema.js';
import type { SplitRecord } from '../data/splits.js';
import { KdtorchError } from '../errors.js';

export type Phase = 'teacher' | 'student' | 'distill';

export const PHASES: readonly Phase[] = ['teacher', 'student', 'distill'];

/** runs/<command>-<UTC time> under the working directory. */
export function defaultRunDir(command: string, date = new Date()): string {
  return path.resolve('runs', `${command}-${date.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`);
}

export class RunFolder {
  private constructor(
    readonly dir: string,
    readonly config: Config,
  ) {}

  /** Makes the run folder (config.output, else runs/<command>-<time>) and saves the resolved config. */
  static create(config: Config, command: string): RunFolder {
    const dir = config.output ?? defaultRunDir(command);
    const resolved = { ...config, output: dir };
    const file = path.join(dir, 'config.json');
    if (fs.existsSync(file)) {
      const saved = withCurrentNames(JSON.parse(fs.readFileSync(file, 'utf8')) as Config, file);
      // Phases of one experiment share a folder; a different experiment must not overwrite it.
      if (JSON.stringify(saved) !== JSON.stringify(resolved)) {
        throw new KdtorchError(
          'E_INVALID_CONFIG',
          `${dir} already holds a run with another config; choose another output folder, or --resume ${dir}`,
          { field: 'output', file },
        );
      }
    } else {
      writeFileAtomicSync(file, `${JSON.stringify(resolved, null, 2)}\n`);
    }
    return new RunFolder(dir, resolved);
  }

  /** An existing run, for --resume: its config is the one it started with. */
  static open(dir: string): RunFolder {
    const file = path.join(path.resolve(dir), 'config.json');
    if (!fs.existsSync(file)) {
      throw new KdtorchError(
        'E_RUN_NOT_FOUND',
        `${dir}: not a kdtorch run folder (no config.json); give the folder a run printed`,
        {
          file: dir,
        },
      );
    }
    return new RunFolder(
      path.resolve(dir),
      withCurrentNames(JSON.parse(fs.readFileSync(file, 'utf8')) as Config, file),
    );
  }

  /** Model, optimizer and loop position after the last finished batch: what --resume continues from. */
  checkpoint(phase: Phase): string {
    return path.join(this.dir, phase, 'last.safetensors');
  }

  /** The weights with the best validation accuracy, with their description (loadModel reads it). */
  best(phase: Phase): string {
    return path.join(this.dir, phase, 'best.safetensors');
  }

  /** What a finished phase returned (PhaseResult); its presence marks the phase done. */
  resultFile(phase: Phase): string {
    return path.join(this.dir, phase, 'result.json');
  }

  /** The split every phase of the run trains, validates and tests on (SplitRecord). */
  get splitsFile(): string {
    return path.join(this.dir, 'splits.json');
  }

  appendMetrics(record: object): void {
    fs.appendFileSync(path.join(this.dir, 'metrics.jsonl'), `${JSON.stringify(record)}\n`);
  }

  readSplits(): SplitRecord | undefined {
    return readJson<SplitRecord>(this.splitsFile);
  }

  writeSplits(record: SplitRecord): void {
    writeJson(this.splitsFile, record);
  }

  readResult<T>(phase: Phase): T | undefined {
    return readJson<T>(this.resultFile(phase));
  }

  writeResult(phase: Phase, result: unknown): void {
    writeJson(this.resultFile(phase), result);
  }
}

function writeJson(file: string, value: unknown): void {
  writeFileAtomicSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

function readJson<T>(file: string): T | undefined {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : undefined;
}

/**
 * The run folder a model file sits in (<run>/<phase>/best.safetensors), when it does: what evaluation
 * reads the run's split from.
 */
export function runFolderOf(modelFile: string): RunFolder | undefined {
  const dir = path.dirname(path.dirname(path.resolve(modelFile)));
  return fs.existsSync(path.join(dir, 'config.json')) ? RunFolder.open(dir) : undefined;
}
