import * as tf from '@tensorflow/tfjs';

/**
 * MMagic's `GradientLoss` Sobel kernels as 3×3×1×1 HWIO filters for cross-correlation (PyTorch's
 * and TF.js's conv): `kx = [[1,0,−1],[2,0,−2],[1,0,−1]]`, `ky = [[1,2,1],[0,0,0],[−1,−2,−1]]`.
 */
const SOBEL_X = [1, 0, -1, 2, 0, -2, 1, 0, -1];
const SOBEL_Y = [1, 2, 1, 0, 0, 0, -1, -2, -1];

/**
 * Per-channel Sobel responses with zero padding 1.
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
    const respond = (k: number[]) => {
      const r = tf.conv2d(planes, tf.tensor4d(k, [3, 3, 1, 1]), 1, 'same');
      return (c === 1 ? r : tf.transpose(tf.reshape(r, [n, c, h, w]), [0, 2, 3, 1])) as tf.Tensor4D;
    };
    return [respond(SOBEL_X), respond(SOBEL_Y)];
  });
}
