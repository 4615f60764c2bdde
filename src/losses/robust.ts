/**
 * Robust pixel-wise losses: kornia's `cauchy_loss`, `welsch_loss` and `geman_mcclure_loss`,
 * PyTorch's `HuberLoss` and `SmoothL1Loss`, and Barron's general robust loss (CVPR 2019) with a
 * fixed shape `alpha` and scale. Each is an element-wise function of `x = pred − target` made a
 * masked loss by `maskedLoss` (MMagic's `weight`, `reduction`, `sample_wise`), and a class
 * registered under its name.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { describeValue } from '../core/describe.ts';
import { ConfigError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { lossOptions, type Reduction, reductionOption } from '../core/options.ts';
import { type MaskedLossFn, maskedLoss } from '../core/reduction.ts';

/** How a hyper-parameter of a robust loss is bounded. */
type Bound = 'finite' | 'positive' | 'nonnegative';

/**
 * Checks a numeric hyper-parameter given to a robust loss function (the classes check their
 * config keys with the same bounds through zod): a `ConfigError` naming the function and the key.
 */
function checkParam(owner: string, key: string, value: unknown, bound: Bound): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ConfigError(
      `${owner}: '${key}' must be a finite number, got ${describeValue(value)}`,
    );
  }
  if (bound === 'positive' && !(value > 0)) {
    throw new ConfigError(`${owner}: '${key}' must be > 0, got ${describeValue(value)}`);
  }
  if (bound === 'nonnegative' && !(value >= 0)) {
    throw new ConfigError(`${owner}: '${key}' must be >= 0, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * Cauchy (Lorentzian) loss (kornia `cauchy_loss`): `E = log(½x² + 1)`, `x = pred − target`,
 * masked and reduced by `maskReduceLoss`. Gradient `x / (½x² + 1)`.
 *
 * @param pred N×H×W×C (any shape).
 * @param target the shape of pred.
 * @param options `weight` (N×H×W×1 or N×H×W×C), `reduction` (`'mean'`), `sample_wise` (false).
 * @returns a scalar, or the (weighted) element-wise tensor for `'none'`.
 */
export const cauchyLoss = maskedLoss(
  (pred, target) => tf.log1p(tf.mul(tf.squaredDifference(pred, target), 0.5)),
  'cauchyLoss',
);

/**
 * Welsch (Leclerc) loss (kornia `welsch_loss`): `E = 1 − exp(−½x²)`, `x = pred − target`,
 * bounded by 1; masked and reduced as {@link cauchyLoss}. Gradient `x·exp(−½x²)`.
 */
export const welschLoss = maskedLoss(
  (pred, target) => tf.neg(tf.expm1(tf.mul(tf.squaredDifference(pred, target), -0.5))),
  'welschLoss',
);

/**
 * Geman–McClure loss (kornia `geman_mcclure_loss`): `E = 2x² / (x² + 4)`, `x = pred − target`,
 * bounded by 2; masked and reduced as {@link cauchyLoss}. Gradient `16x / (x² + 4)²`.
 */
export const gemanMcClureLoss = maskedLoss((pred, target) => {
  const sq = tf.squaredDifference(pred, target);
  return tf.div(tf.mul(sq, 2), tf.add(sq, 4));
}, 'gemanMcClureLoss');

/**
 * Huber loss (PyTorch `nn.HuberLoss(delta)`): `E = ½x²` where `|x| < δ`, else `δ(|x| − ½δ)`,
 * `x = pred − target`, δ = `delta` > 0 (default 1.0); masked and reduced as {@link cauchyLoss}.
 * Gradient `x` inside, `δ·sign(x)` outside (continuous at |x| = δ).
 */
export const huberLoss = maskedLoss<{ delta: number }>(
  (pred, target, { delta }) => {
    const d = checkParam('huberLoss', 'delta', delta, 'positive');
    const x = tf.sub(pred, target);
    const a = tf.abs(x);
    return tf.where(tf.less(a, d), tf.mul(tf.square(x), 0.5), tf.mul(tf.sub(a, 0.5 * d), d));
  },
  'huberLoss',
  { delta: 1 },
);

/**
 * Smooth L1 loss (PyTorch `nn.SmoothL1Loss(beta)`): `E = ½x²/β` where `|x| < β`, else
 * `|x| − ½β`, `x = pred − target`, β = `beta` ≥ 0 (default 1.0); masked and reduced as
 * {@link cauchyLoss}. β = 0 is the L1 loss `|x|` (computed as such: nothing divides by β), with
 * gradient 0 at x = 0 as PyTorch's. For β > 0 it is Huber's loss with δ = β, divided by β.
 */
export const smoothL1Loss = maskedLoss<{ beta: number }>(
  (pred, target, { beta }) => {
    const b = checkParam('smoothL1Loss', 'beta', beta, 'nonnegative');
    const x = tf.sub(pred, target);
    const a = tf.abs(x);
    if (b === 0) return a;
    return tf.where(tf.less(a, b), tf.mul(tf.square(x), 0.5 / b), tf.sub(a, 0.5 * b));
  },
  'smoothL1Loss',
  { beta: 1 },
);

/**
 * Barron's general robust loss ("A General and Adaptive Robust Loss Function", CVPR 2019) with a
 * fixed shape α = `alpha` (any finite number, default 1.0) and scale c = `scale` > 0 (default
 * 1.0), `x = pred − target`:
 *
 * `E = |α − 2|/α · (((x/c)² / |α − 2| + 1)^(α/2) − 1)`
 *
 * computed as `|α − 2|/α · expm1(α/2 · log1p((x/c)² / |α − 2|))`, and at its limits exactly:
 * α = 2 gives `½(x/c)²` (L2), α = 0 gives `log(½(x/c)² + 1)` (Cauchy). α = 1 is the pseudo-Huber
 * `sqrt((x/c)² + 1) − 1`, α = −2 Geman–McClure's `2(x/c)² / ((x/c)² + 4)`. The limit α = −∞
 * (Welsch, `1 − exp(−½(x/c)²)`) is not accepted: `alpha` must be finite, as JSON has no
 * infinity; use {@link welschLoss} (the α = −∞ loss with c = 1). Masked and reduced as
 * {@link cauchyLoss}.
 */
export const generalRobustLoss = maskedLoss<{ alpha: number; scale: number }>(
  (pred, target, { alpha, scale }) => {
    const a = checkParam('generalRobustLoss', 'alpha', alpha, 'finite');
    const c = checkParam('generalRobustLoss', 'scale', scale, 'positive');
    const z = tf.square(tf.div(tf.sub(pred, target), c));
    if (a === 2) return tf.mul(z, 0.5);
    if (a === 0) return tf.log1p(tf.mul(z, 0.5));
    const b = Math.abs(a - 2);
    return tf.mul(tf.expm1(tf.mul(tf.log1p(tf.div(z, b)), a / 2)), b / a);
  },
  'generalRobustLoss',
  { alpha: 1, scale: 1 },
);

/** Options of `CauchyLoss`, `WelschLoss` and `GemanMcClureLoss`. */
export const robustOptions = (lossName: string) =>
  lossOptions(
    { loss_name: lossName },
    { reduction: reductionOption.default('mean'), sample_wise: z.boolean().default(false) },
  );

/** Options of `HuberLoss`: those of `CauchyLoss` plus `delta` (> 0, default 1.0). */
export const huberOptions = () =>
  robustOptions('loss_huber').extend({ delta: z.number().positive().default(1) });

/** Options of `SmoothL1Loss`: those of `CauchyLoss` plus `beta` (≥ 0, default 1.0). */
export const smoothL1Options = () =>
  robustOptions('loss_smooth_l1').extend({ beta: z.number().nonnegative().default(1) });

/**
 * Options of `GeneralRobustLoss`: those of `CauchyLoss` plus `alpha` (a finite number, default
 * 1.0) and `scale` (> 0, default 1.0).
 */
export const generalRobustOptions = () =>
  robustOptions('loss_general_robust').extend({
    alpha: z.number().finite().default(1),
    scale: z.number().positive().default(1),
  });

/** The options every robust loss class has. */
export type RobustOptions = ReturnType<typeof robustOptions>;

/**
 * Base of the robust loss classes: `forward(pred, target, weight?)` is
 * `loss_weight · robustLoss(pred, target, {weight, reduction, sample_wise, ...extra()})`.
 */
export abstract class RobustLoss<
  E extends object = object,
  S extends RobustOptions = RobustOptions,
> extends LossModule<S> {
  /** The masked element-wise loss the class applies. */
  protected abstract readonly robustLoss: MaskedLossFn<E>;

  /** The class's own hyper-parameters, from its config (none by default). */
  protected extra(): E {
    return {} as E;
  }

  /**
   * @param pred N×H×W×C.
   * @param target N×H×W×C.
   * @param weight optional N×H×W×1 or N×H×W×C.
   * @returns `loss_weight ·` the masked loss: a scalar, or N×H×W×C for `'none'`.
   */
  forward(pred: tf.Tensor, target: tf.Tensor, weight?: tf.Tensor | null): tf.Tensor {
    const { reduction, sample_wise } = this.cfg as { reduction: Reduction; sample_wise: boolean };
    const options = { weight, reduction, sample_wise, ...this.extra() };
    return this.scaled(() => this.robustLoss(pred, target, options));
  }
}

/**
 * `CauchyLoss` (kornia `cauchy_loss`): `loss_weight · cauchyLoss(pred, target, weight)`.
 * Config: `loss_weight` 1.0, `reduction` `'mean'` (`none|mean|sum`), `sample_wise` false.
 */
export class CauchyLoss extends RobustLoss {
  static override readonly lossType = 'CauchyLoss';
  static override readonly options = robustOptions('loss_cauchy');
  protected readonly robustLoss = cauchyLoss;
}

/** `WelschLoss` (kornia `welsch_loss`): `loss_weight · welschLoss(pred, target, weight)`. */
export class WelschLoss extends RobustLoss {
  static override readonly lossType = 'WelschLoss';
  static override readonly options = robustOptions('loss_welsch');
  protected readonly robustLoss = welschLoss;
}

/**
 * `GemanMcClureLoss` (kornia `geman_mcclure_loss`):
 * `loss_weight · gemanMcClureLoss(pred, target, weight)`; config as `CauchyLoss`.
 */
export class GemanMcClureLoss extends RobustLoss {
  static override readonly lossType = 'GemanMcClureLoss';
  static override readonly options = robustOptions('loss_geman_mcclure');
  protected readonly robustLoss = gemanMcClureLoss;
}

/**
 * `HuberLoss` (PyTorch `nn.HuberLoss`): `loss_weight · huberLoss(pred, target, weight, delta)`;
 * config as `CauchyLoss` plus `delta` (> 0, default 1.0).
 */
export class HuberLoss extends RobustLoss<{ delta: number }, ReturnType<typeof huberOptions>> {
  static override readonly lossType = 'HuberLoss';
  static override readonly options = huberOptions();
  protected readonly robustLoss = huberLoss;
  protected override extra() {
    return { delta: this.cfg.delta };
  }
}

/**
 * `SmoothL1Loss` (PyTorch `nn.SmoothL1Loss`): `loss_weight · smoothL1Loss(pred, target, weight,
 * beta)`; config as `CauchyLoss` plus `beta` (≥ 0, default 1.0; 0 is the L1 loss).
 */
export class SmoothL1Loss extends RobustLoss<{ beta: number }, ReturnType<typeof smoothL1Options>> {
  static override readonly lossType = 'SmoothL1Loss';
  static override readonly options = smoothL1Options();
  protected readonly robustLoss = smoothL1Loss;
  protected override extra() {
    return { beta: this.cfg.beta };
  }
}

/**
 * `GeneralRobustLoss` (Barron, CVPR 2019, fixed shape and scale):
 * `loss_weight · generalRobustLoss(pred, target, weight, alpha, scale)`; config as `CauchyLoss`
 * plus `alpha` (finite, default 1.0) and `scale` (> 0, default 1.0).
 */
export class GeneralRobustLoss extends RobustLoss<
  { alpha: number; scale: number },
  ReturnType<typeof generalRobustOptions>
> {
  static override readonly lossType = 'GeneralRobustLoss';
  static override readonly options = generalRobustOptions();
  protected readonly robustLoss = generalRobustLoss;
  protected override extra() {
    return { alpha: this.cfg.alpha, scale: this.cfg.scale };
  }
}
