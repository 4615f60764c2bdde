import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../core/errors.ts';
import { mattingMetrics } from '../metrics/matting.ts';
import { psnr } from '../metrics/psnr.ts';
import { ssimMetric } from '../metrics/ssim.ts';
import type { ImageBatch, ImageToImageModel } from '../models/image-to-image.ts';
import { Inpaintor } from '../models/inpaintor.ts';
import { Mattor } from '../models/matting.ts';
import type { LogVars } from '../models/optimise.ts';
import { Restorer } from '../models/restorer.ts';
import { TTSR } from '../models/ttsr.ts';
import { lte, ttsrNet } from '../nets/ttsr.ts';
import { buildNet, netScales } from './architectures.ts';
import { MODEL_KINDS, type TrainConfig } from './config.ts';
import type { ArrayDataset } from './datasets.ts';
import {
  type FieldsDataset,
  inpaintingPairs,
  maskOptions,
  mattingData,
  restorationPairs,
} from './paired-data.ts';
import { REFERENCE_SR_SCALE, referencePairs } from './reference-data.ts';
import { type SampleGrid, type TrainTask, to255 } from './task.ts';

type Kind = 'restoration' | 'inpainting' | 'matting' | 'reference_sr';
type ImageToImageConfig = TrainConfig & {
  model: { type: 'BaseEditModel' | 'SRGAN' | 'ESRGAN' | 'OneStageInpaintor' | 'DIM' | 'TTSR' };
};
type TTSRConfig = Extract<TrainConfig['model'], { type: 'TTSR' }>;

/** The field a kind's output is compared with, and the fields its sample grid shows. */
const KIND_FIELDS: Record<Kind, { target: string; panels: string[] }> = {
  restoration: { target: 'gt_img', panels: ['img', 'output', 'gt_img'] },
  inpainting: { target: 'gt_img', panels: ['masked', 'output', 'gt_img'] },
  matting: { target: 'alpha', panels: ['merged', 'trimap', 'output', 'alpha'] },
  reference_sr: { target: 'gt_img', panels: ['img', 'ref_img', 'output', 'gt_img'] },
};

/** The kinds whose fields and outputs are in [−1, 1] (the others' are in [0, 1]). */
const SIGNED_KINDS: readonly Kind[] = ['inpainting', 'reference_sr'];

/** The data of a kind: restoration pairs, inpainting masks, shapes matting data, or reference pairs. */
function kindData(kind: Kind, cfg: ImageToImageConfig, images: ArrayDataset): FieldsDataset {
  const data = cfg.data;
  if (kind === 'restoration') {
    if (data.degradation === undefined) {
      throw new ConfigError(
        `data.degradation: ${cfg.model.type} needs the degradation that makes its inputs ({type: downsample, scale: 4}, {type: noise, sigma: 0.1} or {type: blur, sigma: 1.5})`,
      );
    }
    return restorationPairs(images, data.degradation);
  }
  if (kind === 'inpainting') return inpaintingPairs(images, data.masks ?? maskOptions.parse({}));
  if (kind === 'reference_sr') {
    const d = data.degradation;
    if (d?.type !== 'downsample' || d.scale !== REFERENCE_SR_SCALE) {
      throw new ConfigError(
        `data.degradation: TTSR super-resolves ×4: set {type: downsample, scale: 4}`,
      );
    }
    return referencePairs(images, cfg.train.seed);
  }
  if (data.type !== 'shapes') {
    throw new ConfigError(
      `data.type: DIM trains on the shapes dataset, whose exact alpha mattes it needs; a folder of images has none`,
    );
  }
  return mattingData(data.num_images, data.size, data.seed, data.trimap_width);
}

/**
 * The image-to-image model kinds — restoration (`BaseEditModel`, `SRGAN`, `ESRGAN`), inpainting
 * (`OneStageInpaintor`), matting (`DIM`) and reference-based super-resolution (`TTSR`, its
 * references made by `referencePairs` with `train.seed`) — on the dataset's images: the first
 * `data.val_images` are held out for the samples and the metrics, the rest train.
 */
export class ImageToImageTask implements TrainTask {
  readonly kind: Kind;
  readonly model: ImageToImageModel | TTSR;
  readonly nets: {
    generator: tf.LayersModel;
    discriminator?: tf.LayersModel;
    extractor?: tf.LayersModel;
  };
  readonly rngs = {};
  readonly train: FieldsDataset;
  readonly val: FieldsDataset;

