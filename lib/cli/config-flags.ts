// The CLI's flags as config fields: every training command takes the same ones, and anything the
// schema has can be set with --set field.path=value. The schema validates them like a config file.
import type { ParseArgsConfig } from 'node:util';
import { applyOverride, readConfigFile } from '../config/resolve.js';
import type { ConfigInput } from '../config/schema.js';
import type { Phase } from '../run/run-folder.js';

export const CONFIG_FLAGS = {
  config: { type: 'string' },
  preset: { type: 'string' },
  data: { type: 'string' },
  output: { type: 'string' },
  device: { type: 'string' },
  seed: { type: 'string' },
  'image-size': { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  set: { type: 'string', multiple: true },
} as const satisfies ParseArgsConfig['options'];

export const CONFIG_HELP = `  --config FILE       JSON or YAML config (any part of it; the rest comes from the preset)
  --preset NAME       seed (the article), recommended (default) or quick
  --data DIR          dataset folder: DIR/train/<class>/*, optional DIR/val/, DIR/test/
  --output DIR        run folder (default runs/<command>-<time>)
  --device DEVICE     auto, cpu, cuda or cuda:N
  --seed N            seeds weights, shuffles, flips and the validation carve-out
  --image-size N      square input side in pixels
  --epochs N          epochs of the phase(s) run
  --batch-size N
  --lr X              learning rate
  --set FIELD=VALUE   any config field, e.g. --set distill.temperature=4 (repeatable)`;

type Values = {
  [K in keyof typeof CONFIG_FLAGS]?: (typeof CONFIG_FLAGS)[K] extends { multiple: true } ? string[] : string;
};

/**
 * `--epochs -1` as `--epochs=-1`: parseArgs takes a value starting with '-' for another flag and says
 * "ambiguous", naming no field; joined, the value reaches the schema, which names the field.
 */
export function withNegativeValues(args: readonly string[], options: ParseArgsConfig['options']): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i] as string;
    const next = args[i + 1];
    const name = flag.startsWith('--') ? flag.slice(2) : '';
    if (options?.[name]?.type === 'string' && next !== undefined && /^-\d|^-\.\d/.test(next)) {
      out.push(`${flag}=${next}`);
      i++;
    } else {
      out.push(flag);
    }
  }
  return out;
}

/** A number when the text is one; else the text, so the schema's error shows what was typed. */
function numeric(text: string): number | string {
  const value = Number(text);
  return text.trim() !== '' && Number.isFinite(value) ? value : text;
}

/** The config the flags describe: file, then flags, then --set, later ones winning. */
export function configFromFlags(values: Values, phases: readonly Phase[]): ConfigInput {
  let input: ConfigInput = values.config ? readConfigFile(values.config) : {};
  const set = (field: string, value: unknown) => {
    input = applyOverride(input, `${field}=${JSON.stringify(value)}`);
  };
  if (values.preset !== undefined) set('preset', values.preset);
  if (values.data !== undefined) set('data.root', values.data);
  if (values.output !== undefined) set('output', values.output);
  if (values.device !== undefined) set('device', values.device);
  if (values.seed !== undefined) set('seed', numeric(values.seed));
  if (values['image-size'] !== undefined) set('data.imageSize', numeric(values['image-size']));
  for (const phase of phases) {
    if (values.epochs !== undefined) set(`${phase}.epochs`, numeric(values.epochs));
    if (values['batch-size'] !== undefined) set(`${phase}.batchSize`, numeric(values['batch-size']));
    if (values.lr !== undefined) set(`${phase}.optimizer.lr`, numeric(values.lr));
  }
  for (const assignment of values.set ?? []) input = applyOverride(input, assignment);
  return input;
}
