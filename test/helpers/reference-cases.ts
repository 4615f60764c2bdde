/**
 * The reference cases of `test/reference/*.json` (format in test/reference/README.md) and the
 * check of one loss case, without Node built-ins: test/helpers/reference.ts reads the files on
 * Node, the browser suite (test/browser/) fetches them, and both check them here.
 */
import * as tf from '@tensorflow/tfjs';
import { FUSED_KERNEL_NAMES, registerFusedKernels } from '../../src/backends/index.ts';
import { LOSSES, tvLoss } from '../../src/index.ts';
import { assertClose } from './close.ts';

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
  for (const name of FUSED_KERNEL_NAMES) tf.unregisterKernel(name, backend);
  try {
    return f();
  } finally {
    registerFusedKernels();
  }
}

/** Reference types that are plain functions rather than registered classes. */
const FUNCTIONS: Record<string, (...args: tf.Tensor[]) => tf.Tensor> = { tv_loss: tvLoss };

/** The positions in `c.args` of the arguments `names`. */
const positions = (c: RefCase, names: string[]) =>
  names.map((n) => c.args.findIndex((a) => a.name === n));

/** `args` with `xs` in place of the arguments at `indices`. */
function replaced(args: tf.Tensor[], indices: number[], xs: tf.Tensor[]): tf.Tensor[] {
  const full = args.slice();
  indices.forEach((i, k) => {
    full[i] = xs[k];
  });
  return full;
}

/** Checks `got` against the tensors of `want`, in its key order; failures name `${what}${key}`. */
function checkAll(c: RefCase, got: tf.Tensor[], want: Record<string, RefTensor>, what: string) {
  Object.keys(want).forEach((n, k) => {
    assertClose(got[k], toTensor(want[n]), { what: `${c.id}: ${what}${n}` });
  });
}

/**
 * Checks a loss's reference case: builds `c.type` with `c.config` (or takes the function of that
 * name, `tv_loss`), calls `forward(...args)`, and compares the output and the gradients — of the
 * output, or of `sum(output · cotangent)` for a non-scalar output — w.r.t. every argument
 * `c.grads` lists, and for a second-order case the gradient of the penalty `Σ (∂loss/∂pred)²`
 * w.r.t. every argument `c.grads2` lists; `setup` first gets the built module (to load a
 * network's weights). Call inside `tf.tidy`.
 */
export function checkLossCase(c: RefCase, setup?: (module: never) => void): void {
  const args = c.args.map((a) => toTensor(a.tensor));
  const m =
    c.type in FUNCTIONS
      ? null
      : (LOSSES.build({ type: c.type, ...c.config } as never) as unknown as {
          forward(...xs: tf.Tensor[]): tf.Tensor;
          dispose(): void;
        });
  if (m) setup?.(m as never);
  const f = m ? (...xs: tf.Tensor[]) => m.forward(...xs) : FUNCTIONS[c.type];
  const cot = c.cotangent ? toTensor(c.cotangent) : null;
  assertClose(f(...args), toTensor(c.output), { what: `${c.id}: output` });
  /** The scalar the gradients are of: the output, or `Σ output·cotangent`. */
  const scalar = (...full: tf.Tensor[]) => {
    const y = f(...full);
    return cot ? tf.sum(tf.mul(y, cot)) : y;
  };
  const at = positions(c, Object.keys(c.grads));
  const grads = tf.grads((...xs: tf.Tensor[]) => scalar(...replaced(args, at, xs)));
  checkAll(c, grads(at.map((i) => args[i])), c.grads, 'd/d');
  if (c.grads2) {
    const [pred] = positions(c, ['pred']);
    const at2 = positions(c, Object.keys(c.grads2));
    const penalty = (...xs: tf.Tensor[]) => {
      const full = replaced(args, at2, xs);
      const g = tf.grad((p: tf.Tensor) => scalar(...replaced(full, [pred], [p])))(full[pred]);
      return tf.sum(tf.square(g));
    };
    checkAll(c, tf.grads(penalty)(at2.map((i) => args[i])), c.grads2, 'd(Σ(dL/dpred)²)/d');
  }
  m?.dispose();
}
