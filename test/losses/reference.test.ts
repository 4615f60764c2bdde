/**
 * Every case of test/reference/*.json (made by test/reference/generate.py with PyTorch, MMagic's
 * formulas) on each backend, through the fused kernels and through the op chains (the fused
 * kernels unregistered): the output, the gradient w.r.t. every listed argument (the weight
 * included), and for the second-order cases the gradient of the penalty `Σ (∂loss/∂pred)²`, all
 * with assertClose's tolerance `1e-5 + 5e-4·|want|`.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { describeOnEachBackend } from '../helpers/backend.ts';
import { checkLossCase, loadCases, withoutFusedKernels } from '../helpers/reference.ts';

const FILES = ['pixelwise.json', 'composition.json', 'gradient.json'];

describeOnEachBackend(`PyTorch reference cases`, () => {
  for (const file of FILES) {
    const cases = loadCases(file);
    const second = cases.filter((c) => c.grads2).length;
    const count = `${cases.length} cases${second > 0 ? ` (${second} second-order)` : ''}`;
    test(`${file}: ${count}`, () => {
      for (const c of cases) tf.tidy(() => checkLossCase(c));
    });
    test(`${file}: ${count}, op chains (fused kernels unregistered)`, () => {
      withoutFusedKernels(() => {
        for (const c of cases) tf.tidy(() => checkLossCase(c));
      });
    });
  }
});
