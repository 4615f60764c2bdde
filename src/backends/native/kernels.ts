import * as tf from '@tensorflow/tfjs';
import {
  heapF32,
  heapOf,
  offsetOf,
  replacingKernel,
  type TensorInfo,
  type WasmBackend,
} from '../wasm/heap.ts';
import type { NativeAddon, NativeOperator } from './addon.ts';

/** The wasm backend as the native kernels use it: its tensors' ids are never reused. */
interface NativeWasmBackend extends WasmBackend {
  dataIdMap: {
    get(dataId: tf.DataId): { memoryOffset: number; id: number } | undefined;
    /** Unlike `get`, never moves the data in from another backend. */
    has(dataId: tf.DataId): boolean;
  };
}

/**
 * XNNPACK operators with packed filters (and biases), keyed by those tensors' ids and the
 * convolution's parameters. A wasm tensor's data never changes and its id is never given to
 * another tensor (an optimizer step makes new weight tensors), so an entry cannot serve stale
 * weights; entries one of whose tensors is gone are freed on the next insertion, the least
 * recently used beyond `capacity`. With capacity 0 every operator is packed, run and freed at once.
 */
class OperatorCache {
  private readonly entries = new Map<string, { dataIds: tf.DataId[]; op: NativeOperator }>();

  constructor(
    private readonly addon: NativeAddon,
    private readonly backend: NativeWasmBackend,
    private readonly capacity: number,
  ) {}

