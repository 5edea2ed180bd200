// From what users write (a config file, CLI flags, an API object) to one validated Config: the
// preset's values, overlaid with the user's, checked by the schema, paths made absolute.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { KdtorchError } from '../errors.js';
import { normalisationFor, PRESETS } from './presets.js';
import { type Config, type ConfigInput, configSchema, type PresetName } from './schema.js';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * `over` laid on `base`: objects merge key by key, anything else replaces. An object with another
 * `name` (an optimizer, a schedule) replaces wholesale, so no field of the old one leaks in.
 */
function overlay(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isObject(base) || !isObject(over) || ('name' in over && over.name !== base.name)) return over;
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = overlay(base[key], value);
  return out;
}

function valueAt(input: unknown, at: PropertyKey[]): unknown {
  let value = input;
  for (const key of at) value = isObject(value) || Array.isArray(value) ? (value as Json)[key as string] : undefined;
  return value;
}

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** One line per problem: the field, the value given and what is allowed. */
function configError(error: z.ZodError, merged: unknown, source: string): KdtorchError {
  const lines = error.issues.map((issue) => {
    const field = issue.path.join('.') || '(config)';
    const got = issue.code === 'unrecognized_keys' ? '' : ` = ${describe(valueAt(merged, issue.path))}`;
    return `  ${field}${got}: ${issue.message}`;
  });
  const field = error.issues[0]?.path.join('.');
  return new KdtorchError('E_INVALID_CONFIG', `invalid config (${source}):\n${lines.join('\n')}`, {
    ...(field ? { field } : {}),
  });
}

/** Values renamed since they were introduced: still read, with a deprecation warning, as their new names. */
const RENAMED = [
  { field: ['preset'], from: 'seed', to: 'article' },
  { field: ['distill', 'loss'], from: 'seed', to: 'article' },
] as const;

/** `config` with every renamed value under its current name (a copy when anything changed); warns once per name. */
export function withCurrentNames<T>(config: T, source: string): T {
  let out = config;
  for (const { field, from, to } of RENAMED) {
    if (valueAt(out, [...field]) !== from) continue;
    out = overlay(
      out,
      field.reduceRight<unknown>((inner, key) => ({ [key]: inner }), to),
    ) as T;
    process.emitWarning(`${source}: ${field.join('.')} '${from}' is now called '${to}'; '${from}' will stop working`, {
      type: 'DeprecationWarning',
      code: `KDTORCH_${field.join('_').toUpperCase()}_${from.toUpperCase()}`,
    });
  }
  return out;
}

/** The preset (default `recommended`) overlaid with `input`, validated; paths resolved from `cwd`. */
export function resolveConfig(given: ConfigInput = {}, source = 'config', cwd = process.cwd()): Config {
  if (!isObject(given)) {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `invalid config (${source}): expected an object, got ${describe(given)}`,
    );
  }
  const input = withCurrentNames(given, source);
  const presetName = (input.preset ?? 'recommended') as PresetName;
  const preset = PRESETS[presetName];
  if (!preset) {
    throw new KdtorchError(
      'E_INVALID_CONFIG',
      `invalid config (${source}):\n  preset = ${describe(input.preset)}: use one of ${Object.keys(PRESETS).join(', ')}`,
      { field: 'preset' },
    );
  }
  const base = structuredClone(preset);
  // Changing the channel count without giving statistics takes the matching defaults.
  const channels = input.data?.channels;
  if ((channels === 1 || channels === 3) && !input.data?.mean && !input.data?.std) {
    Object.assign(base.data, normalisationFor(channels));
  }
  const merged = overlay(base, input);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw configError(parsed.error, merged, source);
  const config = parsed.data;
  const absolute = (p: string) => path.resolve(cwd, p);
  config.data.root = absolute(config.data.root);
  if (config.data.cacheDir) config.data.cacheDir = absolute(config.data.cacheDir);
  if (config.output) config.output = absolute(config.output);
  if (config.teacher.weights) config.teacher.weights = absolute(config.teacher.weights);
  if (config.distill.teacher) config.distill.teacher = absolute(config.distill.teacher);
  return config;
}

/** Reads a JSON or YAML config file (validated later, with whatever overrides it). */
export function readConfigFile(file: string): ConfigInput {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new KdtorchError('E_INVALID_CONFIG', `${file}: cannot read the config file (${(error as Error).message})`, {
      file,
    });
  }
  try {
    const parsed: unknown = /\.ya?ml$/i.test(file) ? YAML.parse(text, { maxAliasCount: 100 }) : JSON.parse(text);
    if (!isObject(parsed)) throw new Error('the file must hold one object of settings');
    // A YAML alias can make the settings contain themselves (a: &x [*x]); a config is a tree.
    return JSON.parse(JSON.stringify(parsed)) as ConfigInput;
  } catch (error) {
    throw new KdtorchError('E_INVALID_CONFIG', `${file}: not a valid config file (${(error as Error).message})`, {
      file,
    });
  }
}

/**
 * Applies `field.path=value` (value read as JSON when it parses, else as a string) onto `input`:
 * the CLI's --set, so every schema field can be given as a flag.
 */
export function applyOverride(input: ConfigInput, assignment: string): ConfigInput {
  const equals = assignment.indexOf('=');
  if (equals <= 0) {
    throw new KdtorchError('E_INVALID_CONFIG', `--set ${assignment}: expected field.path=value, e.g. teacher.epochs=5`);
  }
  const keys = assignment.slice(0, equals).split('.');
  const text = assignment.slice(equals + 1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  const patch = keys.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
  return overlay(input, patch) as ConfigInput;
}
