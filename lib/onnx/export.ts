// exportOnnx(): a kdtorch model as an ONNX file any ONNX runtime can run without libtorch: the student
// at any size, width, channels and classes, and ResNet-18, in eval form, with the description in the
// model's metadata_props. With input 'uint8' the graph takes NHWC pixels and normalises them itself.
import { create, toBinary } from '@bufbuild/protobuf';
import { writeFileAtomic } from '../atomic-write.js';
import { KdtorchError } from '../errors.js';
import { type DescribedModel, loadModel, type ModelDescription } from '../model-file.js';
import { packageVersion } from '../native/load-addon.js';
import type { TensorData } from '../native/model.js';
import {
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataType,
} from './gen/onnx_pb.js';
import { type Dim, GraphBuilder, tensorValue } from './graph-builder.js';

export interface ExportOnnxOptions {
  /** The ONNX opset (default 17; 13–21). */
  opset?: number;
  /** A batch dimension chosen at run time ('batch'); default false: batch 1. */
  dynamicBatch?: boolean;
  /** 'float' (default): NCHW float32, normalised as in training. 'uint8': NHWC pixels 0–255, normalised in the graph. */
  input?: 'float' | 'uint8';
  /** 'fold' (default): each BatchNorm folded into the convolution before it. 'node': BatchNormalization nodes. */
  batchNorm?: 'fold' | 'node';
}

export interface OnnxExport {
  file: string;
  bytes: number;
  opset: number;
  /** The graph's input: its name, element type and dimensions. */
  input: { name: string; type: 'float' | 'uint8'; dims: Dim[] };
  /** 'logits' and 'probabilities', [batch, classes]. */
  outputs: string[];
}

const OPSETS = { min: 13, max: 21 };
/** The oldest IR version each opset needs (onnx/helper.py's VERSION_TABLE). */
const IR_VERSION: Record<number, number> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };
const ARCHITECTURES: readonly string[] = ['studentNet', 'resnet18'];
const BN_EPSILON = 1e-5; // torch.nn.BatchNorm2d's default, which both networks use

/** Writes `model` (a DescribedModel, or the path of a kdtorch model file) to `outFile` as ONNX, atomically. */
export async function exportOnnx(
  model: string | DescribedModel,
  outFile: string,
  options: ExportOnnxOptions = {},
): Promise<OnnxExport> {
  const { opset = 17, dynamicBatch = false, input = 'float', batchNorm = 'fold' } = options;
  if (!Number.isInteger(opset) || opset < OPSETS.min || opset > OPSETS.max) {
    throw new KdtorchError(
      'E_INVALID_ARGUMENT',
      `opset must be an integer from ${OPSETS.min} to ${OPSETS.max}, got ${opset}`,
      {
        field: 'opset',
      },
    );
  }
  const described = typeof model === 'string' ? await loadModel(model) : model;
  const { description } = described;
  if (!ARCHITECTURES.includes(description.architecture)) {
    throw new KdtorchError(
      'E_INVALID_ARGUMENT',
      `exportOnnx: architecture '${description.architecture}' cannot be exported (supported: ${ARCHITECTURES.join(', ')})`,
      { field: 'architecture' },
    );
  }
  const weights = await described.model.stateDict();
  const builder = new GraphBuilder();
  const batch: Dim = dynamicBatch ? 'batch' : 1;
  const { imageSize: size, channels } = description;
  const inputValue =
    input === 'uint8'
      ? tensorValue('pixels', TensorProto_DataType.UINT8, [batch, size, size, channels])
      : tensorValue('input', TensorProto_DataType.FLOAT, [batch, channels, size, size]);
  const x = input === 'uint8' ? normalise(builder, description) : 'input';
  const network = new Network(builder, weights, batchNorm);
  const logits = description.architecture === 'resnet18' ? network.resnet18(x) : network.studentNet(x);
  builder.node('Softmax', [logits], { axis: 1 }, 'probabilities');
  const classes = description.classes.length;
  const graph = builder.graph(
    `kdtorch ${description.architecture}`,
    [inputValue],
    [
      tensorValue('logits', TensorProto_DataType.FLOAT, [batch, classes]),
      tensorValue('probabilities', TensorProto_DataType.FLOAT, [batch, classes]),
    ],
  );
  const version = packageVersion();
  const metadata: Record<string, string> = {
    kdtorch: JSON.stringify(description),
    kdtorch_version: version,
    architecture: description.architecture,
    classes: JSON.stringify(description.classes),
    image_size: String(size),
    channels: String(channels),
    mean: JSON.stringify(description.mean),
    std: JSON.stringify(description.std),
    input: input === 'uint8' ? 'uint8 NHWC pixels 0-255, normalised in the graph' : 'float32 NCHW, normalised',
  };
  const proto = create(ModelProtoSchema, {
    irVersion: BigInt(IR_VERSION[opset] as number),
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) })],
    producerName: 'kdtorch',
    producerVersion: version,
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
  const bytes = toBinary(ModelProtoSchema, proto);
  await writeFileAtomic(outFile, bytes);
  return {
    file: outFile,
    bytes: bytes.byteLength,
    opset,
    input: {
      name: inputValue.name,
      type: input,
      dims: input === 'uint8' ? [batch, size, size, channels] : [batch, channels, size, size],
    },
    outputs: ['logits', 'probabilities'],
  };
}

