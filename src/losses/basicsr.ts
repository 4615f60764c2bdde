/**
 * BasicSR's losses that MMagic lacks (basicsr/losses/gan_loss.py, basic_loss.py):
 * `MultiScaleGANLoss` (a GAN loss over the predictions of several discriminators, pix2pixHD's
 * nested lists included), `GANFeatLoss` (pix2pixHD's discriminator feature matching) and
 * `WeightedTVLoss` (total variation with an optional per-pixel weight). BasicSR's `GANLoss` type
 * `wgan_softplus` is a `gan_type` of genloss's `GANLoss` (losses/gan.ts). NHWC tensors; the
 * criteria are genloss's `l1Loss`, `mseLoss` and `charbonnierLoss`.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { describeValue } from '../core/describe.ts';
import { ShapeError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { checkChoice, lossOptions } from '../core/options.ts';
import {
  checkOptions,
  checkSameShape,
  checkTensor,
  checkWeight,
  type Options,
} from '../core/validate.ts';
import { GANLossBase, ganOptions } from './gan.ts';
import { charbonnierLoss, l1Loss, mseLoss } from './pixelwise.ts';

/** The types of BasicSR's `GANLoss`, which `MultiScaleGANLoss` accepts. */
export const BASICSR_GAN_TYPES = ['vanilla', 'lsgan', 'wgan', 'wgan_softplus', 'hinge'] as const;

/** One discriminator's output: its prediction, or (pix2pixHD) its features then its prediction. */
export type DiscriminatorOutput = tf.Tensor | readonly tf.Tensor[];

/** What `MultiScaleGANLoss` takes: one prediction, or a list of discriminator outputs. */
export type MultiScalePredictions = tf.Tensor | readonly DiscriminatorOutput[];

/**
 * The predictions `MultiScaleGANLoss` scores: each element of a list, or the last tensor of a
 * nested list (pix2pixHD: a discriminator's features come first, its prediction last).
 */
function lastPredictions(owner: string, input: unknown): tf.Tensor[] {
  if (!Array.isArray(input)) {
    throw new ShapeError(
      `${owner}: 'input' must be a tf.Tensor or a list of discriminator outputs (tensors or lists of tensors), got ${describeValue(input)}`,
    );
  }
  if (input.length === 0) {
    throw new ShapeError(`${owner}: 'input' is an empty list; give one output per discriminator`);
  }
  return input.map((pred: unknown, i) => {
    if (!Array.isArray(pred)) return checkTensor(owner, `input[${i}]`, pred);
    if (pred.length === 0) {
      throw new ShapeError(
        `${owner}: 'input[${i}]' is an empty list; a nested list ends with the discriminator's prediction`,
      );
    }
    return checkTensor(owner, `input[${i}][${pred.length - 1}]`, pred[pred.length - 1]);
  });
}

/**
 * `MultiScaleGANLoss` (BasicSR): `GANLoss` over several discriminators. A list `input` gives
 * `(1/D) Σ_i GANLoss(pred_i)` where `pred_i` is `input[i]`, or its last tensor when `input[i]` is a
 * list (pix2pixHD's features-then-prediction output; the features are left to `GANFeatLoss`); a
 * tensor `input` is plain `GANLoss`. `loss_weight` applies to generator calls only (`is_disc` false),
 * as `GANLoss`.
 *
 * Config: `gan_type` (required: BasicSR's `vanilla|lsgan|wgan|wgan_softplus|hinge`),
 * `real_label_val` 1.0, `fake_label_val` 0.0, `loss_weight` 1.0.
 */
export class MultiScaleGANLoss extends GANLossBase {
  static override readonly lossType = 'MultiScaleGANLoss';
  static override readonly options = ganOptions(BASICSR_GAN_TYPES);
  static override readonly ganTypes: readonly string[] = BASICSR_GAN_TYPES;

  /**
   * @param input a prediction (any shape), or a list with one entry per discriminator: its
   *   prediction, or a list whose last tensor is its prediction.
   * @param target_is_real whether the target is the real label.
   * @param is_disc discriminator call (no `loss_weight`). Default false.
   * @returns a scalar.
   */
  forward(input: MultiScalePredictions, target_is_real: boolean, is_disc = false): tf.Tensor {
    if (input instanceof tf.Tensor) return this.weightedLoss(input, target_is_real, is_disc, null);
    const preds = lastPredictions(this.lossType, input);
    return tf.tidy(() => {
      const terms = preds.map((p) => this.weightedLoss(p, target_is_real, is_disc, null));
      return tf.div(terms.length === 1 ? terms[0] : tf.addN(terms), preds.length);
    });
  }
}

/** The criteria of `GANFeatLoss`: BasicSR's `L1Loss`, `MSELoss` and `CharbonnierLoss`. */
export const GAN_FEAT_CRITERIA = ['l1', 'l2', 'charbonnier'] as const;
/** A `GANFeatLoss` criterion. */
export type GanFeatCriterion = (typeof GAN_FEAT_CRITERIA)[number];

