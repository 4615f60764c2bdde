import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../core/errors.ts';
import type { LossModule } from '../core/module.ts';
import { parseOptions } from '../core/options.ts';
import { defaultGenerator } from '../core/random.ts';
import type { LogVars } from '../models/optimise.ts';
import { isAdam, readOptimizerState, writeOptimizerState } from '../models/optimizer-state.ts';
import { MODEL_KINDS, type TrainConfig, trainConfigOptions } from './config.ts';
import { ArrayDataset, BatchSampler, type ImageDataset, type SamplerState } from './datasets.ts';
import { GanTask } from './gan-task.ts';
import { ImageToImageTask } from './image-to-image-task.ts';
import { DEFAULT_MEMORY_LIMIT_BYTES } from './limits.ts';
import { OPTIMIZER_NAMES, type OptimizerName, type SampleGrid, type TrainTask } from './task.ts';

export { OPTIMIZER_NAMES, type OptimizerName };

/**
 * Everything a checkpoint holds, so that a resumed run goes on bit for bit as an uninterrupted
 * one. Tensors (float32) by name: `generator.<i>` and `discriminator.<i>` (the networks'
 * `getWeights()`; no discriminator in a model without one), `buffer.<i>` (the losses' running
 * buffers, e.g. the path-length mean), `optimizer.<net>.<j>` (the optimizer's accumulators in
 * `getWeights()` order) and, for Adam, `optimizer.<net>.beta1_power` / `beta2_power` (β₁ᵗ, β₂ᵗ as
 * accumulated). Scalars that change the numbers: the step, each optimizer's iteration count, the
 * sampler and the seed generators. The logged losses are not state: they go to the run's log.
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
  optimizers: Partial<Record<OptimizerName, { iterations: number }>>;
  sampler: SamplerState;
  /**
   * States of genloss's default generator (`default`: GP α, path noise) and of the model kind's
   * own (`latent`: a GAN's latents).
   */
  rng: Record<string, number>;
}

/**
 * What a valid {@link TrainState} for a trainer looks like, for checking a checkpoint before it is
 * used: the weight and buffer tensors with their shapes; per optimizer, the shapes of the
 * variables it trains (in the order its accumulators follow), its accumulators per variable
 * (Adam 2: m and v; RMSprop 2; momentum 1; SGD 0) and whether it keeps Adam's β powers; the
 * seed generators' names; the dataset size the sampler draws from.
 */
export interface StateLayout {
  tensors: Record<string, readonly number[]>;
  optimizers: Partial<
    Record<
      OptimizerName,
      { variableShapes: readonly (readonly number[])[]; slots: number; betaPowers: boolean }
    >
  >;
  rngs: readonly string[];
  datasetSize: number;
}

/** Accumulators per variable of the optimizers genloss builds, by TF.js class name. */
const ACCUMULATORS_PER_VARIABLE: Record<string, number> = {
  Adam: 2,
  RMSProp: 2,
  Momentum: 1,
  SGD: 0,
};

/** The image-to-image kinds derive their inputs from the images' pixels: an `ArrayDataset`. */
function inMemory(dataset: ImageDataset): ArrayDataset {
  if (!(dataset instanceof ArrayDataset)) {
    throw new ConfigError(
      `data: the image-to-image models derive their inputs from the images in memory; got a dataset of another kind (${dataset.name})`,
    );
  }
  return dataset;
}

const trainedVariables = (net: tf.LayersModel) =>
  net.trainableWeights.map((w) => w.read() as tf.Variable);

/**
 * Config-driven training, browser-safe (no files): builds the model kind of `model.type` (a GAN,
 * a restorer, an inpaintor, a matting model) with its networks, losses and optimizers, samples
 * batches from the dataset, runs its steps, renders its sample grid, computes its metrics, and
 * saves/restores its whole state (see {@link TrainState}) so that a resumed run continues bit
 * for bit as an uninterrupted one.
 */
export class Trainer {
  readonly cfg: TrainConfig;
  /** The model kind's task: its model, networks and data (see `TrainTask`). */
  readonly task: (GanTask | ImageToImageTask) & TrainTask;
  /** Steps done so far. */
  step = 0;
  private readonly sampler: BatchSampler;

  /**
   * Builds the trainer for a config and the images of its data (N×H×W×C in [−1, 1]; an
   * `ArrayDataset` for the image-to-image kinds). Before
   * anything trains, the networks are checked against the data and, for a GAN, one step's memory
   * against `memoryLimitBytes`: a `ConfigError` naming the keys otherwise.
   */
  constructor(
    config: unknown,
    readonly dataset: ImageDataset,
    { memoryLimitBytes = DEFAULT_MEMORY_LIMIT_BYTES }: { memoryLimitBytes?: number } = {},
  ) {
    this.cfg = parseOptions('train config', trainConfigOptions, config);
    const { train } = this.cfg;
    defaultGenerator.manualSeed(train.seed);
    const cfg = this.cfg as never;
    this.task =
      this.cfg.model.type === 'GANWithCustomizedLoss'
        ? new GanTask(cfg, dataset, memoryLimitBytes)
        : new ImageToImageTask(cfg, inMemory(dataset));
    this.sampler = new BatchSampler(this.task.trainSize, train.batch_size, train.seed + 2);
  }

