import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../core/errors.ts';
import { checkOptions, checkTensor, type Options } from '../core/validate.ts';

/** `[along H, along W]`. */
export type Pair = [number, number];

/** Options of {@link gaussianBlur} and `GaussianBlur`: MMagic's keys and defaults. */
export interface GaussianBlurOptions {
  /** `[kh, kw]`, odd positive integers; `kernel_size[0]` runs along H. Default `[71, 71]`. */
  kernel_size?: Pair;
  /** `[σh, σw]`, positive; `sigma[0]` runs along H. Default `[10, 10]`. */
  sigma?: Pair;
}

const show = (v: unknown) => {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

/**
 * Validates `kernel_size` and `sigma` (MMagic raises TypeError at construction; genloss a
 * `ConfigError` naming `owner`). Returns them as pairs.
 */
export function checkBlurOptions(
  owner: string,
  { kernel_size = [71, 71], sigma = [10, 10] }: Options<GaussianBlurOptions> = {},
): { kernel_size: Pair; sigma: Pair } {
  const isPair = (v: unknown): v is Pair =>
    Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number');
  if (!isPair(kernel_size) || !kernel_size.every((k) => Number.isInteger(k) && k > 0 && k % 2)) {
    throw new ConfigError(
      `${owner}: 'kernel_size' must be a pair [kh, kw] of odd positive integers (the blur pads ` +
        `(k − 1) / 2 on each side), got ${show(kernel_size)}`,
    );
  }
  if (!isPair(sigma) || !sigma.every((s) => Number.isFinite(s) && s > 0)) {
    throw new ConfigError(
      `${owner}: 'sigma' must be a pair [σh, σw] of positive numbers, got ${show(sigma)}`,
    );
  }
  return { kernel_size: [kernel_size[0], kernel_size[1]], sigma: [sigma[0], sigma[1]] };
}

/**
 * MMagic's 1-D Gaussian: `g[i] = exp(−(i − ⌊k/2⌋)² / (2σ²))` for `i = 0..k−1`, normalised to sum 1.
 */
export function gaussianKernel1d(size: number, sigma: number): number[] {
  const half = Math.floor(size / 2);
  const g = Array.from({ length: size }, (_, i) => Math.exp(-((i - half) ** 2) / (2 * sigma ** 2)));
  const total = g.reduce((a, b) => a + b, 0);
  return g.map((v) => v / total);
}

/**
 * MMagic's 2-D kernel `g_h ⊗ g_w` (outer product of the normalised 1-D kernels), `kh×kw`,
 * row-major. Axis 0 is H.
 */
export function gaussianKernel2d(kernel_size: Pair, sigma: Pair): number[][] {
  const gh = gaussianKernel1d(kernel_size[0], sigma[0]);
  const gw = gaussianKernel1d(kernel_size[1], sigma[1]);
  return gh.map((a) => gw.map((b) => a * b));
}

/**
 * Gaussian blur (MMagic `GaussianBlur.forward`): per-channel (depthwise) cross-correlation with
 * the kernel `g_h ⊗ g_w`, stride 1, zero padding `((kh−1)/2, (kw−1)/2)`, so the output has the
 * input's size. The 2-D kernel is separable, so it runs as an H pass and a W pass: the same
 * numbers (up to float32 rounding) at `kh + kw` instead of `kh·kw` multiplies per pixel.
 *
 * @param x N×H×W×C float32.
 * @param options `kernel_size` `[71, 71]`, `sigma` `[10, 10]`; index 0 acts along H.
 * @returns N×H×W×C.
 */
export function gaussianBlur(
  x: tf.Tensor,
  options?: Options<GaussianBlurOptions>,
  owner = 'gaussianBlur',
): tf.Tensor4D {
  const { kernel_size, sigma } = checkBlurOptions(
    owner,
    checkOptions('gaussianBlur', 2, options, 'gaussianBlur(x, {kernel_size, sigma})'),
  );
  const input = checkTensor(owner, 'x', x, 4) as tf.Tensor4D;
  const c = input.shape[3];
  const [kh, kw] = kernel_size;
  return tf.tidy(() => {
    const pass = (t: tf.Tensor4D, taps: number[], shape: [number, number]) => {
      const filter = tf.tile(tf.tensor4d(taps, [...shape, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
      // For stride 1 and an odd size, 'same' pads (k − 1) / 2 zeros on each side, as MMagic.
      return tf.depthwiseConv2d(t, filter, 1, 'same');
    };
    let out = input;
    if (kh > 1) out = pass(out, gaussianKernel1d(kh, sigma[0]), [kh, 1]);
    if (kw > 1) out = pass(out, gaussianKernel1d(kw, sigma[1]), [1, kw]);
    return out === input ? tf.clone(input) : out;
  });
}

/**
 * `GaussianBlur` (MMagic, which registers it in `MODELS`; in genloss it is an op, not a loss, so
 * it is exported but not in `LOSSES`). Config as MMagic: `kernel_size` `[71, 71]` and `sigma`
 * `[10, 10]`, index 0 along H; even or non-positive sizes, non-pairs and non-positive sigmas are
 * `ConfigError`s at construction. `forward(x)` blurs an N×H×W×C tensor (see {@link gaussianBlur}).
 */
export class GaussianBlur {
  readonly kernel_size: Pair;
  readonly sigma: Pair;

  constructor(options?: Options<GaussianBlurOptions>) {
    const checked = checkBlurOptions(
      'GaussianBlur',
      checkOptions('GaussianBlur', 1, options, 'new GaussianBlur({kernel_size, sigma})'),
    );
    this.kernel_size = checked.kernel_size;
    this.sigma = checked.sigma;
  }

  /** The 2-D kernel MMagic builds (`get_kernel`), kh×kw, axis 0 along H. */
  kernel(): number[][] {
    return gaussianKernel2d(this.kernel_size, this.sigma);
  }

  /**
   * @param x N×H×W×C float32.
   * @returns the blurred N×H×W×C tensor.
   */
  forward(x: tf.Tensor): tf.Tensor4D {
    return gaussianBlur(x, { kernel_size: this.kernel_size, sigma: this.sigma }, 'GaussianBlur');
  }
}
