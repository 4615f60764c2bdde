import * as tf from '@tensorflow/tfjs';

/**
 * `AvgPool`: `dx = Σ_k placeₖ(dy / count)` over the window offsets `k`, where `count` is the
 * number of real (unpadded) pixels in each window, the divisor of TF.js's forward kernel, and
 * `placeₖ` is the adjoint of reading the strided offset-`k` grid. TF.js calls `AvgPoolGrad`,
 * which has no gradient and on cpu divides by the full window size, so its first-order gradient
 * is wrong at padded borders ('same'). Ours is linear in `dy` through pad/slice/reshape only, so
 * every order is exact.
 */
export const avgPoolGradConfig: tf.GradConfig = {
  kernelName: tf.AvgPool,
  inputsToSave: ['x'],
  gradFunc: (dy, [x], attrs) => {
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.AvgPoolAttrs;
    return {
      x: () => {
        const grid = windowGrid(poolInfo(x, filterSize, strides, pad, dimRoundingMode));
        const [, height, width] = x.shape;
        const inside = tf.pad(tf.ones([1, height, width, 1]), grid.paddings);
        const count = tf.addN(grid.offsets.map(([i, j]) => readGrid(inside, grid, i, j)));
        const share = tf.div(dy as tf.Tensor, count);
        const parts = grid.offsets.map(([i, j]) => placeGrid(share, grid, i, j));
        return unpad(tf.addN(parts), grid, x.shape);
      },
    };
  },
};

/**
 * `MaxPool`: `dx = Σ_k placeₖ(maskₖ ⊙ dy)` over the window offsets `k`, where `maskₖ` marks the
 * first position (in scan order, as TF.js cpu and PyTorch) of each window that equals the
 * output. TF.js calls `MaxPoolGrad`, which has no gradient (and is wrong on wasm for batch ≥ 2).
 * Ours is linear in `dy` with a constant mask, through pad/slice/reshape only, so every order is
 * exact and no pooling-gradient kernel is needed on any backend.
 */
export const maxPoolGradConfig: tf.GradConfig = {
  kernelName: tf.MaxPool,
  inputsToSave: ['x'],
  outputsToSave: [true],
  gradFunc: (dy, [x, y], attrs) => {
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolAttrs;
    return {
      x: () => {
        const grid = windowGrid(poolInfo(x, filterSize, strides, pad, dimRoundingMode));
        const padded = tf.pad(x, grid.paddings, Number.NEGATIVE_INFINITY);
        let taken: tf.Tensor = tf.zerosLike(y);
        const parts = grid.offsets.map(([i, j]) => {
          const isMax = tf.cast(tf.equal(readGrid(padded, grid, i, j), y), 'float32');
          const mask = tf.mul(isMax, tf.sub(1, taken));
          taken = tf.add(taken, mask);
          return placeGrid(tf.mul(mask, dy as tf.Tensor), grid, i, j);
        });
        return unpad(tf.addN(parts), grid, x.shape);
      },
    };
  },
};

function poolInfo(
  x: tf.Tensor,
  filterSize: [number, number] | number,
  strides: [number, number] | number,
  pad: tf.MaxPoolAttrs['pad'],
  dimRoundingMode: tf.MaxPoolAttrs['dimRoundingMode'],
): tf.backend_util.Conv2DInfo {
  const shape = x.shape as [number, number, number, number];
  return tf.backend_util.computePool2DInfo(shape, filterSize, strides, 1, pad, dimRoundingMode);
}

/** The padded frame of a 2-D window op, and the window offsets in scan order. */
interface WindowGrid {
  paddings: [number, number][];
  height: number;
  width: number;
  outHeight: number;
  outWidth: number;
  strideHeight: number;
  strideWidth: number;
  offsets: [number, number][];
}

/**
 * Window offset `(i, j)` reads rows `i + s·r` and columns `j + s·c` of the padded input. The
 * frame holds the op's own padding plus enough at the bottom/right that every offset's grid
 * spans whole strides.
 */
function windowGrid(info: tf.backend_util.Conv2DInfo): WindowGrid {
  const { padInfo, strideHeight, strideWidth, outHeight, outWidth } = info;
  const { inHeight, inWidth, filterHeight, filterWidth } = info;
  const height = Math.max(
    inHeight + padInfo.top + padInfo.bottom,
    filterHeight - 1 + strideHeight * outHeight,
  );
  const width = Math.max(
    inWidth + padInfo.left + padInfo.right,
    filterWidth - 1 + strideWidth * outWidth,
  );
  const offsets: [number, number][] = [];
  for (let i = 0; i < filterHeight; i++) {
    for (let j = 0; j < filterWidth; j++) offsets.push([i, j]);
  }
  return {
    paddings: [
      [0, 0],
      [padInfo.top, height - inHeight - padInfo.top],
      [padInfo.left, width - inWidth - padInfo.left],
      [0, 0],
    ],
    height,
    width,
    outHeight,
    outWidth,
    strideHeight,
    strideWidth,
    offsets,
  };
}

/**
 * `t[:, i + s·r, j + s·c, :]` for r < outHeight, c < outWidth: slice the block, then take the
 * first row of each row stride and the first column of each column stride. Every op stays at
 * rank 4: TF.js's packed WebGL pad and slice shaders compare coordinates with `lessThan`, which
 * GLSL has only up to 4 components, so a rank-6 view fails to compile there.
 */
function readGrid(t: tf.Tensor, g: WindowGrid, i: number, j: number): tf.Tensor {
  const [n, , , c] = t.shape;
  const { outHeight: h, outWidth: w, strideHeight: sh, strideWidth: sw } = g;
  const block = tf.slice(t, [0, i, j, 0], [n, h * sh, w * sw, c]);
  const rows = tf.slice(tf.reshape(block, [n, h, sh, w * sw * c]), 0, [n, h, 1, w * sw * c]);
  const cols = tf.slice(tf.reshape(rows, [n * h, w, sw, c]), 0, [n * h, w, 1, c]);
  return tf.reshape(cols, [n, h, w, c]);
}

/**
 * The adjoint of {@link readGrid}: writes `v` on the offset-`(i, j)` grid of a zero frame,
 * spreading columns then rows apart with rank-4 pads (as {@link readGrid}, for WebGL).
 */
function placeGrid(v: tf.Tensor, g: WindowGrid, i: number, j: number): tf.Tensor {
  const [n, , , c] = v.shape;
  const { outHeight: h, outWidth: w, strideHeight: sh, strideWidth: sw } = g;
  const cols = tf.pad(tf.reshape(v, [n * h, w, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  const rows = tf.pad(tf.reshape(cols, [n, h, 1, w * sw * c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
  ]);
  return tf.pad(tf.reshape(rows, [n, h * sh, w * sw, c]), [
    [0, 0],
    [i, g.height - i - h * sh],
    [j, g.width - j - w * sw],
    [0, 0],
  ]);
}

/** Crops the op's padding off a frame-shaped gradient. */
function unpad(t: tf.Tensor, g: WindowGrid, shape: number[]): tf.Tensor {
  const [, [top], [left]] = g.paddings;
  return tf.slice(t, [0, top, left, 0], shape);
}
