import * as tf from '@tensorflow/tfjs';
import { describeValue } from '../core/describe.ts';
import { GenlossError } from '../core/errors.ts';
import { Mulberry32 } from '../core/prng.ts';
import { checkOptions, type Options } from '../core/validate.ts';
import { safeGrads } from './safe-gradients.ts';

/** Options of {@link checkSecondOrder}. */
export interface SecondOrderCheckOptions {
  /**
   * Relative finite-difference step. Input `i` is perturbed by `±eps · max(1, max|x_i|)`.
   * Default `1e-2`: float32 central differences lose about `1e-7 / eps` to rounding and
   * `eps²` to truncation, so `1e-2`…`1e-3` is the useful range. Choose test points at least
   * one step away from kinks (relu-likes, max/min ties, clip bounds).
   */
  eps?: number;
  /** Seed (an integer ≥ 0) of the random cotangents `S`, `R` and the probed entries. Default 0. */
  seed?: number;
  /** Probe at most this many entries of each input (chosen at random). Default: every entry. */
  entries?: number;
}

/**
 * Result of {@link checkSecondOrder}. Each error is `max|analytic − numeric|` over the probed
 * entries of one input, divided by the larger of `max|numeric|, max|analytic|` there and
 * `1e-3 ×` the largest such scale over all inputs (so an exactly-zero gradient is not judged
 * against its own rounding noise).
 */
export interface SecondOrderReport {
  /** The worst error over both orders and every input. */
  maxRelError: number;
  /** Per input: the first-order gradient of `f` against central differences of `f`. */
  firstOrder: number[];
  /** Per input: the double-backprop gradient of `h` against central differences of `h`. */
  secondOrder: number[];
}

/**
 * Checks first- and second-order gradients of `fn` against central finite differences.
 *
 * With `y = fn(...xs)`, fixed random tensors `S` (shaped like `y`) and `R_i` (shaped like
 * `xs[i]`), it forms `f(xs) = Σ S⊙y + ½ Σ y²` (the square makes even linear ops have a
 * non-zero second derivative), its gradients `g_i = ∂f/∂x_i`, and the double-backprop scalar
 * `h(xs) = Σ_i Σ R_i⊙g_i`. Then `∇f` (nested once) and `∇h` (nested twice, the pattern of
 * gradient penalties) are compared with central differences of `f` and `h`.
 *
 * An input that is a `tf.Variable` (a model weight that `fn` reads itself) is perturbed by
 * `assign` and restored afterwards, so a `tf.layers` model can be checked w.r.t. its weights.
 * Inputs must be float32; the tensors count (`tf.memory().numTensors`) is left unchanged.
 *
 * @example
 * const r = checkSecondOrder((x, w) => tf.leakyRelu(tf.conv2d(x, w, 1, 'same'), 0.2), [x, w]);
 * if (r.maxRelError > 1e-2) throw new Error('wrong double backprop');
 */
export function checkSecondOrder(
  fn: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  options?: Options<SecondOrderCheckOptions>,
): SecondOrderReport {
  const {
    eps = 1e-2,
    seed = 0,
    entries = Number.POSITIVE_INFINITY,
  } = checkOptions(
    'checkSecondOrder',
    3,
    options,
    'checkSecondOrder(fn, inputs, {eps, seed, entries})',
  );
  validate(fn, inputs, eps, seed, entries);
  const rng = new Mulberry32(seed);
  const random = () => rng.next();
  const normal = (shape: number[], k: number) => tf.randomNormal(shape, 0, 1, 'float32', seed + k);
  const outShape = tf.tidy(() => {
    const y = fn(...inputs);
    if (!(y instanceof tf.Tensor) || y.dtype !== 'float32') {
      throw new GenlossError(
        `checkSecondOrder: fn must return a float32 tensor, got ${describeValue(y)}.`,
      );
    }
    return y.shape;
  });
  // Seeds seed+1, seed+2, …: TF.js reads a seed of 0 as "unseeded".
  const s = normal(outShape, 1);
  const rs = inputs.map((x, i) => normal(x.shape, i + 2));
  const f = (...xs: tf.Tensor[]): tf.Scalar => {
    const y = fn(...xs);
    return tf.add(tf.sum(tf.mul(s, y)), tf.mul(0.5, tf.sum(tf.square(y))));
  };
  const h = (...xs: tf.Tensor[]): tf.Scalar =>
    tf.addN(safeGrads(f)(xs).map((g, i) => tf.sum(tf.mul(rs[i], g)))) as tf.Scalar;
  try {
    const firstAnalytic = tf.tidy(() => safeGrads(f)(inputs)).map(readAndDispose);
    const secondAnalytic = tf.tidy(() => safeGrads(h)(inputs)).map(readAndDispose);
    const firstNumeric: Float64Array[] = [];
    const secondNumeric: Float64Array[] = [];
    const probes = inputs.map((x, i) => {
      const probed = pickEntries(x.size, entries, random);
      const [df, dh] = centralDifferences(inputs, i, probed, eps, [f, h]);
      firstNumeric.push(df);
      secondNumeric.push(dh);
      return probed;
    });
    const firstOrder = relErrors(firstAnalytic, firstNumeric, probes);
    const secondOrder = relErrors(secondAnalytic, secondNumeric, probes);
    return { maxRelError: Math.max(...firstOrder, ...secondOrder), firstOrder, secondOrder };
  } finally {
    s.dispose();
    tf.dispose(rs);
  }
}

