/**
 * src/ops/pooling.ts: adaptive average pooling and max-pool ceil mode against PyTorch
 * (test/reference/perceptual/ops.json, made by generate_perceptual.py): the output and the
 * gradient of sum(output · cotangent), plus second-order gradients and memory.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { adaptiveAvgPool2d, maxPool2d } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import type { RefCase } from '../helpers/reference.ts';
import { assertNoLeak, uniform } from '../helpers/tensors.ts';
import { assertOpsCases, checkSecondOrderOps, type Op, opsCases } from '../helpers/torch-ops.ts';

function opOf(c: RefCase): Op {
  const cfg = c.config as {
    size?: [number, number];
    kernel?: number;
    stride?: number;
    ceil_mode?: boolean;
  };
  switch (c.type) {
    case 'adaptiveAvgPool2d':
      return (x) => adaptiveAvgPool2d(x, cfg.size!);
    case 'maxPool2d':
      return (x) => maxPool2d(x, cfg.kernel!, cfg.stride!, cfg.ceil_mode!);
    default:
      throw new Error(`unknown op ${c.type}`);
  }
}

describe('torch-compatible pooling (adaptiveAvgPool2d, maxPool2d)', () => {
  before(async () => {
    await useTestBackend();
  });

  const cases = opsCases(['adaptiveAvgPool2d', 'maxPool2d']);
  test(`ops.json: ${cases.length} PyTorch cases (output and gradient)`, () => {
    assertOpsCases(cases, opOf);
  });

  test('second-order gradients through every op match finite differences', () => {
    checkSecondOrderOps([
      (t) => adaptiveAvgPool2d(t, [3, 4]),
      (t) => maxPool2d(t, 2, 2, true),
      (t) => maxPool2d(t, 3, 2, true),
    ]);
  });

  test('no tensors leak', () => {
    const x = uniform([1, 6, 5, 2], 1);
    assertNoLeak(() => adaptiveAvgPool2d(x, [4, 3]), 5);
    assertNoLeak(() => maxPool2d(x, 2, 2, true), 5);
    x.dispose();
  });

  test('bad inputs are errors that say what was expected', () => {
    assert.throws(() => maxPool2d(tf.zeros([1, 2, 2, 1]), 3), /kernel 3 is larger/);
    assert.throws(() => adaptiveAvgPool2d(tf.zeros([1, 2, 2, 1]), [0, 2]), /positive integers/);
  });
});
