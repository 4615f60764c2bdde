/**
 * Focal frequency loss (Jiang et al., "Focal Frequency Loss for Image Reconstruction and
 * Synthesis", ICCV 2021), as the official implementation (EndlessSora/focal-frequency-loss,
 * `FocalFrequencyLoss`) computes it, in NHWC.
 *
 * TF.js 4.22 registers no gradient for its FFT kernels, so the orthonormal 2-D DFT here is two
 * real matrix products: `Y = F_h · X · F_wᵀ` with `F_n = (C_n − i·S_n)/√n` (cosine and sine
 * matrices). It is exact up to float32 rounding, linear, and differentiable at every order (the
 * gradient of a matMul is matMuls). The DFT matrices are computed once per size in float64,
 * rounded to float32 and kept as plain `Float32Array`s (`dftMatrices`); each call uploads them
 * as tensors inside its own `tf.tidy`, so no tensor outlives a call, whatever the backend (no
 * `tf.keep`ed cache to free or to move between backends).
 *
 * The spectrum weight is detached as in the official code: it is computed inside a
 * `tf.customGrad` whose gradient is zero (`spectrumWeight`), so its ops are not on the tape; a
 * given `matrix` goes through `stopGradient` (autodiff/).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { describeValue } from '../core/describe.ts';
import { ConfigError, ShapeError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { lossOptions } from '../core/options.ts';
import { checkOptions, checkSameShape, checkTensor, type Options } from '../core/validate.ts';

/** The hyper-parameters of {@link focalFrequencyLoss}: the official implementation's keys. */
export interface FocalFrequencyArgs {
  /** The exponent of the spectrum weight `|ΔY|^alpha` (≥ 0, default 1.0). */
  alpha?: number;
  /** Crop the image into patch_factor × patch_factor patches (a positive integer, default 1). */
  patch_factor?: number;
  /** Compare the minibatch-average spectra (default false). */
  ave_spectrum?: boolean;
  /** Weight by `log(|ΔY|^alpha + 1)` (default false). */
  log_matrix?: boolean;
  /** Normalise the weight by its maximum over the batch rather than per image (default false). */
  batch_matrix?: boolean;
  /**
   * A given spectrum weight, used instead of the computed one (detached: no gradient flows into
   * it). Shape N×P×h×w×C (the spectrum's, `P = patch_factor²`, `h = H/patch_factor`,
   * `w = W/patch_factor`; N is 1 with `ave_spectrum`), or any shape that broadcasts to it from
   * the right (h×w×1: one matrix for every image, patch and channel).
   */
  matrix?: tf.Tensor | null;
}

/** The DFT matrices of one image size (float32 values, row-major), and their transposes. */
interface DftMatrices {
  /** w × 2w: `[cos | sin](2π·v·b/w) / √w` — `X·W = [A | B]` with `X·F_wᵀ = A − iB`. */
  right: Float32Array;
  /**
   * 2h × 2h: rows (A or B, a), columns (Re or Im, u): `Re = C_h·A − S_h·B`,
   * `Im = −S_h·A − C_h·B` (all over √h), i.e. `F_h·(A − iB)`.
   */
  left: Float32Array;
  /** 2w × w: `right`ᵀ. */
  rightT: Float32Array;
  /** 2h × 2h: `left`ᵀ. */
  leftT: Float32Array;
}

const rightCache = new Map<number, [Float32Array, Float32Array]>();
const leftCache = new Map<number, [Float32Array, Float32Array]>();

/** The transpose of a rows × cols row-major matrix. */
function transposed(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
  return t;
}

/** cos and sin of 2π·k/n for k = 0 … n−1, in float64 (the angle reduced mod n exactly). */
function unitRoots(n: number): [Float64Array, Float64Array] {
  const c = new Float64Array(n);
  const s = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const t = (2 * Math.PI * k) / n;
    c[k] = Math.cos(t);
    s[k] = Math.sin(t);
  }
  return [c, s];
}

