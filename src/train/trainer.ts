import * as tf from '@tensorflow/tfjs';
import { parseOptions } from '../core/options.ts';
import { defaultGenerator, SeedGenerator } from '../core/random.ts';
import {
  type GANModelConfig,
  GANWithCustomizedLoss,
  type LogVars,
} from '../models/gan-with-customized-loss.ts';
import { generatorFromLayers } from '../models/net-adapters.ts';
import { isAdam, readOptimizerState, writeOptimizerState } from '../models/optimizer-state.ts';
import { buildNet } from './architectures.ts';
import { type TrainConfig, trainConfigOptions } from './config.ts';
import { BatchSampler, type ImageDataset, type SamplerState } from './datasets.ts';
import { checkNetworkShapes, checkStepMemory, DEFAULT_MEMORY_LIMIT_BYTES } from './limits.ts';

/** The two optimizers of the GAN model, by the network they train. */
export const OPTIMIZER_NAMES = ['generator', 'discriminator'] as const;
/** `'generator'` or `'discriminator'`. */
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

/**
 * Everything a checkpoint holds, so that a resumed run goes on bit for bit as an uninterrupted
 * one. Tensors (float32) by name: `generator.<i>` and `discriminator.<i>` (the networks'
 * `getWeights()`), `buffer.<i>` (the losses' running buffers, e.g. the path-length mean),
 * `optimizer.<net>.<j>` (the optimizer's accumulators in `getWeights()` order) and, for Adam,
 * `optimizer.<net>.beta1_power` / `beta2_power` (β₁ᵗ, β₂ᵗ as accumulated). Scalars that change
 * the numbers: the step, each optimizer's iteration count, the sampler and the two seed
 * generators. The logged losses are not state: they go to the run's log.
 */
export interface TrainState {
  tensors: Record<string, tf.Tensor>;
  meta: TrainMeta;
}

/** The JSON part of a {@link TrainState}. */
export interface TrainMeta {
  /** Steps done. */
  step: number;
  /** Each optimizer's iteration count. */
  optimizers: Record<OptimizerName, { iterations: number }>;
  sampler: SamplerState;
  /** States of the latent generator and of genloss's default generator (GP α, path noise). */
  rng: { latent: number; default: number };
}

/**
 * What a valid {@link TrainState} for a trainer looks like, for checking a checkpoint before it is
 * used: the weight and buffer tensors with their shapes; per optimizer, the shapes of the
 * variables it trains (in the order its accumulators follow), its accumulators per variable
 * (Adam 2: m and v; RMSprop 2; momentum 1; SGD 0) and whether it keeps Adam's β powers; the
 * dataset size the sampler draws from.
 */
export interface StateLayout {
  tensors: Record<string, readonly number[]>;
  optimizers: Record<
    OptimizerName,
    { variableShapes: readonly (readonly number[])[]; slots: number; betaPowers: boolean }
  >;
  datasetSize: number;
}

/** Accumulators per variable of the optimizers genloss builds, by TF.js class name. */
const ACCUMULATORS_PER_VARIABLE: Record<string, number> = {
  Adam: 2,
  RMSProp: 2,
  Momentum: 1,
  SGD: 0,
};

/**
 * Config-driven GAN training, browser-safe (no files): builds the networks, losses and
 * optimizers from a `TrainConfig`, samples batches from a dataset, runs `GANWithCustomizedLoss`
 * steps, renders samples from a fixed noise batch, and saves/restores its whole state (see
 * {@link TrainState}) so that a resumed run continues bit for bit as an uninterrupted one.
 */
export class Trainer {
  readonly cfg: TrainConfig;
  readonly model: GANWithCustomizedLoss;
  readonly generatorNet: tf.LayersModel;
  readonly discriminatorNet: tf.LayersModel;
  /** Steps done so far. */
  step = 0;
  private readonly sampler: BatchSampler;
  private readonly latentRng: SeedGenerator;
  private readonly sampleNoise: tf.Tensor;

  /**
   * Builds the trainer for a config and a dataset. Before anything trains, the networks are
   * checked against the data (`checkNetworkShapes`) and one step's memory against
   * `memoryLimitBytes` (`checkStepMemory`): a `ConfigError` naming the keys otherwise.
   */
  constructor(
    config: unknown,
    readonly dataset: ImageDataset,
    { memoryLimitBytes = DEFAULT_MEMORY_LIMIT_BYTES }: { memoryLimitBytes?: number } = {},
  ) {
    this.cfg = parseOptions('train config', trainConfigOptions, config);
    const { model, train } = this.cfg;
    this.generatorNet = buildNet('model.generator', model.generator);
    this.discriminatorNet = buildNet('model.discriminator', model.discriminator);
    defaultGenerator.manualSeed(train.seed);
    this.latentRng = new SeedGenerator(train.seed + 1);
    this.sampler = new BatchSampler(dataset.size, train.batch_size, train.seed + 2);
    try {
      checkNetworkShapes(this.generatorNet, this.discriminatorNet, dataset.imageShape);
      checkStepMemory(this.generatorNet, this.discriminatorNet, train, memoryLimitBytes);
      const { generator: _g, discriminator: _d, ...losses } = model;
      this.model = new GANWithCustomizedLoss({
        ...(losses as Omit<GANModelConfig, 'generator' | 'discriminator'>),
        generator: generatorFromLayers(this.generatorNet, this.latentRng),
        discriminator: this.discriminatorNet,
      });
    } catch (error) {
      this.generatorNet.dispose();
      this.discriminatorNet.dispose();
      throw error;
    }
    const noiseSize = this.generatorNet.inputs[0].shape[1] as number;
    this.sampleNoise = tf.randomNormal(
      [train.num_samples, noiseSize],
      0,
      1,
      'float32',
      train.seed + 3,
    );
  }