/** The reductions BasicSR's `GANFeatLoss` and `WeightedTVLoss` can sum: no `'none'`. */
export const BASICSR_REDUCTIONS = ['mean', 'sum'] as const;
/** A reduction of {@link ganFeatLoss} and {@link weightedTvLoss}. */
export type BasicsrReduction = (typeof BASICSR_REDUCTIONS)[number];

/** Options of {@link ganFeatLoss}. */
export interface GanFeatLossOptions {
  /** `'l1'` (default), `'l2'` (MSE) or `'charbonnier'` (eps 1e-12). */
  criterion?: GanFeatCriterion;
  /** `'mean'` (default) or `'sum'`, of each layer's criterion. */
  reduction?: BasicsrReduction;
}

const CRITERIA = { l1: l1Loss, l2: mseLoss, charbonnier: charbonnierLoss } as const;

/** Checks pred_fake and pred_real: equal-length lists of equal-length lists of same-shape tensors. */
function featurePairs(owner: string, fake: unknown, real: unknown): [tf.Tensor, tf.Tensor][][] {
  const list = (arg: string, v: unknown): unknown[] => {
    if (!Array.isArray(v) || v.length === 0) {
      throw new ShapeError(
        `${owner}: '${arg}' must be a non-empty list (one entry per discriminator) of lists of tensors (features, then the prediction), got ${describeValue(v)}`,
      );
    }
    return v;
  };
  const f = list('pred_fake', fake);
  const r = list('pred_real', real);
  if (f.length !== r.length) {
    throw new ShapeError(
      `${owner}: 'pred_real' must have one entry per discriminator as 'pred_fake' (${f.length}), got ${r.length}`,
    );
  }
  let features = 0;
  const pairs = f.map((fi, i) => {
    const a = list(`pred_fake[${i}]`, fi);
    const b = list(`pred_real[${i}]`, r[i]);
    if (a.length !== b.length) {
      throw new ShapeError(
        `${owner}: 'pred_real[${i}]' must have as many outputs as 'pred_fake[${i}]' (${a.length}), got ${b.length}`,
      );
    }
    // The last output of each discriminator is its prediction: not a feature.
    return a.slice(0, -1).map((x, j): [tf.Tensor, tf.Tensor] => {
      const fx = checkTensor(owner, `pred_fake[${i}][${j}]`, x);
      const rx = checkTensor(owner, `pred_real[${i}][${j}]`, b[j]);
      checkSameShape(owner, [`pred_fake[${i}][${j}]`, fx], [`pred_real[${i}][${j}]`, rx]);
      features++;
      return [fx, rx];
    });
  });
  if (features === 0) {
    throw new ShapeError(
      `${owner}: no features to match: every discriminator output holds only its prediction (features come before it)`,
    );
  }
  return pairs;
}

/**
 * pix2pixHD's discriminator feature matching (BasicSR `GANFeatLoss.forward` without
 * `loss_weight`): with D discriminators, each giving features `F_i,0 … F_i,L_i−1` and then its
 * prediction (excluded),
 *
 * `(1/D) Σ_i Σ_{j < L_i} criterion(fake_i,j, stopGradient(real_i,j))`
 *
 * The real features are detached: no gradient reaches `pred_real`.
 *
 * @param pred_fake per discriminator, its features on the fake image and then its prediction.
 * @param pred_real the same on the real image (same lengths and shapes).
 * @param options `criterion` (`'l1'`), `reduction` (`'mean'`).
 * @returns a scalar.
 */
export function ganFeatLoss(
  pred_fake: readonly (readonly tf.Tensor[])[],
  pred_real: readonly (readonly tf.Tensor[])[],
  options?: Options<GanFeatLossOptions>,
  owner = 'ganFeatLoss',
): tf.Tensor {
  const { criterion = 'l1', reduction = 'mean' } = checkOptions(
    owner,
    3,
    options,
    `${owner}(pred_fake, pred_real, {criterion, reduction})`,
  );
  const crit = CRITERIA[checkChoice(owner, 'criterion', criterion, GAN_FEAT_CRITERIA)];
  const red = checkChoice(owner, 'reduction', reduction, BASICSR_REDUCTIONS);
  const pairs = featurePairs(owner, pred_fake, pred_real);
  return tf.tidy(() => {
    const terms = pairs.flat().map(([f, r]) => crit(f, stopGradient(r), { reduction: red }));
    return tf.div(terms.length === 1 ? terms[0] : tf.addN(terms), pairs.length);
  });
}

const reductionSchema = () => z.enum(BASICSR_REDUCTIONS).default('mean');

/** Options of `GANFeatLoss`. */
export const ganFeatOptions = () =>
  lossOptions(
    { loss_name: 'loss_gan_feat' },
    { criterion: z.enum(GAN_FEAT_CRITERIA).default('l1'), reduction: reductionSchema() },
  );