function rightMatrix(w: number): [Float32Array, Float32Array] {
  let pair = rightCache.get(w);
  if (pair === undefined) {
    let m: Float32Array;
    const [c, s] = unitRoots(w);
    const scale = 1 / Math.sqrt(w);
    m = new Float32Array(2 * w * w);
    for (let b = 0; b < w; b++) {
      for (let v = 0; v < w; v++) {
        const k = (v * b) % w;
        m[b * 2 * w + v] = c[k] * scale;
        m[b * 2 * w + w + v] = s[k] * scale;
      }
    }
    pair = [m, transposed(m, w, 2 * w)];
    rightCache.set(w, pair);
  }
  return pair;
}

function leftMatrix(h: number): [Float32Array, Float32Array] {
  let pair = leftCache.get(h);
  if (pair === undefined) {
    let m: Float32Array;
    const [c, s] = unitRoots(h);
    const scale = 1 / Math.sqrt(h);
    const n = 2 * h;
    m = new Float32Array(n * n);
    for (let a = 0; a < h; a++) {
      for (let u = 0; u < h; u++) {
        const k = (u * a) % h;
        const ch = c[k] * scale;
        const sh = s[k] * scale;
        m[a * n + u] = ch; // A → Re
        m[a * n + h + u] = -sh; // A → Im
        m[(h + a) * n + u] = -sh; // B → Re
        m[(h + a) * n + h + u] = -ch; // B → Im
      }
    }
    pair = [m, transposed(m, 2 * h, 2 * h)];
    leftCache.set(h, pair);
  }
  return pair;
}

/**
 * The float32 DFT matrices for an h × w image (computed once per size and kept as plain arrays:
 * a few KiB each; no tensors are cached).
 */
function dftMatrices(h: number, w: number): DftMatrices {
  const [right, rightT] = rightMatrix(w);
  const [left, leftT] = leftMatrix(h);
  return { right, left, rightT, leftT };
}

/**
 * `x · m` for a constant m (a DFT matrix), with the gradient `dy · mᵀ` taken w.r.t. x only, as
 * the same product with the constant `mt` (uploaded, not transposed on the fly): the same form at
 * every order, and no gradient computed for the constant.
 */
