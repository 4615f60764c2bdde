/**
 * Torch-compatible ops (bicubic resize, adaptive average pooling, max-pool ceil mode) against
 * PyTorch (test/reference/perceptual/ops.json, made by generate_perceptual.py): the output and
 * the gradient of sum(output · cotangent), plus second-order gradients and memory.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { adaptiveAvgPool2d, maxPool2d, resizeBicubic, ShapeError } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { loadCases, type RefCase, toTensor } from '../helpers/reference.ts';
import { assertClose, assertNoLeak, checkGradient, uniform } from '../helpers/tensors.ts';

type Op = (x: tf.Tensor) => tf.Tensor;

function opOf(c: RefCase): Op {
  const cfg = c.config as {
    size?: [number, number];
    kernel?: number;
    stride?: number;
    ceil_mode?: boolean;
  };
  switch (c.type) {
    case 'resizeBicubic':
      return (x) => resizeBicubic(x, cfg.size!);
    case 'adaptiveAvgPool2d':
      return (x) => adaptiveAvgPool2d(x, cfg.size!);
    case 'maxPool2d':
      return (x) => maxPool2d(x, cfg.kernel!, cfg.stride!, cfg.ceil_mode!);
    default:
      throw new Error(`unknown op ${c.type}`);
  }
}

describe('torch-compatible ops', () => {
  before(async () => {
    await useTestBackend();
  });

  const cases = loadCases('perceptual/ops.json');
  test(`ops.json: ${cases.length} PyTorch cases (output and gradient)`, () => {
    for (const c of cases) {
      tf.tidy(() => {
        const op = opOf(c);
        const x = toTensor(c.args[0].tensor);
        const cot = toTensor(c.cotangent!);
        assertClose(op(x), toTensor(c.output), { what: `${c.id}: output` });
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(op(t), cot)))(x);
        assertClose(g, toTensor(c.grads.x), { what: `${c.id}: gradient` });
      });
    }
  });

  test('second-order gradients through every op match finite differences', () => {
    // Distinct values at least 0.028 apart, so that no finite-difference step switches a maximum.
    const values = Array.from({ length: 70 }, (_, i) => -1 + (2 * ((i * 37) % 70)) / 70);
    const x = tf.tensor(values, [1, 5, 7, 2]);
    const ops: Op[] = [
      (t) => resizeBicubic(t, [9, 4]),
      (t) => adaptiveAvgPool2d(t, [3, 4]),
      (t) => maxPool2d(t, 2, 2, true),
      (t) => maxPool2d(t, 3, 2, true),
    ];
    for (const op of ops) {
      // f(x) = Σ (∂/∂x Σ op(x)³)² exercises the gradient of the gradient.
      const f = (t: tf.Tensor) =>
        tf.sum(tf.square(tf.grad((u: tf.Tensor) => tf.sum(tf.pow(op(u), 3)))(t)));
      checkGradient(f, [x], 0, { eps: 1e-2, atol: 5e-3, rtol: 3e-2 });
    }
    x.dispose();
  });

  test('no tensors leak', () => {
    const x = uniform([1, 6, 5, 2], 1);
    assertNoLeak(() => resizeBicubic(x, [4, 9]), 5);
    assertNoLeak(() => adaptiveAvgPool2d(x, [4, 3]), 5);
    assertNoLeak(() => maxPool2d(x, 2, 2, true), 5);
    x.dispose();
  });

  test('bad inputs are ShapeErrors that say what was expected', () => {
    assert.throws(
      () => resizeBicubic(tf.zeros([4, 4]), [2, 2]),
      (e: Error) => e instanceof ShapeError && /rank 4/.test(e.message),
    );
    assert.throws(() => maxPool2d(tf.zeros([1, 2, 2, 1]), 3), /kernel 3 is larger/);
    assert.throws(() => adaptiveAvgPool2d(tf.zeros([1, 2, 2, 1]), [0, 2]), /positive integers/);
  });
});