/**
 * `GANFeatLoss` (BasicSR): pix2pixHD feature matching, `loss_weight² · ganFeatLoss(pred_fake,
 * pred_real, {criterion, reduction})`. `loss_weight` counts twice, as in BasicSR, whose criterion
 * is built with `loss_weight` (`L1Loss(loss_weight, reduction)`) and whose forward multiplies
 * the sum by it again. Config: `criterion` `'l1'` (`l1|l2|charbonnier`), `loss_weight` 1.0,
 * `reduction` `'mean'` (`mean|sum`: BasicSR's `'none'` cannot sum features of different shapes).
 */
export class GANFeatLoss extends LossModule<ReturnType<typeof ganFeatOptions>> {
  static override readonly lossType = 'GANFeatLoss';
  static override readonly options = ganFeatOptions();

  /**
   * @param pred_fake per discriminator, its features on the fake image and then its prediction.
   * @param pred_real the same on the real image; detached.
   * @returns a scalar.
   */
  forward(
    pred_fake: readonly (readonly tf.Tensor[])[],
    pred_real: readonly (readonly tf.Tensor[])[],
  ): tf.Tensor {
    const { criterion, reduction } = this.cfg;
    return this.scaled(() =>
      tf.mul(
        ganFeatLoss(pred_fake, pred_real, { criterion, reduction }, this.lossType),
        this.lossWeight,
      ),
    );
  }
}

/** Options of {@link weightedTvLoss}. */
export interface WeightedTvLossOptions {
  /** N×H×W×1 or N×H×W×C per-pixel weight, cropped with each difference. Default none. */
  weight?: tf.Tensor | null;
  /** `'mean'` (default) or `'sum'`. */
  reduction?: BasicsrReduction;
}

/**
 * Weighted total variation (BasicSR `WeightedTVLoss.forward` without `loss_weight`):
 *
 * `l1(pred[:, :, :−1], pred[:, :, 1:], weight[:, :, :−1]) + l1(pred[:, :−1], pred[:, 1:], weight[:, :−1])`
 *
 * (NHWC: columns, then rows), each `l1Loss` with `reduction`; the weight is cropped, not
 * intersected with its shifted copy, as BasicSR.
 *
 * @param pred N×H×W×C, H and W ≥ 2.
 * @param options `weight` (none), `reduction` (`'mean'`).
 * @returns a scalar.
 */
export function weightedTvLoss(
  pred: tf.Tensor,
  options?: Options<WeightedTvLossOptions>,
  owner = 'weightedTvLoss',
): tf.Tensor {
  const { weight = null, reduction = 'mean' } = checkOptions(
    owner,
    2,
    options,
    `${owner}(pred, {weight, reduction})`,
  );
  const red = checkChoice(owner, 'reduction', reduction, BASICSR_REDUCTIONS);
  const p = checkTensor(owner, 'pred', pred, 4);
  const w =
    weight === null || weight === undefined ? null : checkWeight(owner, 'weight', weight, p);
  const [n, h, wd, c] = p.shape as number[];
  if (h < 2 || wd < 2) {
    throw new ShapeError(
      `${owner}: 'pred' needs H ≥ 2 and W ≥ 2 (it differences neighbouring rows and columns), got ${describeValue(p)}`,
    );
  }
  return tf.tidy(() => {
    const wc = w === null ? 0 : (w.shape[3] as number);
    const crop = (t: tf.Tensor, ch: number, dh: number, dw: number) =>
      t.slice([0, 0, 0, 0], [n, h - dh, wd - dw, ch]);
    const cols = l1Loss(crop(p, c, 0, 1), p.slice([0, 0, 1, 0]), {
      weight: w === null ? null : crop(w, wc, 0, 1),
      reduction: red,
    });
    const rows = l1Loss(crop(p, c, 1, 0), p.slice([0, 1, 0, 0]), {
      weight: w === null ? null : crop(w, wc, 1, 0),
      reduction: red,
    });
    return tf.add(cols, rows);
  });
}

/** Options of `WeightedTVLoss`. */
export const weightedTvOptions = () =>
  lossOptions({ loss_name: 'loss_weighted_tv' }, { reduction: reductionSchema() });

/**
 * `WeightedTVLoss` (BasicSR): `loss_weight · weightedTvLoss(pred, {weight, reduction})`.
 * Config: `loss_weight` 1.0, `reduction` `'mean'` (`mean|sum`; BasicSR refuses `'none'`).
 */
export class WeightedTVLoss extends LossModule<ReturnType<typeof weightedTvOptions>> {
  static override readonly lossType = 'WeightedTVLoss';
  static override readonly options = weightedTvOptions();

  /**
   * @param pred N×H×W×C, H and W ≥ 2.
   * @param weight optional N×H×W×1 or N×H×W×C.
   * @returns a scalar.
   */
  forward(pred: tf.Tensor, weight?: tf.Tensor | null): tf.Tensor {
    const { reduction } = this.cfg;
    return this.scaled(() => weightedTvLoss(pred, { weight, reduction }, this.lossType));
  }
}
