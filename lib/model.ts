// Networks as TypeScript users see them: async methods, calls queued, typed errors.
import { KdtorchError } from './errors.js';
import { call, createNativeModel, type NativeModel, type TensorData } from './native.js';
import { SerialQueue } from './serial-queue.js';

export type { TensorData } from './native.js';

export interface StudentNetOptions {
  numClasses?: number;
  /** Square input side in pixels; must be even (the student pools by 2). Default 224. */
  inputSize?: number;
  inChannels?: number;
  /** Channels of the student's only convolution. Default 4, as in the article. */
  width?: number;
  /** 'cpu', 'cuda', 'cuda:N' or 'auto'. Default 'cpu'. */
  device?: string;
}

export class Model {
  private readonly queue = new SerialQueue();

  constructor(private readonly handle: NativeModel) {}

  get parameterCount(): number {
    return this.handle.parameterCount();
  }

  get device(): string {
    return this.handle.device;
  }

  /** Logits for a batch laid out as `shape` = [N, C, H, W]. */
  forward(input: TensorData): Promise<TensorData> {
    return this.queue.run(() => call(() => this.handle.forward(input.data, input.shape)));
  }
}

/** The article's student CNN: Conv2d(in→width, 3, pad 1) → BatchNorm → ReLU → MaxPool 2 → Linear. */
export async function studentNet(options: StudentNetOptions = {}): Promise<Model> {
  for (const field of ['numClasses', 'inputSize', 'inChannels', 'width'] as const) {
    const value = options[field];
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new KdtorchError('E_INVALID_ARGUMENT', `studentNet: ${field} must be a positive integer, got ${value}`, {
        field,
      });
    }
  }
  return new Model(await createNativeModel({ architecture: 'studentNet', ...options }));
}
