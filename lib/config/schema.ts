// The one description of a kdtorch experiment: the config file, the CLI flags and the API all end
// up here. Every field is required in the resolved config; the defaults are the presets
// (presets.ts), so no default is typed twice.
import { z } from 'zod';

const positiveInt = z.number().int().positive();
// Upper bounds that say at once what would otherwise fail late, or run for ever.
const epochCount = positiveInt.max(100_000);
const batchSize = positiveInt.max(65_536);

const optimizer = z
  .object({
    name: z.enum(['sgd', 'adam', 'adamw']),
    lr: z.number().positive(),
    momentum: z.number().min(0).max(1).optional(),
    nesterov: z.boolean().optional(),
    weightDecay: z.number().min(0).optional(),
    beta1: z.number().min(0).lt(1).optional(),
    beta2: z.number().min(0).lt(1).optional(),
    eps: z.number().positive().optional(),
  })
  .strict();

/** Learning-rate schedules counted in epochs; applied per batch (lib/run/schedule.ts). */
const schedule = z.discriminatedUnion('name', [
  z.object({ name: z.literal('constant'), warmupEpochs: z.number().min(0).optional() }).strict(),
  z
    .object({
      name: z.literal('cosine'),
      lrMin: z.number().min(0).optional(),
      warmupEpochs: z.number().min(0).optional(),
    })
    .strict(),
  z
    .object({
      name: z.literal('step'),
      everyEpochs: positiveInt,
      gamma: z.number().positive().max(1),
      warmupEpochs: z.number().min(0).optional(),
    })
    .strict(),
]);

const earlyStopping = z.union(
  [z.literal(false), z.object({ patience: positiveInt, minDelta: z.number().min(0) }).strict()],
  { error: 'use false, or { patience: epochs without gain (integer ≥ 1), minDelta: accuracy gain that counts (≥ 0) }' },
);

/**
 * Large-batch training: the learning rate grows with the batch size, by batchSize / referenceBatchSize
 * ('linear', Goyal et al. 2017, for SGD; pair it with warm-up) or its square root ('sqrt', the usual
 * rule for Adam-type optimizers). optimizer.lr is the rate at referenceBatchSize.
 */
const lrScaling = z.union(
  [z.literal(false), z.object({ rule: z.enum(['linear', 'sqrt']), referenceBatchSize: positiveInt }).strict()],
  { error: "use false, or { rule: 'linear' | 'sqrt', referenceBatchSize: the batch size optimizer.lr is for }" },
);

/** [low, high] with low ≤ high, each within `within`. */
function range(within: z.ZodNumber) {
  return z
    .tuple([within, within])
    .refine(([low, high]) => low <= high, { message: 'use [low, high] with low ≤ high' }) as z.ZodType<
    [number, number]
  >;
}

const off = z.literal(false);

/**
 * Training augmentation, with torchvision.transforms.v2's parameters and meanings, run natively on the
 * model's device (native/core/augment.h); applied in this order after the flip, false leaves a transform out.
 */
const augment = z
  .object({
    /** RandomResizedCrop back to imageSize: `scale` is the share of the area kept, `ratio` the width/height range. */
    resizedCrop: z.union(
      [off, z.object({ scale: range(z.number().gt(0).max(1)), ratio: range(z.number().positive()) }).strict()],
      {
        error: 'use false, or { scale: [low, high] within (0, 1], ratio: [low, high] > 0 }',
      },
    ),
    /** RandomAffine: rotation in ±degrees, shift up to translate × the size, zoom in `scale`, shear in ±shear degrees along x ([x0, x1, y0, y1]: both axes). */
    affine: z.union(
      [
        off,
        z
          .object({
            degrees: z.number().min(0).max(180),
            translate: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]),
            scale: range(z.number().positive()),
            shear: z.union([
              z.number().min(0).lt(90),
              range(z.number().gt(-90).lt(90)),
              z.tuple([
                z.number().gt(-90).lt(90),
                z.number().gt(-90).lt(90),
                z.number().gt(-90).lt(90),
                z.number().gt(-90).lt(90),
              ]),
            ]),
          })
          .strict(),
      ],
      { error: 'use false, or { degrees, translate: [x, y] shares, scale: [low, high], shear: degrees }' },
    ),
    /** RandomRotation: an angle in ±degrees. */
    rotation: z.union([off, z.number().positive().max(180)], {
      error: 'use false, or the largest angle in degrees (0, 180]',
    }),
    /** ColorJitter: each factor in [max(0, 1 − v), 1 + v], applied in a random order; 0 leaves one out (saturation needs RGB). */
    colorJitter: z.union(
      [
        off,
        z
          .object({ brightness: z.number().min(0), contrast: z.number().min(0), saturation: z.number().min(0) })
          .strict(),
      ],
      { error: 'use false, or { brightness, contrast, saturation } ≥ 0' },
    ),
    /** RandomErasing after normalising (value 0): with probability p, a rectangle of `scale` × the area and width/height ratio in `ratio`. */
    erasing: z.union(
      [
        off,
        z
          .object({
            p: z.number().min(0).max(1),
            scale: range(z.number().gt(0).lt(1)),
            ratio: range(z.number().positive()),
          })
          .strict(),
      ],
      { error: 'use false, or { p: probability, scale: [low, high] within (0, 1), ratio: [low, high] > 0 }' },
    ),
    /** How affine and rotation resample: 'bilinear', or torchvision's default 'nearest'. */
    interpolation: z.enum(['bilinear', 'nearest']),
  })
  .strict();

