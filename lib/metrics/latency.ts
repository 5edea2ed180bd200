// Inference latency as a user of the model would see it: uint8 pixels in, logits out, through the
// same native call as predict(), median of repeated timed passes after two warm-ups. On a loaded
// machine one pass can take 100× another: the passes go on until they fill MIN_MS (at most 10×
// repeats), and a row whose middle 80% spans more than its median says so (`unstable`).

import { seededRandom } from '../data/random.js';
import type { ModelDescription } from '../model-file.js';
import type { Model } from '../native/model.js';

export interface LatencyRow {
  batchSize: number;
  /** Median wall time of one forward pass over the batch. */
  msPerBatch: number;
  /** The 10th and 90th percentiles of the passes, and how many were timed. */
  p10: number;
  p90: number;
  passes: number;
  /** (p90 − p10) / median above 1: the machine was busy; compare such rows with care. */
  unstable: boolean;
  msPerImage: number;
  imagesPerSecond: number;
}

const MIN_MS = 250;

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
    const times = await timedPasses(() => model.forward(input), repeats);
    const at = (q: number) => percentile(times, q);
    const msPerBatch = at(0.5);
    rows.push({
      batchSize,
      msPerBatch,
      p10: at(0.1),
      p90: at(0.9),
      passes: times.length,
      unstable: (at(0.9) - at(0.1)) / msPerBatch > 1,
      msPerImage: msPerBatch / batchSize,
      imagesPerSecond: (1000 * batchSize) / msPerBatch,
    });
  }
  return rows;
}

/**
 * The wall times (ms, sorted) of `run` after two warm-ups: at least `repeats` passes, more until they fill
 * MIN_MS (at most 10 × repeats). The rule every latency figure of kdtorch's uses (benches included).
 */
export async function timedPasses(run: () => Promise<unknown>, repeats: number): Promise<number[]> {
  for (let i = 0; i < 2; i++) await run();
  const times: number[] = [];
  let total = 0;
  while (times.length < repeats || (total < MIN_MS && times.length < 10 * repeats)) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
    total += times.at(-1) as number;
  }
  return times.sort((a, b) => a - b);
}

/** The q-quantile of sorted values (the lower one, as timedPasses's rows report). */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
