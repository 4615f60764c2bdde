import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { zeroGradConfigs } from '../../src/autodiff/gradients/zero.ts';
import {
  checkSecondOrder,
  PATCHED_GRADIENTS,
  registerGradients,
} from '../../src/autodiff/index.ts';
import { CASES } from './cases.ts';

/**
 * Worst relative error allowed between double backprop and float32 central differences. The
 * measured worst is 5e-4 (tanh, whose third derivative makes the 1e-2 step's truncation
 * error largest); a wrong or detached gradient gives 1e-1 or more.
 */
const TOLERANCE = 2e-3;

before(async () => {
  await tf.setBackend('cpu');
  registerGradients();
});

describe('second-order gradients of every patched kernel match finite differences', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const inputs = c.inputs();
      try {
        const report = checkSecondOrder(c.fn, inputs);
        assert.ok(
          report.maxRelError < TOLERANCE,
          `${c.name}: first order ${report.firstOrder}, second order ${report.secondOrder}`,
        );
      } finally {
        tf.dispose(inputs);
      }
    });
  }

  it('covers every kernel whose gradient genloss registers', () => {
    const zero = new Set(zeroGradConfigs.map((g) => g.kernelName));
    const covered = new Set(CASES.flatMap((c) => c.kernels));
    const missing = PATCHED_GRADIENTS.map((g) => g.kernelName).filter(
      (k) => !zero.has(k) && !covered.has(k),
    );
    assert.deepEqual(missing, []);
  });
});
