import * as tf from '@tensorflow/tfjs';
import { simdSobelKernels } from '../simd/instance.ts';
import { heapF32, offsetOf, type TensorInfo } from '../wasm/heap.ts';
import {
  type F32View,
  isWasm,
  type KernelArgs,
  kernelConfigs,
  newOutput,
  outputOf,
  viewsOf,
} from './runtime.ts';
import { type Image, imageGrad, imageSum } from './sobel-loss-loops.ts';
import { simdSobelGrad, simdSobelSum } from './sobel-loss-simd.ts';

// The fused Sobel L1 loss (MMagic `GradientLoss` without its weight), NHWC, any C:
// GenlossSobelL1Sum([pred, target, weight?])      = Σ w·(|kx∗d| + |ky∗d|),  d = pred − target
// GenlossSobelL1Grad([dy, pred, target, weight?]) = dy · ∂/∂pred of that sum
// with the Sobel kernels (src/core/sobel.ts) applied per channel with zero padding 1. On wasm the
// SIMD row kernels run in place on the heap (sobel-loss-simd.ts); on cpu, and on wasm without
// SIMD, the JS row stencils (sobel-loss-loops.ts).

/** Kernel name: the weighted Sobel L1 sum `Σ w·(|kx∗d| + |ky∗d|)`, d = pred − target. */
export const SOBEL_L1_SUM = 'GenlossSobelL1Sum';

/** Kernel name: the Sobel L1 sum's gradient w.r.t. pred, scaled by the scalar `dy`. */
export const SOBEL_L1_GRAD = 'GenlossSobelL1Grad';

/** Per-image layout: image `k` of pred, with its weight view, for the JS loops. */
function images(pred: TensorInfo, weight: TensorInfo | undefined) {
  const [n, h, w, c] = pred.shape;
  const per = h * w * c;
  const wPer = weight ? tf.util.sizeFromShape(weight.shape.slice(1)) : 0;
  const img = (k: number, view: F32View | null): Image => ({
    h,
    w,
    c,
    weight: view === null ? null : view.a,
    wAt: (view === null ? 0 : view.at) + k * wPer,
    wGroup: weight ? per / wPer : 1,
  });
  return { n, per, img };
}

function sumKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const [pred, target, weight] = inputs;
  const simd = isWasm(backend) ? simdSobelKernels(backend) : null;
  if (isWasm(backend) && simd) {
    return outputOf(
      backend,
      [],
      Float32Array.of(simdSobelSum(backend, simd, pred, target, weight)),
    );
  }
  const { n, per, img } = images(pred, weight);
  const [p, t, w] = viewsOf(backend, [pred, target, weight]);
  let total = 0;
  for (let k = 0; k < n; k++) {
    const at = k * per;
    total += imageSum(p!.a, p!.at + at, t!.a, t!.at + at, img(k, w));
  }
  return outputOf(backend, [], Float32Array.of(total));
}

function gradKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const [dy, pred, target, weight] = inputs;
  const simd = isWasm(backend) ? simdSobelKernels(backend) : null;
  if (isWasm(backend) && simd) {
    const out = backend.makeOutput(pred.shape, 'float32');
    const scale = heapF32(backend)[offsetOf(backend, dy) / 4];
    simdSobelGrad(backend, simd, pred, target, weight, out, scale);
    return out;
  }
  const { n, per, img } = images(pred, weight);
  const out = newOutput(backend, pred.shape);
  const [d, p, t, w] = viewsOf(backend, [dy, pred, target, weight]);
  const scale = d!.a[d!.at];
  for (let k = 0; k < n; k++) {
    const at = k * per;
    const o = out.view;
    imageGrad(p!.a, p!.at + at, t!.a, t!.at + at, img(k, w), o.a, o.at + at, scale);
  }
  return out.finish();
}

/** Both Sobel L1 kernels for `cpu` and `wasm`. */
export const SOBEL_KERNELS: readonly tf.KernelConfig[] = [
  ...kernelConfigs(SOBEL_L1_SUM, sumKernel),
  ...kernelConfigs(SOBEL_L1_GRAD, gradKernel),
];