/** What every training phase has. */
const phaseFields = {
  epochs: epochCount,
  batchSize,
  optimizer,
  lrScaling,
  schedule,
  /** 'balanced': n / (classes · n_c) per class, as sklearn's compute_class_weight('balanced'). */
  classWeights: z.union([z.enum(['none', 'balanced']), z.array(z.number().positive()).min(2)], {
    error: "use 'none', 'balanced', or one positive weight per class",
  }),
  labelSmoothing: z.number().min(0).lt(1),
  earlyStopping,
  /** Train on data.augment's views (true), or on the images and their flips alone (false). */
  augment: z.boolean(),
  /** Which weights the phase keeps (best.safetensors, tested and reported): 'best' the epoch with the best validation accuracy (ties: lower loss), 'last' the last epoch's. */
  select: z.enum(['best', 'last']),
};

/** How a network computes; numbers change as bf16's do (docs/results.md has the speed and accuracy measured). */
const precisionFields = {
  /** 'bf16': convolutions and matmuls in bfloat16, as torch.autocast. 'auto': bf16 where it pays: the teacher on a CPU with native bf16 (`kdtorch info`), never the student (memory-bound: slower in bf16), nor on CUDA. */
  autocast: z.enum(['none', 'bf16', 'auto']),
  /** Weights and activations channels-last (NHWC), as cuDNN and oneDNN run fastest. 'auto': where autocast 'auto' picks bf16. */
  channelsLast: z.union([z.boolean(), z.literal('auto')], { error: "use true, false or 'auto'" }),
};

