// kdtorch teacher | student | distill | demo: a config from the flags, a run with progress on the
// terminal, Ctrl-C to stop cleanly, and the comparison table at the end; with --nproc-per-node, the
// launcher of the ranks (launcher.ts); started with torchrun's variables, one rank of them.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { distill, type RunOptions, trainStudent, trainTeacher } from '../api/train.js';
import { resolveConfig } from '../config/resolve.js';
import type { Config, ConfigInput } from '../config/schema.js';
import { openDataset } from '../data/dataset.js';
import { findPackageRoot } from '../native/libtorch.mjs';
import { backendFor, joinProcessGroup } from '../native/process-group.js';
import { consoleProgress } from '../run/progress.js';
import { finishedPhases, markdownTable, reportRows } from '../run/report.js';
import { defaultRunDir, RunFolder } from '../run/run-folder.js';
import { CONFIG_FLAGS, configFromFlags, withNegativeValues } from './config-flags.js';
import { LAUNCH_FLAGS, launchFromFlags, launchRanks } from './launcher.js';
import { UsageError } from './model-commands.js';

const TRAIN_FLAGS = {
  ...CONFIG_FLAGS,
  ...LAUNCH_FLAGS,
  resume: { type: 'string' },
  json: { type: 'boolean' },
  'print-config': { type: 'boolean' },
  teacher: { type: 'string' },
} as const;

/** The bundled demo subset (demo/chest_xray, CC BY 4.0, see its README). */
export const DEMO_DATA = path.join(findPackageRoot(), 'demo', 'chest_xray');

/** An AbortSignal fired by the first Ctrl-C; a second one quits at once. */
function interruptSignal(log: (line: string) => void): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    log('stopping after this batch and saving a checkpoint (Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

function write(json: boolean, value: object, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

type Command = 'teacher' | 'student' | 'distill' | 'demo';

/** Resolves with the exit code of the ranks when it launched them, else when the run is done. */
export async function runTraining(command: Command, args: string[]): Promise<number | undefined> {
  const normalised = withNegativeValues(args, TRAIN_FLAGS);
  const { values, tokens } = parseArgs({
    args: normalised,
    options: TRAIN_FLAGS,
    strict: true,
    tokens: true,
  });
  const phases = command === 'demo' ? (['teacher', 'student', 'distill'] as const) : ([command] as const);
  let input: ConfigInput = configFromFlags(values, phases);
  if (command === 'demo') {
    input = { preset: 'quick', output: defaultRunDir('demo'), ...input, data: { root: DEMO_DATA, ...input.data } };
  }
  if (values.teacher !== undefined) input = { ...input, distill: { ...input.distill, teacher: values.teacher } };
  const json = values.json === true;
  const source = values.config ? `${values.config} and flags` : 'flags';
  const resolved = () => (values.resume ? RunFolder.open(values.resume).config : resolveConfig(input, source));
  const launch = launchFromFlags(values);
  if (launch) {
    if (command === 'demo') {
      throw new UsageError('kdtorch demo runs in one process; launch teacher, student or distill');
    }
    const { threadsPerRank } = resolved().distributed;
    return await launchRanks(launch, [command, ...withoutLaunchFlags(normalised, tokens)], threadsPerRank);
  }
  if (values['print-config']) {
    const config = resolved();
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return;
  }
  // A rank started by a launcher (this one, torchrun, srun) finds where to meet the others in its environment.
  if (process.env.WORLD_SIZE !== undefined && command === 'demo') {
    throw new UsageError('kdtorch demo runs in one process, not as a rank');
  }
  const processGroup = process.env.WORLD_SIZE === undefined ? undefined : await joinFromEnvironment(resolved());
  const speaks = !processGroup || processGroup.rank === 0; // one rank prints progress and results
  const progress = consoleProgress(json ? { json, stream: process.stdout } : {});
  const { signal, dispose } = interruptSignal((line) => speaks && process.stderr.write(`\n${line}\n`));
  const options: RunOptions = {
    signal,
    ...(speaks ? { onProgress: progress } : {}),
    ...(values.resume ? { resume: values.resume } : {}),
    ...(processGroup ? { processGroup } : {}),
  };
  try {
    let runDir: string;
    if (command === 'demo') {
      // One run folder and one decode cache for the three phases: the first call makes the
      // folder, the others continue it.
      const config = resolved();
      const dataset = await openDataset(config.data, config.seed);
      runDir = (await trainTeacher(input, { ...options, dataset })).runDir;
      const same = { ...options, dataset, resume: runDir };
      await trainStudent(input, same);
      await distill(input, same);
    } else {
      const train = { teacher: trainTeacher, student: trainStudent, distill }[command];
      runDir = (await train(input, options)).runDir;
    }
    if (!speaks) return;
    // Every phase the run folder holds, so `kdtorch distill` after teacher and student shows all three.
    const results = finishedPhases(RunFolder.open(runDir));
    write(
      json,
      { type: 'result', runDir, results },
      `\n${markdownTable(reportRows(results))}\n\nReport: ${path.join(runDir, 'report.html')} (and report.md, report.png)`,
    );
  } finally {
    dispose();
  }
}

/** `args` without the launch flags and their values, for the ranks' own command lines. */
function withoutLaunchFlags(args: string[], tokens: ReturnType<typeof parseArgs>['tokens'] = []): string[] {
  const dropped = new Set<number>();
  for (const token of tokens) {
    if (token.kind !== 'option' || !(token.name in LAUNCH_FLAGS)) continue;
    dropped.add(token.index);
    if (!token.inlineValue && token.value !== undefined) dropped.add(token.index + 1);
  }
  return args.filter((_, i) => !dropped.has(i));
}

/** This process as a rank of a launched run, with the config's timeout and backend. */
async function joinFromEnvironment(config: Config) {
  const { timeoutMs, backend } = config.distributed;
  return await joinProcessGroup({ timeoutMs, backend: await backendFor(backend, config.device) });
}
