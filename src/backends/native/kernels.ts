import * as tf from '@tensorflow/tfjs';
import { offsetOf, type TensorInfo, type WasmBackend } from '../wasm/heap.ts';
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
 * XNNPACK operators with packed filters, keyed by the filter tensor's id and the convolution's
 * parameters. A wasm tensor's data never changes and its id is never given to another tensor
 * (an optimizer step makes new weight tensors), so an entry cannot serve stale weights; entries
 * whose tensor is gone are freed on the next insertion, the least recently used beyond
 * `capacity`. With capacity 0 every operator is packed, run and freed at once.
 */
class OperatorCache {
  private readonly entries = new Map<string, { dataId: tf.DataId; op: NativeOperator }>();

  constructor(
    private readonly addon: NativeAddon,
    private readonly backend: NativeWasmBackend,
    private readonly capacity: number,
  ) {}

  run(
    filter: TensorInfo,
    params: string,
    create: () => NativeOperator,
    use: (op: NativeOperator) => void,
  ): void {
    if (this.capacity === 0) {
      const op = create();
      try {
        use(op);
      } finally {
        this.addon.release(op);
      }
      return;
    }
    const key = `${params}@${this.backend.dataIdMap.get(filter.dataId)?.id}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      this.evict();
      entry = { dataId: filter.dataId, op: create() };
    } else {
      this.entries.delete(key);
    }
    this.entries.set(key, entry);
    use(entry.op);
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    for (const { op } of this.entries.values()) this.addon.release(op);
    this.entries.clear();
  }

  private evict(): void {
    for (const [key, { dataId, op }] of this.entries) {
      if (!this.backend.dataIdMap.has(dataId)) {
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
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    dilations,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
    false,
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

const heapOf = (backend: WasmBackend): ArrayBuffer => backend.wasm.HEAPU8.buffer as ArrayBuffer;

/**
 * Whether every tensor is free of NaN and ±Inf. XNNPACK's output clamping turns NaN into a
 * bound, so non-finite inputs go to the wasm kernel: they give what TF.js gives without the addon.
 */
function allFinite(addon: NativeAddon, backend: WasmBackend, ...tensors: TensorInfo[]): boolean {
  return tensors.every((t) =>
    addon.allFinite(
      heapOf(backend),
      offsetOf(backend, t),
      t.shape.reduce((a, b) => a * b, 1),
    ),
  );
}

/**
 * Kernel configs for the wasm backend's `Conv2D`, `Conv2DBackpropInput` and
 * `Conv2DBackpropFilter` that run on the addon, each handing what XNNPACK cannot run (NCHW,
 * non-float32, empty tensors, negative padding, NaN or ±Inf values) to `previous` (the kernel it
 * replaces):
 *
 * - `Conv2D`: `y = conv(x, W)` with W packed once per filter tensor (cached);
 * - `Conv2DBackpropInput`: `dx = deconv(dy, W)`, XNNPACK's deconvolution with W transposed to
 *   `[in, kh, kw, out]` (cached per filter tensor); the rows and columns the forward windows
 *   never read get 0;
 * - `Conv2DBackpropFilter`: `dW = conv(xᵀ, dyᵀ)` with x viewed as `[in, H, W, batch]` and dy as
 *   the filter `[out, oh, ow, batch]`, dilated by the stride (dy is new on every call: never
 *   cached).
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
  const conv = previous(tf.Conv2D);
  const backpropInput = previous(tf.Conv2DBackpropInput);
  const backpropFilter = previous(tf.Conv2DBackpropFilter);

  const conv2D: tf.KernelConfig = {
    kernelName: tf.Conv2D,
    backendName: 'wasm',
    setupFunc: conv.setupFunc,
    kernelFunc: (args) => {
      const backend = args.backend as unknown as NativeWasmBackend;
      const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
      const attrs = args.attrs as unknown as tf.Conv2DAttrs;
      const info = convInfo(x.shape, filter.shape, attrs, attrs.dilations, attrs.dataFormat);
      if (!nativeShape(info, x.dtype, filter.dtype) || !allFinite(addon, backend, x, filter)) {
        return conv.kernelFunc(args);
      }
      const { padInfo: p } = info;
      const y = backend.makeOutput(info.outShape, 'float32');
      cacheFor(backend).run(
        filter,
        `conv/${padKey(info)}/d${info.dilationHeight},${info.dilationWidth}`,
        () =>
          addon.createConv(
            heapOf(backend),
            offsetOf(backend, filter),
            info.filterHeight,
            info.filterWidth,
            info.inChannels,
            info.outChannels,
            p.top,
            p.right,
            p.bottom,
            p.left,
            info.strideHeight,
            info.strideWidth,
            info.dilationHeight,
            info.dilationWidth,
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
      return y;
    },
  };

  const conv2DBackpropInput: tf.KernelConfig = {
    kernelName: tf.Conv2DBackpropInput,
    backendName: 'wasm',
    setupFunc: backpropInput.setupFunc,
    kernelFunc: (args) => {
      const backend = args.backend as unknown as NativeWasmBackend;
      const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
      const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
      const inputShape = attrs.inputShape as number[];
      const info = convInfo(inputShape, filter.shape, attrs, 1, attrs.dataFormat);
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
      if (
        !fits ||
        !nativeShape(info, dy.dtype, filter.dtype) ||
        !allFinite(addon, backend, dy, filter)
      ) {
        return backpropInput.kernelFunc(args);
      }
      const dx = backend.makeOutput(inputShape, 'float32');
      cacheFor(backend).run(
        filter,
        `deconv/${padKey(info)}`,
        () =>
          addon.createDeconv(
            heapOf(backend),
            offsetOf(backend, filter),
            info.filterHeight,
            info.filterWidth,
            info.inChannels,
            info.outChannels,
            p.top,
            p.right,
            p.bottom,
            p.left,
            info.strideHeight,
            info.strideWidth,
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
      return dx;
    },
  };

  const conv2DBackpropFilter: tf.KernelConfig = {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: 'wasm',
    setupFunc: backpropFilter.setupFunc,
    kernelFunc: (args) => {
      const backend = args.backend as unknown as NativeWasmBackend;
      const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
      const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      const info = convInfo(x.shape, attrs.filterShape, attrs, 1, attrs.dataFormat);
      if (!nativeShape(info, x.dtype, dy.dtype) || !allFinite(addon, backend, x, dy)) {
        return backpropFilter.kernelFunc(args);
      }
      const dw = backend.makeOutput(attrs.filterShape, 'float32');
      addon.convBackpropFilter(
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
        info.outChannels,
        info.filterHeight,
        info.filterWidth,
        info.strideHeight,
        info.strideWidth,
        info.padInfo.top,
        info.padInfo.left,
      );
      return dw;
    },
  };

  return {
    configs: [conv2D, conv2DBackpropInput, conv2DBackpropFilter],
    cachedOperators: () => [...caches.values()].reduce((n, cache) => n + cache.size, 0),
    clearCache: () => {
      for (const cache of caches.values()) cache.clear();
    },
  };
}
