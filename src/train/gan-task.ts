import * as tf from '@tensorflow/tfjs';
import { SeedGenerator } from '../core/random.ts';
import { SlicedWassersteinDistance, swdResolutions } from '../metrics/swd.ts';
import { type GANModelConfig, GANWithCustomizedLoss } from '../models/gan-with-customized-loss.ts';
import { generatorFromLayers } from '../models/net-adapters.ts';
import type { LogVars } from '../models/optimise.ts';
import { clipTokenize } from '../nets/clip.ts';
import { buildNet } from './architectures.ts';
import type { TrainConfig } from './config.ts';
import type { ImageDataset } from './datasets.ts';
import { checkNetworkShapes, checkStepMemory } from './limits.ts';
import { type SampleGrid, type TrainTask, to255 } from './task.ts';

type GanTrainConfig = TrainConfig & { model: { type: 'GANWithCustomizedLoss' } };

/**
 * The GAN model kind: `GANWithCustomizedLoss` on a DCGAN-style generator and discriminator, real
 * batches from the dataset, samples from a fixed noise batch (`train.num_samples` latents), and
 * with `model.text_prompt` its CLIP token ids as the outputs key `text`.
 */
export class GanTask implements TrainTask {
  readonly model: GANWithCustomizedLoss;
  readonly nets: { generator: tf.LayersModel; discriminator: tf.LayersModel };
  readonly rngs: { latent: SeedGenerator };
  private readonly sampleNoise: tf.Tensor;
  private swdFloor: number | null = null;
  /** The moving average of the generator (`model.ema_config`), or null. */
  private readonly emaGenerator: tf.LayersModel | null = null;
  /** `model.text_prompt`'s CLIP token ids (1×77), the outputs key `text`, made at the first step. */
  private text: tf.Tensor2D | null = null;

  constructor(
    private readonly cfg: GanTrainConfig,
    private readonly dataset: ImageDataset,
    memoryLimitBytes: number,
  ) {
    const { model, train } = cfg;
    const generator = buildNet('model.generator', model.generator);
    const discriminator = buildNet('model.discriminator', model.discriminator);
    this.nets = { generator, discriminator };
    this.rngs = { latent: new SeedGenerator(train.seed + 1) };
    try {
      checkNetworkShapes(generator, discriminator, dataset.imageShape);
      checkStepMemory(generator, discriminator, train, memoryLimitBytes);
      const {
        generator: _g,
        discriminator: _d,
        type: _t,
        text_prompt: _p,
        ema_config: _e,
        ...losses
      } = model;
      this.model = new GANWithCustomizedLoss({
        ...(losses as Omit<GANModelConfig, 'generator' | 'discriminator'>),
        generator: generatorFromLayers(generator, this.rngs.latent),
        discriminator,
      });
    } catch (error) {
      generator.dispose();
      discriminator.dispose();
      throw error;
    }
    if (model.ema_config !== null) {
      this.emaGenerator = buildNet('model.generator', model.generator);
      this.emaGenerator.setWeights(generator.getWeights());
    }
    const noiseSize = generator.inputs[0].shape[1] as number;
    this.sampleNoise = tf.randomNormal(
      [train.num_samples, noiseSize],
      0,
      1,
      'float32',
      train.seed + 3,
    );
  }

  get optimizers() {
    return this.model.optimizers;
  }

  get trainSize(): number {
    return this.dataset.size;
  }

  get iteration(): number {
    return this.model.iteration;
  }

  set iteration(value: number) {
    this.model.iteration = value;
  }

  /** The losses' running buffers, then the generator's moving average (`ema_config`). */
  buffers(): tf.Variable[] {
    return [
      ...this.model.losses().flatMap((m) => m.buffers()),
      ...(this.emaGenerator?.weights.map((w) => w.read() as tf.Variable) ?? []),
    ];
  }

  /** The generator the samples and the SWD use: the moving average when there is one. */
  private get shownGenerator(): tf.LayersModel {
    return this.emaGenerator ?? this.nets.generator;
  }

