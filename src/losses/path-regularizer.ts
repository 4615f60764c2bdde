import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { describeValue } from '../core/describe.ts';
import { ConfigError, NonFiniteLossError, ShapeError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { lossOptions } from '../core/options.ts';
import { defaultGenerator } from '../core/random.ts';
import { checkOptions, checkTensor, type Options } from '../core/validate.ts';
import { checkLossScaler, inputGradient, type LossScaler } from './penalties.ts';

/** The path regulariser's own config keys, with MMagic's defaults (module and component). */
export const pathRegularizerOptionShape = {
  pl_batch_shrink: z.int().min(1).default(1),
  decay: z.number().finite().default(0.01),
  pl_batch_size: z.int().min(1).nullable().default(null),
};

/**
 * A generator split at its latent, so that TF.js can differentiate the images w.r.t. the latent
 * (it takes gradients only w.r.t. tensors passed in). For StyleGAN2, `mapping` samples z and
 * returns the (broadcast) w+ latents; `synthesis` renders them.
 */
export interface PathGenerator {
  /** Samples `numBatches` latents: n×L×S (or n×S, read as n×1×S). */
  mapping(numBatches: number): tf.Tensor;
  /** Renders latents to images: n×H×W×C. */
  synthesis(latent: tf.Tensor): tf.Tensor;
}

/** Options of {@link genPathRegularizer}: MMagic's keyword arguments, plus the injectable draw. */
export interface GenPathRegularizerOptions {
  /** With shrink > 1, `n = max(1, ⌊num_batches / pl_batch_shrink⌋)`. Default 1. */
  pl_batch_shrink?: number;
  /** EMA decay of the mean path length. Default 0.01. */
  decay?: number;
  /** Multiplies the penalty. Default 1. */
  weight?: number;
  /** Overrides the batch size (and the shrink) when given. Default null. */
  pl_batch_size?: number | null;
  /** Mixed-precision scaler (see `LossScaler`). */
  loss_scaler?: LossScaler | null;
  /** The standard-normal draw, shaped like the images (n×H×W×C), before the 1/√(H·W) scaling. */
  noise?: tf.Tensor | null;
}

/** What {@link genPathRegularizer} returns (MMagic's tuple). */
export type PathRegularizerResult = [
  penalty: tf.Tensor,
  meanPathLength: tf.Tensor,
  pathLengths: tf.Tensor,
];

const OWNER = 'genPathRegularizer';

function checkCount(owner: string, arg: string, value: unknown, allowNull = false): void {
  if (allowNull && (value === null || value === undefined)) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(
      `${owner}: '${arg}' must be a positive integer${allowNull ? ' or null' : ''}, got ${describeValue(value)}`,
    );
  }
}

function checkNumber(owner: string, arg: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ConfigError(
      `${owner}: '${arg}' must be a finite number, got ${describeValue(value)}`,
    );
  }
}

/**
 * The batch size the regulariser renders (MMagic): `max(1, ⌊num_batches / pl_batch_shrink⌋)`
 * when the shrink is above 1, `pl_batch_size` when given (it overrides the shrink).
 */
export function pathBatchSize(
  num_batches: number,
  pl_batch_shrink = 1,
  pl_batch_size: number | null = null,
): number {
  if (pl_batch_size !== null && pl_batch_size !== undefined) return pl_batch_size;
  return pl_batch_shrink > 1 ? Math.max(1, Math.floor(num_batches / pl_batch_shrink)) : num_batches;
}

/**
 * StyleGAN2's path-length regulariser (MMagic `gen_path_regularizer`, Karras et al. 2020):
 *
 * ```
 * n       = pathBatchSize(num_batches, pl_batch_shrink, pl_batch_size)
 * w       = generator.mapping(n)                       n×L×S
 * img     = generator.synthesis(w)                     n×H×W×C
 * noise   = randn(img.shape) / √(H·W)
 * g       = ∂ Σ(img·noise) / ∂w                        (on the tape)
 * pl      = √( mean_L Σ_S g² )                         shape [n]
 * pm      = mean_path_length + decay·(mean(pl) − mean_path_length)
 * penalty = weight · mean (pl − pm)²
 * ```
 *
 * As in MMagic (not the official StyleGAN2), `pm` is not detached inside the penalty: the
 * gradient flows through `mean(pl)` in it. MMagic's `sync_mean_buffer` (multi-GPU) and
 * `use_apex_amp` have no TF.js counterpart and are not offered.
 *
 * @param generator `{mapping, synthesis}` (see {@link PathGenerator}).
 * @param num_batches the training batch size.
 * @param mean_path_length the running mean, a number or a scalar tensor (0 at the start).
 * @param options `pl_batch_shrink` (1), `decay` (0.01), `weight` (1), `pl_batch_size` (null),
 *   `loss_scaler`, `noise` (drawn from the default generator if absent).
 * @returns `[penalty, pm, pl]`: the scalar penalty, the new running mean (detached; store it for
 *   the next call) and the per-sample path lengths [n].
 */
