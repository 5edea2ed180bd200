// The exact teacher-output cache. Each training image has a fixed set of views: with data.augment,
// distill.teacherViews K views, view k a pure function of (seed, image, k) (lib/data/augment.ts); without
// it, the image and its horizontal flip. The teacher runs in eval mode without randomness, so its
// logits for a view never change: they are computed once per view, before the first epoch, and every
// distillation step then costs a student step, the teacher and the student seeing the same pixels.
// The file is keyed by the teacher's weights, the images, the transform and the views, and sits beside
// the teacher's weights, so other distillations of that teacher (another α or T) reuse it. With a process
// group each rank computes every N-th image's views and the ranks add their outputs up; rank 0 writes
// the file.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../atomic-write.js';
import type { Config } from '../config/schema.js';
import { type Dataset, evalLoader, phaseAugment, viewLoader } from '../data/dataset.js';
import { DECODE_SETTINGS } from '../data/decode.js';
import type { Sample } from '../data/image-folder.js';
import type { PixelBatch } from '../native/batch.js';
import type { Model } from '../native/model.js';
import type { ProcessGroup } from '../native/process-group.js';

export interface TeacherOutputsInfo {
  /** 'computed' this run, or read from `file`. */
  source: 'computed' | 'file';
  file: string | null;
  views: number;
  images: number;
  /** The file's size: images × views × classes float32. */
  bytes: number;
  seconds: number;
}

export class TeacherOutputs {
  private constructor(
    /** [images, views, classes] */
    private readonly logits: Float32Array,
    private readonly views: number,
    private readonly classes: number,
    readonly info: TeacherOutputsInfo,
  ) {}

  /** The teacher's logits for a batch's images, each in the view (augmented, or flipped or not) the batch holds. */
  forBatch(batch: PixelBatch): Float32Array {
    const { indices, flip, views } = batch;
    if (!indices) throw new Error('teacher outputs need batches from a DataLoader (with indices)');
    const c = this.classes;
    const out = new Float32Array(indices.length * c);
    for (let n = 0; n < indices.length; n++) {
      const view = views ? (views[n] as number) : this.views > 1 && flip?.[n] ? 1 : 0;
      if (view >= this.views) throw new Error(`view ${view} is not among the ${this.views} cached`);
      const at = ((indices[n] as number) * this.views + view) * c;
      out.set(this.logits.subarray(at, at + c), n * c);
    }
    return out;
  }

  /**
   * Reads the outputs from `directory` when a file for this teacher, these images and these views is
   * there; otherwise runs the teacher over every view and saves them there.
   * @param teacherFile the teacher's weights file, hashed into the key (null: nothing is saved)
   * @param distill the phase's config: whether it augments, and its views per image (teacherViews, a number)
   * @param group the ranks that share the work (every rank calls this with the same arguments)
   */
  static async load(
    teacher: Model,
    teacherFile: string | null,
    dataset: Dataset,
    samples: readonly Sample[],
    batchSize: number,
    directory: string | null,
    { seed, distill }: { seed: number; distill: Config['distill'] },
    group?: ProcessGroup,
  ): Promise<TeacherOutputs> {
    const started = performance.now();
    const spec = phaseAugment(dataset, distill);
    const views = spec ? Number(distill.teacherViews) : dataset.data.hflip > 0 ? 2 : 1;
    const classes = dataset.splits.classes.length;
    const expected = samples.length * views * classes;
    const key = { views, ...(spec ? { seed, augment: spec, hflip: dataset.data.hflip } : {}) };
    const file =
      teacherFile && directory ? path.join(directory, `${cacheKey(teacherFile, dataset, samples, key)}.f32`) : null;
    const info = (source: TeacherOutputsInfo['source']): TeacherOutputsInfo => ({
      source,
      file,
      views,
      images: samples.length,
      bytes: expected * 4,
      seconds: (performance.now() - started) / 1000,
    });
    const bytes = file && fs.existsSync(file) ? fs.readFileSync(file) : undefined;
    const intact = bytes?.length === expected * 4;
    // Every rank reads the file only if every rank has it (machines need not share a file system).
    const everywhere = group ? (await group.sum([intact ? 1 : 0]))[0] === group.worldSize : intact;
    if (bytes && everywhere) {
      const logits = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      return new TeacherOutputs(logits, views, classes, info('file'));
    }
    let logits = new Float32Array(expected);
    await teacher.eval();
    // A rank's share is padded to equal length with other ranks' images: only its own are kept.
    const shard = group ? { rank: group.rank, count: group.worldSize } : undefined;
    const mine = (index: number) => !shard || index % shard.count === shard.rank;
    const keep = (batch: PixelBatch, view: number, out: Float32Array) => {
      const indices = batch.indices as Uint32Array;
      for (let i = 0; i < indices.length; i++) {
        const index = indices[i] as number;
        if (mine(index)) logits.set(out.subarray(i * classes, (i + 1) * classes), (index * views + view) * classes);
      }
    };
    if (spec) {
      const loader = viewLoader(dataset, samples, batchSize, seed, spec, shard);
      for (let view = 0; view < views; view++) {
        for await (const batch of loader.epoch(0, 0, view)) {
          keep(batch, view, (await teacher.forward(batch)).data);
          loader.recycle(batch);
        }
      }
    } else {
      const loader = evalLoader(dataset, [...samples], batchSize, shard);
      for await (const batch of loader.epoch(0)) {
        for (let view = 0; view < views; view++) {
          keep(
            batch,
            view,
            (await teacher.forward({ ...batch, flip: new Uint8Array(batch.labels.length).fill(view) })).data,
          );
        }
        loader.recycle(batch);
      }
    }
    if (group) logits = Float32Array.from(await group.sum(logits));
    if (file && (!group || group.rank === 0)) writeFileAtomicSync(file, new Uint8Array(logits.buffer));
    return new TeacherOutputs(logits, views, classes, info('computed'));
  }
}

function cacheKey(teacherFile: string, dataset: Dataset, samples: readonly Sample[], views: object): string {
  const { imageSize, channels, mean, std } = dataset.data;
  const weights = createHash('sha256').update(fs.readFileSync(teacherFile)).digest('hex');
  return createHash('sha256')
    .update(
      JSON.stringify({
        weights,
        samples: samples.map((s) => [s.path, s.label]),
        transform: { imageSize, channels, mean, std, views, decode: DECODE_SETTINGS },
      }),
    )
    .digest('hex')
    .slice(0, 32);
}
