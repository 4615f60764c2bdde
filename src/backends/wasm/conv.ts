import * as tf from '@tensorflow/tfjs';
import {
  callKernel,
  heapF32,
  offsetOf,
  release,
  type TensorInfo,
  type WasmBackend,
} from './heap.ts';

// Both convolution gradients are built from the wasm backend's forward `Conv2D`, which runs on
// XNNPACK (SIMD): it is 5–15× faster than the backend's own `Conv2DBackpropInput` loop, and the
// backend has no `Conv2DBackpropFilter` at all.

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: tf.Conv2DBackpropInputAttrs | tf.Conv2DBackpropFilterAttrs,
): tf.backend_util.Conv2DInfo {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`genloss wasm conv gradients: only NHWC, got ${attrs.dataFormat}`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** Slices `t` (rank 4) to rows `[r0, r1)` and columns `[c0, c1)`, or returns null if it is whole. */
function cropRowsCols(
  backend: WasmBackend,
  t: TensorInfo,
  [r0, r1]: [number, number],
  [c0, c1]: [number, number],
): TensorInfo | null {
  const [n, h, w, c] = t.shape;
  if (r0 === 0 && r1 === h && c0 === 0 && c1 === w) return null;
  return callKernel(
    backend,
    tf.Slice,
    { x: t },
    { begin: [0, r0, c0, 0], size: [n, r1 - r0, c1 - c0, c] },
  );
}

/**
 * `Conv2DBackpropFilter`: `dW[kh, kw, ci, co] = Σ_{n, i, j} x[n, s·i + kh − top, s·j + kw − left, ci]
 * · dy[n, i, j, co]`. That is a convolution of `x` viewed as `[ci, H, W, n]` (channels as
 * batch, batch as channels) with `dy` viewed as the filter `[oh, ow, n, co]`, dilated by the
 * stride, with the forward padding: its output is `[ci, kh, kw, co]`. Rows of `x` no window reads
 * are cropped first, as XNNPACK takes no negative padding.
 */
export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const wasm = backend as unknown as WasmBackend;
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const info = convInfo(x.shape, a.filterShape, a);
    const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
    const { outHeight: oh, outWidth: ow, inHeight, inWidth, padInfo } = info;
    // Rows read by some window: [−top, kh − 1 + sh·(oh − 1) − top].
    const rowsRead = kh + sh * (oh - 1) - padInfo.top;
    const colsRead = kw + sw * (ow - 1) - padInfo.left;
    const rows = Math.min(inHeight, rowsRead);
    const cols = Math.min(inWidth, colsRead);
    const cropped = cropRowsCols(wasm, x, [0, rows], [0, cols]);
    const xT = callKernel(wasm, tf.Transpose, { x: cropped ?? x }, { perm: [3, 1, 2, 0] });
    const dyT = callKernel(wasm, tf.Transpose, { x: dy }, { perm: [1, 2, 0, 3] });
    const conv = callKernel(
      wasm,
      tf.Conv2D,
      { x: xT, filter: dyT },
      {
        strides: 1,
        dilations: [sh, sw],
        pad: [
          [0, 0],
          [padInfo.top, rowsRead - rows],
          [padInfo.left, colsRead - cols],
          [0, 0],
        ],
        dataFormat: 'NHWC',
      },
    );
    const out = callKernel(wasm, tf.Transpose, { x: conv }, { perm: [1, 2, 0, 3] });
    release(wasm, xT, dyT, conv);
    if (cropped) release(wasm, cropped);
    return out;
  },
};

/**
 * How one spatial axis of a strided transposed convolution splits into phases. Output position
 * `t = i + pad` of the padded input frame gets `Σ_m dy[q − m] · w[r + s·m]` with `t = s·q + r`:
 * for each phase `r` a stride-1 correlation of `dy` with the taps `r, r + s, …` reversed. All
 * phases share one convolution: each has `taps = ⌈K/s⌉` slots (missing taps are zero), and its
 * outputs `q ∈ [q0, q0 + count)` cover the input.
 */
interface AxisPlan {
  taps: number;
  q0: number;
  count: number;
  padBefore: number;
  padAfter: number;
  dyStart: number;
  dyEnd: number;
  /** Input index `i` is frame row `i + offset` of the interleaved output. */
  offset: number;
}

function axisPlan(inSize: number, dySize: number, k: number, s: number, pad: number): AxisPlan {
  const taps = Math.ceil(k / s);
  const q0 = Math.floor(pad / s);
  const count = Math.ceil((pad + inSize) / s) - q0;
  let padBefore = taps - 1 - q0;
  let dyStart = 0;
  if (padBefore < 0) {
    dyStart = -padBefore;
    padBefore = 0;
  }
  let dyEnd = dySize;
  let padAfter = count + taps - 1 - padBefore - (dyEnd - dyStart);
  if (padAfter < 0) {
    dyEnd += padAfter;
    padAfter = 0;
  }
  return { taps, q0, count, padBefore, padAfter, dyStart, dyEnd, offset: pad - q0 * s };
}

