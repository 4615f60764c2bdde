/**
 * Every case of test/reference/*.json (made by test/reference/generate.py with PyTorch, MMagic's
 * formulas) on each backend: the output and the gradient w.r.t. every listed argument.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { LOSSES, tvLoss } from '../../src/index.ts';
import { describeOnEachBackend } from '../helpers/backend.ts';
import { loadCases, type RefCase, toTensor } from '../helpers/reference.ts';
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

function checkCase(c: RefCase): void {
  const args = c.args.map((a) => toTensor(a.tensor));
  const { f, dispose } = lossOf(c);
  const cot = c.cotangent ? toTensor(c.cotangent) : null;
  const out = f(...args);
  assertClose(out, toTensor(c.output), { what: `${c.id}: output` });
  const names = Object.keys(c.grads);
  const indices = names.map((n) => c.args.findIndex((a) => a.name === n));
  const scalar = (...xs: tf.Tensor[]) => {
    const full = args.slice();
    indices.forEach((i, k) => {
      full[i] = xs[k];
    });
    const y = f(...full);
    return cot ? tf.sum(tf.mul(y, cot)) : y;
  };
  const grads = tf.grads(scalar)(indices.map((i) => args[i]));
  names.forEach((n, k) => {
    assertClose(grads[k], toTensor(c.grads[n]), { what: `${c.id}: d/d${n}` });
  });
  dispose();
}

const FILES = ['pixelwise.json', 'composition.json', 'gradient.json'];

describeOnEachBackend(`PyTorch reference cases`, () => {
  for (const file of FILES) {
    const cases = loadCases(file);
    test(`${file}: ${cases.length} cases`, () => {
      for (const c of cases) tf.tidy(() => checkCase(c));
    });
  }
});
