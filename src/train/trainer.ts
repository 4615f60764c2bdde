import * as tf from '@tensorflow/tfjs';
import { parseOptions } from '../core/options.ts';
import { defaultGenerator, SeedGenerator } from '../core/random.ts';
import {
  type GANModelConfig,
  GANWithCustomizedLoss,
  type LogVars,
} from '../models/gan-with-customized-loss.ts';
import { generatorFromLayers } from '../models/net-adapters.ts';
import { buildNet } from './architectures.ts';
import { type TrainConfig, trainConfigOptions } from './config.ts';
import { BatchSampler, type ImageDataset } from './datasets.ts';

/** Everything a checkpoint holds: tensors by name, and JSON-able state. */
export interface TrainState {
  tensors: Record<string, tf.Tensor>;
  meta: {
    step: number;
    iteration: number;
    sampler: ReturnType<BatchSampler['getState']>;
    rng: { latent: number; default: number };
    history: HistoryRow[];
  };
}

/** One logged step: the step number and its `log_vars`. */
export interface HistoryRow {
  step: number;
  log: LogVars;
}

/**
 * Config-driven GAN training, browser-safe (no files): builds the networks, losses and
 * optimizers from a `TrainConfig`, samples batches from a dataset, runs `GANWithCustomizedLoss`
 * steps, renders samples from a fixed noise batch, and saves/restores its whole state (weights,
 * optimizer moments, loss buffers, step, sampler and RNG state) so that a resumed run continues
 * with the same losses as an uninterrupted one.
 */
export class Trainer {
  readonly cfg: TrainConfig;
  readonly model: GANWithCustomizedLoss;
  readonly generatorNet: tf.LayersModel;
  readonly discriminatorNet: tf.LayersModel;
  readonly history: HistoryRow[] = [];
  /** Steps done so far. */
  step = 0;
  private readonly sampler: BatchSampler;
  private readonly latentRng: SeedGenerator;
  private readonly sampleNoise: tf.Tensor;

  constructor(
    config: unknown,
    readonly dataset: ImageDataset,
  ) {
    this.cfg = parseOptions('train config', trainConfigOptions, config);
    const { model, train } = this.cfg;
    defaultGenerator.manualSeed(train.seed);
    this.latentRng = new SeedGenerator(train.seed + 1);
    this.sampler = new BatchSampler(dataset.size, train.batch_size, train.seed + 2);
    this.generatorNet = buildNet('model.generator', model.generator);
    this.discriminatorNet = buildNet('model.discriminator', model.discriminator);
    const { generator: _g, discriminator: _d, ...losses } = model;
    this.model = new GANWithCustomizedLoss({
      ...(losses as Omit<GANModelConfig, 'generator' | 'discriminator'>),
      generator: generatorFromLayers(this.generatorNet, this.latentRng),
      discriminator: this.discriminatorNet,
    });
    const noiseSize = this.generatorNet.inputs[0].shape[1] as number;
    this.sampleNoise = tf.randomNormal(
      [train.num_samples, noiseSize],
      0,
      1,
      'float32',
      train.seed + 3,
    );
  }

  /** One training step on the next batch; returns its `log_vars` and records them. */
  async trainStep(): Promise<LogVars> {
    const real = this.dataset.batch(this.sampler.next());
    try {
      const log = await this.model.trainStep({ real_imgs: real });
      this.step += 1;
      this.history.push({ step: this.step, log });
      return log;
    } finally {
      real.dispose();
    }
  }

  /** Samples from the fixed noise batch, generator in inference mode: N×H×W×C in [−1, 1]. */
  samples(): tf.Tensor4D {
    return tf.tidy(() => this.generatorNet.predict(this.sampleNoise) as tf.Tensor4D);
  }

  /** The whole training state, as copies the caller owns. */
  async getState(): Promise<TrainState> {
    const tensors: Record<string, tf.Tensor> = {};
    this.generatorNet.getWeights().forEach((w, i) => {
      tensors[`generator.${i}`] = w.clone();
    });
    this.discriminatorNet.getWeights().forEach((w, i) => {
      tensors[`discriminator.${i}`] = w.clone();
    });
    for (const [name, opt] of Object.entries(this.model.optimizers)) {
      const [iterations, ...moments] = await opt.getWeights();
      tensors[`optimizer.${name}.iterations`] = iterations.tensor;
      moments.forEach((w, i) => {
        tensors[`optimizer.${name}.${i}`] = w.tensor.clone();
      });
    }
    this.buffers().forEach((b, i) => {
      tensors[`buffer.${i}`] = b.clone();
    });
    return {
      tensors,
      meta: {
        step: this.step,
        iteration: this.model.iteration,
        sampler: this.sampler.getState(),
        rng: { latent: this.latentRng.getState(), default: defaultGenerator.getState() },
        history: this.history,
      },
    };
  }

  /** Restores a state from `getState()` (tensors are copied; the caller still owns them). */
  async setState({ tensors, meta }: TrainState): Promise<void> {
    const pick = (prefix: string) =>
      Object.keys(tensors)
        .filter((k) => k.startsWith(prefix) && /^\d+$/.test(k.slice(prefix.length)))
        .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)))
        .map((k) => tensors[k]);
    this.generatorNet.setWeights(pick('generator.'));
    this.discriminatorNet.setWeights(pick('discriminator.'));
    for (const [name, opt] of Object.entries(this.model.optimizers)) {
      const old = await opt.getWeights();
      const given = [
        { name: 'iter', tensor: tensors[`optimizer.${name}.iterations`] },
        ...pick(`optimizer.${name}.`).map((t, i) => ({ name: `${name}.${i}`, tensor: t.clone() })),
      ];
      await opt.setWeights(given);
      tf.dispose(given.slice(1).map((g) => g.tensor));
      tf.dispose(old.map((w) => w.tensor));
    }
    this.buffers().forEach((b, i) => {
      b.assign(tensors[`buffer.${i}`]);
    });
    this.step = meta.step;
    this.model.iteration = meta.iteration;
    this.sampler.setState(meta.sampler);
    this.latentRng.manualSeed(meta.rng.latent);
    defaultGenerator.manualSeed(meta.rng.default);
    this.history.splice(0, this.history.length, ...meta.history);
  }

  /** Names and shapes of the weights and buffers a checkpoint of this trainer holds. */
  stateShapes(): Record<string, readonly number[]> {
    const shapes: Record<string, readonly number[]> = {};
    this.generatorNet.weights.forEach((w, i) => {
      shapes[`generator.${i}`] = w.shape as number[];
    });
    this.discriminatorNet.weights.forEach((w, i) => {
      shapes[`discriminator.${i}`] = w.shape as number[];
    });
    this.buffers().forEach((b, i) => {
      shapes[`buffer.${i}`] = b.shape;
    });
    return shapes;
  }

  private buffers(): tf.Variable[] {
    return [...this.model.discAuxiliaryLosses, ...this.model.genAuxiliaryLosses].flatMap((m) =>
      m.buffers(),
    );
  }

  /** Frees the networks, the losses' state and the optimizers. */
  dispose(): void {
    this.model.dispose();
    this.generatorNet.dispose();
    this.discriminatorNet.dispose();
    this.sampleNoise.dispose();
  }
}
