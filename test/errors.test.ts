import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, NATIVE_ERROR_CODES } from '../lib/errors.js';
import { toKdtorchError } from '../lib/native/addon.js';
import { ROOT } from './helpers/run.js';

describe('error codes', () => {
  it('lists exactly the codes the native side throws as native codes, each once', () => {
    const sources = fs
      .readdirSync(path.join(ROOT, 'native'), { recursive: true })
      .map(String)
      .filter((file) => /\.(cc|h)$/.test(file));
    const thrown = new Set<string>();
    for (const file of sources) {
      for (const [, code] of fs.readFileSync(path.join(ROOT, 'native', file), 'utf8').matchAll(/"(E_[A-Z_]+)"/g)) {
        thrown.add(code as string);
      }
    }
    expect([...thrown].sort()).toEqual([...NATIVE_ERROR_CODES].sort());
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('turns a native rejection with a known code into a KdtorchError, and leaves other errors alone', () => {
    const native = Object.assign(new Error('out of memory'), { code: 'E_OUT_OF_MEMORY' });
    expect(toKdtorchError(native)).toMatchObject({ name: 'KdtorchError', code: 'E_OUT_OF_MEMORY', cause: native });
    const other = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    expect(toKdtorchError(other)).toBe(other);
  });
});
