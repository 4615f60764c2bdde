/**
 * The Sobel op, `sobel(x) → [gx, gy]`: per-channel responses to MMagic's `GradientLoss` kernels
 * with zero padding 1, N×H×W×C in and out. Defined in src/core/sobel.ts, below the fused kernels
 * whose gradients also use it.
 */
export { sobel } from '../core/sobel.ts';
