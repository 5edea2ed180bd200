// Inference latency as a user of the model would see it: uint8 pixels in, logits out, through the
// same native call as predict(), median of repeated timed passes after two warm-ups.

import { seededRandom } from '../data/random.js';
import type { ModelDescription } from '../model-file.js';
import type { Model } from '../native/model.js';

export interface LatencyRow {
  batchSize: number;
  /** Median wall time of one forward pass over the batch. */
  msPerBatch: number;
  msPerImage: number;
  imagesPerSecond: number;
}

export async function measureLatency(
  model: Model,
  description: ModelDescription,
  batchSizes: number[],
  repeats: number,
): Promise<LatencyRow[]> {
  await model.eval();
  const { imageSize, channels, mean, std } = description;
  const random = seededRandom(1);
  const rows: LatencyRow[] = [];
  for (const batchSize of batchSizes) {
    const pixels = Uint8Array.from({ length: batchSize * imageSize * imageSize * channels }, () => random() * 256);
    const input = { pixels, shape: [batchSize, imageSize, imageSize, channels], mean, std };
    const times: number[] = [];
    for (let i = 0; i < repeats + 2; i++) {
      const start = performance.now();
      await model.forward(input);
      if (i >= 2) times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    const msPerBatch = times[Math.floor(times.length / 2)] as number;
    rows.push({
      batchSize,
      msPerBatch,
      msPerImage: msPerBatch / batchSize,
      imagesPerSecond: (1000 * batchSize) / msPerBatch,
    });
  }
  return rows;
}
