/**
 * Every failure kdtorch reports has a stable code, so callers can branch on it. The native codes are
 * the ones native/ throws (CodedError, binding/async.h); lib/native/addon.ts turns exactly those into
 * KdtorchErrors.
 */
export const NATIVE_ERROR_CODES = [
  'E_BUSY',
  'E_TORCH',
  'E_NATIVE',
  'E_INVALID_ARGUMENT',
  'E_SHAPE_MISMATCH',
  'E_BAD_WEIGHTS_FILE',
  'E_WEIGHTS_MISMATCH',
  'E_RELEASED',
  'E_OUT_OF_MEMORY',
  'E_IMAGE_TOO_LARGE',
  'E_DISTRIBUTED',
] as const;

export const ERROR_CODES = [
  ...NATIVE_ERROR_CODES,
  'E_LIBTORCH_NOT_FOUND',
  'E_LIBTORCH_MISMATCH',
  'E_BINARY_NOT_FOUND',
  'E_BINARY_LOAD',
  'E_DATASET_NOT_FOUND',
  'E_AMBIGUOUS_DATASET',
  'E_EMPTY_CLASS',
  'E_CLASS_MISMATCH',
  'E_BAD_IMAGE',
  'E_INVALID_CONFIG',
  'E_RUN_NOT_FOUND',
  'E_RUN_LOCKED',
  'E_BAD_RUN_FILE',
  'E_ABORTED',
] as const;

export type KdtorchErrorCode = (typeof ERROR_CODES)[number];

export interface KdtorchErrorDetails {
  /** The file the error concerns, when there is one. */
  file?: string;
  /** The option or config field the error concerns, when there is one. */
  field?: string;
  cause?: unknown;
}

export class KdtorchError extends Error {
  readonly code: KdtorchErrorCode;
  readonly file?: string;
  readonly field?: string;

  constructor(code: KdtorchErrorCode, message: string, details: KdtorchErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'KdtorchError';
    this.code = code;
    if (details.file !== undefined) this.file = details.file;
    if (details.field !== undefined) this.field = details.field;
  }
}
