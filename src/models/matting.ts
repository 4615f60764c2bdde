import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import type { LossModule } from '../core/module.ts';
import { parseOptions } from '../core/options.ts';
import { type ImageBatch, ImageToImageModel, type ImageToImageNets } from './image-to-image.ts';
import { buildRoleLoss, forwardOf, type LossKeys } from './loss-roles.ts';
import type { LossDict } from './parse-losses.ts';

const lossConfig = z.looseObject({ type: z.string() }).nullable().default(null);

/** The loss keys of MMagic's `DIM` (without the refiner) and the roles they take. */
export const MATTOR_LOSS_KEYS = {
  loss_alpha: ['masked_pixel'],
  loss_comp: ['composition'],
} as const satisfies LossKeys;

/** The JSON part of a matting model's config (MMagic's `DIM` keys). */
export const mattorOptions = z.strictObject({
  type: z.literal('DIM'),
  loss_alpha: lossConfig,
  loss_comp: lossConfig,
});

/**
 * A matting model trained as MMagic's `DIM` without its refiner. Batch: `merged` (N×H×W×3 in
 * [0, 1]), `trimap` (N×H×W×1: 0 background, 0.5 unknown, 1 foreground), `alpha` (N×H×W×1 in
 * [0, 1]), `fg` and `bg` (N×H×W×3). The network sees `concat(merged, trimap)`; the predicted
 * alpha is `sigmoid(raw)` (DIM's `pred_alpha = raw_alpha.sigmoid()`). With `weight` the unknown
 * region (trimap = 0.5, MMagic's `get_unknown_tensor`): `loss_alpha = loss_alpha(pred_alpha,
 * alpha, weight)` and `loss_comp = loss_comp(pred_alpha, fg, bg, merged, weight)`.
 */
export class Mattor extends ImageToImageModel {
  readonly cfg: z.output<typeof mattorOptions>;
  readonly alphaLoss: LossModule | null;
  readonly compLoss: LossModule | null;

  constructor(cfg: unknown, nets: ImageToImageNets) {
    const parsed = parseOptions('DIM', mattorOptions, cfg);
    super('DIM', nets);
    this.cfg = parsed;
    try {
      this.alphaLoss =
        buildRoleLoss('DIM', 'loss_alpha', MATTOR_LOSS_KEYS.loss_alpha, parsed.loss_alpha)
          ?.module ?? null;
      this.compLoss =
        buildRoleLoss('DIM', 'loss_comp', MATTOR_LOSS_KEYS.loss_comp, parsed.loss_comp)?.module ??
        null;
      if (nets.discriminator !== null || this.losses().length === 0) {
        throw new ConfigError(
          nets.discriminator !== null
            ? 'DIM: trains no discriminator'
            : 'DIM: no loss configured (set loss_alpha and/or loss_comp)',
        );
      }
    } catch (error) {
      // The optimizer and any loss built before the failure.
      this.dispose();
      throw error;
    }
  }

  losses(): LossModule[] {
    // `!= null`: a loss not yet built when the constructor fails is undefined.
    return [this.alphaLoss, this.compLoss].filter((m): m is LossModule => m != null);
  }

  generatorInput({ merged, trimap }: ImageBatch): tf.Tensor {
    return tf.concat([merged, trimap], 3);
  }

  protected output(_batch: ImageBatch, raw: tf.Tensor): tf.Tensor {
    return tf.sigmoid(raw);
  }

  protected generatorLosses(batch: ImageBatch, _raw: tf.Tensor, predAlpha: tf.Tensor): LossDict {
    const unknown = tf.cast(tf.equal(batch.trimap, 0.5), 'float32');
    const losses: LossDict = {};
    if (this.alphaLoss) {
      losses.loss_alpha = forwardOf(this.alphaLoss)(predAlpha, batch.alpha, unknown) as tf.Tensor;
    }
    if (this.compLoss) {
      losses.loss_comp = forwardOf(this.compLoss)(
        predAlpha,
        batch.fg,
        batch.bg,
        batch.merged,
        unknown,
      ) as tf.Tensor;
    }
    return losses;
  }
}