/** uint8 NHWC pixels → float NCHW, (x / 255 − mean) / std as one multiply and one add per channel. */
function normalise(builder: GraphBuilder, description: ModelDescription): string {
  const c = description.channels;
  const scale = Float32Array.from(description.std, (s) => 1 / (255 * s));
  const shift = Float32Array.from(description.mean, (m, i) => -m / (description.std[i] as number));
  const floats = builder.node('Cast', ['pixels'], { to: TensorProto_DataType.FLOAT });
  const nchw = builder.node('Transpose', [floats], { perm: [0, 3, 1, 2] });
  const scaled = builder.node('Mul', [nchw, builder.weight('normalise.scale', scale, [1, c, 1, 1])]);
  return builder.node('Add', [scaled, builder.weight('normalise.shift', shift, [1, c, 1, 1])]);
}

/** The two architectures' layers, named as their PyTorch state_dicts name them. */
class Network {
  constructor(
    private readonly builder: GraphBuilder,
    private readonly weights: Record<string, TensorData>,
    private readonly batchNorm: 'fold' | 'node',
  ) {}

  /** native/core/student_net.cc: conv → BatchNorm → max-pool → ReLU (pool and ReLU commute) → fc. */
  studentNet(x: string): string {
    const conv = this.convBn(x, 'layer1.0', 'layer1.1', { pads: [1, 1, 1, 1] });
    const pooled = this.builder.node('MaxPool', [conv], { kernel_shape: [2, 2], strides: [2, 2] });
    const relu = this.builder.node('Relu', [pooled]);
    return this.fc(this.builder.node('Flatten', [relu], { axis: 1 }));
  }

  /** torchvision's resnet18: stem, four stages of two BasicBlocks, global average pool, fc. */
  resnet18(x: string): string {
    const b = this.builder;
    const stem = b.node('Relu', [this.convBn(x, 'conv1', 'bn1', { strides: [2, 2], pads: [3, 3, 3, 3] })]);
    let out = b.node('MaxPool', [stem], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    for (const stage of [1, 2, 3, 4]) {
      for (const block of [0, 1]) {
        const p = `layer${stage}.${block}`;
        const stride = stage > 1 && block === 0 ? 2 : 1;
        const first = b.node('Relu', [
          this.convBn(out, `${p}.conv1`, `${p}.bn1`, { strides: [stride, stride], pads: [1, 1, 1, 1] }),
        ]);
        const second = this.convBn(first, `${p}.conv2`, `${p}.bn2`, { pads: [1, 1, 1, 1] });
        const identity =
          `${p}.downsample.0.weight` in this.weights
            ? this.convBn(out, `${p}.downsample.0`, `${p}.downsample.1`, { strides: [stride, stride] })
            : out;
        out = b.node('Relu', [b.node('Add', [second, identity])]);
      }
    }
    return this.fc(b.node('Flatten', [b.node('GlobalAveragePool', [out])], { axis: 1 }));
  }

  private fc(x: string): string {
    const w = this.tensor('fc.weight');
    return this.builder.node(
      'Gemm',
      [x, this.builder.weight('fc.weight', w.data, w.shape), this.initializer('fc.bias')],
      { transB: 1 },
      'logits',
    );
  }

  /** A convolution and the eval-mode BatchNorm after it. */
  private convBn(x: string, conv: string, bn: string, attributes: { strides?: number[]; pads?: number[] }): string {
    const w = this.tensor(`${conv}.weight`);
    const [outChannels, , kh, kw] = w.shape as [number, number, number, number];
    const bias = this.weights[`${conv}.bias`]?.data ?? new Float32Array(outChannels);
    const gamma = this.tensor(`${bn}.weight`).data;
    const beta = this.tensor(`${bn}.bias`).data;
    const mean = this.tensor(`${bn}.running_mean`).data;
    const variance = this.tensor(`${bn}.running_var`).data;
    const convAttributes = { kernel_shape: [kh, kw], ...attributes };
    const b = this.builder;
    if (this.batchNorm === 'node') {
      const y = b.node(
        'Conv',
        [x, b.weight(`${conv}.weight`, w.data, w.shape), b.weight(`${conv}.bias`, bias, [outChannels])],
        convAttributes,
      );
      return b.node(
        'BatchNormalization',
        [
          y,
          ...[gamma, beta, mean, variance].map((t, i) =>
            b.weight(`${bn}.${['weight', 'bias', 'running_mean', 'running_var'][i]}`, t, [outChannels]),
          ),
        ],
        { epsilon: { float: BN_EPSILON } },
      );
    }
    // y = γ (conv(x) + b − μ) / √(σ² + ε) + β: the per-channel factor goes into the kernel, the rest into the bias.
    const folded = new Float32Array(w.data.length);
    const foldedBias = new Float32Array(outChannels);
    const perChannel = w.data.length / outChannels;
    for (let o = 0; o < outChannels; o++) {
      const factor = (gamma[o] as number) / Math.sqrt((variance[o] as number) + BN_EPSILON);
      for (let i = 0; i < perChannel; i++) folded[o * perChannel + i] = (w.data[o * perChannel + i] as number) * factor;
      foldedBias[o] = ((bias[o] as number) - (mean[o] as number)) * factor + (beta[o] as number);
    }
    return b.node(
      'Conv',
      [x, b.weight(`${conv}.weight`, folded, w.shape), b.weight(`${conv}.bias`, foldedBias, [outChannels])],
      convAttributes,
    );
  }

  private initializer(name: string): string {
    const t = this.tensor(name);
    return this.builder.weight(name, t.data, t.shape);
  }

  private tensor(name: string): TensorData {
    const t = this.weights[name];
    if (!t) throw new KdtorchError('E_WEIGHTS_MISMATCH', `exportOnnx: the model has no tensor '${name}'`);
    return t;
  }
}