  constructor(
    private readonly cfg: ImageToImageConfig,
    images: ArrayDataset,
  ) {
    const { model } = cfg;
    this.kind = MODEL_KINDS[model.type] as Kind;
    const all = kindData(this.kind, cfg, images);
    if (cfg.data.val_images >= all.size) {
      throw new ConfigError(
        `data.val_images (${cfg.data.val_images}) must be below the number of images (${all.size}): the rest train`,
      );
    }
    [this.val, this.train] = all.split(cfg.data.val_images);
    const generator =
      model.type === 'TTSR'
        ? ttsrNet(model.generator)
        : buildNet('model.generator', model.generator);
    const discriminator =
      model.discriminator === null ? null : buildNet('model.discriminator', model.discriminator);
    const extractor = model.type === 'TTSR' ? lte(model.extractor) : null;
    this.nets = {
      generator,
      ...(discriminator ? { discriminator } : {}),
      ...(extractor ? { extractor } : {}),
    };
    try {
      if (model.type === 'TTSR') {
        const {
          generator: _g,
          discriminator: _d,
          extractor: _e,
          transformer: _t,
          optimizers,
          ...losses
        } = model as TTSRConfig;
        this.model = new TTSR(losses, {
          generator,
          extractor: extractor as tf.LayersModel,
          discriminator,
          optimizers,
        });
        this.checkShapes();
        return;
      }
      const { generator: _g, discriminator: _d, optimizers, ...losses } = model;
      const nets = {
        generator,
        discriminator,
        discriminatorScales: model.discriminator ? netScales(model.discriminator) : 1,
        optimizers,
      };
      this.model =
        this.kind === 'restoration'
          ? new Restorer(losses, nets)
          : this.kind === 'inpainting'
            ? new Inpaintor(losses, nets)
            : new Mattor(losses, nets);
      this.checkShapes();
    } catch (error) {
      // The model is not built, or its losses are freed with it.
      (this as { model?: ImageToImageModel | TTSR }).model?.dispose();
      generator.dispose();
      discriminator?.dispose();
      extractor?.dispose();
      throw error;
    }
  }

  /**
   * Runs the networks on one held-out example: the generator's output must have the target's
   * shape and the discriminator must take it, else a `ConfigError` naming the keys to change.
   */
  private checkShapes(): void {
    const { target } = KIND_FIELDS[this.kind];
    const batch = this.val.batch([0]);
    try {
      tf.tidy(() => {
        const model = this.model;
        const input = model instanceof TTSR ? batch.img : model.generatorInput(batch);
        const inputShape = input.shape.slice(1);
        let out: tf.Tensor;
        try {
          out =
            model instanceof TTSR
              ? model.predict(batch)
              : (this.nets.generator.predict(input) as tf.Tensor);
        } catch (error) {
          throw new ConfigError(
            `model.generator: cannot run on the ${this.kind} input of shape [${inputShape.join(', ')}] (in_channels must be ${inputShape[2]}): ${(error as Error).message}`,
          );
        }
        const want = batch[target].shape.slice(1);
        const got = out.shape.slice(1);
        if (!tf.util.arraysEqual(want, got)) {
          throw new ConfigError(
            `model.generator: maps the input [${inputShape.join(', ')}] to [${got.join(', ')}], the target '${target}' is [${want.join(', ')}]; make upscale_factor match data.degradation.scale and out_channels ${want[2]}`,
          );
        }
        if (this.nets.discriminator) {
          try {
            this.nets.discriminator.predict(batch[target]);
          } catch (error) {
            throw new ConfigError(
              `model.discriminator: cannot run on the target images [${want.join(', ')}]: ${(error as Error).message}`,
            );
          }
        }
      });
    } finally {
      tf.dispose(Object.values(batch));
    }
  }

  get optimizers() {
    return this.model.optimizers;
  }

  get trainSize(): number {
    return this.train.size;
  }

  get iteration(): number {
    return this.model.iteration;
  }

  set iteration(value: number) {
    this.model.iteration = value;
  }

  buffers(): tf.Variable[] {
    return this.model.losses().flatMap((m) => m.buffers());
  }

  async trainStep(indices: readonly number[]): Promise<LogVars> {
    const batch = this.train.batch(indices);
    try {
      return await this.model.trainStep(batch);
    } finally {
      tf.dispose(Object.values(batch));
    }
  }

  /** The model's outputs on the first `n` held-out examples, `batch_size` at a time, with their batches' fields. */
  private predictVal<T>(n: number, use: (batch: ImageBatch, output: tf.Tensor4D) => T): T[] {
    const results: T[] = [];
    const chunk = this.cfg.train.batch_size;
    for (let start = 0; start < n; start += chunk) {
      const indices = Array.from({ length: Math.min(chunk, n - start) }, (_, i) => start + i);
      const batch = this.val.batch(indices);
      try {
        const output = this.model.predict(batch);
        try {
          results.push(use(batch, output));
        } finally {
          output.dispose();
        }
      } finally {
        tf.dispose(Object.values(batch));
      }
    }
    return results;
  }

