#!/usr/bin/env node
// The kdtorch command. Exit codes: 0 done, 1 failed (message on stderr), 2 bad usage or config,
// 130 stopped by Ctrl-C after saving a checkpoint (continue with --resume).
import { parseArgs } from 'node:util';
import { CONFIG_HELP } from './cli/config-flags.js';
import { LAUNCH_HELP } from './cli/launcher.js';
import { runBench, runEval, runExport, runPredict, UsageError } from './cli/model-commands.js';
import { runTraining } from './cli/train-commands.js';
import { KdtorchError } from './errors.js';
import { checkDevice, type Info, info } from './native/info.js';

const TRAINING = `${CONFIG_HELP}
  --resume DIR        continue a stopped run from its last checkpoint, with its saved config
  --json              progress and results as JSON lines on stdout
  --print-config      print the resolved config and exit
${LAUNCH_HELP}`;

const HELP: Record<string, string> = {
  info: `kdtorch info [--json] [--check DEVICE]
  What kdtorch runs on: versions, libtorch, CUDA devices.
  --json            print JSON instead of text
  --check DEVICE    also multiply two matrices on DEVICE (cpu, cuda, cuda:N, auto)`,
  teacher: `kdtorch teacher --data DIR [options]
  Trains the ResNet-18 teacher (from scratch, or from --set teacher.weights=FILE with its fc re-initialised).
${TRAINING}`,
  student: `kdtorch student --data DIR [options]
  Trains the student CNN alone on the labels: the article's baseline.
${TRAINING}`,
  distill: `kdtorch distill --data DIR [--teacher FILE] [options]
  Distils the teacher into the student. The teacher is FILE, or the run folder's teacher/best.safetensors.
${TRAINING}
  --teacher FILE      the teacher's best.safetensors`,
  eval: `kdtorch eval --model FILE --data DIR [--split test|val|train] [--json]
  Test metrics (accuracy, precision, sensitivity, specificity, F1, ROC AUC, confusion) and latency of a trained model.`,
  predict: `kdtorch predict --model FILE IMAGE... [--json]
  Classifies images with a trained model (a run's <phase>/best.safetensors).`,
  export: `kdtorch export --model FILE [--out FILE.onnx] [--opset N] [--dynamic-batch] [--input float|uint8] [--batch-norm fold|node] [--json]
  Writes a trained model as ONNX, for onnxruntime (Node, Python, the browser) without libtorch. --out defaults
  to FILE with .onnx; --input uint8 takes NHWC pixels and normalises them in the graph.`,
  bench: `kdtorch bench [--model FILE]... [--image-size N] [--batch-size N]... [--repeats N] [--device DEVICE] [--json]
  Inference latency and images/s of trained models, or of fresh ResNet-18 and student networks.`,
  demo: `kdtorch demo [options]
  Teacher → student alone → distilled student on the bundled chest X-ray subset (demo/chest_xray,
  CC BY 4.0) with the quick preset; prints the comparison table and the report's path.
${TRAINING}`,
};

const USAGE = `Usage: kdtorch <command> [options]

Commands:
  demo      the article's experiment on the bundled data, in minutes on a CPU
  teacher   train the ResNet-18 teacher
  student   train the student CNN alone
  distill   distil the teacher into the student
  eval      metrics and latency of a trained model
  predict   classify images
  export    write a trained model as ONNX
  bench     inference speed of models
  info      what kdtorch runs on

kdtorch <command> --help shows a command's options.
Exit codes: 0 done, 1 failed, 2 bad usage or config, 130 stopped (resume with --resume DIR).`;

function formatBytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function formatCpuBf16(cpu: Info['cpu']): string {
  const units = [cpu.avx512Bf16 && 'AVX512-BF16', cpu.amxBf16 && 'AMX-BF16'].filter(Boolean).join(', ');
  if (cpu.nativeBf16) return `native (${units}, oneDNN): precision 'auto' trains the teacher in bf16`;
  const why = !units ? 'no AVX512-BF16 or AMX-BF16' : 'libtorch built without oneDNN';
  return `emulated (${why}): precision 'auto' stays fp32`;
}

function formatInfo(i: Info): string {
  const lines = [
    `kdtorch      ${i.kdtorchVersion}`,
    `libtorch     ${i.torch.runtime} (binary built for ${i.torch.built}, cxx11abi ${i.torch.cxx11abi})`,
    `             ${i.torch.root} (via ${i.torch.source})`,
    `CUDA build   ${i.torch.cuda ?? 'none (CPU-only libtorch)'}`,
    `CUDA usable  ${i.cudaAvailable ? 'yes' : 'no'}${i.cudnnVersion === null ? '' : `, cuDNN ${i.cudnnVersion}`}`,
    ...i.devices.map((d) => `  cuda:${d.index}     ${d.name}, ${formatBytes(d.totalMemoryBytes)}, sm ${d.capability}`),
    `CUDA graphs  ${i.cudaGraphsUnavailable === null ? 'yes' : `no: ${i.cudaGraphsUnavailable}`}`,
    `CPU          ${i.cpu.name || 'unknown'}, ${i.cpu.physicalCores} cores, ${i.threads} threads`,
    `CPU bf16     ${formatCpuBf16(i.cpu)}`,
    `binary       ${i.binary}`,
  ];
  return lines.join('\n');
}

async function runInfo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, check: { type: 'string' } } });
  const result: Info & { check?: Awaited<ReturnType<typeof checkDevice>> } = await info();
  if (values.check !== undefined) result.check = await checkDevice({ device: values.check });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${formatInfo(result)}\n`);
  if (result.check) {
    const c = result.check;
    process.stdout.write(
      `check        ${c.device}: matmul checksum ${c.checksum.toFixed(3)} in ${c.milliseconds.toFixed(1)} ms\n`,
    );
  }
}

// A handler resolves with an exit code when it has one of its own (the launcher of ranks), else when done.
const COMMANDS: Record<string, (args: string[]) => Promise<number | undefined> | Promise<void>> = {
  info: runInfo,
  teacher: (args) => runTraining('teacher', args),
  student: (args) => runTraining('student', args),
  distill: (args) => runTraining('distill', args),
  demo: (args) => runTraining('demo', args),
  eval: runEval,
  predict: runPredict,
  export: runExport,
  bench: runBench,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    const handler = COMMANDS[command];
    if (!handler) throw new UsageError(`unknown command '${command}'`);
    if (rest.includes('-h') || rest.includes('--help')) {
      process.stdout.write(`${HELP[command]}\n`);
      return 0;
    }
    const code = await handler(rest);
    return typeof code === 'number' ? code : 0;
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    if (usage) {
      const help = command && HELP[command] ? HELP[command] : USAGE;
      process.stderr.write(`kdtorch: ${(error as Error).message}\n\n${help}\n`);
      return 2;
    }
    const code = error instanceof KdtorchError ? error.code : undefined;
    process.stderr.write(`kdtorch: ${code ? `[${code}] ` : ''}${(error as Error).message}\n`);
    if (code === 'E_ABORTED') return 130;
    return code === 'E_INVALID_CONFIG' ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
