import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../core/errors.ts';
import { checkSameShape, checkTensor, checkWeight } from '../core/validate.ts';
import {
  charbonnierLoss,
  charbonnierOptions,
  l1Loss,
  MaskedPixelLoss,
  mseLoss,
  pixelwiseOptions,
} from './pixelwise.ts';

const SHAPES = 'pred_alpha N×H×W×1, fg, bg and ori_merged N×H×W×C';

/**
 * The matting composite `merged = α·fg + (1 − α)·bg`, checked: α is N×H×W×1, fg, bg and
 * ori_merged N×H×W×C (3 in MMagic).
 */
export function composite(
  owner: string,
  predAlpha: tf.Tensor,
  fg: tf.Tensor,
  bg: tf.Tensor,
): tf.Tensor {
  const alpha = checkTensor(owner, 'pred_alpha', predAlpha, 4);
  const f = checkTensor(owner, 'fg', fg, 4);
  const b = checkTensor(owner, 'bg', bg, 4);
  checkSameShape(owner, ['fg', f], ['bg', b]);
  if (alpha.shape[3] !== 1 || !tf.util.arraysEqual(alpha.shape.slice(0, 3), f.shape.slice(0, 3))) {
    throw new ShapeError(
      `${owner}: 'pred_alpha' must be N×H×W×1 matching fg [${f.shape.slice(0, 3).join(', ')}, 1], got [${alpha.shape.join(', ')}] (${SHAPES})`,
    );
  }
  return tf.tidy(() => tf.add(tf.mul(alpha, f), tf.mul(tf.sub(1, alpha), b)));
}

/**
 * Base of the composition losses (MMagic, for matting): the pixel loss between the composite
 * `α·fg + (1 − α)·bg` and the original merged image, times `loss_weight`. A weight (usually the
 * unknown region of the trimap) is N×H×W×1 and counts once per colour channel in the `'mean'`
 * denominator, as MMagic's expansion to 3 channels.
 */
export abstract class CompositionLoss extends MaskedPixelLoss {
  /**
   * @param pred_alpha N×H×W×1.
   * @param fg N×H×W×C foreground.
   * @param bg N×H×W×C background.
   * @param ori_merged N×H×W×C the original composite.
   * @param weight optional N×H×W×1 or N×H×W×C.
   * @returns a scalar, or N×H×W×C for `'none'`.
   */
  forward(
    pred_alpha: tf.Tensor,
    fg: tf.Tensor,
    bg: tf.Tensor,
    ori_merged: tf.Tensor,
    weight?: tf.Tensor | null,
  ): tf.Tensor {
    const owner = this.lossType;
    const target = checkTensor(owner, 'ori_merged', ori_merged, 4);
    checkSameShape(owner, ['fg', checkTensor(owner, 'fg', fg, 4)], ['ori_merged', target]);
    if (weight !== null && weight !== undefined) checkWeight(owner, 'weight', weight, target);
    return tf.tidy(() => this.weighted(composite(owner, pred_alpha, fg, bg), target, weight));
  }
}

/** `L1CompositionLoss` (MMagic): L1 between the composite and `ori_merged`; config as `L1Loss`. */
export class L1CompositionLoss extends CompositionLoss {
  static override readonly lossType = 'L1CompositionLoss';
  static override readonly options = pixelwiseOptions('loss_comp');
  protected readonly pixelLoss = l1Loss;
}

/** `MSECompositionLoss` (MMagic): MSE between the composite and `ori_merged`. */
export class MSECompositionLoss extends CompositionLoss {
  static override readonly lossType = 'MSECompositionLoss';
  static override readonly options = pixelwiseOptions('loss_comp');
  protected readonly pixelLoss = mseLoss;
}

/** `CharbonnierCompLoss` (MMagic): Charbonnier between the composite and `ori_merged`, `eps` 1e-12. */
export class CharbonnierCompLoss extends CompositionLoss {
  static override readonly lossType = 'CharbonnierCompLoss';
  static override readonly options = charbonnierOptions('loss_comp');
  protected readonly pixelLoss = charbonnierLoss;
}
