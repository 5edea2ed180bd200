#!/usr/bin/env node
// The kdtorch command. Exit codes: 0 done, 1 failed (message on stderr), 2 bad usage.
import { parseArgs } from 'node:util';
import { KdtorchError } from './errors.js';
import { checkDevice, type Info, info } from './info.js';

const USAGE = `Usage: kdtorch <command> [options]

Commands:
  info     what kdtorch runs on: versions, libtorch, CUDA devices
           --json            print JSON instead of text
           --check DEVICE    also multiply two matrices on DEVICE (cpu, cuda, cuda:N, auto)

Options:
  -h, --help  show this help`;

class UsageError extends Error {}

function formatBytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function formatInfo(i: Info): string {
  const lines = [
    `kdtorch      ${i.kdtorchVersion}`,
    `libtorch     ${i.torch.runtime} (binary built for ${i.torch.built}, cxx11abi ${i.torch.cxx11abi})`,
    `             ${i.torch.root} (via ${i.torch.source})`,
    `CUDA build   ${i.torch.cuda ?? 'none (CPU-only libtorch)'}`,
    `CUDA usable  ${i.cudaAvailable ? 'yes' : 'no'}${i.cudnnVersion === null ? '' : `, cuDNN ${i.cudnnVersion}`}`,
    ...i.devices.map((d) => `  cuda:${d.index}     ${d.name}, ${formatBytes(d.totalMemoryBytes)}, sm ${d.capability}`),
    `CPU threads  ${i.threads}`,
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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    if (rest.includes('-h') || rest.includes('--help')) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (command === 'info') {
      await runInfo(rest);
      return 0;
    }
    throw new UsageError(`unknown command '${command}'`);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`kdtorch: ${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    const code = error instanceof KdtorchError ? `[${error.code}] ` : '';
    process.stderr.write(`kdtorch: ${code}${(error as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