  /**
   * One training step on the next batch; returns its `log_vars`. A step that fails leaves the
   * trainer as it was: the model undoes its step, and the sampler and both seed generators are
   * put back, so that a retry draws what the failed step drew.
   */
  async trainStep(): Promise<LogVars> {
    const before = {
      sampler: this.sampler.getState(),
      latent: this.latentRng.getState(),
      default: defaultGenerator.getState(),
    };
    let real: tf.Tensor4D | undefined;
    try {
      real = this.dataset.batch(this.sampler.next());
      const log = await this.model.trainStep({ real_imgs: real });
      this.step += 1;
      return log;
    } catch (error) {
      this.sampler.setState(before.sampler);
      this.latentRng.manualSeed(before.latent);
      defaultGenerator.manualSeed(before.default);
      throw error;
    } finally {
      real?.dispose();
    }
  }

  /**
   * Samples from the fixed noise batch (`train.num_samples` latents), generator in inference
   * mode, rendered `train.batch_size` at a time: N×H×W×C in [−1, 1].
   */
  samples(): tf.Tensor4D {
    const n = this.sampleNoise.shape[0];
    const chunk = this.cfg.train.batch_size;
    const parts: tf.Tensor4D[] = [];
    try {
      for (let start = 0; start < n; start += chunk) {
        parts.push(
          tf.tidy(
            () =>
              this.generatorNet.predict(
                this.sampleNoise.slice(start, Math.min(chunk, n - start)),
              ) as tf.Tensor4D,
          ),
        );
      }
      return parts.length === 1 ? parts[0] : tf.concat4d(parts, 0);
    } finally {
      if (parts.length > 1) tf.dispose(parts);
    }
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
    this.buffers().forEach((b, i) => {
      tensors[`buffer.${i}`] = b.clone();
    });
    const optimizers = {} as TrainMeta['optimizers'];
    for (const name of OPTIMIZER_NAMES) {
      const state = await readOptimizerState(this.model.optimizers[name]);
      optimizers[name] = { iterations: state.iterations };
      state.accumulators.forEach((t, j) => {
        tensors[`optimizer.${name}.${j}`] = t;
      });
      if (state.betaPowers) {
        [tensors[`optimizer.${name}.beta1_power`], tensors[`optimizer.${name}.beta2_power`]] =
          state.betaPowers;
      }
    }
    return {
      tensors,
      meta: {
        step: this.step,
        optimizers,
        sampler: this.sampler.getState(),
        rng: { latent: this.latentRng.getState(), default: defaultGenerator.getState() },
      },
    };
  }

  /**
   * Restores a state from `getState()`, one that fits {@link stateLayout} (as `decodeCheckpoint`
   * checks). Tensors are copied; the caller still owns them.
   */
  async setState({ tensors, meta }: TrainState): Promise<void> {
    const numbered = (prefix: string) =>
      Object.keys(tensors)
        .filter((k) => k.startsWith(prefix) && /^\d+$/.test(k.slice(prefix.length)))
        .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)))
        .map((k) => tensors[k]);
    this.generatorNet.setWeights(numbered('generator.'));
    this.discriminatorNet.setWeights(numbered('discriminator.'));
    this.buffers().forEach((b, i) => {
      b.assign(tensors[`buffer.${i}`]);
    });
    for (const name of OPTIMIZER_NAMES) {
      const beta1 = tensors[`optimizer.${name}.beta1_power`];
      const beta2 = tensors[`optimizer.${name}.beta2_power`];
      await writeOptimizerState(this.model.optimizers[name], {
        iterations: meta.optimizers[name].iterations,
        accumulators: numbered(`optimizer.${name}.`),
        betaPowers: beta1 && beta2 ? [beta1 as tf.Scalar, beta2 as tf.Scalar] : null,
      });
    }
    this.step = meta.step;
    this.model.iteration = meta.step;
    this.sampler.setState(meta.sampler);
    this.latentRng.manualSeed(meta.rng.latent);
    defaultGenerator.manualSeed(meta.rng.default);
  }

  /** What a checkpoint of this trainer must hold (see {@link StateLayout}). */
  stateLayout(): StateLayout {
    const tensors: Record<string, readonly number[]> = {};
    this.generatorNet.weights.forEach((w, i) => {
      tensors[`generator.${i}`] = w.shape as number[];
    });
    this.discriminatorNet.weights.forEach((w, i) => {
      tensors[`discriminator.${i}`] = w.shape as number[];
    });
    this.buffers().forEach((b, i) => {
      tensors[`buffer.${i}`] = b.shape;
    });
    const nets = { generator: this.model.generator, discriminator: this.model.discriminator };
    const optimizers = {} as StateLayout['optimizers'];
    for (const name of OPTIMIZER_NAMES) {
      const opt = this.model.optimizers[name];
      optimizers[name] = {
        variableShapes: nets[name].variables.map((v) => v.shape),
        slots: ACCUMULATORS_PER_VARIABLE[opt.getClassName()],
        betaPowers: isAdam(opt),
      };
    }
    return { tensors, optimizers, datasetSize: this.dataset.size };
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
