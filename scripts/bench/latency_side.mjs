// One runtime's side of `npm run bench -- latency`, in a process of its own: `node latency_side.mjs
// kdtorch|onnx JSON_ARGS` prints one JSON line of {row key/batch: ms per batch}. Each runtime runs alone,
// as it would in a deployment: two runtimes' thread pools in one process spin against each other on a
// small machine (on 2 cores, the student's forward at 64² took 0.34 ms with an onnxruntime session beside
// it and 0.12 ms without, and onnxruntime 0.17 ms beside libtorch against 0.07 ms alone). The onnx side
// never loads the kdtorch addon, and checks that libtorch is not in the process.
import fs from 'node:fs';
import { percentile, timedPasses } from '../../dist/lib/metrics/latency.js';

const medianMs = async (run, repeats) => percentile(await timedPasses(run, repeats), 0.5);

// The same values on every side: latency_reference.py makes them alike.
const benchInput = (batch, channels, size) =>
  new Float32Array(batch * channels * size * size).map((_, i) => Math.sin(i * 0.37));

async function kdtorchSide({ rows, batches, repeats }) {
  const { resnet18, studentNet } = await import('../../dist/lib/index.js');
  const out = {};
  for (const { key, weights, spec } of rows) {
    const model = spec.arch === 'resnet18' ? await resnet18() : await studentNet({ inputSize: spec.inputSize });
    await model.loadWeights(weights);
    await model.eval();
    for (const batch of batches) {
      const shape = [batch, 3, spec.inputSize, spec.inputSize];
      const data = benchInput(batch, 3, spec.inputSize);
      out[`${key}/${batch}`] = await medianMs(() => model.forward({ data, shape }), repeats);
    }
    await model.dispose();
  }
  return out;
}

async function onnxSide({ rows, batches, repeats, threads }) {
  const ort = await import('onnxruntime-node');
  const { sessionOptions } = await import('../../dist/lib/onnx/index.js');
  const out = {};
  for (const { key, onnx, spec } of rows) {
    const session = await ort.InferenceSession.create(onnx, sessionOptions({ architecture: spec.arch }, threads));
    for (const batch of batches) {
      const shape = [batch, 3, spec.inputSize, spec.inputSize];
      const input = new ort.Tensor('float32', benchInput(batch, 3, spec.inputSize), shape);
      out[`${key}/${batch}`] = await medianMs(() => session.run({ input }, ['logits']), repeats);
    }
    await session.release();
  }
  if (/libtorch/.test(fs.readFileSync('/proc/self/maps', 'utf8'))) {
    throw new Error('the onnx side loaded libtorch: it must time onnxruntime-node alone');
  }
  return out;
}

const sides = { kdtorch: kdtorchSide, onnx: onnxSide };
const [side, args] = process.argv.slice(2);
console.log(JSON.stringify(await sides[side](JSON.parse(args))));
