/**
 * AdvLoss (DeblurGANv2): closed-form values, the relativistic pools, errors and memory. The
 * PyTorch reference sequences (adv.json) run in penalties-reference.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  AdvLoss,
  ConfigError,
  chooseBackend,
  GenlossError,
  LOSSES,
  ShapeError,
} from '../../src/index.ts';
import { assertClose, assertNoLeak } from '../helpers/tensors.ts';

/** A discriminator scoring each sample by its mean: N×H×W×C → N×1. */
const meanD = (x: tf.Tensor) => tf.mean(x, [1, 2, 3]).reshape([-1, 1]);
const bce = (x: number, t: number) => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('AdvLoss', () => {
  before(async () => {
    await chooseBackend('cpu');
  });

  test('gan, lsgan (L1, as MMagic), wgan-gp: closed-form values', () => {
    tf.tidy(() => {
      const fake = tf.fill([2, 3, 3, 1], 0.5);
      const real = tf.fill([2, 3, 3, 1], 2);
      const gan = new AdvLoss({ loss_type: 'gan' });
      assertClose(gan.forward(meanD, fake, real), 0.5 * (bce(0.5, 0) + bce(2, 1)), { rtol: 1e-6 });
      assertClose(gan.forward(meanD, fake, real, 'generator'), bce(0.5, 1), { rtol: 1e-6 });
      const lsgan = new AdvLoss({ loss_type: 'lsgan' });
      assertClose(lsgan.forward(meanD, fake, real), 0.5 * (0.5 + 1), { rtol: 1e-6 });
      assertClose(lsgan.forward(meanD, fake, real, 'anything else'), 0.5, { rtol: 1e-6 });
      // wgan-gp with D = mean: the input gradient is 1/9 per pixel, so the pixel-norm GP is (1/9 − 1)².
      const wgan = new AdvLoss({ loss_type: 'wgan-gp', loss_weight: 2 });
      const gp = (1 / 9 - 1) ** 2;
      assertClose(wgan.forward(meanD, fake, real), 2 * (0.5 - 2 + 10 * gp), { rtol: 1e-5 });
      assertClose(wgan.forward(meanD, fake, real, 'generator'), 2 * -0.5, { rtol: 1e-6 });
      assert.deepEqual(gan.poolSizes(), [0, 0]);
    });
  });

  test('discriminator calls detach fakeB; generator calls reach it', () => {
    tf.tidy(() => {
      const fake = tf.randomUniform([2, 3, 3, 1], -1, 1, 'float32', 1);
      const real = tf.randomUniform([2, 3, 3, 1], -1, 1, 'float32', 2);
      for (const loss_type of ['gan', 'lsgan', 'wgan-gp', 'ragan', 'ragan-ls'] as const) {
        const module = new AdvLoss({ loss_type });
        const gd = tf.grad((f: tf.Tensor) => module.forward(meanD, f, real))(fake);
        assertClose(gd, tf.zerosLike(fake), { atol: 0, rtol: 0, what: loss_type });
        const gg = tf.grad((f: tf.Tensor) => module.forward(meanD, f, real, 'generator'))(fake);
        assert.ok(tf.max(tf.abs(gg)).dataSync()[0] > 0, `${loss_type}: generator gradient`);
        module.dispose();
      }
    });
  });

  test('ragan / ragan-ls: pools of the last 50 per-sample outputs, read by generator calls', () => {
    for (const loss_type of ['ragan', 'ragan-ls'] as const) {
      const module = new AdvLoss({ loss_type });
      const fakes: number[] = [];
      const reals: number[] = [];
      for (let step = 0; step < 30; step++) {
        tf.tidy(() => {
          const fake = tf.randomUniform([2, 2, 2, 1], -1, 1, 'float32', 100 + step);
          const real = tf.randomUniform([2, 2, 2, 1], -1, 1, 'float32', 200 + step);
          fakes.push(...meanD(fake).dataSync());
          reals.push(...meanD(real).dataSync());
          const pf = mean(fakes.slice(-50));
          const pr = mean(reals.slice(-50));
          const df = Array.from(meanD(fake).dataSync());
          const dr = Array.from(meanD(real).dataSync());
          const disc =
            loss_type === 'ragan'
              ? 0.5 * (mean(dr.map((v) => bce(v - pf, 1))) + mean(df.map((v) => bce(v - pr, 0))))
              : 0.5 *
                (mean(dr.map((v) => (v - pf - 1) ** 2)) + mean(df.map((v) => (v - pr + 1) ** 2)));
          assertClose(module.forward(meanD, fake, real), disc, {
            what: `${loss_type} disc ${step}`,
          });
          const gen =
            loss_type === 'ragan'
              ? 0.5 * (mean(dr.map((v) => bce(v - pf, 0))) + mean(df.map((v) => bce(v - pr, 1))))
              : 0.5 *
                (mean(dr.map((v) => (v - pf + 1) ** 2)) + mean(df.map((v) => (v - pr - 1) ** 2)));
          assertClose(module.forward(meanD, fake, real, 'generator'), gen, {
            what: `${loss_type} gen ${step}`,
          });
        });
      }
      assert.deepEqual(module.poolSizes(), [50, 50]);
      const before = tf.memory().numTensors;
      module.dispose();
      assert.equal(tf.memory().numTensors, before - 2, 'dispose frees both pools');
      assert.deepEqual(module.poolSizes(), [0, 0]);
    }
  });

  test('errors: generator before discriminator, unknown loss_type, bad inputs', () => {
    const ragan = new AdvLoss({ loss_type: 'ragan' });
    tf.tidy(() => {
      const x = tf.ones([2, 3, 3, 1]);
      assert.throws(
        () => ragan.forward(meanD, x, x, 'generator'),
        (e: Error) =>
          e instanceof GenlossError &&
          /AdvLoss: the fake pool.*empty: call the loss with model 'discriminator' before the generator/.test(
            e.message,
          ),
      );
      assert.throws(
        () => LOSSES.build({ type: 'AdvLoss', loss_type: 'wgan' }),
        (e: Error) =>
          e instanceof ConfigError && /AdvLoss: option 'loss_type' must be one of/.test(e.message),
      );
      assert.throws(
        () => ragan.forward('D' as never, x, x),
        /AdvLoss\(ragan\): 'net' must be a function/,
      );
      assert.throws(() => ragan.forward(meanD, x, tf.ones([2, 3, 3, 3])), ShapeError);
      assert.throws(() => ragan.forward(meanD, tf.ones([3, 3, 1]), x), /'fakeB' must have rank 4/);
      assert.throws(
        () => ragan.forward(() => [1] as never, x, x),
        /'net' must return a float32 tf.Tensor/,
      );
      ragan.forward(meanD, x, x);
      assert.throws(
        () => ragan.forward((t) => tf.reshape(t, [2, -1]), x, x),
        (e: Error) =>
          e instanceof ShapeError && /per sample changed from \[1\] to \[9\]/.test(e.message),
      );
    });
    ragan.dispose();
  });

  test('100 discriminator and generator steps (with gradients) leave tf.memory().numTensors flat', () => {
    const w = tf.variable(tf.randomUniform([3, 3, 1, 1], -0.5, 0.5, 'float32', 3));
    const D = (x: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid');
    const fake = tf.randomUniform([2, 4, 4, 1], -1, 1, 'float32', 4);
    const real = tf.randomUniform([2, 4, 4, 1], -1, 1, 'float32', 5);
    for (const loss_type of ['ragan-ls', 'wgan-gp'] as const) {
      const module = new AdvLoss({ loss_type });
      module.forward(D, fake, real).dispose();
      assertNoLeak(() => {
        const d = tf.variableGrads(() => module.forward(D, fake, real) as tf.Scalar, [w]);
        const g = tf.variableGrads(
          () => module.forward(D, fake, real, 'generator') as tf.Scalar,
          [w],
        );
        return [d.value, g.value, ...Object.values(d.grads), ...Object.values(g.grads)];
      });
      module.dispose();
    }
    tf.dispose([w, fake, real]);
  });
});
