import * as tf from '@tensorflow/tfjs';
import { withFusedKernel } from '../backends/index.ts';
import { LossModule } from '../core/module.ts';
import { lossOptions, type Reduction, reductionOption } from '../core/options.ts';
import { maskReduceLoss } from '../core/reduction.ts';
import { sobel } from '../core/sobel.ts';
import {
  checkOptions,
  checkSameShape,
  checkTensor,
  checkWeight,
  type Options,
} from '../core/validate.ts';

/** Options of {@link gradientLoss}. */
export interface GradientLossOptions {
  /** N×H×W×1 or N×H×W×C. */
  weight?: tf.Tensor | null;
  /** Default `'mean'`. */
  reduction?: Reduction;
}

/**
 * Sobel gradient loss (MMagic `GradientLoss` without its weight):
 * `maskReduce(|kx∗pred − kx∗target|, weight) + maskReduce(|ky∗pred − ky∗target|, weight)`,
 * with the Sobel kernels kx, ky applied per channel, zero padding 1. MMagic accepts only C = 1;
 * any C works here, and C = 1 gives MMagic's numbers. Runs in the fused Sobel kernels where they
 * apply (src/backends/fused), else as the op chain on `sobel`.
 *
 * @param pred N×H×W×C.
 * @param target N×H×W×C.
 * @returns a scalar, or N×H×W×C for `'none'`.
 */
export const gradientLoss = withFusedKernel(
  'gradient',
  (
    pred: tf.Tensor,
    target: tf.Tensor,
    options?: Options<GradientLossOptions>,
    owner = 'gradientLoss',
  ): tf.Tensor => {
    const { weight = null, reduction = 'mean' } = checkOptions(
      'gradientLoss',
      3,
      options,
      'gradientLoss(pred, target, {weight, reduction})',
    );
    const p = checkTensor(owner, 'pred', pred, 4) as tf.Tensor4D;
    const t = checkTensor(owner, 'target', target, 4) as tf.Tensor4D;
    checkSameShape(owner, ['pred', p], ['target', t]);
    if (weight !== null) checkWeight(owner, 'weight', weight, p);
    return tf.tidy(() => {
      // The Sobel filter is linear, so kx∗pred − kx∗target = kx∗(pred − target): one conv, not two.
      const [gx, gy] = sobel(tf.sub(p, t));
      const options = { weight, reduction };
      return tf.add(
        maskReduceLoss(tf.abs(gx), options, owner),
        maskReduceLoss(tf.abs(gy), options, owner),
      );
    });
  },
);

/**
 * `GradientLoss` (MMagic): `loss_weight · gradientLoss(pred, target, weight)`.
 * Config: `loss_weight` 1.0, `reduction` `'mean'` (no `sample_wise`, as MMagic).
 */
export class GradientLoss extends LossModule<ReturnType<typeof gradientOptions>> {
  static override readonly lossType = 'GradientLoss';
  static override readonly options = gradientOptions();

  /**
   * @param pred N×H×W×C.
   * @param target N×H×W×C.
   * @param weight optional N×H×W×1 or N×H×W×C.
   */
  forward(pred: tf.Tensor, target: tf.Tensor, weight?: tf.Tensor | null): tf.Tensor {
    return this.scaled(() =>
      gradientLoss(pred, target, { weight, reduction: this.cfg.reduction }, this.lossType),
    );
  }
}

function gradientOptions() {
  return lossOptions(
    { loss_name: 'loss_gradient' },
    { reduction: reductionOption.default('mean') },
  );
}
