/**
 * Backend support: the wasm kernels that make TF.js's `wasm` backend train GANs, and fused loss
 * kernels for `cpu` and `wasm`. docs/performance.md has the measurements behind each.
 */
export {
  type FusedLoss,
  type FusedPixelLossOptions,
  fusedPixelLoss,
  PIXEL_LOSS_GRAD,
  PIXEL_LOSS_SUM,
  registerFusedKernels,
  withFusedKernel,
} from './fused/index.ts';
export { registerWasmKernels, WASM_KERNELS } from './wasm/kernels.ts';