/** Central differences of each scalar function w.r.t. the probed entries of input `i`. */
function centralDifferences(
  inputs: tf.Tensor[],
  i: number,
  probed: number[],
  eps: number,
  fns: ((...xs: tf.Tensor[]) => tf.Scalar)[],
): Float64Array[] {
  const x = inputs[i];
  const base = x.dataSync().slice() as Float32Array;
  const step = eps * base.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
  const out = fns.map(() => new Float64Array(probed.length));
  const evaluate = (values: Float32Array): number[] => {
    const perturbed = tf.tensor(values, x.shape, 'float32');
    try {
      if (x instanceof tf.Variable) x.assign(perturbed);
      const args = inputs.map((t, j) => (j === i && !(x instanceof tf.Variable) ? perturbed : t));
      return fns.map((g) => tf.tidy(() => g(...args).dataSync()[0]));
    } finally {
      perturbed.dispose();
    }
  };
  try {
    probed.forEach((k, n) => {
      const values = base.slice();
      // The step actually taken is the float32-rounded one, not `step`.
      const plus = Math.fround(base[k] + step);
      const minus = Math.fround(base[k] - step);
      values[k] = plus;
      const fPlus = evaluate(values);
      values[k] = minus;
      const fMinus = evaluate(values);
      fns.forEach((_, m) => {
        out[m][n] = (fPlus[m] - fMinus[m]) / (plus - minus);
      });
    });
  } finally {
    if (x instanceof tf.Variable)
      tf.tidy(() => (x as tf.Variable).assign(tf.tensor(base, x.shape)));
  }
  return out;
}

/**
 * Per input, `max|a − n| / scale` with `scale = max|n|, max|a|` over the input's probed entries,
 * floored at `1e-3 ×` the largest scale of any input: an input whose true gradient is 0 (a bias
 * before a batch norm) is measured against the others rather than against rounding noise.
 */
function relErrors(
  analytic: Float32Array[],
  numeric: Float64Array[],
  probes: number[][],
): number[] {
  const stats = probes.map((probed, i) => {
    let err = 0;
    let scale = 0;
    probed.forEach((k, n) => {
      err = Math.max(err, Math.abs(analytic[i][k] - numeric[i][n]));
      scale = Math.max(scale, Math.abs(numeric[i][n]), Math.abs(analytic[i][k]));
    });
    return { err, scale };
  });
  const floor = 1e-3 * Math.max(...stats.map(({ scale }) => scale));
  return stats.map(({ err, scale }) => (err === 0 ? 0 : err / Math.max(scale, floor)));
}

function readAndDispose(t: tf.Tensor): Float32Array {
  const values = (t.dataSync() as Float32Array).slice();
  t.dispose();
  return values;
}

function pickEntries(size: number, entries: number, random: () => number): number[] {
  const all = Array.from({ length: size }, (_, k) => k);
  if (entries >= size) return all;
  for (let k = size - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    [all[k], all[j]] = [all[j], all[k]];
  }
  return all.slice(0, entries).sort((a, b) => a - b);
}

function validate(
  fn: unknown,
  inputs: unknown,
  eps: number,
  seed: number,
  entries: number,
): asserts inputs is tf.Tensor[] {
  if (typeof fn !== 'function') {
    throw new GenlossError(`checkSecondOrder: fn must be a function, got ${describeValue(fn)}.`);
  }
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new GenlossError(
      `checkSecondOrder: inputs must be a non-empty array of tensors, got ${describeValue(inputs)}.`,
    );
  }
  inputs.forEach((x, i) => {
    const got = x instanceof tf.Tensor && x.isDisposed ? 'a disposed tensor' : describeValue(x);
    if (!(x instanceof tf.Tensor) || x.isDisposed || x.dtype !== 'float32') {
      throw new GenlossError(
        `checkSecondOrder: inputs[${i}] must be a live float32 tensor, got ${got}.`,
      );
    }
  });
  if (!(Number.isFinite(eps) && eps > 0)) {
    throw new GenlossError(`checkSecondOrder: eps must be a positive number, got ${eps}.`);
  }
  if (!(Number.isInteger(seed) && seed >= 0)) {
    throw new GenlossError(`checkSecondOrder: seed must be a non-negative integer, got ${seed}.`);
  }
  if (!(entries >= 1)) {
    throw new GenlossError(`checkSecondOrder: entries must be at least 1, got ${entries}.`);
  }
}
