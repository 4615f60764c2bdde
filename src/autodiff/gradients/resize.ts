import * as tf from '@tensorflow/tfjs';

// Resizing is separable and linear: y = A_h · x · A_wᵀ per image and channel, with one
// interpolation matrix per axis. Its exact adjoint is dx = A_hᵀ · dy · A_w, done with matMul so
// that every higher order follows from matMul's own gradient. The matrices are dense
// (O(in·out) per axis), which is cheap for discriminator-sized maps.

type Weights = (outIndex: number, add: (inIndex: number, weight: number) => void) => void;

/**
 * `ResizeBilinear`: the exact adjoint above. TF.js's `ResizeBilinearGrad` ignores
 * `halfPixelCenters` (53–98 % error at first order, on every backend; PyTorch's
 * `align_corners=False`), and has no gradient itself.
 */
export const resizeBilinearGradConfig: tf.GradConfig = {
  kernelName: tf.ResizeBilinear,
  inputsToSave: ['images'],
  gradFunc: (dy, [images], attrs) => {
    const { alignCorners, halfPixelCenters } = attrs as unknown as tf.ResizeBilinearAttrs;
    const axis = (inSize: number, outSize: number): Weights => {
      const ratio = sizeRatio(inSize, outSize, alignCorners);
      // The index rule of TF.js's ResizeBilinear kernel.
      return (r, add) => {
        const source = halfPixelCenters ? ratio * (r + 0.5) - 0.5 : ratio * r;
        const low = Math.max(0, Math.floor(source));
        const high = Math.min(inSize - 1, Math.ceil(source));
        const frac = source - low;
        add(low, 1 - frac);
        add(high, frac);
      };
    };
    return { images: () => resizeAdjoint(dy as tf.Tensor, images.shape, axis) };
  },
};

/**
 * `ResizeNearestNeighbor`: the exact adjoint above with one-hot rows. TF.js's cpu
 * `ResizeNearestNeighborGrad` is wrong whenever the batch is larger than 1, and has no gradient.
 */
export const resizeNearestNeighborGradConfig: tf.GradConfig = {
  kernelName: tf.ResizeNearestNeighbor,
  inputsToSave: ['images'],
  gradFunc: (dy, [images], attrs) => {
    const { alignCorners, halfPixelCenters } = attrs as unknown as tf.ResizeNearestNeighborAttrs;
    const axis = (inSize: number, outSize: number): Weights => {
      const ratio = sizeRatio(inSize, outSize, alignCorners);
      // The index rule of TF.js's ResizeNearestNeighbor kernel.
      return (r, add) => {
        const source = halfPixelCenters ? ratio * (r + 0.5) : ratio * r;
        const nearest = Math.min(
          inSize - 1,
          alignCorners ? Math.round(source) : Math.floor(source),
        );
        add(halfPixelCenters ? Math.max(0, nearest) : nearest, 1);
      };
    };
    return { images: () => resizeAdjoint(dy as tf.Tensor, images.shape, axis) };
  },
};

/** `in/out` size ratio of TF.js's resize kernels (corner-aligned: `(in−1)/(out−1)`). */
function sizeRatio(inSize: number, outSize: number, alignCorners: boolean): number {
  return alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
}

/** `dx = A_hᵀ · dy · A_w` for NHWC `dy`, with `A` built row by row from `weights`. */
function resizeAdjoint(
  dy: tf.Tensor,
  imagesShape: number[],
  weights: (inSize: number, outSize: number) => Weights,
): tf.Tensor {
  const [, inHeight, inWidth] = imagesShape;
  const [, outHeight, outWidth] = dy.shape;
  const alongHeight = applyAlongAxis(dy, transposedMatrix(inHeight, outHeight, weights), 1);
  return applyAlongAxis(alongHeight, transposedMatrix(inWidth, outWidth, weights), 2);
}

/** `Aᵀ` as an `[inSize, outSize]` tensor, where `A[r, ·]` are the weights of output `r`. */
function transposedMatrix(
  inSize: number,
  outSize: number,
  weights: (inSize: number, outSize: number) => Weights,
): tf.Tensor2D {
  const values = new Float32Array(inSize * outSize);
  const row = weights(inSize, outSize);
  for (let r = 0; r < outSize; r++) {
    row(r, (i, w) => {
      values[i * outSize + r] += w;
    });
  }
  return tf.tensor2d(values, [inSize, outSize]);
}

/** `out[…, i, …] = Σ_r m[i, r] · t[…, r, …]` along `axis`: transpose it first, matMul, back. */
function applyAlongAxis(t: tf.Tensor, m: tf.Tensor2D, axis: number): tf.Tensor {
  const order = [axis, ...t.shape.map((_, k) => k).filter((k) => k !== axis)];
  const moved = tf.transpose(t, order);
  const [rows, ...rest] = moved.shape;
  const product = tf.matMul(m, tf.reshape(moved, [rows, -1]));
  const inverse = order.map((_, k) => order.indexOf(k));
  return tf.transpose(tf.reshape(product, [m.shape[0], ...rest]), inverse);
}