  /** mmengine's `ExponentialMovingAverage.avg_func` after a step, every `interval` steps. */
  private updateAverage(): void {
    const ema = this.cfg.model.ema_config;
    if (this.emaGenerator === null || ema === null || this.model.iteration % ema.interval !== 0) {
      return;
    }
    const source = this.nets.generator.weights;
    this.emaGenerator.weights.forEach((w, i) => {
      const averaged = w.read() as tf.Variable;
      tf.tidy(() => {
        averaged.assign(
          tf.add(tf.mul(averaged, 1 - ema.momentum), tf.mul(source[i].read(), ema.momentum)),
        );
      });
    });
  }

  async trainStep(indices: readonly number[]): Promise<LogVars> {
    const prompt = this.cfg.model.text_prompt;
    if (prompt !== null) this.text ??= await clipTokenize(prompt);
    const real = this.dataset.batch(indices);
    try {
      const log = await this.model.trainStep({
        real_imgs: real,
        ...(this.text === null ? {} : { text: this.text }),
      });
      this.updateAverage();
      return log;
    } finally {
      real.dispose();
    }
  }

  /**
   * Samples from the fixed noise batch, generator (its moving average with `ema_config`) in
   * inference mode, rendered `train.batch_size`
   * at a time: N×H×W×C in [−1, 1], 8 to a row.
   */
  samples(): SampleGrid {
    const n = this.sampleNoise.shape[0];
    const chunk = this.cfg.train.batch_size;
    const parts: tf.Tensor4D[] = [];
    try {
      for (let start = 0; start < n; start += chunk) {
        parts.push(
          tf.tidy(
            () =>
              this.shownGenerator.predict(
                this.sampleNoise.slice(start, Math.min(chunk, n - start)),
              ) as tf.Tensor4D,
          ),
        );
      }
      return { images: parts.length === 1 ? parts[0] : tf.concat4d(parts, 0), columns: 8 };
    } finally {
      if (parts.length > 1) tf.dispose(parts);
    }
  }

  /**
   * MMagic's sliced Wasserstein distance (`metric/swd`, the mean over the Laplacian levels, ×10³)
   * between `train.num_metric_images` generated images (from a fixed noise batch) and as many real
   * ones (the dataset's first), and its floor `metric/swd_floor`: the same between those real
   * images and the next as many (or the dataset's two halves, when it is smaller), computed once.
   * A generator that matches the data approaches the floor. Empty when `num_metric_images` is 0
   * or the images are under 16 pixels high (MMagic's SWD has no level there).
   */
  async evaluate(): Promise<Record<string, number>> {
    const n = Math.min(this.cfg.train.num_metric_images, Math.floor(this.dataset.size / 2));
    const [h, w, c] = this.dataset.imageShape;
    if (n === 0 || swdResolutions(h).length === 0) return {};
    const chunk = this.cfg.train.batch_size;
    const swd = () =>
      new SlicedWassersteinDistance({ image_shape: [c, h, w], seed: this.cfg.train.seed });
    const feedReal = (
      metric: SlicedWassersteinDistance,
      from: number,
      add: 'addReal' | 'addFake',
    ) => {
      for (let start = 0; start < n; start += chunk) {
        const indices = Array.from(
          { length: Math.min(chunk, n - start) },
          (_, i) => from + start + i,
        );
        const images = this.dataset.batch(indices);
        try {
          tf.tidy(() => metric[add](to255(images)));
        } finally {
          images.dispose();
        }
      }
    };
    if (this.swdFloor === null) {
      const floor = swd();
      feedReal(floor, 0, 'addReal');
      feedReal(floor, n, 'addFake');
      this.swdFloor = floor.compute().avg;
    }
    const metric = swd();
    feedReal(metric, 0, 'addReal');
    for (let start = 0; start < n; start += chunk) {
      tf.tidy(() => {
        const z = tf.randomNormal(
          [Math.min(chunk, n - start), this.sampleNoise.shape[1] as number],
          0,
          1,
          'float32',
          this.cfg.train.seed + 4 + start,
        );
        metric.addFake(to255(this.shownGenerator.predict(z) as tf.Tensor4D));
      });
    }
    return { 'metric/swd': metric.compute().avg, 'metric/swd_floor': this.swdFloor };
  }

  dispose(): void {
    this.model.dispose();
    this.nets.generator.dispose();
    this.nets.discriminator.dispose();
    this.emaGenerator?.dispose();
    this.sampleNoise.dispose();
    this.text?.dispose();
  }
}
