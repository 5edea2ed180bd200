// Networks as TypeScript users see them: async methods, calls queued, typed errors.

import { KdtorchError } from '../errors.js';
import { call, createNativeModel } from './addon.js';
import { nativeImages, type PixelData, type TensorData } from './batch.js';
import { SerialQueue } from './serial-queue.js';
import type { Architecture, LoadReport, NativeModel, Precision, ResolvedPrecision } from './wire.js';

export type { PixelData, TensorData } from './batch.js';
export type { Architecture, LoadReport, Precision, ResolvedPrecision } from './wire.js';

/**
 * What a network is when its options do not say: the article's two classes, RGB, 224² and a 4-channel
 * student. The presets take the student's width from here (lib/config/presets.ts); the native side has
 * no defaults of its own.
 */
export const NETWORK_DEFAULTS = { numClasses: 2, inChannels: 3, inputSize: 224, width: 4 } as const;

export interface ResNet18Options extends Precision {
  /** Default NETWORK_DEFAULTS.numClasses (2). */
  numClasses?: number;
  /** Default NETWORK_DEFAULTS.inChannels (3). */
  inChannels?: number;
  /** 'cpu', 'cuda', 'cuda:N' or 'auto'. Default 'cpu'. */
  device?: string;
  /** Seeds libtorch's generator before initialising the weights: the same seed, the same weights. */
  seed?: number;
}

export interface StudentNetOptions extends ResNet18Options {
  /** Square input side in pixels; must be even (the student pools by 2). Default NETWORK_DEFAULTS.inputSize (224). */
  inputSize?: number;
  /** Channels of the student's only convolution. Default NETWORK_DEFAULTS.width (4, as in the article). */
  width?: number;
}

export interface LoadWeightsOptions {
  /** Refuse files whose names or shapes differ from the model's (default true). */
  strict?: boolean;
  /** State-dict name prefixes to leave untouched, e.g. ['fc.'] to fine-tune ImageNet weights into 2 classes. */
  skip?: string[];
}

export class Model {
  private readonly queue = new SerialQueue();

  /** @param handle made by resnet18() or studentNet() */
  constructor(
    private readonly handle: NativeModel,
    readonly architecture: Architecture,
  ) {}

  get parameterCount(): number {
    return this.handle.parameterCount();
  }

  get device(): string {
    return this.handle.device;
  }

  /** What it computes in: its options' precision with 'auto' resolved for its device. */
  get precision(): ResolvedPrecision {
    return this.handle.precision;
  }

  get training(): boolean {
    return this.handle.training;
  }

  /** Logits [N, classes] for normalised images [N, C, H, W] or uint8 pixels [N, H, W, C], without autograd. */
  forward(input: TensorData | PixelData): Promise<TensorData> {
    return this.run((h) => h.forward(...nativeImages(input)));
  }

  /** Training mode: BatchNorm uses batch statistics and updates its running ones. */
  train(): Promise<void> {
    return this.run((h) => h.setTraining(true));
  }

  /** Evaluation mode: BatchNorm uses its running statistics. */
  eval(): Promise<void> {
    return this.run((h) => h.setTraining(false));
  }

  to(device: string): Promise<void> {
    return this.run((h) => h.to(device));
  }

  /** Loads a safetensors file or a PyTorch `torch.save(model.state_dict())` file. */
  loadWeights(path: string, options: LoadWeightsOptions = {}): Promise<LoadReport> {
    return this.run((h) => h.loadWeights(path, options));
  }

  /**
   * Saves the state_dict as safetensors (written to a temporary file, then renamed); `description`
   * is stored as JSON in the header's metadata under "kdtorch".
   */
  saveWeights(path: string, description?: object): Promise<void> {
    return this.run((h) => h.saveWeights(path, description === undefined ? undefined : JSON.stringify(description)));
  }

  /** fp32 copies of the state_dict's tensors (CPU memory), in PyTorch's order and names. */
  stateDict(): Promise<Record<string, TensorData>> {
    return this.run((h) => h.stateDict());
  }

  /**
   * Frees the network's tensors now, after the calls already queued, rather than when V8 collects this
   * object (it is told their size, so it does collect). Any later call rejects with E_RELEASED.
   */
  dispose(): Promise<void> {
    return this.queue.run(async () => this.handle.dispose());
  }

  /** `await using model = await resnet18(…)` disposes it when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** Runs `work` on the native model in this model's queue. For kdtorch's own trainers. */
  run<T>(work: (handle: NativeModel) => Promise<T>): Promise<T> {
    return this.queue.run(() => call(() => work(this.handle)));
  }
}

function checkPositiveIntegers(where: string, options: object): void {
  for (const [field, value] of Object.entries(options)) {
    if (field === 'device' || field === 'autocast' || field === 'channelsLast' || field === 'seed') continue;
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new KdtorchError('E_INVALID_ARGUMENT', `${where}: ${field} must be a positive integer, got ${value}`, {
        field,
      });
    }
  }
}

/** torchvision's ResNet-18 with a `numClasses`-way head (11,177,538 parameters for 2 classes). */
export async function resnet18(options: ResNet18Options = {}): Promise<Model> {
  checkPositiveIntegers('resnet18', options);
  const { numClasses, inChannels } = NETWORK_DEFAULTS;
  return new Model(
    await createNativeModel({ architecture: 'resnet18', numClasses, inChannels, ...defined(options) }),
    'resnet18',
  );
}

/** The article's student CNN: Conv2d(in→width, 3, pad 1) → BatchNorm → ReLU → MaxPool 2 → Linear. */
export async function studentNet(options: StudentNetOptions = {}): Promise<Model> {
  checkPositiveIntegers('studentNet', options);
  return new Model(
    await createNativeModel({ architecture: 'studentNet', ...NETWORK_DEFAULTS, ...defined(options) }),
    'studentNet',
  );
}

/**
 * The parameters resnet18() / studentNet() would build with these options, counted without building:
 * what lets an untrusted description or an oversized config be refused before a huge allocation. The
 * layers are native/core/resnet.cc's and student_net.cc's; test/models.test.ts checks this against
 * the built networks' parameterCount.
 */
export function parameterCount(architecture: Architecture, options: StudentNetOptions = {}): number {
  const { numClasses, inChannels, inputSize, width } = { ...NETWORK_DEFAULTS, ...defined(options) };
  if (architecture === 'resnet18') {
    // torchvision's 11,176,512 for 3 channels without fc, then conv1's 7×7 kernels per channel, then fc.
    return 11_176_512 + (inChannels - 3) * 64 * 49 + 513 * numClasses;
  }
  const pooled = inputSize / 2;
  return inChannels * width * 9 + width + 2 * width + (width * pooled * pooled + 1) * numClasses;
}

/** `options` without its undefined fields, so they do not hide the defaults they are spread over. */
function defined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}
