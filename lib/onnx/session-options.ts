// The onnxruntime session a kdtorch export runs in, for the classifier and the latency bench alike.
import type * as Ort from 'onnxruntime-node';
import type { ModelDescription } from '../model-description.js';

/**
 * The options to run an export with: a ready-made session for anyone using onnxruntime on the file
 * directly. onnxruntime's 'all' level adds a layout pass that runs convolutions on blocks of 8
 * channels (NCHWc) and reorders their outputs back. ResNet-18's 64–512 channels gain about 2× from it; the student's single
 * convolution (4 channels, its default width) loses, as the reorder of its full-size output costs more than the blocks save
 * (Python onnxruntime, 2 threads on this CPU, 'all' against 'extended': student 224² batch 1 0.35 vs
 * 0.27 ms, batch 32 14.8 vs 8.7 ms, 64² batch 1 0.061 vs 0.037 ms; ResNet-18 224² batch 1 18.3 vs 31.2 ms).
 * `threads`: onnxruntime's intra-op threads (default: its own choice).
 */
export function sessionOptions(
  description: Pick<ModelDescription, 'architecture'>,
  threads?: number,
): Ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: description.architecture === 'studentNet' ? 'extended' : 'all',
    ...(threads ? { intraOpNumThreads: threads } : {}),
  };
}
