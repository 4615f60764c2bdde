import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import {
  PIXEL_LOSS_GRAD,
  PIXEL_LOSS_SUM,
  registerFusedKernels,
  SOBEL_L1_GRAD,
  SOBEL_L1_SUM,
} from '../../src/backends/index.ts';
import { LOSSES } from '../../src/index.ts';
import { assertClose } from './tensors.ts';

/** A tensor as the PyTorch generator writes it: NCHW for 4-D tensors. */
export interface RefTensor {
  shape: number[];
  layout: 'NCHW' | 'plain';
  data: number[];
}

/** One reference case of `test/reference/*.json` (format in test/reference/README.md). */
export interface RefCase {
  id: string;
  type: string;
  config: Record<string, unknown>;
  args: { name: string; tensor: RefTensor }[];
  output: RefTensor;
  cotangent?: RefTensor;
  grads: Record<string, RefTensor>;
  /** Second order: the gradient of `Σ (∂loss/∂pred)²` (a gradient penalty) w.r.t. each name. */
  grads2?: Record<string, RefTensor>;
}

/** A case of `test/reference/perceptual/features.json`: a loss whose network loads `weights`. */
export interface NetworkCase extends RefCase {
  /** The weights file, in `test/reference/perceptual/` (`weightsFixture`). */
  weights: string;
  /** What the network gives for the first argument. */
  features?: RefTensor;
}

/** Reads and parses `test/reference/<file>`. */
export function readReference<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../reference/${file}`, import.meta.url), 'utf8')) as T;
}

/** Reads the cases of one reference file; only those of `type` when given. */
export function loadCases<C extends { type: string } = RefCase>(file: string, type?: string): C[] {
  const cases = readReference<{ cases: C[] }>(file).cases;
  return type === undefined ? cases : cases.filter((c) => c.type === type);
}

/** The bytes of a weights file the generator wrote to `test/reference/perceptual/`. */
export function weightsFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`../reference/perceptual/${name}`, import.meta.url)));
}

/** The tensor in genloss's layout: NCHW data is transposed to NHWC. */
export function toTensor(t: RefTensor): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.tensor(t.data, t.shape, 'float32');
    return t.layout === 'NCHW' ? tf.transpose(x, [0, 2, 3, 1]) : x;
  });
}

/** Trainable variables holding the reference tensors (in genloss's layout), by name. */
export function toVariables(tensors: Record<string, RefTensor>): Record<string, tf.Variable> {
  return Object.fromEntries(
    Object.entries(tensors).map(([name, t]) => {
      const value = toTensor(t);
      const v = tf.variable(value, true);
      value.dispose();
      return [name, v];
    }),
  );
}

/**
 * Runs `f` with the fused loss kernels unregistered from the current backend, so that the losses
 * take their op chains (what runs on backends without fused kernels); registers them again after.
 */
export function withoutFusedKernels<T>(f: () => T): T {
  const backend = tf.getBackend();
  for (const name of [PIXEL_LOSS_SUM, PIXEL_LOSS_GRAD, SOBEL_L1_SUM, SOBEL_L1_GRAD]) {
    tf.unregisterKernel(name, backend);
  }
  try {
    return f();
  } finally {
    registerFusedKernels();
  }
}

/**
 * Checks a loss's reference case: builds `c.type` with `c.config`, calls `forward(...args)`, and
 * compares the output and the gradients — of the output, or of `sum(output · cotangent)` for a
 * non-scalar output — w.r.t. every argument `c.grads` lists; `setup` first gets the built module
 * (to load a network's weights). Call inside `tf.tidy`.
 */
export function checkLossCase(c: RefCase, setup?: (module: never) => void): void {
  const args = c.args.map((a) => toTensor(a.tensor));
  const m = LOSSES.build({ type: c.type, ...c.config } as never) as unknown as {
    forward(...xs: tf.Tensor[]): tf.Tensor;
    dispose(): void;
  };
  setup?.(m as never);
  const cot = c.cotangent ? toTensor(c.cotangent) : null;
  assertClose(m.forward(...args), toTensor(c.output), { what: `${c.id}: output` });
  const names = Object.keys(c.grads);
  const at = names.map((n) => c.args.findIndex((a) => a.name === n));
  const grads = tf.grads((...xs: tf.Tensor[]) => {
    const full = args.slice();
    at.forEach((i, k) => {
      full[i] = xs[k];
    });
    const y = m.forward(...full);
    return cot ? tf.sum(tf.mul(y, cot)) : y;
  })(at.map((i) => args[i]));
  names.forEach((n, k) => {
    assertClose(grads[k], toTensor(c.grads[n]), { what: `${c.id}: d/d${n}` });
  });
  m.dispose();
}
