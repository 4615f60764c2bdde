import type * as tf from '@tensorflow/tfjs';
import { GenlossError } from '../core/errors.ts';
import { checkTensor } from '../core/validate.ts';
import { gaussianBlur } from '../ops/gaussian-blur.ts';

/**
 * StyleGAN3's blur radius for `sigma` (`run_D`'s `blur_size = floor(3σ)`): the filter has
 * `2·radius + 1` taps, and a radius of 0 means no blur.
 */
export function blurRadius(sigma: number): number {
  return Math.floor(sigma * 3);
}

/**
 * StyleGAN3's 1-D discriminator-input filter (`run_D`): `f[i] = 2^(−(i/σ)²)` for
 * `i = −r..r`, `r = ⌊3σ⌋`, normalised to sum 1 (empty when `r` is 0). Note the base 2: σ is the
 * distance at which a tap halves, not a standard deviation.
 */
export function discriminatorBlurFilter(sigma: number): number[] {
  const r = blurRadius(sigma);
  if (r <= 0) return [];
  const f = Array.from({ length: 2 * r + 1 }, (_, i) => 2 ** -(((i - r) / sigma) ** 2));
  const total = f.reduce((a, b) => a + b, 0);
  return f.map((v) => v / total);
}

/**
 * StyleGAN3's blur of the discriminator's input (`StyleGAN2Loss.run_D`: `upfirdn2d.filter2d` with
 * {@link discriminatorBlurFilter}): a separable per-channel filter along H and W, zero padding
 * `r = ⌊3σ⌋` on each side, so the output has the input's size. `2^(−(i/σ)²)` is the Gaussian
 * `exp(−i²/(2s²))` with `s = σ/√(2 ln 2)`, so this runs genloss's `gaussianBlur` (the op of
 * `GaussianBlur`) with kernel size `2r + 1` and that `s`. Differentiable at every order (the R1
 * penalty differentiates through it).
 *
 * @param x N×H×W×C float32.
 * @param sigma ≥ 0; when `⌊3σ⌋` is 0 there is no blur and a copy of `x` comes back.
 * @returns N×H×W×C.
 */
export function discriminatorBlur(x: tf.Tensor, sigma: number): tf.Tensor4D {
  const input = checkTensor('discriminatorBlur', 'x', x, 4) as tf.Tensor4D;
  if (!Number.isFinite(sigma) || sigma < 0) {
    throw new GenlossError(
      `discriminatorBlur: 'sigma' must be a finite number ≥ 0, got ${String(sigma)}`,
    );
  }
  const size = 2 * blurRadius(sigma) + 1;
  const s = sigma / Math.sqrt(2 * Math.LN2);
  // A radius of 0 gives size 1: gaussianBlur's 1×1 kernel is a copy.
  return gaussianBlur(
    input,
    { kernel_size: [size, size], sigma: size === 1 ? [1, 1] : [s, s] },
    'discriminatorBlur',
  );
}

/**
 * StyleGAN3's blur schedule (`StyleGAN2Loss.accumulate_gradients`):
 * `max(1 − cur_nimg / (blur_fade_kimg · 1000), 0) · blur_init_sigma` when `blur_fade_kimg > 0`,
 * else 0, with `cur_nimg = iteration · batchSize` (the real images seen before this step: the
 * model counts steps, StyleGAN3 counts images).
 */
export function blurSigma(
  iteration: number,
  batchSize: number,
  blurInitSigma: number,
  blurFadeKimg: number,
): number {
  if (!(blurFadeKimg > 0)) return 0;
  const curNimg = iteration * batchSize;
  return Math.max(1 - curNimg / (blurFadeKimg * 1e3), 0) * blurInitSigma;
}
