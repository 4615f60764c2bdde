/**
 * src/ops/resize.ts: bicubic resize against PyTorch (test/reference/perceptual/ops.json, made by
 * generate_perceptual.py): the output and the gradient of sum(output · cotangent), plus
 * second-order gradients and memory.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { resizeBicubic, ShapeError } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import type { RefCase } from '../helpers/reference.ts';
import { assertNoLeak, uniform } from '../helpers/tensors.ts';
import { assertOpsCases, checkSecondOrderOps, type Op, opsCases } from '../helpers/torch-ops.ts';

function opOf(c: RefCase): Op {
  const cfg = c.config as { size?: [number, number] };
  switch (c.type) {
    case 'resizeBicubic':
      return (x) => resizeBicubic(x, cfg.size!);
    default:
      throw new Error(`unknown op ${c.type}`);
  }
}

describe('torch-compatible resize (resizeBicubic)', () => {
  before(async () => {
    await useTestBackend();
  });

  const cases = opsCases(['resizeBicubic']);
  test(`ops.json: ${cases.length} PyTorch cases (output and gradient)`, () => {
    assertOpsCases(cases, opOf);
  });

  test('second-order gradients match finite differences', () => {
    checkSecondOrderOps([(t) => resizeBicubic(t, [9, 4])]);
  });

  test('no tensors leak', () => {
    const x = uniform([1, 6, 5, 2], 1);
    assertNoLeak(() => resizeBicubic(x, [4, 9]), 5);
    x.dispose();
  });

  test('bad inputs are ShapeErrors that say what was expected', () => {
    assert.throws(
      () => resizeBicubic(tf.zeros([4, 4]), [2, 2]),
      (e: Error) => e instanceof ShapeError && /rank 4/.test(e.message),
    );
  });
});
