import * as tf from '@tensorflow/tfjs';

/**
 * `StridedSlice` has no gradient in TF.js. Ours scatters `dy` back into zeros: per axis, undo a
 * negative stride by reversing, spread the entries `stride` apart (reshape + pad), and pad to
 * the start offset, all taped ops. Axis bookkeeping (masks, ellipsis, new and shrunk axes)
 * comes from TF.js's own `slice_util.sliceInfo`, the one the kernels use.
 */
export const stridedSliceGradConfig: tf.GradConfig = {
  kernelName: tf.StridedSlice,
  inputsToSave: ['x'],
  gradFunc: (dy, [x], attrs) => {
    const a = attrs as unknown as tf.StridedSliceAttrs;
    return {
      x: () => {
        const info = tf.slice_util.sliceInfo(
          x.shape,
          a.begin,
          a.end,
          a.strides,
          a.beginMask,
          a.endMask,
          a.ellipsisMask,
          a.newAxisMask,
          a.shrinkAxisMask,
        );
        const counts = info.begin.map((b, d) =>
          Math.max(0, Math.ceil((info.end[d] - b) / info.strides[d])),
        );
        if (counts.includes(0)) return tf.zeros(x.shape, 'float32');
        let g = tf.reshape(dy as tf.Tensor, counts);
        const paddings = x.shape.map((size, d): [number, number] => {
          let start = info.begin[d];
          let stride = info.strides[d];
          if (stride < 0) {
            g = tf.reverse(g, d);
            start += stride * (counts[d] - 1);
            stride = -stride;
          }
          if (stride > 1) g = spreadAxis(g, d, stride);
          return [start, size - start - g.shape[d]];
        });
        return tf.pad(g, paddings);
      },
    };
  },
};

/**
 * Puts `stride − 1` zeros between consecutive entries of `t` along `axis`. `t` is viewed as
 * `[before, n, 1, after]`, so the pad and slice stay at rank ≤ 4 whatever `t`'s rank: TF.js's
 * packed WebGL pad shader compares coordinates with `lessThan`, which GLSL has only up to 4
 * components, so a rank-5 pad fails to compile there.
 */
function spreadAxis(t: tf.Tensor, axis: number, stride: number): tf.Tensor {
  const n = t.shape[axis];
  const before = sizeOf(t.shape.slice(0, axis));
  const after = sizeOf(t.shape.slice(axis + 1));
  const spread = tf.pad(tf.reshape(t, [before, n, 1, after]), [
    [0, 0],
    [0, 0],
    [0, stride - 1],
    [0, 0],
  ]);
  const kept = tf.slice(tf.reshape(spread, [before, n * stride, after]), 0, [
    before,
    (n - 1) * stride + 1,
    after,
  ]);
  return tf.reshape(kept, [
    ...t.shape.slice(0, axis),
    (n - 1) * stride + 1,
    ...t.shape.slice(axis + 1),
  ]);
}

/**
 * `Tile`: `dx` sums the copies of `dy`. Axis by axis, `dy` is viewed as
 * `[before, reps, n, after]` and the `reps` axis summed, which keeps every op at rank 4 (wasm's
 * transpose stops at rank 6). TF.js's gradient is a loop of slices that throws above rank 4.
 */
export const tileGradConfig: tf.GradConfig = {
  kernelName: tf.Tile,
  inputsToSave: ['x'],
  gradFunc: (dy, [x], attrs) => {
    const { reps } = attrs as unknown as tf.TileAttrs;
    return {
      x: () => {
        const summed = x.shape.reduce((g: tf.Tensor, n, d) => {
          if (reps[d] === 1) return g;
          const before = sizeOf(g.shape.slice(0, d));
          const after = sizeOf(g.shape.slice(d + 1));
          const copies = tf.sum(tf.reshape(g, [before, reps[d], n, after]), 1);
          return tf.reshape(copies, [...g.shape.slice(0, d), n, ...g.shape.slice(d + 1)]);
        }, dy as tf.Tensor);
        // A fresh tensor even when every rep is 1: the tape may dispose `dy` once used.
        return tf.reshape(summed, x.shape);
      },
    };
  },
};

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
