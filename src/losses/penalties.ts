import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { safeGrad } from '../autodiff/safe-gradients.ts';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { describeValue } from '../core/describe.ts';
import { ConfigError, GenlossError, ShapeError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { checkChoice, lossOptions } from '../core/options.ts';
import { defaultGenerator } from '../core/random.ts';
import { weightedLoss } from '../core/reduction.ts';
import {
  checkOptions,
  checkSameShape,
  checkTensor,
  checkWeight,
  type Options,
} from '../core/validate.ts';

/** A discriminator: any function from an N×H×W×C batch to a tensor (a score per sample, a patch map…). */
export type Discriminator = (x: tf.Tensor) => tf.Tensor;

/**
 * A loss scaler for mixed precision, duck-typed as PyTorch's `GradScaler`: `scale(t)` multiplies
 * by the current scale, `getScale()` returns it. The penalties scale before differentiating and
 * unscale the gradient by `1 / getScale()`.
 */
export interface LossScaler {
  scale(t: tf.Tensor): tf.Tensor;
  getScale(): number;
}

/** How the gradient is normed (MMagic's `norm_mode`). */
export const NORM_MODES = ['pixel', 'HWC'] as const;
/** `'pixel'`: L2 over the channel axis per pixel; `'HWC'`: L2 over each whole sample. */
export type NormMode = (typeof NORM_MODES)[number];

/** The zod schema of the `norm_mode` key: `'pixel'` (default) or `'HWC'`. */
export const normModeOption = z.enum(NORM_MODES).default('pixel');

/**
 * `∂ f(x) / ∂x` with the computation kept on the tape (PyTorch's `autograd.grad(...,
 * create_graph=True)`), so that an enclosing `tf.grads`/`tf.variableGrads` differentiates it
 * again. TF.js's own errors are rethrown naming `owner`; a failing `f` leaves no tensors behind
 * (`safeGrad`).
 */
export function inputGradient(
  owner: string,
  what: string,
  f: (x: tf.Tensor) => tf.Tensor,
  x: tf.Tensor,
): tf.Tensor {
  try {
    return safeGrad(f)(x);
  } catch (error) {
    if (error instanceof GenlossError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (message.startsWith('Cannot compute gradient of y=f(x)')) {
      throw new GenlossError(
        `${owner}: the output of ${what} does not depend on its input, so its input gradient is undefined`,
      );
    }
    throw new GenlossError(`${owner}: TF.js could not differentiate ${what}: ${message}`);
  }
}

/** Checks that `value` is a function; `ConfigError` otherwise. */
export function checkFunction(owner: string, arg: string, value: unknown): void {
  if (typeof value !== 'function') {
    throw new ConfigError(
      `${owner}: '${arg}' must be a function (x) => tf.Tensor, got ${describeValue(value)}`,
    );
  }
}

/** Checks a `loss_scaler`: null/undefined or an object with `scale(t)` and `getScale()`. */
export function checkLossScaler(owner: string, scaler: unknown): LossScaler | null {
  if (scaler === null || scaler === undefined) return null;
  const s = scaler as Partial<LossScaler>;
  if (typeof s.scale !== 'function' || typeof s.getScale !== 'function') {
    throw new ConfigError(
      `${owner}: 'loss_scaler' must have scale(t) and getScale() methods, got ${describeValue(scaler)}`,
    );
  }
  return scaler as LossScaler;
}

/** `discriminator(x)`, which must be a float32 tensor: a `ShapeError` naming `arg` otherwise. */
export function callDiscriminator(
  owner: string,
  discriminator: Discriminator,
  x: tf.Tensor,
  arg = 'discriminator',
): tf.Tensor {
  const out = discriminator(x);
  if (!(out instanceof tf.Tensor) || out.dtype !== 'float32') {
    throw new ShapeError(
      `${owner}: '${arg}' must return a float32 tf.Tensor, got ${describeValue(out)}`,
    );
  }
  return out;
}

/**
 * `∂ Σ s(D(x)) / ∂x · 1/scale`, where `s` is the loss scaler's `scale` (identity without one):
 * the input gradient of a discriminator, on the tape.
 */
function discriminatorGradient(
  owner: string,
  discriminator: Discriminator,
  x: tf.Tensor,
  scaler: LossScaler | null,
): tf.Tensor {
  const g = inputGradient(
    owner,
    "'discriminator'",
    (input) => {
      const pred = callDiscriminator(owner, discriminator, input);
      return tf.sum(scaler ? scaler.scale(pred) : pred);
    },
    x,
  );
  return scaler ? tf.mul(g, 1 / scaler.getScale()) : g;
}

/**
 * `1 / mean(mask)`, and 0 for an all-zero mask (where MMagic divides by zero: see
 * docs/differences-from-mmagic.md). The guard keeps the gradient finite.
 */
function inverseMaskMean(mask: tf.Tensor): tf.Tensor {
  const m = tf.mean(mask);
  const empty = tf.equal(m, 0);
  return tf.where(empty, tf.zerosLike(m), tf.div(1, tf.where(empty, tf.onesLike(m), m)));
}

/** `√s` with a zero (sub)gradient where `s = 0`, as PyTorch's `norm` (no NaN at masked pixels). */
function safeSqrt(s: tf.Tensor): tf.Tensor {
  // Below 1.7e-23 the 1e-30 changes nothing in float32: √(s + 1e-30) rounds to √s elsewhere, and
  // where s = 0 the gradient 1/(2√1e-30) is finite and multiplies a zero ∂s/∂g = 2g.
  return tf.sqrt(tf.add(s, 1e-30));
}

/** Options of {@link gradientPenaltyLoss}. */
export interface GradientPenaltyOptions {
  /** N×H×W×1 or N×H×W×C; the gradient is multiplied by it, and the penalty divided by its mean. */
  mask?: tf.Tensor | null;
  /** `'pixel'` (default) or `'HWC'`. */
  norm_mode?: NormMode;
  /** The interpolation weights, N×1×1×1 in [0, 1); drawn from the default generator if absent. */
  alpha?: tf.Tensor | null;
  /**
   * The norm the penalty pulls towards (TF-GAN's `target`), a finite number ≥ 0: `(‖g‖/target −
   * 1)²`; 0 is the zero-centred WGAN-GP, `‖g‖²`. Default 1 (MMagic's penalty, bit for bit).
   */
  target?: number;
  /** TF-GAN's `one_sided`: penalise only norms above the target, `max(0, ‖g‖/target − 1)²`. */
  one_sided?: boolean;
}

/** Checks the `target` of a gradient penalty: a finite number ≥ 0; `ConfigError` otherwise. */
function checkTarget(owner: string, target: unknown): number {
  if (typeof target !== 'number' || !Number.isFinite(target) || target < 0) {
    throw new ConfigError(
      `${owner}: 'target' must be a finite number >= 0, got ${describeValue(target)}`,
    );
  }
  return target;
}

/** Checks that `value` is a boolean; `ConfigError` otherwise. */
function checkBoolean(owner: string, arg: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new ConfigError(`${owner}: '${arg}' must be a boolean, got ${describeValue(value)}`);
  }
  return value;
}

/** The zod schema of the `target` key: a finite number ≥ 0, default 1. */
export const targetOption = z.number().finite().min(0).default(1);
/** The zod schema of the `one_sided` key: a boolean, default false. */
export const oneSidedOption = z.boolean().default(false);

/**
 * WGAN-GP gradient penalty (MMagic `gradient_penalty_loss`, Gulrajani et al. 2017):
 *
 * ```
 * x̂ = α·real + (1 − α)·fake          (α ~ U[0, 1) per sample; x̂ detached from real and fake)
 * g = ∂ Σ D(x̂) / ∂x̂                  (kept on the tape: differentiable w.r.t. D's weights)
 * g ← g·mask                         (if a mask is given)
 * pixel: P = mean_{n,h,w} (‖g[n,h,w,:]‖₂ − 1)²
 * HWC:   P = mean_n (‖g[n]‖₂ − 1)²
 * P ← P / mean(mask)                 (if a mask is given; 0 for an all-zero mask)
 * ```
 *
 * Masked pixels count in the pixel mean with `(0 − 1)² = 1`, as in MMagic. The norm has a zero
 * gradient at 0 (PyTorch's subgradient), so masked pixels give no NaN.
 *
 * `target` and `one_sided` (TF-GAN's `wasserstein_gradient_penalty` options) replace
 * `(‖g‖ − 1)²` by `(‖g‖/target − 1)²`, or `max(0, ‖g‖/target − 1)²` when one-sided; `target: 0`
 * is the zero-centred WGAN-GP (Mescheder et al. 2018's `wgan_gp_reg` with `center=0`), `‖g‖²`
 * (one-sided or not). TF-GAN norms each whole sample (`norm_mode: 'HWC'`) and adds 1e-10 under
 * the square root, which genloss does not.
 *
 * @param discriminator any `(x) => tf.Tensor`; its output may have any shape (all summed).
 * @param real_data N×H×W×C.
 * @param fake_data N×H×W×C.
 * @param options `mask`, `norm_mode` (`'pixel'`), `alpha` (N×1×1×1), `target` (1), `one_sided`
 *   (false).
 * @returns a scalar.
 */
export function gradientPenaltyLoss(
  discriminator: Discriminator,
  real_data: tf.Tensor,
  fake_data: tf.Tensor,
  options?: Options<GradientPenaltyOptions>,
  owner = 'gradientPenaltyLoss',
): tf.Tensor {
  const {
    mask = null,
    norm_mode = 'pixel',
    alpha = null,
    target = 1,
    one_sided = false,
  } = checkOptions(
    'gradientPenaltyLoss',
    4,
    options,
    'gradientPenaltyLoss(discriminator, real_data, fake_data, {mask, norm_mode, alpha, target, one_sided})',
  );
  checkFunction(owner, 'discriminator', discriminator);
  const real = checkTensor(owner, 'real_data', real_data, 4);
  const fake = checkTensor(owner, 'fake_data', fake_data, 4);
  checkSameShape(owner, ['real_data', real], ['fake_data', fake]);
  const mode = checkChoice(owner, 'norm_mode', norm_mode, NORM_MODES);
  const m = mask === null || mask === undefined ? null : checkWeight(owner, 'mask', mask, real);
  const t = checkTarget(owner, target);
  const oneSided = checkBoolean(owner, 'one_sided', one_sided);
  const n = real.shape[0];
  if (alpha !== null && alpha !== undefined) {
    const a = checkTensor(owner, 'alpha', alpha, 4);
    if (!tf.util.arraysEqual(a.shape, [n, 1, 1, 1])) {
      throw new ShapeError(
        `${owner}: 'alpha' must have shape [${n}, 1, 1, 1], got ${describeValue(a)}`,
      );
    }
  }
  return tf.tidy(() => {
    const a = alpha ?? defaultGenerator.uniform([n, 1, 1, 1]);
    const interpolates = stopGradient(tf.add(tf.mul(a, real), tf.mul(tf.sub(1, a), fake)));
    let g = discriminatorGradient(owner, discriminator, interpolates, null);
    if (m) g = tf.mul(g, m);
    const axes = mode === 'pixel' ? [3] : [1, 2, 3];
    const squares = tf.sum(tf.square(g), axes);
    let penalty: tf.Tensor;
    if (t === 0) {
      // Zero-centred: ‖g‖² directly (no square root; one-sided changes nothing, as ‖g‖ ≥ 0).
      penalty = tf.mean(squares);
    } else {
      const norm = safeSqrt(squares);
      let excess = tf.sub(t === 1 ? norm : tf.div(norm, t), 1);
      if (oneSided) excess = tf.relu(excess);
      penalty = tf.mean(tf.square(excess));
    }
    return m ? tf.mul(penalty, inverseMaskMean(m)) : penalty;
  });
}

/** Options of {@link r1GradientPenaltyLoss}. */
export interface R1GradientPenaltyOptions {
  /** N×H×W×1 or N×H×W×C; the gradient is multiplied by it, and the penalty divided by its mean. */
  mask?: tf.Tensor | null;
  /** `'pixel'` (default) or `'HWC'`. */
  norm_mode?: NormMode;
  /** Mixed-precision scaler: D's output is scaled before differentiating, the gradient unscaled. */
  loss_scaler?: LossScaler | null;
}

/**
 * R1 penalty (MMagic `r1_gradient_penalty_loss`, Mescheder et al. 2018), without γ/2 (the
 * caller's weight):
 *
 * ```
 * g = ∂ Σ scale(D(real)) / ∂real · 1/getScale()     (on the tape; flows back to real too)
 * g ← g·mask                                         (if a mask is given)
 * pixel: P = mean_{n,h,w} ‖g[n,h,w,:]‖₂² = Σ g² / (N·H·W)
 * HWC:   P = mean_n Σ_{h,w,c} g²                     (= H·W · pixel)
 * P ← P / mean(mask)                                 (if a mask is given; 0 for an all-zero mask)
 * ```
 *
 * MMagic's `use_apex_amp` has no TF.js counterpart and is not offered.
 *
 * @param discriminator any `(x) => tf.Tensor`.
 * @param real_data N×H×W×C.
 * @param options `mask`, `norm_mode` (`'pixel'`), `loss_scaler`.
 * @returns a scalar.
 */
export const r1GradientPenaltyLoss = zeroCentredLoss('r1GradientPenaltyLoss', 'real_data');

/**
 * A zero-centred penalty function (R1, R2) on its data argument `arg`: options checked, then
 * {@link zeroCentredPenalty}. `owner` names the caller in errors (a component passes its type).
 */
function zeroCentredLoss(name: string, arg: 'real_data' | 'fake_data') {
  return (
    discriminator: Discriminator,
    data: tf.Tensor,
    options?: Options<R1GradientPenaltyOptions>,
    owner = name,
  ): tf.Tensor => {
    const {
      mask = null,
      norm_mode = 'pixel',
      loss_scaler = null,
    } = checkOptions(
      name,
      3,
      options,
      `${name}(discriminator, ${arg}, {mask, norm_mode, loss_scaler})`,
    );
    return zeroCentredPenalty(owner, discriminator, data, arg, { mask, norm_mode, loss_scaler });
  };
}

/**
 * The zero-centred penalty on `x` that R1 (`x` = real data) and R2 (`x` = fake data) share:
 * `mean ‖mask·∂ Σ D(x)/∂x‖²` per pixel or per sample, over the mask's mean (see
 * {@link r1GradientPenaltyLoss}). `arg` names `x` in errors.
 */
function zeroCentredPenalty(
  owner: string,
  discriminator: Discriminator,
  data: tf.Tensor,
  arg: string,
  { mask, norm_mode, loss_scaler }: R1GradientPenaltyOptions,
): tf.Tensor {
  checkFunction(owner, 'discriminator', discriminator);
  const x = checkTensor(owner, arg, data, 4);
  const mode = checkChoice(owner, 'norm_mode', norm_mode, NORM_MODES);
  const m = mask === null || mask === undefined ? null : checkWeight(owner, 'mask', mask, x);
  const scaler = checkLossScaler(owner, loss_scaler);
  return tf.tidy(() => {
    let g = discriminatorGradient(owner, discriminator, x, scaler);
    if (m) g = tf.mul(g, m);
    const squares = tf.square(g);
    const [n, h, w] = g.shape as number[];
    const penalty =
      mode === 'pixel' ? tf.div(tf.sum(squares), n * h * w) : tf.mean(tf.sum(squares, [1, 2, 3]));
    return m ? tf.mul(penalty, inverseMaskMean(m)) : penalty;
  });
}

/**
 * R2 penalty (Mescheder et al. 2018, GAN_stability's `reg_type: 'fake'`): R1's formula
 * ({@link r1GradientPenaltyLoss}) on fake data, without γ/2 (the caller's weight):
 *
 * ```
 * g = ∂ Σ scale(D(fake)) / ∂fake · 1/getScale()     (on the tape; flows back to fake too)
 * pixel: P = Σ (g·mask)² / (N·H·W);  HWC: P = mean_n Σ_{h,w,c} (g·mask)²;  P ← P / mean(mask)
 * ```
 *
 * GAN_stability's `compute_grad2(d_fake, x_fake).mean()` is the `'HWC'` mode. R1 + R2
 * (`reg_type: 'real_fake'`) is the sum of the two: in a model, list `R1GradientPenaltyComps` and
 * `R2GradientPenaltyComps` in `disc_auxiliary_loss`. Detach `fake_data` (as the D phase's fake
 * images are) if the penalty must not reach the generator.
 *
 * @param discriminator any `(x) => tf.Tensor`.
 * @param fake_data N×H×W×C.
 * @param options `mask`, `norm_mode` (`'pixel'`), `loss_scaler`.
 * @returns a scalar.
 */
export const r2GradientPenaltyLoss = zeroCentredLoss('r2GradientPenaltyLoss', 'fake_data');

/**
 * Disc-shift loss (MMagic `disc_shift_loss`, PGGAN's drift penalty), a `weightedLoss`: `pred²`,
 * element-wise and not reduced by default; `discShiftLoss(pred, {weight, reduction})` scales and
 * reduces it.
 *
 * @param pred any shape (typically the discriminator's predictions).
 */
export const discShiftLoss = weightedLoss(
  (pred: tf.Tensor) => tf.square(pred),
  'discShiftLoss',
  'none',
  ['pred'],
);

/**
 * `DiscShiftLoss` (MMagic): `loss_weight · mean(x²)`. Config: `loss_weight` **0.1** (MMagic's
 * code default; its docstring says 1.0).
 */
export class DiscShiftLoss extends LossModule<ReturnType<typeof discShiftOptions>> {
  static override readonly lossType = 'DiscShiftLoss';
  static override readonly options = discShiftOptions();

  /**
   * @param x any shape.
   * @returns a scalar.
   */
  forward(x: tf.Tensor): tf.Tensor {
    return discShiftLoss(x, { weight: this.lossWeight, reduction: 'mean' });
  }
}

function discShiftOptions() {
  return lossOptions({ loss_weight: 0.1, loss_name: 'loss_disc_shift' }, {});
}

/** The random draws of `GradientPenaltyLoss.forward`, injectable for reproducibility. */
export interface GradientPenaltyDraws {
  /** N×1×1×1 interpolation weights. */
  alpha?: tf.Tensor | null;
}

/**
 * `GradientPenaltyLoss` (MMagic): `loss_weight · gradientPenaltyLoss(D, real, fake, mask)`.
 * Config: `loss_weight` 1.0, and `norm_mode` `'pixel'` — a genloss addition (MMagic's class
 * always uses `'pixel'`, which stays the default); `target` 1 and `one_sided` false, TF-GAN's
 * options (see {@link gradientPenaltyLoss}; `target: 0` is the zero-centred WGAN-GP).
 */
export class GradientPenaltyLoss extends LossModule<ReturnType<typeof gradientPenaltyOptions>> {
  static override readonly lossType = 'GradientPenaltyLoss';
  static override readonly options = gradientPenaltyOptions();

  /**
   * @param discriminator `(x) => tf.Tensor`.
   * @param real_data N×H×W×C.
   * @param fake_data N×H×W×C.
   * @param mask optional N×H×W×1 or N×H×W×C.
   * @param draws optional `alpha` (N×1×1×1).
   * @returns a scalar.
   */
  forward(
    discriminator: Discriminator,
    real_data: tf.Tensor,
    fake_data: tf.Tensor,
    mask: tf.Tensor | null = null,
    draws?: Options<GradientPenaltyDraws>,
  ): tf.Tensor {
    const { alpha = null } = checkOptions(
      this.lossType,
      5,
      draws,
      `${this.lossType}.forward(discriminator, real_data, fake_data, mask, {alpha})`,
    );
    const { norm_mode, target, one_sided } = this.cfg;
    const options = { mask, norm_mode, alpha, target, one_sided };
    return this.scaled(() =>
      gradientPenaltyLoss(discriminator, real_data, fake_data, options, this.lossType),
    );
  }
}

function gradientPenaltyOptions() {
  return lossOptions(
    { loss_name: 'loss_gp' },
    { norm_mode: normModeOption, target: targetOption, one_sided: oneSidedOption },
  );
}
