import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { withFusedKernel } from '../backends/index.ts';
import { describeValue } from '../core/describe.ts';
import { ShapeError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { lossOptions, reductionOption } from '../core/options.ts';
import { type MaskedLossFn, maskedLoss } from '../core/reduction.ts';
import { checkSameShape, checkTensor, checkWeight } from '../core/validate.ts';

/**
 * L1 loss (MMagic `l1_loss`): `E = |pred − target|`, masked and reduced by `maskReduceLoss`.
 * The gradient at pred = target is 0, as PyTorch's `sign(0)`.
 *
 * @param pred N×H×W×C (any shape).
 * @param target the shape of pred.
 * @param options `weight` (N×H×W×1 or N×H×W×C), `reduction` (`'mean'`), `sample_wise` (false).
 * @returns a scalar, or the (weighted) element-wise tensor for `'none'`.
 */
export const l1Loss = withFusedKernel(
  'l1',
  maskedLoss((pred, target) => tf.abs(tf.sub(pred, target)), 'l1Loss'),
);

/** MSE loss (MMagic `mse_loss`): `E = (pred − target)²`, masked and reduced as {@link l1Loss}. */
export const mseLoss = withFusedKernel(
  'mse',
  maskedLoss((pred, target) => tf.squaredDifference(pred, target), 'mseLoss'),
);

/**
 * Charbonnier loss (MMagic `charbonnier_loss`), a differentiable L1:
 * `E = sqrt((pred − target)² + eps)`, eps default 1e-12 (so a perfect match gives 1e-6 per
 * element), masked and reduced as {@link l1Loss}. Gradient `(pred − target) / E`.
 */
export const charbonnierLoss = withFusedKernel(
  'charbonnier',
  maskedLoss<{ eps: number }>(
    (pred, target, { eps }) => tf.sqrt(tf.add(tf.squaredDifference(pred, target), eps)),
    'charbonnierLoss',
    { eps: 1e-12 },
  ),
);

/** Options of `L1Loss` and `MSELoss`. */
export const pixelwiseOptions = (lossName: string) =>
  lossOptions(
    { loss_name: lossName },
    { reduction: reductionOption.default('mean'), sample_wise: z.boolean().default(false) },
  );

/** Options of `CharbonnierLoss`: those of `L1Loss` plus `eps` (1e-12). */
export const charbonnierOptions = (lossName: string) =>
  pixelwiseOptions(lossName).extend({ eps: z.number().nonnegative().default(1e-12) });

/** The options shared by pixel-wise loss classes. */
export type PixelwiseOptions = ReturnType<typeof charbonnierOptions>;

/**
 * Base of the classes that apply a masked element-wise loss and multiply by `loss_weight`.
 * `cfg.eps` is passed on when the class declares it (Charbonnier).
 */
export abstract class MaskedPixelLoss extends LossModule<PixelwiseOptions> {
  protected abstract readonly pixelLoss: MaskedLossFn<{ eps: number }>;

  /** `loss_weight · pixelLoss(x, y, {weight, reduction, sample_wise, eps})`. */
  protected weighted(x: tf.Tensor, y: tf.Tensor, weight?: tf.Tensor | null): tf.Tensor {
    const { reduction, sample_wise, eps } = this.cfg;
    return this.scaled(() => this.pixelLoss(x, y, { weight, reduction, sample_wise, eps }));
  }
}

/** Base of `L1Loss`, `MSELoss` and `CharbonnierLoss`: `forward(pred, target, weight?)`. */
export abstract class PixelwiseLoss extends MaskedPixelLoss {
  /**
   * @param pred N×H×W×C.
   * @param target N×H×W×C.
   * @param weight optional N×H×W×1 or N×H×W×C.
   * @returns `loss_weight ·` the masked loss: a scalar, or N×H×W×C for `'none'`.
   */
  forward(pred: tf.Tensor, target: tf.Tensor, weight?: tf.Tensor | null): tf.Tensor {
    return this.weighted(pred, target, weight);
  }
}

/**
 * `L1Loss` (MMagic): `loss_weight · l1Loss(pred, target, weight)`.
 * Config: `loss_weight` 1.0, `reduction` `'mean'` (`none|mean|sum`), `sample_wise` false.
 */
export class L1Loss extends PixelwiseLoss {
  static override readonly lossType = 'L1Loss';
  static override readonly options = pixelwiseOptions('loss_l1');
  protected readonly pixelLoss = l1Loss;
}

/** `MSELoss` (MMagic): `loss_weight · mseLoss(pred, target, weight)`; config as `L1Loss`. */
export class MSELoss extends PixelwiseLoss {
  static override readonly lossType = 'MSELoss';
  static override readonly options = pixelwiseOptions('loss_mse');
  protected readonly pixelLoss = mseLoss;
}

/**
 * `CharbonnierLoss` (MMagic): `loss_weight · charbonnierLoss(pred, target, weight, eps)`;
 * config as `L1Loss` plus `eps` (1e-12).
 */
export class CharbonnierLoss extends PixelwiseLoss {
  static override readonly lossType = 'CharbonnierLoss';
  static override readonly options = charbonnierOptions('loss_charbonnier');
  protected readonly pixelLoss = charbonnierLoss;
}

/**
 * `MaskedTVLoss` (MMagic): total variation inside a mask, for inpainting.
 *
 * `loss_weight · [ masked_mean(|pred[:, :-1] − pred[:, 1:]|, mask[:, :-1])
 *                + masked_mean(|pred[:, :, :-1] − pred[:, :, 1:]|, mask[:, :, :-1]) ]`
 *
 * where `masked_mean` is `maskReduceLoss`'s pixel-wise mean (denominator C·Σmask + ε). As in
 * MMagic the mask is cropped, not intersected with its shifted copy. Config: `loss_weight` only
 * (reduction is always `'mean'`). Unlike MMagic, a missing mask is a clear error.
 */
export class MaskedTVLoss extends LossModule<ReturnType<typeof lossOptions>> {
  static override readonly lossType = 'MaskedTVLoss';
  static override readonly options = lossOptions({ loss_name: 'loss_tv' }, {});

  /**
   * @param pred N×H×W×C, H and W ≥ 2.
   * @param mask N×H×W×1 or N×H×W×C (1 inside the region to smooth).
   * @returns a scalar.
   */
  forward(pred: tf.Tensor, mask: tf.Tensor): tf.Tensor {
    const p = checkTensor('MaskedTVLoss', 'pred', pred, 4);
    if (mask === undefined || mask === null) {
      throw new ShapeError("MaskedTVLoss: 'mask' is required (N×H×W×1 or N×H×W×C), got none");
    }
    const m = checkWeight('MaskedTVLoss', 'mask', mask, p);
    const [n, h, w, c] = p.shape as number[];
    if (h < 2 || w < 2) {
      throw new ShapeError(
        `MaskedTVLoss: 'pred' needs H ≥ 2 and W ≥ 2 (it differences neighbouring rows and columns), got ${describeValue(p)}`,
      );
    }
    const mc = m.shape[3] as number;
    return this.scaled(() => {
      const rows = l1Loss(p.slice([0, 0, 0, 0], [n, h - 1, w, c]), p.slice([0, 1, 0, 0]), {
        weight: m.slice([0, 0, 0, 0], [n, h - 1, w, mc]),
      });
      const cols = l1Loss(p.slice([0, 0, 0, 0], [n, h, w - 1, c]), p.slice([0, 0, 1, 0]), {
        weight: m.slice([0, 0, 0, 0], [n, h, w - 1, mc]),
      });
      return tf.add(cols, rows);
    });
  }
}

/**
 * Total variation (MMagic `tv_loss`, Disco Diffusion): x is padded by one row at the bottom and one
 * column at the right (edge replicated), then `dx = x[i, j+1] − x[i, j]`, `dy = x[i+1, j] − x[i, j]`
 * over the original H×W, and the result is `mean_{H,W,C}(dx² + dy²)` per sample.
 *
 * @param x N×H×W×C.
 * @returns shape [N]: not reduced over the batch (MMagic's shape; `parseLosses` means it).
 */
export function tvLoss(x: tf.Tensor): tf.Tensor {
  const t = checkTensor('tvLoss', 'x', x, 4);
  const [n, h, w, c] = t.shape as number[];
  return tf.tidy(() => {
    const padH = tf.concat([t, t.slice([0, h - 1, 0, 0], [n, 1, w, c])], 1);
    const padded = tf.concat([padH, padH.slice([0, 0, w - 1, 0], [n, h + 1, 1, c])], 2);
    const base = padded.slice([0, 0, 0, 0], [n, h, w, c]);
    const dx = tf.sub(padded.slice([0, 0, 1, 0], [n, h, w, c]), base);
    const dy = tf.sub(padded.slice([0, 1, 0, 0], [n, h, w, c]), base);
    return tf.mean(tf.add(tf.square(dx), tf.square(dy)), [1, 2, 3]);
  });
}

const TEN_OVER_LN10 = 10 / Math.log(10);

/**
 * `PSNRLoss` (MMagic): negative PSNR in dB for data range 1, averaged over the batch:
 * `loss_weight · (10 / ln 10) · mean_n log(mean_{H,W,C}(pred − target)² + 1e-8)`.
 * Identical inputs give −80. Config: `loss_weight` 1.0, `toY` false — accepted and, as in MMagic,
 * without effect.
 */
export class PSNRLoss extends LossModule<ReturnType<typeof psnrOptions>> {
  static override readonly lossType = 'PSNRLoss';
  static override readonly options = psnrOptions();

  /**
   * @param pred N×H×W×C.
   * @param target N×H×W×C.
   * @returns a scalar.
   */
  forward(pred: tf.Tensor, target: tf.Tensor): tf.Tensor {
    const p = checkTensor('PSNRLoss', 'pred', pred, 4);
    const t = checkTensor('PSNRLoss', 'target', target, 4);
    checkSameShape('PSNRLoss', ['pred', p], ['target', t]);
    return this.scaled(() => {
      const mse = tf.mean(tf.squaredDifference(p, t), [1, 2, 3]);
      return tf.mul(tf.mean(tf.log(tf.add(mse, 1e-8))), TEN_OVER_LN10);
    });
  }
}

function psnrOptions() {
  return lossOptions({ loss_name: 'loss_psnr' }, { toY: z.boolean().default(false) });
}
