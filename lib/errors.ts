/** Every failure kdtorch reports has a stable code, so callers can branch on it. */
export type KdtorchErrorCode =
  | 'E_LIBTORCH_NOT_FOUND'
  | 'E_LIBTORCH_MISMATCH'
  | 'E_BINARY_NOT_FOUND'
  | 'E_BINARY_LOAD'
  | 'E_BUSY'
  | 'E_TORCH'
  | 'E_NATIVE'
  | 'E_INVALID_ARGUMENT'
  | 'E_SHAPE_MISMATCH'
  | 'E_BAD_WEIGHTS_FILE'
  | 'E_WEIGHTS_MISMATCH'
  | 'E_DATASET_NOT_FOUND'
  | 'E_EMPTY_CLASS'
  | 'E_CLASS_MISMATCH'
  | 'E_BAD_IMAGE'
  | 'E_INVALID_CONFIG'
  | 'E_RUN_NOT_FOUND'
  | 'E_ABORTED'
  | 'E_RELEASED';

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
