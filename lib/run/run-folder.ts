// A run on disk: config.json (the resolved config), splits.json (which images each split holds),
// metrics.jsonl (one line per epoch and phase), one folder per phase with its checkpoints and result,
// and the reports. Files are written to a temporary name and renamed, so a stopped run never leaves
// half a file.
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { writeFileAtomicSync } from '../atomic-write.js';
import { PRESETS } from '../config/presets.js';
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

/**
 * A run's config.json as this version reads it: renamed values under their current names, and a
 * `distributed` section, or fields of it, that the run predates at what are now their defaults (what it
 * ran with).
 */
function readSavedConfig(file: string): Config {
  const saved = withCurrentNames(readJson<Config>(file) as Config, file);
  const defaults = PRESETS[saved.preset]?.distributed ?? PRESETS.article.distributed;
  return { ...saved, distributed: { ...defaults, ...saved.distributed } };
}

export class RunFolder {
  private constructor(
    readonly dir: string,
    readonly config: Config,
  ) {}

  /** Makes the run folder (config.output, else runs/<command>-<time>) and saves the resolved config. */
  static create(config: Config, command: string): RunFolder {
    const dir = config.output ?? defaultRunDir(command);
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      throw new KdtorchError(
        'E_INVALID_CONFIG',
        `${dir}: cannot make the run folder (${code}); choose another output`,
        {
          field: 'output',
          file: dir,
          cause: error,
        },
      );
    }
    const resolved = { ...config, output: dir };
    const file = path.join(dir, 'config.json');
    if (fs.existsSync(file)) {
      const saved = readSavedConfig(file);
      // Phases of one experiment share a folder; a different experiment must not overwrite it. Compared
      // as JSON values, whatever the order of their keys (a section an older run lacked is filled in last).
      if (!isDeepStrictEqual(saved, JSON.parse(JSON.stringify(resolved)))) {
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
    return new RunFolder(path.resolve(dir), readSavedConfig(file));
  }

  /**
   * Claims the folder for this process's writes until the returned handle is disposed (or the process
   * exits): a second writer (a live pid in .lock) is refused, as two runs with one --output would
   * interleave their metrics and checkpoints. A dead writer's lock and the temporary files it left (a
   * kill -9 mid-write) are removed. Calls of one process on one folder share its lock.
   */
  lock(): Disposable {
    const file = path.join(this.dir, '.lock');
    const held = heldLocks.get(file);
    if (held) {
      held.count++;
    } else {
      acquireLock(file, this.dir);
      const remove = () => fs.rmSync(file, { force: true });
      process.once('exit', remove);
      heldLocks.set(file, { count: 1, remove });
      removeDeadTemporaries(this.dir);
    }
    let disposed = false;
    return {
      [Symbol.dispose]: () => {
        const lock = heldLocks.get(file);
        if (disposed || !lock) return;
        disposed = true;
        if (--lock.count > 0) return;
        heldLocks.delete(file);
        process.off('exit', lock.remove);
        lock.remove();
      },
    };
  }

  /** metrics.jsonl as the checkpoint a phase resumes from knows it: lines a killed run wrote after its checkpoint go. */
  rewriteMetrics(phase: Phase, history: readonly object[]): void {
    const file = path.join(this.dir, 'metrics.jsonl');
    if (!fs.existsSync(file)) return;
    const others = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '' && (JSON.parse(line) as { phase?: string }).phase !== phase);
    const lines = [...others, ...history.map((record) => JSON.stringify(record))];
    writeFileAtomicSync(file, lines.map((line) => `${line}\n`).join(''));
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
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (error) {
    throw new KdtorchError(
      'E_BAD_RUN_FILE',
      `${file}: the run folder's file is damaged (${(error as Error).message}); delete it to redo that step, or start a new run`,
      { file, cause: error },
    );
  }
}

/** This process's run-folder locks: how many calls hold each, and the exit hook that removes it. */
const heldLocks = new Map<string, { count: number; remove: () => void }>();

/** Creates `file` holding this pid, atomically (link(2)); a dead pid's lock is taken over. */
function acquireLock(file: string, dir: string): void {
  const claim = `${file}.${process.pid}`;
  fs.writeFileSync(claim, `${process.pid}\n`);
  try {
    for (;;) {
      try {
        fs.linkSync(claim, file); // the lock appears with its pid in it, or not at all
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
        if (isAlive(pid) && pid !== process.pid) {
          throw new KdtorchError(
            'E_RUN_LOCKED',
            `${dir} is in use by another kdtorch process (pid ${pid}); wait for it, stop it, or choose another output folder`,
            { file },
          );
        }
        fs.rmSync(file, { force: true }); // a dead writer's, or one this process left behind
      }
    }
  } finally {
    fs.rmSync(claim, { force: true });
  }
}
function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The temporary files of writers no longer alive: lib/atomic-write.ts's `<file>.<pid>.tmp`, safetensors.cc's `<file>.tmp-<pid>`. */
function removeDeadTemporaries(dir: string): void {
  const folders = [dir, ...PHASES.map((phase) => path.join(dir, phase))];
  for (const folder of folders) {
    for (const name of fs.existsSync(folder) ? fs.readdirSync(folder) : []) {
      const pid = /\.(\d+)\.tmp$|\.tmp-(\d+)$/.exec(name);
      if (pid && !isAlive(Number(pid[1] ?? pid[2]))) fs.rmSync(path.join(folder, name), { force: true });
    }
  }
}

/**
 * The run folder a model file sits in (<run>/<phase>/best.safetensors), when it does: what evaluation
 * reads the run's split from.
 */
export function runFolderOf(modelFile: string): RunFolder | undefined {
  const dir = path.dirname(path.dirname(path.resolve(modelFile)));
  return fs.existsSync(path.join(dir, 'config.json')) ? RunFolder.open(dir) : undefined;
}