export const configSchema = z
  .object({
    preset: z.enum(['article', 'recommended', 'quick']),
    data: z
      .object({
        /** A dataset folder: root/train/<class>/… with optional root/val/ and root/test/, or torchvision's plain ImageFolder root/<class>/…, whose test and validation splits are carved out (testFraction, valFraction). */
        root: z.string().min(1, 'give the dataset folder (root/train/<class>/*.jpg or root/<class>/*.jpg)'),
        imageSize: z
          .number()
          .int()
          .min(32, 'ResNet-18 needs at least 32 px')
          .max(4096, 'at most 4096 px')
          .refine((n) => n % 2 === 0, 'must be even: the student pools by 2'),
        channels: z.union([z.literal(1), z.literal(3)], { error: 'use 1 (grey) or 3 (RGB)' }),
        hflip: z.number().min(0).max(1),
        augment,
        /** Where validation comes from: 'val' (the folder's, or carved from train) or 'test' (the article's fault). */
        validateOn: z.enum(['val', 'test']),
        /** Share of each class moved from train to validation when the folder has no usable val/ split. */
        valFraction: z.number().gt(0).lt(1),
        /** Plain ImageFolder (root/<class>/…) only: share of each class held out as the test split, before validation is carved from the rest. */
        testFraction: z.number().gt(0).lt(1),
        minValImages: z.number().int().min(0),
        onBadImage: z.enum(['error', 'skip']),
        /** The most pixels (width × height) an image's header may declare: larger files are refused before decoding (E_IMAGE_TOO_LARGE; skipped under onBadImage 'skip'), as a 400-byte JPEG can declare 60000×60000. The default is PIL's Image.MAX_IMAGE_PIXELS. */
        maxPixels: z
          .number()
          .int()
          .positive()
          .max(2 ** 40),
        /** A folder for the decode file cache; null keeps decoded images in memory only. */
        cacheDir: z.string().min(1).nullable(),
        /** Keep the decoded training images on the model's device (PixelStore): batches send row numbers only. 'auto': on a CUDA device when they take at most a quarter of its memory. */
        deviceCache: z.union([z.boolean(), z.literal('auto')], { error: "use true, false or 'auto'" }),
        mean: z.array(z.number()).min(1),
        std: z.array(z.number().positive()).min(1),
      })
      .strict(),
    /** 'auto', 'cpu', 'cuda' or 'cuda:N'. */
    device: z.string().regex(/^(auto|cpu|cuda(:\d+)?)$/, "use 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    /** torch.backends.cudnn.benchmark, set for the whole process when a phase starts: cuDNN times its convolution algorithms once per shape and keeps the fastest. GPU only. */
    cudnnBenchmark: z.boolean(),
    /** Replay each training step from a CUDA graph (one launch per step) after three eager warm-up steps per batch shape. CUDA only: no effect on a CPU. 'auto': graphs where `kdtorch info` says they are available, eager steps elsewhere; true: an error where they are unavailable (it says why). */
    cudaGraphs: z.union([z.boolean(), z.literal('auto')], { error: "use true, false or 'auto'" }),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    /** The run folder; null makes runs/<command>-<time> in the working directory. */
    output: z.string().min(1).nullable(),
    /** The class counted as positive for sensitivity, specificity, F1 and AUC; null: the last class. */
    positiveClass: z.string().min(1).nullable(),
    teacher: z
      .object({
        ...phaseFields,
        /** 'backbone' trains fc only (really frozen); the article's "freezing" froze nothing: 'none'. */
        freeze: z.enum(['none', 'backbone']),
        /** Initial weights (e.g. torchvision's ImageNet resnet18 .pth); fc is re-initialised. null: random init. */
        weights: z.string().min(1).nullable(),
        ...precisionFields,
      })
      .strict(),
    /** The student network, in both phases that train one (alone and distilled). */
    student: z.object({ ...phaseFields, width: positiveInt, ...precisionFields }).strict(),
    distill: z
      .object({
        ...phaseFields,
        alpha: z.number().min(0).max(1),
        temperature: z.number().positive(),
        /** 'hinton': KL batchmean × T²; 'article': the article's nn.KLDivLoss() ('mean', no T²). */
        loss: z.enum(['hinton', 'article']),
        /** The teacher's weights file (a kdtorch teacher run's best.safetensors); null: the run's own teacher. */
        teacher: z.string().min(1).nullable(),
        /** Compute the teacher's outputs once per image and view instead of every step (exact; lib/run/teacher-outputs.ts). */
        teacherCache: z.boolean(),
        /** With data.augment: each image has K fixed augmented views (a function of seed, image and k), of which each epoch draws one, so teacherCache can hold the teacher's logits for all of them; 'live': a fresh view every epoch, the teacher run every step. */
        teacherViews: z.union([z.number().int().min(1).max(64), z.literal('live')], {
          error: "use a number of views per image (1 to 64), or 'live'",
        }),
      })
      .strict(),
    /** Data-parallel runs (docs/scaling-out.md). Which ranks there are and where they meet come from the launch (--nproc-per-node, --nnodes, or torchrun's variables), not from here. */
    distributed: z
      .object({
        /** How long joining and each collective wait for the other ranks before failing with E_DISTRIBUTED (a rank that died, a master nobody serves). */
        timeoutMs: z.number().int().min(1000).max(3_600_000),
        /** CPU threads of each rank kdtorch's launcher starts: 'auto' shares the machine's cores between its ranks. An OMP_NUM_THREADS in the environment wins, as under torchrun. */
        threadsPerRank: z.union([positiveInt, z.literal('auto')], { error: "use a number of threads or 'auto'" }),
        /** Where the ranks' collectives run: 'nccl' on CUDA devices (each rank on cuda:LOCAL_RANK, the host's values on Gloo), 'gloo' on CPUs; 'auto': NCCL when the device is CUDA (or auto with a GPU present), else Gloo. */
        backend: z.enum(['auto', 'gloo', 'nccl']),
        /** BatchNorm in training over the global batch of all ranks (torch.nn.SyncBatchNorm) instead of each rank's own: N ranks of B images then train as one process of N·B; it costs 2 small all-reduces per BatchNorm layer and step. */
        syncBatchNorm: z.boolean(),
      })
      .strict(),
    latency: z
      .object({
        batchSizes: z.array(positiveInt).min(1),
        /** Timed forward passes per batch size (after two warm-up passes); the median is reported. */
        repeats: positiveInt,
      })
      .strict(),
  })
  .strict()
  .superRefine((config, context) => {
    for (const field of ['mean', 'std'] as const) {
      if (config.data[field].length !== config.data.channels) {
        context.addIssue({
          code: 'custom',
          path: ['data', field],
          message: `needs ${config.data.channels} values, one per channel (data.channels)`,
        });
      }
    }
    if (config.teacher.freeze === 'backbone' && config.teacher.weights === null) {
      context.addIssue({
        code: 'custom',
        path: ['teacher', 'freeze'],
        message: "'backbone' freezes random weights unless teacher.weights gives pretrained ones",
      });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type PhaseConfig = Pick<Config['teacher'], keyof typeof phaseFields>;
export type PresetName = Config['preset'];

/** Any part of a config, nested: what users write. */
export type ConfigInput = DeepPartial<Config>;
type DeepPartial<T> = T extends unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
