/**
 * Call forms: MMagic passes optional arguments positionally (`l1_loss(pred, target, weight)`),
 * genloss by name in one options object. A tensor (or any non-object) in the options position is
 * a ConfigError showing genloss's call, never silently ignored, and a compile-time error too
 * (the `@ts-expect-error` lines fail the type check if it is not). `target_is_real`/`is_disc`
 * must be booleans. Empty and disposed tensors are ShapeErrors at the functional entry points.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  charbonnierLoss,
  checkSecondOrder,
  discShiftLoss,
  GANLoss,
  GANLossComps,
  GaussianBlur,
  GenPathRegularizer,
  ganLoss,
  gaussianBlur,
  genPathRegularizer,
  gradientLoss,
  gradientPenaltyLoss,
  l1Loss,
  MaskedTVLoss,
  maskReduceLoss,
  mseLoss,
  r1GradientPenaltyLoss,
  reduceLoss,
  tvLoss,
} from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';

before(async () => {
  await useTestBackend();
});

const optionsError = (call: string) => ({
  name: 'ConfigError',
  message: new RegExp(`must be an options object, got a float32 tensor.*${escapeRegExp(call)}`),
});
const escapeRegExp = (s: string) => s.replace(/[()[\]{}.*+?^$|\\]/g, '\\$&');

describe('a tensor where an options object belongs is refused, naming the right call', () => {
  test('l1Loss, mseLoss, charbonnierLoss (MMagic l1_loss(pred, target, weight))', () => {
    tf.tidy(() => {
      const pred = tf.ones([1, 2, 2, 1]);
      const target = tf.zeros([1, 2, 2, 1]);
      const w = tf.zeros([1, 2, 2, 1]);
      // @ts-expect-error MMagic's positional weight is not genloss's call form.
      assert.throws(() => l1Loss(pred, target, w), optionsError('l1Loss(pred, target, {weight'));
      // @ts-expect-error as above
      assert.throws(() => mseLoss(pred, target, w), optionsError('mseLoss(pred, target, {'));
      assert.throws(
        // @ts-expect-error as above
        () => charbonnierLoss(pred, target, w),
        optionsError('charbonnierLoss(pred, target, {weight, reduction, sample_wise, eps})'),
      );
      assert.equal(l1Loss(pred, target, { weight: w }).dataSync()[0], 0);
    });
  });

  test("maskReduceLoss(loss, w, 'sum') is an error, not 1.5", () => {
    tf.tidy(() => {
      const loss = tf.tensor4d([1, 2, 3, 0], [1, 2, 2, 1]);
      const w = tf.zeros([1, 2, 2, 1]);
      assert.throws(
        // @ts-expect-error MMagic's mask_reduce_loss(loss, weight, reduction)
        () => maskReduceLoss(loss, w, 'sum'),
        optionsError('maskReduceLoss(loss, {weight, reduction, sample_wise})'),
      );
      assert.equal(maskReduceLoss(loss, { weight: w, reduction: 'sum' }).dataSync()[0], 0);
    });
  });

  test('gradientLoss, ganLoss, gaussianBlur, GaussianBlur, checkSecondOrder, discShiftLoss', () => {
    tf.tidy(() => {
      const x = tf.ones([1, 4, 4, 1]);
      // @ts-expect-error positional weight
      assert.throws(() => gradientLoss(x, x, x), optionsError('gradientLoss(pred, target, {'));
      assert.throws(
        // @ts-expect-error positional is_disc
        () => ganLoss(x, true, x),
        optionsError('ganLoss(input, target_is_real, {gan_type'),
      );
      assert.throws(
        // @ts-expect-error positional kernel
        () => gaussianBlur(x, x),
        optionsError('gaussianBlur(x, {kernel_size, sigma})'),
      );
      // @ts-expect-error positional kernel
      assert.throws(() => new GaussianBlur(x), optionsError('new GaussianBlur({kernel_size'));
      assert.throws(
        // @ts-expect-error positional eps
        () => checkSecondOrder((a) => a, [x], x),
        optionsError('checkSecondOrder(fn, inputs, {eps, seed, entries})'),
      );
      assert.throws(
        // @ts-expect-error mmgen's weighted_loss takes weight by keyword only
        () => discShiftLoss(x, x),
        optionsError('discShiftLoss(pred, {weight, reduction, avg_factor})'),
      );
    });
  });

  test('gradientPenaltyLoss and r1GradientPenaltyLoss (MMagic passes mask positionally)', () => {
    tf.tidy(() => {
      const x = tf.ones([1, 4, 4, 1]);
      const d = (t: tf.Tensor) => tf.sum(t, [1, 2, 3]);
      assert.throws(
        // @ts-expect-error positional mask
        () => gradientPenaltyLoss(d, x, x, x),
        optionsError('gradientPenaltyLoss(discriminator, real_data, fake_data, {mask'),
      );
      assert.throws(
        // @ts-expect-error positional mask
        () => r1GradientPenaltyLoss(d, x, x),
        optionsError('r1GradientPenaltyLoss(discriminator, real_data, {mask'),
      );
    });
  });
});

test('genPathRegularizer and GenPathRegularizer.forward (MMagic passes the draws positionally)', () => {
  tf.tidy(() => {
    const generator = {
      mapping: (n: number) => tf.ones([n, 2, 3]),
      synthesis: (w: tf.Tensor) => tf.reshape(tf.tile(w, [1, 1, 8]), [-1, 4, 4, 3]),
    };
    const noise = tf.ones([2, 4, 4, 3]);
    assert.throws(
      // @ts-expect-error positional shrink
      () => genPathRegularizer(generator, 2, 0, noise),
      optionsError('genPathRegularizer(generator, num_batches, mean_path_length, {'),
    );
    const regularizer = new GenPathRegularizer();
    assert.throws(
      // @ts-expect-error positional noise
      () => regularizer.forward(generator, 2, noise),
      optionsError('GenPathRegularizer.forward(generator, num_batches, {noise, loss_scaler})'),
    );
    regularizer.dispose();
  });
});

describe('target_is_real and is_disc must be booleans', () => {
  for (const cls of [GANLoss, GANLossComps]) {
    test(`${cls.lossType}.forward(x, 'yes') and forward(x) are ConfigErrors`, () => {
      const loss = new cls({ gan_type: 'vanilla' });
      tf.tidy(() => {
        const x = tf.ones([2, 1]);
        assert.throws(
          // @ts-expect-error a string is not a boolean
          () => loss.forward(x, 'yes'),
          {
            name: 'ConfigError',
            message: `${cls.lossType}: 'target_is_real' must be true or false, got 'yes'`,
          },
        );
        // @ts-expect-error target_is_real is required
        assert.throws(() => loss.forward(x), {
          name: 'ConfigError',
          message: `${cls.lossType}: 'target_is_real' must be true or false, got undefined`,
        });
        // @ts-expect-error is_disc must be a boolean
        assert.throws(() => loss.forward(x, true, 1), {
          name: 'ConfigError',
          message: `${cls.lossType}: 'is_disc' must be true or false, got 1`,
        });
      });
    });
  }
});

describe('empty and disposed tensors are ShapeErrors at the functional entry points', () => {
  const d = (t: tf.Tensor) => tf.sum(t, [1, 2, 3]);
  const calls: [string, (x: tf.Tensor, ok: tf.Tensor) => unknown][] = [
    ['l1Loss', (x, ok) => l1Loss(x, ok)],
    ['mseLoss', (x, ok) => mseLoss(ok, x)],
    ['charbonnierLoss', (x, ok) => charbonnierLoss(x, ok)],
    ['maskReduceLoss', (x) => maskReduceLoss(x)],
    ['reduceLoss', (x) => reduceLoss(x, 'mean')],
    ['tvLoss', (x) => tvLoss(x)],
    ['gradientLoss', (x, ok) => gradientLoss(ok, x)],
    ['ganLoss', (x) => ganLoss(x, true, { gan_type: 'hinge', is_disc: true })],
    ['discShiftLoss', (x) => discShiftLoss(x)],
    ['gaussianBlur', (x) => gaussianBlur(x, { kernel_size: [3, 3], sigma: [1, 1] })],
    ['gradientPenaltyLoss', (x, ok) => gradientPenaltyLoss(d, ok, x)],
    ['r1GradientPenaltyLoss', (x) => r1GradientPenaltyLoss(d, x)],
  ];
  for (const [name, call] of calls) {
    test(name, () => {
      const empty = tf.ones([0, 4, 4, 3]);
      const before = tf.memory().numTensors;
      assert.throws(() => call(empty, empty), {
        name: 'ShapeError',
        message: new RegExp(`^${name}: '\\w+' is empty \\(shape \\[0, 4, 4, 3\\]`),
      });
      const live = tf.ones([2, 4, 4, 3]);
      const disposed = tf.ones([2, 4, 4, 3]);
      disposed.dispose();
      assert.throws(() => call(disposed, live), {
        name: 'ShapeError',
        message: new RegExp(`^${name}: '\\w+' is a disposed tensor`),
      });
      live.dispose();
      empty.dispose();
      assert.equal(tf.memory().numTensors, before - 1);
    });
  }

  test('MaskedTVLoss needs H ≥ 2 and W ≥ 2', () => {
    const loss = new MaskedTVLoss();
    for (const shape of [
      [1, 1, 4, 1],
      [1, 4, 1, 1],
    ]) {
      tf.tidy(() => {
        assert.throws(() => loss.forward(tf.ones(shape), tf.ones(shape)), {
          name: 'ShapeError',
          message: /^MaskedTVLoss: 'pred' needs H ≥ 2 and W ≥ 2/,
        });
      });
    }
    tf.tidy(() => {
      assert.throws(() => loss.forward(tf.ones([1, 0, 4, 1]), tf.ones([1, 0, 4, 1])), {
        name: 'ShapeError',
        message: /^MaskedTVLoss: 'pred' is empty/,
      });
    });
  });
});