export function genPathRegularizer(
  generator: PathGenerator,
  num_batches: number,
  mean_path_length: number | tf.Tensor,
  options?: Options<GenPathRegularizerOptions>,
  owner = OWNER,
): PathRegularizerResult {
  const {
    pl_batch_shrink = 1,
    decay = 0.01,
    weight = 1,
    pl_batch_size = null,
    loss_scaler = null,
    noise = null,
  } = checkOptions(
    'genPathRegularizer',
    4,
    options,
    'genPathRegularizer(generator, num_batches, mean_path_length, {pl_batch_shrink, decay, weight, pl_batch_size, loss_scaler, noise})',
  );
  if (
    generator === null ||
    typeof generator !== 'object' ||
    typeof generator.mapping !== 'function' ||
    typeof generator.synthesis !== 'function'
  ) {
    throw new ConfigError(
      `${owner}: 'generator' must be {mapping(numBatches) => latent, synthesis(latent) => images}, got ${describeValue(generator)}`,
    );
  }
  checkCount(owner, 'num_batches', num_batches);
  checkCount(owner, 'pl_batch_shrink', pl_batch_shrink);
  checkCount(owner, 'pl_batch_size', pl_batch_size, true);
  checkNumber(owner, 'decay', decay);
  checkNumber(owner, 'weight', weight);
  if (typeof mean_path_length !== 'number') {
    const t = checkTensor(owner, 'mean_path_length', mean_path_length);
    if (t.size !== 1) {
      throw new ShapeError(
        `${owner}: 'mean_path_length' must be a number or a one-element tensor, got ${describeValue(t)}`,
      );
    }
  } else {
    checkNumber(owner, 'mean_path_length', mean_path_length);
  }
  const scaler = checkLossScaler(owner, loss_scaler);
  if (noise !== null && noise !== undefined) checkTensor(owner, 'noise', noise, 4);
  const n = pathBatchSize(num_batches, pl_batch_shrink, pl_batch_size);

  const result = tf.tidy(() => {
    const latent = generator.mapping(n);
    const lat = checkTensor(owner, 'generator.mapping(n)', latent, [2, 3]);
    if (lat.shape[0] !== n) {
      throw new ShapeError(
        `${owner}: 'generator.mapping(${n})' must return ${n} latents, got ${describeValue(lat)}`,
      );
    }
    const render = (w: tf.Tensor) => {
      const img = checkTensor(owner, 'generator.synthesis(latent)', generator.synthesis(w), 4);
      if (img.shape[0] !== n) {
        throw new ShapeError(
          `${owner}: 'generator.synthesis(latent)' must return ${n} images, got ${describeValue(img)}`,
        );
      }
      if (noise && !tf.util.arraysEqual(noise.shape, img.shape)) {
        throw new ShapeError(
          `${owner}: 'noise' must have the images' shape [${img.shape.join(', ')}], got ${describeValue(noise)}`,
        );
      }
      const draw = noise ?? defaultGenerator.normal(img.shape);
      const [, height, width] = img.shape as number[];
      const scaled = tf.mul(draw, 1 / Math.sqrt(height * width));
      const total = tf.sum(tf.mul(img, scaled));
      return scaler ? tf.sum(scaler.scale(total)) : total;
    };
    let g = inputGradient(owner, "'generator.synthesis'", render, lat);
    if (scaler) g = tf.mul(g, 1 / scaler.getScale());
    const g3 = g.rank === 2 ? tf.expandDims(g, 1) : g;
    const pathLengths = tf.sqrt(tf.mean(tf.sum(tf.square(g3), 2), 1));
    const previous = tf.reshape(mean_path_length, []);
    const pathMean = tf.add(previous, tf.mul(tf.sub(tf.mean(pathLengths), previous), decay));
    const penalty = tf.mul(tf.mean(tf.square(tf.sub(pathLengths, pathMean))), weight);
    return [penalty, stopGradient(pathMean), pathLengths] as tf.Tensor[];
  });
  return result as PathRegularizerResult;
}

