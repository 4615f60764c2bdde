import * as tf from '@tensorflow/tfjs';

/**
 * The Sobel kernels as a 3×3×1×2 HWIO filter for cross-correlation (PyTorch's and TF.js's conv):
 * output 0 is `kx = [[1,0,−1],[2,0,−2],[1,0,−1]]`, output 1 is `ky = [[1,2,1],[0,0,0],[−1,−2,−1]]`
 * — MMagic's `GradientLoss` kernels.
 */
const SOBEL_HWIO = [1, 1, 0, 2, -1, 1, 2, 0, 0, 0, -2, 0, 1, -1, 0, -2, -1, -1];

/**
 * Per-channel Sobel responses with zero padding 1.
 *
 * @param x N×H×W×C.
 * @returns `[gx, gy]`, each N×H×W×C.
 */
export function sobel(x: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => {
    const kernel = tf.tensor4d(SOBEL_HWIO, [3, 3, 1, 2]);
    const planes = c === 1 ? x : tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c, h, w, 1]);
    const responses = tf.conv2d(planes as tf.Tensor4D, kernel, 1, 'same');
    const back =
      c === 1 ? responses : tf.transpose(tf.reshape(responses, [n, c, h, w, 2]), [0, 2, 3, 1, 4]);
    const [gx, gy] = tf.unstack(back, back.rank - 1);
    return [gx.reshape([n, h, w, c]), gy.reshape([n, h, w, c])];
  });
}
