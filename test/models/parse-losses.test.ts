import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { GenlossError, parseLosses } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';

before(useTestBackend);

const values = (log: Record<string, tf.Scalar>) =>
  Object.fromEntries(Object.entries(log).map(([k, v]) => [k, v.dataSync()[0]]));

describe('parseLosses (mmengine BaseModel.parse_losses)', () => {
  test('means every value, sums keys containing "loss", logs all in order, loss first', () => {
    tf.tidy(() => {
      const { loss, log_vars } = parseLosses({
        loss_gan: tf.tensor1d([1, 3]),
        acc: tf.scalar(0.75),
        disc_losses: tf.scalar(0.5),
        loss_list: [tf.tensor1d([1, 1]), tf.tensor2d([[2, 4]])],
        loss_shift: tf.tensor2d([
          [1, 2],
          [3, 4],
        ]),
      });
      assert.deepEqual(Object.keys(log_vars), [
        'loss',
        'loss_gan',
        'acc',
        'disc_losses',
        'loss_list',
        'loss_shift',
      ]);
      assert.deepEqual(values(log_vars), {
        loss: 2 + 0.5 + 4 + 2.5,
        loss_gan: 2,
        acc: 0.75,
        disc_losses: 0.5,
        loss_list: 4,
        loss_shift: 2.5,
      });
      assert.equal(loss.dataSync()[0], 9);
    });
  });

  test('a key that is itself a sum of loss keys is counted twice, as in mmengine', () => {
    tf.tidy(() => {
      const a = tf.scalar(1);
      const b = tf.scalar(2);
      const { loss } = parseLosses({ loss_a: a, loss_b: b, loss_g: tf.add(a, b) });
      assert.equal(loss.dataSync()[0], 6);
    });
  });

  test('no loss keys give a zero total; a non-tensor value is an error', () => {
    tf.tidy(() => {
      assert.equal(parseLosses({ acc: tf.scalar(1) }).loss.dataSync()[0], 0);
      assert.throws(
        () => parseLosses({ loss_x: null as unknown as tf.Tensor }),
        (e: Error) =>
          e instanceof GenlossError &&
          /'loss_x' must be a tensor or a list of tensors, got null/.test(e.message),
      );
    });
  });

  test('the total is differentiable', () => {
    tf.tidy(() => {
      const g = tf.grad((x: tf.Tensor) => parseLosses({ loss_a: tf.square(x), acc: x }).loss)(
        tf.tensor1d([1, 2]),
      );
      assert.deepEqual(Array.from(g.dataSync()), [1, 2]);
    });
  });
});
