/**
 * Every case of test/reference/*.json (made by test/reference/generate.py with PyTorch, MMagic's
 * formulas) on each backend, through the fused kernels and through the op chains (the fused
 * kernels unregistered): the output, the gradient w.r.t. every listed argument (the weight
 * included), and for the second-order cases the gradient of the penalty `Σ (∂loss/∂pred)²`, all
 * with assertClose's tolerance `1e-5 + 5e-4·|want|`.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { LOSSES, tvLoss } from '../../src/index.ts';
import { describeOnEachBackend } from '../helpers/backend.ts';
import {
  loadCases,
  type RefCase,
  type RefTensor,
  toTensor,
  withoutFusedKernels,
} from '../helpers/reference.ts';
import { assertClose } from '../helpers/tensors.ts';

/** Reference types that are plain functions rather than registered classes. */
const FUNCTIONS: Record<string, (...args: tf.Tensor[]) => tf.Tensor> = { tv_loss: tvLoss };

/** The loss of one case as a function of its positional arguments. */
function lossOf(c: RefCase): { f: (...args: tf.Tensor[]) => tf.Tensor; dispose: () => void } {
  if (c.type in FUNCTIONS) return { f: FUNCTIONS[c.type], dispose: () => {} };
  const module = LOSSES.build({ type: c.type, ...c.config }) as unknown as {
    forward: (...args: tf.Tensor[]) => tf.Tensor;
    dispose: () => void;
  };
  return { f: (...args) => module.forward(...args), dispose: () => module.dispose() };
}

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

function checkCase(c: RefCase): void {
  const args = c.args.map((a) => toTensor(a.tensor));
  const { f, dispose } = lossOf(c);
  const cot = c.cotangent ? toTensor(c.cotangent) : null;
  assertClose(f(...args), toTensor(c.output), { what: `${c.id}: output` });
  /** The scalar the gradients are of: the output, or `Σ output·cotangent`. */
  const scalar = (...full: tf.Tensor[]) => {
    const y = f(...full);
    return cot ? tf.sum(tf.mul(y, cot)) : y;
  };
  const indices = positions(c, Object.keys(c.grads));
  const grads = tf.grads((...xs: tf.Tensor[]) => scalar(...replaced(args, indices, xs)));
  checkAll(c, grads(indices.map((i) => args[i])), c.grads, 'd/d');
  if (c.grads2) {
    const [pred] = positions(c, ['pred']);
    const at = positions(c, Object.keys(c.grads2));
    const penalty = (...xs: tf.Tensor[]) => {
      const full = replaced(args, at, xs);
      const g = tf.grad((p: tf.Tensor) => scalar(...replaced(full, [pred], [p])))(full[pred]);
      return tf.sum(tf.square(g));
    };
    checkAll(c, tf.grads(penalty)(at.map((i) => args[i])), c.grads2, 'd(Σ(dL/dpred)²)/d');
  }
  dispose();
}

const FILES = ['pixelwise.json', 'composition.json', 'gradient.json'];

describeOnEachBackend(`PyTorch reference cases`, () => {
  for (const file of FILES) {
    const cases = loadCases(file);
    const second = cases.filter((c) => c.grads2).length;
    const count = `${cases.length} cases${second > 0 ? ` (${second} second-order)` : ''}`;
    test(`${file}: ${count}`, () => {
      for (const c of cases) tf.tidy(() => checkCase(c));
    });
    test(`${file}: ${count}, op chains (fused kernels unregistered)`, () => {
      withoutFusedKernels(() => {
        for (const c of cases) tf.tidy(() => checkCase(c));
      });
    });
  }
});