  run<T>(
    weights: TensorInfo[],
    params: string,
    create: () => NativeOperator,
    use: (op: NativeOperator) => T,
  ): T {
    if (this.capacity === 0) {
      const op = create();
      try {
        return use(op);
      } finally {
        this.addon.release(op);
      }
    }
    const ids = weights.map((t) => this.backend.dataIdMap.get(t.dataId)?.id);
    const key = `${params}@${ids.join(',')}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      this.evict();
      entry = { dataIds: weights.map((t) => t.dataId), op: create() };
    } else {
      this.entries.delete(key);
    }
    this.entries.set(key, entry);
    return use(entry.op);
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    for (const { op } of this.entries.values()) this.addon.release(op);
    this.entries.clear();
  }

  private evict(): void {
    for (const [key, { dataIds, op }] of this.entries) {
      if (!dataIds.every((dataId) => this.backend.dataIdMap.has(dataId))) {
        this.addon.release(op);
        this.entries.delete(key);
      }
    }
    for (const [key, { op }] of this.entries) {
      if (this.entries.size < this.capacity) break;
      this.addon.release(op);
      this.entries.delete(key);
    }
  }
}

/** The native kernel configs and their operator caches (one per wasm backend instance). */
export interface NativeKernels {
  configs: tf.KernelConfig[];
  /** Operators cached now, over every backend instance. */
  cachedOperators(): number;
  /** Frees every cached operator. */
  clearCache(): void;
}

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: { strides: number | [number, number]; pad: unknown; dimRoundingMode?: unknown },
  dilations: number | [number, number],
  dataFormat: 'NHWC' | 'NCHW' | undefined,
  depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    dilations,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
    depthwise,
    tf.backend_util.convertConv2DDataFormat(dataFormat ?? 'NHWC'),
  );
}

/** Whether XNNPACK can run this convolution (else the previous wasm kernel does). */
function nativeShape(info: tf.backend_util.Conv2DInfo, ...dtypes: tf.DataType[]): boolean {
  const { padInfo: p, dataFormat } = info;
  const sizes = [info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outChannels];
  return (
    dataFormat === 'channelsLast' &&
    dtypes.every((dtype) => dtype === 'float32') &&
    sizes.every((n) => n > 0) &&
    info.outHeight > 0 &&
    info.outWidth > 0 &&
    Math.min(p.top, p.bottom, p.left, p.right) >= 0
  );
}

function padKey(info: tf.backend_util.Conv2DInfo): string {
  const { padInfo: p } = info;
  return (
    `${info.filterHeight}x${info.filterWidth}x${info.inChannels}x${info.outChannels}` +
    `/p${p.top},${p.right},${p.bottom},${p.left}/s${info.strideHeight},${info.strideWidth}`
  );
}

/**
 * `out` when the addon found it finite; else frees it and returns `fallback()`: XNNPACK's output
 * clamp turns NaN into ±∞, so non-finite results come from the wasm kernel, as TF.js gives them
 * without the addon.
 */
function finiteOr(
  backend: WasmBackend,
  out: TensorInfo,
  finite: boolean,
  fallback: () => TensorInfo,
): TensorInfo {
  if (finite) return out;
  backend.disposeData(out.dataId);
  return fallback();
}

const flag = (value: boolean): 0 | 1 => (value ? 1 : 0);

/**
 * The filter arguments `createConv` and `createDeconv` share: kh, kw, ci, co (a depthwise
 * convolution's multiplier), the padding (top, right, bottom, left) and the strides.
 */
function filterArgs(info: tf.backend_util.Conv2DInfo, depthwise: boolean) {
  const { padInfo: p } = info;
  const co = depthwise ? info.outChannels / info.inChannels : info.outChannels;
  return [
    ...[info.filterHeight, info.filterWidth, info.inChannels, co],
    ...[p.top, p.right, p.bottom, p.left, info.strideHeight, info.strideWidth],
  ] as [number, number, number, number, number, number, number, number, number, number];
}

/** The first and last-plus-one float index of the float32 tensor `t` in the wasm heap. */
function span(backend: WasmBackend, t: TensorInfo): [number, number] {
  const start = offsetOf(backend, t) / 4;
  return [start, start + tf.util.sizeFromShape(t.shape)];
}

/** Whether the float32 tensor `t` holds only zeros (±0); stops at its first other value. */
function allZero(backend: WasmBackend, t: TensorInfo): boolean {
  const heap = heapF32(backend);
  const [start, end] = span(backend, t);
  for (let i = start; i < end; i++) if (heap[i] !== 0) return false;
  return true;
}

/** Whether the float32 tensor `t` holds no NaN or ±Inf; stops at its first. */
function allFinite(backend: WasmBackend, t: TensorInfo): boolean {
  const heap = heapF32(backend);
  const [start, end] = span(backend, t);
  for (let i = start; i < end; i++) if (heap[i] - heap[i] !== 0) return false;
  return true;
}

/**
 * A zero output of `shape` where the gradient `dy` is all zeros and the other operand `other`
 * is finite (its product with zeros is then exactly zero, as the convolution's sum would be), else
 * null. Second-order gradients through a piecewise-linear network send such zeros back through
 * every layer (the gradient of leaky ReLU's gradient w.r.t. its input): a gradient penalty's step
 * skips a third of its convolution time here. The check stops at dy's first non-zero value, so a
 * dense dy costs nothing.
 */
function zeroGradient(
  backend: WasmBackend,
  dy: TensorInfo,
  other: TensorInfo,
  shape: number[],
): TensorInfo | null {
  if (!allZero(backend, dy) || !allFinite(backend, other)) return null;
  const out = backend.makeOutput(shape, 'float32');
  const [start, end] = span(backend, out);
  heapF32(backend).fill(0, start, end);
  return out;
}

/** A float32 bias of `size` entries, as the wasm FusedConv2D and _FusedMatMul take it. */
const fitsBias = (bias: TensorInfo | undefined, size: number): boolean =>
  bias === undefined ||
  (bias.dtype === 'float32' && bias.shape.length === 1 && bias.shape[0] === size);

/** The operands of a matrix product as the addon takes them, or null where it cannot run it. */
function matMulSizes(
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): { batchA: number; batchB: number; m: number; k: number; n: number; outShape: number[] } | null {
  const [ra, rb] = [a.shape.length, b.shape.length];
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || ra < 2 || rb < 2) return null;
  const m = a.shape[transposeA ? ra - 1 : ra - 2];
  const k = a.shape[transposeA ? ra - 2 : ra - 1];
  const n = b.shape[transposeB ? rb - 2 : rb - 1];
  const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);
  const [outerA, outerB] = [a.shape.slice(0, -2), b.shape.slice(0, -2)];
  const [batchA, batchB] = [size(outerA), size(outerB)];
  const batch = Math.max(batchA, batchB);
  const sameOuter = outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]);
  // One batch broadcast against the other (or equal batches), the output's batch entries in the
  // order of the larger operand's; other broadcasts go to the wasm kernel.
  const broadcastable = sameOuter || batchA === 1 || batchB === 1;
  if (
    !broadcastable ||
    k !== b.shape[transposeB ? rb - 1 : rb - 2] ||
    [m, k, n, batchA, batchB].some((d) => d === 0)
  ) {
    return null;
  }
  const outer = batchA === batch ? outerA : outerB;
  const rank = Math.max(outerA.length, outerB.length);
  const padded = [...Array(rank - outer.length).fill(1), ...outer];
  return { batchA, batchB, m, k, n, outShape: [...padded, m, n] };
}

/**
 * Kernel configs for the wasm backend's `Conv2D`, `FusedConv2D`, `Conv2DBackpropInput`,
 * `Conv2DBackpropFilter`, their four depthwise counterparts (`DepthwiseConv2dNative`…, XNNPACK's
 * depthwise convolution and grouped deconvolution, a direct loop for the filter gradient),
 * `BatchMatMul` and `_FusedMatMul` that run on the addon, each handing
 * what it cannot run (NCHW, non-float32, empty tensors, negative padding, fused activations other
 * than linear, batch broadcasts other than one against many) or runs slower (single products of
 * fewer than 32 rows without a bias) to `previous` (the kernel it replaces), and so every
 * non-finite result (NaN or ±Inf in the output, see {@link finiteOr}):
 *
 * - `Conv2D`, `FusedConv2D`: `y = conv(x, W) (+ bias)` with W (and the bias) packed once per
 *   filter tensor (cached);
 * - `Conv2DBackpropInput`: `dx = deconv(dy, W)`, XNNPACK's deconvolution with W transposed to
 *   `[in, kh, kw, out]` (cached per filter tensor); the rows and columns the forward windows
 *   never read get 0;
 * - `Conv2DBackpropFilter`: `dW[y, t, c, o] = Σ_m x[m's input pixel under tap (y, t), c] ·
 *   dy[m, o]` summed directly in vector registers (output or input channels a multiple of 16,
 *   or few pixels); else `dW = im2col(x)ᵀ · dy`, or `conv(xᵀ, dyᵀ)` with x viewed as
 *   `[in, H, W, batch]` and dy as the filter `[out, oh, ow, batch]`, dilated by the stride (dy
 *   is new on every call: never cached);
 * - both gradients: zeros without a convolution where dy is all zeros and the other operand
 *   finite (`zeroGradient`);
 * - `BatchMatMul`, `_FusedMatMul`: `y[i] = op(a[i]) · op(b[i]) (+ bias)`, XNNPACK's
 *   fully-connected operator with b[i] as its weights (packed on every call: the product costs
 *   m times the packing).
 */
export function nativeKernels(
  addon: NativeAddon,
  previous: (kernelName: string) => tf.KernelConfig,
  cacheSize: number,
): NativeKernels {
  const caches = new Map<object, OperatorCache>();
  const cacheFor = (backend: NativeWasmBackend): OperatorCache => {
    let cache = caches.get(backend);
    if (cache === undefined) {
      cache = new OperatorCache(addon, backend, cacheSize);
      caches.set(backend, cache);
    }
    return cache;
  };

  /** `y = conv(x, W) (+ bias)` (depthwise or not), or null where the addon cannot run it. */
  const nativeConv =
    (depthwise: boolean) =>
    (
      backend: NativeWasmBackend,
      x: TensorInfo,
      filter: TensorInfo,
      bias: TensorInfo | undefined,
      attrs: tf.Conv2DAttrs,
      fallback: () => TensorInfo,
    ): TensorInfo | null => {
      const info = convInfo(
        x.shape,
        filter.shape,
        attrs,
        attrs.dilations ?? 1, // tf.layers.depthwiseConv2d passes null for the default.
        attrs.dataFormat,
        depthwise,
      );
      if (!nativeShape(info, x.dtype, filter.dtype) || !fitsBias(bias, info.outChannels))
        return null;
      const y = backend.makeOutput(info.outShape, 'float32');
      const weights = bias === undefined ? [filter] : [filter, bias];
      const finite = cacheFor(backend).run(
        weights,
        `${depthwise ? 'depthwise' : 'conv'}/${padKey(info)}/d${info.dilationHeight},${info.dilationWidth}/b${weights.length - 1}`,
        () =>
          addon.createConv(
            heapOf(backend),
            offsetOf(backend, filter),
            ...filterArgs(info, depthwise),
            info.dilationHeight,
            info.dilationWidth,
            flag(bias !== undefined),
            bias === undefined ? 0 : offsetOf(backend, bias),
            flag(depthwise),
          ),
        (op) =>
          addon.runConv(
            op,
            heapOf(backend),
            info.batchSize,
            info.inHeight,
            info.inWidth,
            offsetOf(backend, x),
            offsetOf(backend, y),
          ),
      );
      return finiteOr(backend, y, finite, fallback);
    };

  /** `y = op(a) · op(b) (+ bias)`, or null where the addon cannot run it. */
  const nativeMatMul = (
    backend: NativeWasmBackend,
    a: TensorInfo,
    b: TensorInfo,
    bias: TensorInfo | undefined,
    attrs: tf.BatchMatMulAttrs,
    fallback: () => TensorInfo,
  ): TensorInfo | null => {
    const sizes = matMulSizes(a, b, attrs.transposeA, attrs.transposeB);
    if (sizes === null || !fitsBias(bias, sizes.n)) return null;
    // TF.js-wasm's own XNNPACK product (one a, untransposed) keeps b packed between calls: with
    // few rows it wins (16×32 · 32×16384: 1.0 ms against 2.8 natively). Not with a bias, where
    // it is wrong for a transposed b.
    const wasmFast = Math.max(sizes.batchA, sizes.batchB) === 1 && !attrs.transposeA;
    if (wasmFast && sizes.m < 32 && bias === undefined) return null;
    const y = backend.makeOutput(sizes.outShape, 'float32');
    const finite = addon.matMul(
      heapOf(backend),
      offsetOf(backend, a),
      offsetOf(backend, b),
      offsetOf(backend, y),
      sizes.batchA,
      sizes.batchB,
      sizes.m,
      sizes.k,
      sizes.n,
      flag(attrs.transposeA),
      flag(attrs.transposeB),
      flag(bias !== undefined),
      bias === undefined ? 0 : offsetOf(backend, bias),
    );
    return finiteOr(backend, y, finite, fallback);
  };

  const replacing = (
    name: string,
    run: (args: Parameters<tf.KernelFunc>[0], fallback: () => TensorInfo) => TensorInfo | null,
  ) => replacingKernel(previous(name), run);

  /**
   * The plain kernel `plain` and its fused form `fused` (with a bias; only the linear activation
   * runs natively) over one native function, whose two operands are the inputs `names`.
   */
  const plainAndFused = (
    plain: string,
    fused: string,
    names: [string, string],
    native: (
      backend: NativeWasmBackend,
      first: TensorInfo,
      second: TensorInfo,
      bias: TensorInfo | undefined,
      attrs: tf.Conv2DAttrs & tf.BatchMatMulAttrs,
      fallback: () => TensorInfo,
    ) => TensorInfo | null,
  ): tf.KernelConfig[] => {
    const operands = (args: Parameters<tf.KernelFunc>[0]) =>
      [
        args.backend as unknown as NativeWasmBackend,
        args.inputs[names[0]] as TensorInfo,
        args.inputs[names[1]] as TensorInfo,
      ] as const;
    const attrsOf = (args: Parameters<tf.KernelFunc>[0]) =>
      args.attrs as unknown as tf.Conv2DAttrs & tf.BatchMatMulAttrs;
    return [
      replacing(plain, (args, fallback) =>
        native(...operands(args), undefined, attrsOf(args), fallback),
      ),
      replacing(fused, (args, fallback) => {
        const { bias, preluActivationWeights } = args.inputs;
        const { activation } = args.attrs as { activation?: string };
        if (activation !== 'linear' || preluActivationWeights != null) return null;
        return native(...operands(args), bias ?? undefined, attrsOf(args), fallback);
      }),
    ];
  };

  /** The input gradient of a convolution (depthwise or not), as the kernel `name`. */
  const inputGradient = (name: string, depthwise: boolean) =>
    replacing(name, (args, fallback) => {
      const backend = args.backend as unknown as NativeWasmBackend;
      const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
      const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
      const inputShape = attrs.inputShape as number[];
      const info = convInfo(inputShape, filter.shape, attrs, 1, attrs.dataFormat, depthwise);
      const { padInfo: p } = info;
      // The deconvolution's own size s·(oh − 1) + k − pads falls short of the input by fewer
      // than s rows (columns) unless the output size was rounded up (dimRoundingMode 'ceil').
      const shortH =
        info.inHeight -
        (info.strideHeight * (info.outHeight - 1) + info.filterHeight - p.top - p.bottom);
      const shortW =
        info.inWidth -
        (info.strideWidth * (info.outWidth - 1) + info.filterWidth - p.left - p.right);
      const fits =
        shortH >= 0 && shortH < info.strideHeight && shortW >= 0 && shortW < info.strideWidth;
      if (!fits || !nativeShape(info, dy.dtype, filter.dtype)) return null;
      const zeros = zeroGradient(backend, dy, filter, inputShape);
      if (zeros !== null) return zeros;
      const dx = backend.makeOutput(inputShape, 'float32');
      const finite = cacheFor(backend).run(
        [filter],
        `${depthwise ? 'depthwise-deconv' : 'deconv'}/${padKey(info)}`,
        () =>
          addon.createDeconv(
            heapOf(backend),
            offsetOf(backend, filter),
            ...filterArgs(info, depthwise),
            flag(depthwise),
          ),
        (op) =>
          addon.runDeconv(
            op,
            heapOf(backend),
            info.batchSize,
            info.outHeight,
            info.outWidth,
            info.inHeight,
            info.inWidth,
            offsetOf(backend, dy),
            offsetOf(backend, dx),
          ),
      );
      return finiteOr(backend, dx, finite, fallback);
    });

  /** The filter gradient of a convolution (depthwise or not), as the kernel `name`. */
  const filterGradient = (name: string, depthwise: boolean) =>
    replacing(name, (args, fallback) => {
      const backend = args.backend as unknown as NativeWasmBackend;
      const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
      const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      const info = convInfo(x.shape, attrs.filterShape, attrs, 1, attrs.dataFormat, depthwise);
      if (!nativeShape(info, x.dtype, dy.dtype)) return null;
      const zeros = zeroGradient(backend, dy, x, attrs.filterShape);
      if (zeros !== null) return zeros;
      const dw = backend.makeOutput(attrs.filterShape, 'float32');
      const run = depthwise ? addon.depthwiseBackpropFilter : addon.convBackpropFilter;
      const finite = run(
        heapOf(backend),
        offsetOf(backend, x),
        offsetOf(backend, dy),
        offsetOf(backend, dw),
        info.batchSize,
        info.inHeight,
        info.inWidth,
        info.inChannels,
        info.outHeight,
        info.outWidth,
        attrs.filterShape[3],
        info.filterHeight,
        info.filterWidth,
        info.strideHeight,
        info.strideWidth,
        info.padInfo.top,
        info.padInfo.left,
      );
      return finiteOr(backend, dw, finite, fallback);
    });

  return {
    configs: [
      ...plainAndFused(tf.Conv2D, tf.FusedConv2D, ['x', 'filter'], nativeConv(false)),
      inputGradient(tf.Conv2DBackpropInput, false),
      filterGradient(tf.Conv2DBackpropFilter, false),
      ...plainAndFused(
        tf.DepthwiseConv2dNative,
        tf.FusedDepthwiseConv2D,
        ['x', 'filter'],
        nativeConv(true),
      ),
      inputGradient(tf.DepthwiseConv2dNativeBackpropInput, true),
      filterGradient(tf.DepthwiseConv2dNativeBackpropFilter, true),
      ...plainAndFused(tf.BatchMatMul, tf._FusedMatMul, ['a', 'b'], nativeMatMul),
    ],
    cachedOperators: () => [...caches.values()].reduce((n, cache) => n + cache.size, 0),
    clearCache: () => {
      for (const cache of caches.values()) cache.clear();
    },
  };
}
