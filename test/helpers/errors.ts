// The KdtorchError a promise rejects with; fails the test when it resolves or rejects otherwise.
import { expect } from 'vitest';
import { KdtorchError } from '../../lib/index.js';

export async function rejection(work: Promise<unknown>): Promise<KdtorchError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KdtorchError);
  return error as KdtorchError;
}
