/**
 * GaussianBlur (src/ops/gaussian-blur.ts), smgan's mask blur: values, axes, the separable passes
 * against a direct convolution, errors and memory. Its PyTorch reference cases are run with
 * test/reference/gan.json's in test/losses/gan.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  chooseBackend,
  GaussianBlur,
  gaussianBlur,
  gaussianKernel2d,
  ShapeError,
} from '../../src/index.ts';
import { assertClose, assertNoLeak } from '../helpers/tensors.ts';

describe('GaussianBlur', () => {
  before(async () => {
    await chooseBackend('cpu');
  });

  test("MMagic's values: the default 71×71, σ 10 kernel on a 6×6 ones mask", () => {
    tf.tidy(() => {
      const out = new GaussianBlur().forward(tf.ones([1, 6, 6, 1]));
      const v = out.dataSync();
      assertClose(v[2 * 6 + 2], 0.05557, { atol: 1e-5, rtol: 0 });
      assertClose(v[0], 0.05242, { atol: 1e-5, rtol: 0 });
    });
  });

  test('kernel_size[0] and sigma[0] act along H', () => {
    const k = gaussianKernel2d([5, 1], [1, 1]);
    assert.equal(k.length, 5);
    assert.equal(k[0].length, 1);
    tf.tidy(() => {
      const impulse = tf.buffer([1, 5, 5, 1]);
      impulse.set(1, 0, 2, 2, 0);
      const out = gaussianBlur(impulse.toTensor(), { kernel_size: [5, 1], sigma: [1, 1] });
      const column = tf.slice(out, [0, 0, 2, 0], [1, 5, 1, 1]);
      assertClose(tf.sum(column), 1, { atol: 1e-6 });
      assertClose(tf.sum(out), 1, { atol: 1e-6 });
    });
  });

  test('equals the direct 2-D depthwise convolution (separable passes are exact)', () => {
    tf.tidy(() => {
      const x = tf.randomUniform([2, 7, 6, 3], 0, 1, 'float32', 5);
      const k = gaussianKernel2d([5, 3], [1.2, 0.8]);
      const filter = tf.tile(tf.reshape(tf.tensor(k.flat()), [5, 3, 1, 1]), [1, 1, 3, 1]);
      const direct = tf.depthwiseConv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same');
      assertClose(gaussianBlur(x, { kernel_size: [5, 3], sigma: [1.2, 0.8] }), direct, {
        atol: 1e-6,
      });
    });
  });

  test('errors (ConfigError at construction, ShapeError for the input)', () => {
    assert.throws(
      () => new GaussianBlur({ kernel_size: 71 as never, sigma: 2 as never }),
      ConfigError,
    );
    assert.throws(
      () => new GaussianBlur({ kernel_size: [70, 70] }),
      /GaussianBlur: 'kernel_size' must be a pair \[kh, kw\] of odd positive integers.*got \[70,70\]/,
    );
    assert.throws(() => new GaussianBlur({ kernel_size: [3, -1] }), ConfigError);
    assert.throws(() => new GaussianBlur({ sigma: [1, 0] }), /'sigma' must be a pair/);
    const blur = new GaussianBlur({ kernel_size: [3, 3], sigma: [1, 1] });
    assert.throws(() => blur.forward([[1, 2]] as never), ShapeError);
    tf.tidy(() => {
      assert.throws(
        () => blur.forward(tf.ones([4, 4])),
        (e: Error) =>
          e instanceof ShapeError && /GaussianBlur: 'x' must have rank 4 \(NHWC\)/.test(e.message),
      );
    });
  });

  test('no tensor leaks over 100 calls', () => {
    const x = tf.ones([1, 6, 6, 1]);
    const blur = new GaussianBlur();
    assertNoLeak(() => blur.forward(x));
    x.dispose();
  });
});