  /** The kind of model: `'gan'`, `'restoration'`, `'inpainting'` or `'matting'`. */
  get kind(): (typeof MODEL_KINDS)[keyof typeof MODEL_KINDS] {
    return MODEL_KINDS[this.cfg.model.type];
  }

  /** The model the task trains (`GANWithCustomizedLoss` or an `ImageToImageModel`). */
  get model(): GanTask['model'] | ImageToImageTask['model'] {
    return this.task.model;
  }

  /**
   * One training step on the next batch; returns its `log_vars`. A step that fails leaves the
   * trainer as it was: the model undoes its step, and the sampler and the seed generators are
   * put back, so that a retry draws what the failed step drew.
   */
  async trainStep(): Promise<LogVars> {
    const rngs = this.rngs();
    const before = {
      sampler: this.sampler.getState(),
      rng: Object.fromEntries(Object.entries(rngs).map(([k, r]) => [k, r.getState()])),
    };
    try {
      const log = await this.task.trainStep(this.sampler.next());
      this.step += 1;
      return log;
    } catch (error) {
      this.sampler.setState(before.sampler);
      for (const [k, r] of Object.entries(rngs)) r.manualSeed(before.rng[k]);
      throw error;
    }
  }

  /** The sample grid of this step (a GAN's fixed latents; held-out examples otherwise), in [−1, 1]. */
  samples(): SampleGrid {
    return this.task.samples();
  }

  /**
   * The quality metrics of the model at this step, keyed `metric/<name>` (a GAN's sliced
   * Wasserstein distance; PSNR and SSIM on the held-out images; matting's errors).
   */
  evaluate(): Promise<Record<string, number>> {
    return this.task.evaluate();
  }

  /** Every loss module of the model (GAN loss, components; an image-to-image model's keys). */
  lossModules(): LossModule[] {
    return this.task.model.losses();
  }

  /** The seed generators a step draws from: genloss's default one and the task's own. */
  private rngs() {
    return { default: defaultGenerator, ...this.task.rngs };
  }

  /** The networks, by the optimizer that trains each. */
  private nets(): [OptimizerName, tf.LayersModel][] {
    return OPTIMIZER_NAMES.flatMap((name) => {
      const net = this.task.nets[name];
      return net ? [[name, net] as [OptimizerName, tf.LayersModel]] : [];
    });
  }

  /** The whole training state, as copies the caller owns. */
  async getState(): Promise<TrainState> {
    const tensors: Record<string, tf.Tensor> = {};
    for (const [name, net] of this.nets()) {
      net.getWeights().forEach((w, i) => {
        tensors[`${name}.${i}`] = w.clone();
      });
    }
    this.task.buffers().forEach((b, i) => {
      tensors[`buffer.${i}`] = b.clone();
    });
    const optimizers: TrainMeta['optimizers'] = {};
    for (const [name] of this.nets()) {
      const state = await readOptimizerState(this.task.optimizers[name] as tf.Optimizer);
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
        rng: Object.fromEntries(Object.entries(this.rngs()).map(([k, r]) => [k, r.getState()])),
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
    for (const [name, net] of this.nets()) net.setWeights(numbered(`${name}.`));
    this.task.buffers().forEach((b, i) => {
      b.assign(tensors[`buffer.${i}`]);
    });
    for (const [name] of this.nets()) {
      const beta1 = tensors[`optimizer.${name}.beta1_power`];
      const beta2 = tensors[`optimizer.${name}.beta2_power`];
      await writeOptimizerState(this.task.optimizers[name] as tf.Optimizer, {
        iterations: meta.optimizers[name]?.iterations ?? 0,
        accumulators: numbered(`optimizer.${name}.`),
        betaPowers: beta1 && beta2 ? [beta1 as tf.Scalar, beta2 as tf.Scalar] : null,
      });
    }
    this.step = meta.step;
    this.task.iteration = meta.step;
    this.sampler.setState(meta.sampler);
    for (const [k, r] of Object.entries(this.rngs())) r.manualSeed(meta.rng[k]);
  }

  /** What a checkpoint of this trainer must hold (see {@link StateLayout}). */
  stateLayout(): StateLayout {
    const tensors: Record<string, readonly number[]> = {};
    const optimizers: StateLayout['optimizers'] = {};
    for (const [name, net] of this.nets()) {
      net.weights.forEach((w, i) => {
        tensors[`${name}.${i}`] = w.shape as number[];
      });
      const opt = this.task.optimizers[name] as tf.Optimizer;
      optimizers[name] = {
        variableShapes: trainedVariables(net).map((v) => v.shape),
        slots: ACCUMULATORS_PER_VARIABLE[opt.getClassName()],
        betaPowers: isAdam(opt),
      };
    }
    this.task.buffers().forEach((b, i) => {
      tensors[`buffer.${i}`] = b.shape;
    });
    return {
      tensors,
      optimizers,
      rngs: Object.keys(this.rngs()),
      datasetSize: this.task.trainSize,
    };
  }

  /** Frees the networks, the losses' state and the optimizers. */
  dispose(): void {
    this.task.dispose();
  }
}
