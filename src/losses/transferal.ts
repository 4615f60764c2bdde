import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ShapeError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { lossOptions } from '../core/options.ts';
import { checkSameShape, checkTensor } from '../core/validate.ts';
import { resizeBicubic } from '../ops/resize.ts';
import { FEATURE_CRITERIA, featureDistance } from './perceptual.ts';

function transferalOptions() {
  return lossOptions(
    { loss_name: 'loss_transferal' },
    {
      use_attention: z.boolean().default(true),
      criterion: z.enum(FEATURE_CRITERIA).default('mse'),
    },
  );
}

/** The config of `TransferalPerceptualLoss`. */
export type TransferalPerceptualLossOptions = z.input<ReturnType<typeof transferalOptions>>;

/**
 * `TransferalPerceptualLoss` (MMagic, TTSR): distances between the texture maps the network
 * produced and the transferred textures, weighted by the soft attention map.
 *
 * ```
 * with attention: soft_0 = sigmoid(s); soft_i = bicubic(s, (h·2^i, w·2^i))  for i ≥ 1
 * without:        soft_i = 1 for i < 3
 * loss = loss_weight · Σ_i crit(maps_i · soft_i, textures_i · soft_i)
 * ```
 *
 * As in MMagic's `TransferalPerceptualLoss.forward`: the sigmoid is applied at level 0 only (the
 * upsampled levels use the raw map), and without attention only the first 3 levels count. Bicubic
 * is PyTorch's (A = −0.75, align_corners false). Config: `loss_weight` 1.0, `use_attention` true,
 * `criterion` `'mse'` (`l1|mse`). The maps are features, so no input range applies.
 */
export class TransferalPerceptualLoss extends LossModule<ReturnType<typeof transferalOptions>> {
  static override readonly lossType = 'TransferalPerceptualLoss';
  static override readonly options = transferalOptions();

  /**
   * @param maps feature maps from the lowest resolution up: level i is N×(h·2^i)×(w·2^i)×C_i.
   * @param softAttention N×h×w×1 (used only with `use_attention`).
   * @param textures the transferred textures, shaped as `maps`.
   * @returns a scalar.
   */
  forward(maps: tf.Tensor[], softAttention: tf.Tensor | null, textures: tf.Tensor[]): tf.Tensor {
    const owner = 'TransferalPerceptualLoss';
    if (!Array.isArray(maps) || !Array.isArray(textures)) {
      throw new ShapeError(`${owner}: 'maps' and 'textures' must be arrays of N×H×W×C tensors`);
    }
    const levels = Math.min(maps.length, textures.length, this.cfg.use_attention ? maps.length : 3);
    for (let i = 0; i < levels; i++) {
      checkTensor(owner, `maps[${i}]`, maps[i], 4);
      checkTensor(owner, `textures[${i}]`, textures[i], 4);
      checkSameShape(owner, [`maps[${i}]`, maps[i]], [`textures[${i}]`, textures[i]]);
    }
    let soft: tf.Tensor | null = null;
    if (this.cfg.use_attention) {
      soft = checkTensor(owner, 'soft_attention', softAttention, 4);
      const [n, h, w, c] = soft.shape as number[];
      if (c !== 1)
        throw new ShapeError(
          `${owner}: 'soft_attention' must be N×h×w×1, got [${soft.shape.join(', ')}]`,
        );
      for (let i = 0; i < levels; i++) {
        const want = [n, h * 2 ** i, w * 2 ** i];
        if (!tf.util.arraysEqual(maps[i].shape.slice(0, 3), want)) {
          throw new ShapeError(
            `${owner}: 'maps[${i}]' must be ${want.join('×')}×C (level ${i} of a ${h}×${w} attention map), got [${maps[i].shape.join(', ')}]`,
          );
        }
      }
    }
    const { criterion } = this.cfg;
    return this.scaled(() => {
      let total: tf.Tensor = tf.scalar(0);
      for (let i = 0; i < levels; i++) {
        let s: tf.Tensor | null = null;
        if (soft) {
          const [, h, w] = soft.shape as number[];
          s = i === 0 ? tf.sigmoid(soft) : resizeBicubic(soft, [h * 2 ** i, w * 2 ** i]);
        }
        const a = s ? tf.mul(maps[i], s) : maps[i];
        const b = s ? tf.mul(textures[i], s) : textures[i];
        total = tf.add(total, featureDistance(a, b, criterion));
      }
      return total;
    });
  }
}