function constMatMul(x: tf.Tensor2D, m: tf.Tensor2D, mt: tf.Tensor2D): tf.Tensor2D {
  // m and mt are saved (kept by the tape until the gradient is taken): the caller's tidy frees
  // its own handles when the forward ends.
  const f = tf.customGrad(((a: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([m, mt]);
    return {
      value: tf.matMul(a, m),
      gradFunc: (dy: tf.Tensor2D, [sm, smt]: tf.Tensor2D[]) => constMatMul(dy, smt, sm),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x) as tf.Tensor2D;
}

/** Checks `patch_factor` against the image size and returns the patch size. */
function patchSize(owner: string, shape: readonly number[], pf: number): [number, number] {
  const [, H, W] = shape;
  if (H % pf !== 0 || W % pf !== 0) {
    throw new ShapeError(
      `${owner}: the image size ${H}×${W} must be divisible by 'patch_factor' ${pf} (patches of equal size)`,
    );
  }
  return [H / pf, W / pf];
}

function checkPatchFactor(owner: string, pf: unknown): number {
  if (typeof pf !== 'number' || !Number.isInteger(pf) || pf < 1) {
    throw new ConfigError(
      `${owner}: 'patch_factor' must be a positive integer, got ${describeValue(pf)}`,
    );
  }
  return pf;
}

/**
 * The orthonormal 2-D DFT of every patch and channel of `x` (N×H×W×C), as real and imaginary
 * parts side by side: an (N·P·C·w) × 2h matrix whose row (n, p, c, v) is `[Re | Im]` of
 * `Y[n, p, ·, v, c]` over the frequency u. P = pf², patches in row-major order (the official
 * `tensor2freq`'s order).
 */
function dftRows(x: tf.Tensor, pf: number, h: number, w: number): tf.Tensor2D {
  const [N, , , C] = x.shape;
  const { right, left, rightT, leftT } = dftMatrices(h, w);
  // N×H×W×C → N×P×C×h×w (channels and patches first, then rows and columns).
  const patches =
    pf === 1
      ? tf.transpose(x, [0, 3, 1, 2])
      : tf.transpose(tf.reshape(x, [N, pf, h, pf, w, C]), [0, 1, 3, 5, 2, 4]);
  const m = N * pf * pf * C;
  // Along w: [A | B] = X·[cos | sin]/√w.
  const ab = constMatMul(
    tf.reshape(patches, [m * h, w]),
    tf.tensor2d(right, [w, 2 * w]),
    tf.tensor2d(rightT, [2 * w, w]),
  );
  // Rows (n, p, c, v), columns (A or B, a); then along h: [Re | Im].
  const rows: tf.Tensor2D = tf.reshape(tf.transpose(tf.reshape(ab, [m, h, 2, w]), [0, 3, 2, 1]), [
    m * w,
    2 * h,
  ]);
  return constMatMul(rows, tf.tensor2d(left, [2 * h, 2 * h]), tf.tensor2d(leftT, [2 * h, 2 * h]));
}

/**
 * The official `tensor2freq` in NHWC: the orthonormal 2-D DFT (`torch.fft.fft2(norm='ortho')`)
 * of each patch_factor × patch_factor patch of each channel of `x`.
 *
 * @param x N×H×W×C float32, H and W divisible by `patchFactor`.
 * @param patchFactor a positive integer (default 1).
 * @returns N×P×h×w×C×2 (P = patchFactor², h = H/patchFactor, w = W/patchFactor; real and
 *   imaginary parts in the last axis; patches in row-major order).
 */
export function focalFrequencySpectrum(x: tf.Tensor, patchFactor = 1): tf.Tensor {
  const owner = 'focalFrequencySpectrum';
  checkTensor(owner, 'x', x, 4);
  const pf = checkPatchFactor(owner, patchFactor);
  const [h, w] = patchSize(owner, x.shape, pf);
  return tf.tidy(() => {
    const [N, , , C] = x.shape;
    const y = tf.reshape(dftRows(x, pf, h, w), [N, pf * pf, C, w, 2, h]);
    return tf.transpose(y, [0, 1, 5, 3, 2, 4]);
  });
}

/**
 * The computed spectrum weight, from the squared spectrum distance `d2` (N×P×C×w×h), with no
 * gradient (the official code detaches it). Runs inside a `tf.customGrad` whose gradient is zero,
 * so its ops are not recorded on the tape: no backward pass runs through the normalisation.
 */
function spectrumWeight(
  d2: tf.Tensor,
  alpha: number,
  logMatrix: boolean,
  batchMatrix: boolean,
): tf.Tensor {
  const f = tf.customGrad(((x: tf.Tensor) => {
    let tmp = tf.sqrt(x);
    if (alpha !== 1) tmp = tf.pow(tmp, alpha);
    if (logMatrix) tmp = tf.log1p(tmp);
    const max = batchMatrix ? tf.max(tmp) : tf.max(tmp, [3, 4], true);
    tmp = tf.div(tmp, max);
    // 0/0 (an image, patch or channel whose spectra agree) → NaN → 0, as the official code.
    tmp = tf.where(tf.isNaN(tmp), tf.zerosLike(tmp), tmp);
    return { value: tf.clipByValue(tmp, 0, 1), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(d2);
}

/** A given matrix (N×P×h×w×C or broadcastable), in the internal N×P×C×w×h layout, detached. */
function givenWeight(owner: string, matrix: unknown, spectrum: number[]): tf.Tensor {
  const m = checkTensor(owner, 'matrix', matrix);
  const fits = m.rank <= 5 && m.shape.every((d, i) => d === 1 || d === spectrum[5 - m.rank + i]);
  if (!fits) {
    throw new ShapeError(
      `${owner}: 'matrix' must broadcast to the spectrum's shape [${spectrum.join(', ')}] (N×P×h×w×C), got [${m.shape.join(', ')}]`,
    );
  }
  const full = tf.reshape(m, [...new Array(5 - m.rank).fill(1), ...m.shape]);
  return stopGradient(tf.transpose(full, [0, 1, 4, 3, 2]));
}

/**
 * Focal frequency loss (the official `FocalFrequencyLoss.forward` without `loss_weight`):
 * with `Y(x)` the orthonormal 2-D DFT of each patch and channel ({@link focalFrequencySpectrum})
 * and `ΔY = Y(pred) − Y(target)` (with `ave_spectrum`, of the batch means),
 *
 * `loss = mean(W · |ΔY|²)`, `W = clamp(nan→0(M / max M), 0, 1)`, `M = |ΔY|^alpha`
 * (`log(|ΔY|^alpha + 1)` with `log_matrix`), the max per image, patch and channel (over the
 * whole batch with `batch_matrix`); or `W = matrix` when given. W is detached. ΔY is computed
 * as the DFT of `pred − target` (the DFT is linear): one transform instead of two.
 *
 * @param pred N×H×W×C float32; H and W divisible by `patch_factor`.
 * @param target the shape of pred.
 * @param options {@link FocalFrequencyArgs}.
 * @returns a scalar.
 */
export function focalFrequencyLoss(
  pred: tf.Tensor,
  target: tf.Tensor,
  options?: Options<FocalFrequencyArgs>,
): tf.Tensor {
  const owner = 'focalFrequencyLoss';
  const o = checkOptions(
    owner,
    3,
    options,
    'focalFrequencyLoss(pred, target, {matrix, alpha, patch_factor, ...})',
  );
  checkTensor(owner, 'pred', pred, 4);
  checkTensor(owner, 'target', target, 4);
  checkSameShape(owner, ['pred', pred], ['target', target]);
  const alpha = o.alpha ?? 1;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) {
    throw new ConfigError(
      `${owner}: 'alpha' must be a finite number >= 0, got ${describeValue(alpha)}`,
    );
  }
  const pf = checkPatchFactor(owner, o.patch_factor ?? 1);
  const [h, w] = patchSize(owner, pred.shape, pf);
  const [N, , , C] = pred.shape;
  const n = o.ave_spectrum ? 1 : N;
  return tf.tidy(() => {
    const weight = o.matrix == null ? null : givenWeight(owner, o.matrix, [n, pf * pf, h, w, C]);
    let diff = tf.sub(pred, target);
    if (o.ave_spectrum) diff = tf.mean(diff, 0, true);
    const y = dftRows(diff, pf, h, w);
    const d2 = tf.sum(tf.reshape(tf.square(y), [n, pf * pf, C, w, 2, h]), 4);
    const wm = weight ?? spectrumWeight(d2, alpha, !!o.log_matrix, !!o.batch_matrix);
    return tf.mean(tf.mul(wm, d2));
  });
}

/** Options of `FocalFrequencyLoss`: the official keys, plus `loss_name` (`'loss_ff'`). */
export const focalFrequencyOptions = () =>
  lossOptions(
    { loss_name: 'loss_ff' },
    {
      alpha: z.number().finite().nonnegative().default(1),
      patch_factor: z.number().int().positive().default(1),
      ave_spectrum: z.boolean().default(false),
      log_matrix: z.boolean().default(false),
      batch_matrix: z.boolean().default(false),
    },
  );

/**
 * `FocalFrequencyLoss` (Jiang et al., ICCV 2021; the official `FocalFrequencyLoss`):
 * `loss_weight · focalFrequencyLoss(pred, target, {matrix, ...})`. Config: `loss_weight` 1.0,
 * `alpha` 1.0, `patch_factor` 1, `ave_spectrum`, `log_matrix`, `batch_matrix` false,
 * `loss_name` `'loss_ff'`.
 */
export class FocalFrequencyLoss extends LossModule<ReturnType<typeof focalFrequencyOptions>> {
  static override readonly lossType = 'FocalFrequencyLoss';
  static override readonly options = focalFrequencyOptions();

  /**
   * @param pred N×H×W×C.
   * @param target N×H×W×C.
   * @param matrix optional given spectrum weight (N×P×h×w×C or broadcastable; detached).
   * @returns a scalar.
   */
  forward(pred: tf.Tensor, target: tf.Tensor, matrix?: tf.Tensor | null): tf.Tensor {
    const { alpha, patch_factor, ave_spectrum, log_matrix, batch_matrix } = this.cfg;
    const options = { matrix, alpha, patch_factor, ave_spectrum, log_matrix, batch_matrix };
    return this.scaled(() => focalFrequencyLoss(pred, target, options));
  }
}