/**
 * `Conv2DBackpropInput` (the input gradient of `conv2d`, and `conv2dTranspose`) as one forward
 * XNNPACK convolution of `dy` with a phase filter `[⌈kh/sh⌉, ⌈kw/sw⌉, co, sh·sw·ci]` (taps
 * reversed, in and out channels swapped, one group of `ci` outputs per stride phase), followed
 * by an interleave of the phases into `dx`. With stride 1 there is one phase and no interleave
 * when the frame is the input. The MAC count equals the forward convolution's (no zero
 * insertion).
 */
export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const wasm = backend as unknown as WasmBackend;
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const inputShape = a.inputShape as number[];
    const info = convInfo(inputShape, filter.shape, a);
    const [batch, inHeight, inWidth, inChannels] = inputShape;
    const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
    const outChannels = info.outChannels;
    const rows = axisPlan(inHeight, info.outHeight, kh, sh, info.padInfo.top);
    const cols = axisPlan(inWidth, info.outWidth, kw, sw, info.padInfo.left);
    const phases = sh * sw;
    const phaseChannels = phases * inChannels;

    const dx = wasm.makeOutput(inputShape, 'float32');
    if (rows.dyEnd <= rows.dyStart || cols.dyEnd <= cols.dyStart) {
      heapF32(wasm).fill(0, offsetOf(wasm, dx) / 4, offsetOf(wasm, dx) / 4 + sizeOf(inputShape));
      return dx;
    }

    const phaseFilter = wasm.makeOutput(
      [rows.taps, cols.taps, outChannels, phaseChannels],
      'float32',
    );
    fillPhaseFilter(wasm, filter, phaseFilter, rows.taps, cols.taps, sh, sw);
    const cropped = cropRowsCols(wasm, dy, [rows.dyStart, rows.dyEnd], [cols.dyStart, cols.dyEnd]);
    const frame = callKernel(
      wasm,
      tf.Conv2D,
      { x: cropped ?? dy, filter: phaseFilter },
      {
        strides: 1,
        dilations: 1,
        pad: [
          [0, 0],
          [rows.padBefore, rows.padAfter],
          [cols.padBefore, cols.padAfter],
          [0, 0],
        ],
        dataFormat: 'NHWC',
      },
    );
    release(wasm, phaseFilter);
    if (cropped) release(wasm, cropped);

    if (
      phases === 1 &&
      rows.offset === 0 &&
      cols.offset === 0 &&
      rows.count === inHeight &&
      cols.count === inWidth
    ) {
      release(wasm, dx);
      return frame;
    }
    // dx[b, i, j, :] = frame[b, (i + offH) / sh, (j + offW) / sw, phase(i, j) · ci …].
    const heap = heapF32(wasm);
    const src = offsetOf(wasm, frame) / 4;
    const dst = offsetOf(wasm, dx) / 4;
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < inHeight; i++) {
        const t = i + rows.offset;
        const q = Math.floor(t / sh);
        const rowPhase = t - q * sh;
        const rowBase = src + (b * rows.count + q) * cols.count * phaseChannels;
        let out = dst + (b * inHeight + i) * inWidth * inChannels;
        for (let j = 0; j < inWidth; j++) {
          const u = j + cols.offset;
          const p = Math.floor(u / sw);
          const from = rowBase + p * phaseChannels + (rowPhase * sw + (u - p * sw)) * inChannels;
          heap.copyWithin(out, from, from + inChannels);
          out += inChannels;
        }
      }
    }
    release(wasm, frame);
    return dx;
  },
};

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * `F[jh, jw, co, (rh·sw + rw)·ci + c] = W[rh + sh·(tapsH − 1 − jh), rw + sw·(tapsW − 1 − jw), c, co]`,
 * zero where that tap is outside the filter.
 */
function fillPhaseFilter(
  wasm: WasmBackend,
  filter: TensorInfo,
  phaseFilter: TensorInfo,
  tapsH: number,
  tapsW: number,
  sh: number,
  sw: number,
): void {
  const [kh, kw, ci, co] = filter.shape;
  const heap = heapF32(wasm);
  const w = offsetOf(wasm, filter) / 4;
  const f = offsetOf(wasm, phaseFilter) / 4;
  const phaseChannels = sh * sw * ci;
  heap.fill(0, f, f + tapsH * tapsW * co * phaseChannels);
  for (let jh = 0; jh < tapsH; jh++) {
    for (let rh = 0; rh < sh; rh++) {
      const y = rh + sh * (tapsH - 1 - jh);
      if (y >= kh) continue;
      for (let jw = 0; jw < tapsW; jw++) {
        for (let rw = 0; rw < sw; rw++) {
          const x = rw + sw * (tapsW - 1 - jw);
          if (x >= kw) continue;
          const phase = rh * sw + rw;
          const from = w + (y * kw + x) * ci * co;
          const to = f + (jh * tapsW + jw) * co * phaseChannels + phase * ci;
          for (let c = 0; c < ci; c++) {
            for (let o = 0; o < co; o++) heap[to + o * phaseChannels + c] = heap[from + c * co + o];
          }
        }
      }
    }
  }
}