/** The random draw of `GenPathRegularizer.forward`, injectable for reproducibility. */
export interface PathRegularizerDraws {
  /** n×H×W×C standard-normal noise, before the 1/√(H·W) scaling. */
  noise?: tf.Tensor | null;
  /** Mixed-precision scaler. */
  loss_scaler?: LossScaler | null;
}

/**
 * The path-length regulariser as a module with its state (what MMagic's
 * `GeneratorPathRegularizerComps` and `StyleGAN2` keep): `forward(generator, num_batches)` returns
 * `loss_weight · genPathRegularizer(...)[0]` and overwrites `meanPathLength` — a non-trainable
 * scalar `tf.Variable`, 0 at first — with the new running mean. `dispose()` frees it. A call whose
 * path lengths are not finite (a generator that output NaN) raises `NonFiniteLossError` and leaves
 * the running mean as it was, so that one bad batch does not make every later call NaN.
 *
 * Config: `loss_weight` 1.0, `pl_batch_shrink` 1, `decay` 0.01, `pl_batch_size` null,
 * `loss_name` `'loss_path_regular'`. The function's `weight` stays 1, as in MMagic's module.
 * Not registered in `LOSSES` (MMagic has no such class; the `*Comps` components wrap it).
 */
export class GenPathRegularizer extends LossModule<ReturnType<typeof pathOptions>> {
  static override readonly lossType = 'GenPathRegularizer';
  static override readonly options = pathOptions();

  /** The running mean of the path lengths (MMagic's `mean_path_length` buffer). */
  readonly meanPathLength: tf.Variable;

  constructor(cfg: z.input<ReturnType<typeof pathOptions>> = {}) {
    super(cfg);
    this.meanPathLength = tf.tidy(() => tf.variable(tf.scalar(0), false));
  }

  /**
   * @param generator `{mapping, synthesis}`.
   * @param num_batches the training batch size.
   * @param draws optional `noise` (n×H×W×C) and `loss_scaler`.
   * @returns the scalar `loss_weight · penalty`.
   * @throws NonFiniteLossError when the new running mean is not finite (`meanPathLength` unchanged).
   */
  forward(
    generator: PathGenerator,
    num_batches: number,
    draws?: Options<PathRegularizerDraws>,
  ): tf.Tensor {
    const { noise = null, loss_scaler = null } = checkOptions(
      this.lossType,
      3,
      draws,
      `${this.lossType}.forward(generator, num_batches, {noise, loss_scaler})`,
    );
    const { pl_batch_shrink, decay, pl_batch_size } = this.cfg;
    return tf.tidy(() => {
      // A copy, so that the tape does not see the variable change under it.
      const previous = tf.clone(this.meanPathLength);
      const [penalty, pathMean] = genPathRegularizer(
        generator,
        num_batches,
        previous,
        { pl_batch_shrink, decay, pl_batch_size, loss_scaler, noise },
        this.lossType,
      );
      const loss = tf.mul(penalty, this.lossWeight);
      const mean = pathMean.dataSync()[0];
      if (!Number.isFinite(mean)) {
        const name = this.lossName();
        throw new NonFiniteLossError(
          `${this.lossType}: 'mean_path_length' must stay finite, got ${mean} from non-finite path lengths; it was left at ${previous.dataSync()[0]}`,
          name,
          { [name]: loss.dataSync()[0] },
        );
      }
      this.meanPathLength.assign(pathMean);
      return loss;
    });
  }

  /** `[meanPathLength]`: the state a failed training step must restore. */
  override buffers(): tf.Variable[] {
    return [this.meanPathLength];
  }

  /** Frees `meanPathLength`. */
  override dispose(): void {
    this.meanPathLength.dispose();
  }
}

function pathOptions() {
  return lossOptions({ loss_name: 'loss_path_regular' }, pathRegularizerOptionShape);
}
