import * as tf from '@tensorflow/tfjs';

/**
 * MMagic's `GradientLoss` Sobel x kernel, row-major 3×3 taps for cross-correlation (PyTorch's and
 * TF.js's conv): `kx = [[1,0,−1],[2,0,−2],[1,0,−1]]`. The fused Sobel kernels
 * (src/backends/fused) run it in separable form: the horizontal difference of `[1, 2, 1]`ᵀ.
 */
const SOBEL_X: readonly number[] = [1, 0, -1, 2, 0, -2, 1, 0, -1];

/**
 * MMagic's Sobel y kernel, as {@link SOBEL_X}: `ky = [[1,2,1],[0,0,0],[−1,−2,−1]]`, separable as
 * the horizontal smoothing `[1, 2, 1]` of the vertical difference.
 */
const SOBEL_Y: readonly number[] = [1, 2, 1, 0, 0, 0, -1, -2, -1];

/**
 * Per-channel Sobel responses with zero padding 1, as taped ops: genloss's one differentiable
 * Sobel op, public as `sobel`, used by `gradientLoss` and by the fused Sobel kernels' gradients,
 * which is why it lives below both.
 *
 * @param x N×H×W×C.
 * @returns `[gx, gy]`, each N×H×W×C.
 */
export function sobel(x: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => {
    // Channels become batch entries, so one 1-channel filter serves every channel; two
    // single-output convs avoid splitting a 2-output one (a rank-5 transpose and an unstack).
    const planes = (
      c === 1 ? x : tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c, h, w, 1])
    ) as tf.Tensor4D;
    const respond = (k: readonly number[]) => {
      const r = tf.conv2d(planes, tf.tensor4d(k as number[], [3, 3, 1, 1]), 1, 'same');
      return (c === 1 ? r : tf.transpose(tf.reshape(r, [n, c, h, w]), [0, 2, 3, 1])) as tf.Tensor4D;
    };
    return [respond(SOBEL_X), respond(SOBEL_Y)];
  });
}