  /**
   * The first `train.num_samples` held-out examples, one row each, in [−1, 1]: restoration —
   * input (nearest-upsampled to the target's size), output, target; reference-based SR — input,
   * reference, output, target; inpainting — masked input,
   * output, target; matting — merged, trimap, predicted alpha (the trimap's value where it is
   * known, as MMagic's matting models output it: the network is trained in the unknown band
   * only), true alpha.
   */
  samples(): SampleGrid {
    const n = Math.min(this.cfg.train.num_samples, this.val.size);
    const { panels } = KIND_FIELDS[this.kind];
    const rows = this.predictVal(n, (batch, output) =>
      tf.tidy(() => {
        const [, h, w] = output.shape;
        const show = (name: string) => {
          let t: tf.Tensor4D =
            name === 'output'
              ? this.kind === 'matting'
                ? withKnownAlpha(output, batch.trimap)
                : output
              : name === 'masked'
                ? tf.mul(batch.gt_img, tf.sub(1, batch.mask))
                : batch[name];
          if (t.shape[1] !== h) t = tf.image.resizeNearestNeighbor(t, [h, w]);
          t = SIGNED_KINDS.includes(this.kind)
            ? tf.clipByValue(t, -1, 1)
            : tf.sub(tf.mul(tf.clipByValue(t, 0, 1), 2), 1);
          return t.shape[3] === 1 ? tf.tile(t, [1, 1, 1, 3]) : t;
        };
        const shown = panels.map(show);
        // Interleave: example i's panels side by side.
        return tf.stack(shown, 1).reshape([-1, h, w, 3]) as tf.Tensor4D;
      }),
    );
    const images = rows.length === 1 ? rows[0] : tf.concat4d(rows, 0);
    if (rows.length > 1) tf.dispose(rows);
    return { images, columns: panels.length * 2 };
  }

  /**
   * The held-out images' metrics, MMagic's definitions on [0, 255] images: restoration
   * (reference-based too) and inpainting `metric/psnr` and `metric/ssim` (means over the images; an image restored exactly,
   * PSNR ∞, is left out of the PSNR mean); matting `metric/sad`, `metric/mse`,
   * `metric/gradient_error`, `metric/connectivity_error` with the prediction set to the trimap's
   * value where the trimap is known (as MMagic's matting models output it).
   */
  async evaluate(): Promise<Record<string, number>> {
    const n = this.val.size;
    if (this.kind === 'matting') {
      const samples = this.predictVal(n, (batch, output) =>
        tf.tidy(() => {
          const trimap = tf.mul(batch.trimap, 255).round();
          const pred = tf.mul(withKnownAlpha(output, batch.trimap), 255);
          const split = (t: tf.Tensor) => tf.unstack(t).map((x) => x.dataSync() as Float32Array);
          const [p, g, m] = [pred, tf.mul(batch.alpha, 255), trimap].map(split);
          return p.map((pred_alpha, i) => ({ pred_alpha, gt_alpha: g[i], trimap: m[i] }));
        }),
      ).flat();
      const [h, w] = this.val.fields.alpha.imageShape;
      const m = mattingMetrics(samples, { shape: [h, w] });
      return {
        'metric/sad': m.SAD,
        'metric/mse': m.MattingMSE,
        'metric/gradient_error': m.GradientError,
        'metric/connectivity_error': m.ConnectivityError,
      };
    }
    const toImage = (t: tf.Tensor4D) =>
      SIGNED_KINDS.includes(this.kind) ? to255(t) : tf.clipByValue(tf.mul(t, 255), 0, 255);
    const scores = this.predictVal(n, (batch, output) =>
      tf.tidy(() => {
        const pred = toImage(output);
        const gt = toImage(batch.gt_img);
        return { psnr: psnr(pred, gt), ssim: ssimMetric(pred, gt) };
      }),
    );
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const finitePsnr = scores.flatMap((s) => s.psnr).filter(Number.isFinite);
    return {
      'metric/psnr': finitePsnr.length > 0 ? mean(finitePsnr) : Number.POSITIVE_INFINITY,
      'metric/ssim': mean(scores.flatMap((s) => s.ssim)),
    };
  }

  dispose(): void {
    this.model.dispose();
    this.nets.generator.dispose();
    this.nets.discriminator?.dispose();
    this.nets.extractor?.dispose();
  }
}

/** A predicted alpha with the trimap's value where the trimap is known (0 or 1), N×H×W×1. */
function withKnownAlpha(alpha: tf.Tensor4D, trimap: tf.Tensor4D): tf.Tensor4D {
  return tf.where(tf.equal(trimap, 0.5), alpha, trimap);
}
