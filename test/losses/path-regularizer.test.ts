/**
 * The path-length regulariser (src/losses/path-regularizer.ts): genPathRegularizer and
 * GenPathRegularizer. Batch size, the EMA and its running mean, 2-D latents, errors, memory over
 * 100 steps, NaN path lengths, and no leak when the generator throws. The PyTorch reference cases
 * are in penalties-reference.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { safeVariableGrads } from '../../src/autodiff/safe-gradients.ts';
import {
  ConfigError,
  chooseBackend,
  GenlossError,
  GenPathRegularizer,
  genPathRegularizer,
  NonFiniteLossError,
  type PathGenerator,
  pathBatchSize,
} from '../../src/index.ts';
import { assertClose, assertFailsWithoutLeak, assertNoLeak } from '../helpers/tensors.ts';

/** A tiny generator: z (n×2) → latent n×2×3 via a matrix; synthesis: latent → n×3×3×1 images. */
function tinyGenerator(seed = 1): { G: PathGenerator; vars: tf.Variable[]; calls: number[] } {
  const m = tf.variable(tf.randomUniform([2, 6], -1, 1, 'float32', seed));
  const s = tf.variable(tf.randomUniform([3, 9], -1, 1, 'float32', seed + 1));
  const calls: number[] = [];
  const G: PathGenerator = {
    mapping: (n) => {
      calls.push(n);
      return tf.reshape(tf.matMul(tf.randomNormal([n, 2], 0, 1, 'float32', seed + 2), m), [
        n,
        2,
        3,
      ]);
    },
    synthesis: (latent) => {
      const n = latent.shape[0]!;
      return tf.reshape(tf.tanh(tf.matMul(tf.mean(latent, 1) as tf.Tensor2D, s as tf.Tensor2D)), [
        n,
        3,
        3,
        1,
      ]);
    },
  };
  return { G, vars: [m, s], calls };
}

describe('path-length regulariser', () => {
  before(async () => {
    await chooseBackend('cpu');
  });

  test('batch size: shrink with a floor of 1, pl_batch_size overrides', () => {
    assert.equal(pathBatchSize(8), 8);
    assert.equal(pathBatchSize(8, 2), 4);
    assert.equal(pathBatchSize(5, 2), 2);
    assert.equal(pathBatchSize(3, 4), 1);
    assert.equal(pathBatchSize(8, 2, 3), 3);
    const { G, vars, calls } = tinyGenerator();
    tf.tidy(() => {
      genPathRegularizer(G, 7, 0, { pl_batch_shrink: 2 });
      genPathRegularizer(G, 7, 0, { pl_batch_shrink: 2, pl_batch_size: 5 });
    });
    assert.deepEqual(calls, [3, 5]);
    tf.dispose(vars);
  });

  test('EMA: decay 0 keeps the mean, decay 1 replaces it; pm is returned detached', () => {
    const { G, vars } = tinyGenerator(3);
    tf.tidy(() => {
      const noise = tf.randomNormal([2, 3, 3, 1], 0, 1, 'float32', 5);
      const [, keep] = genPathRegularizer(G, 2, 0.5, { decay: 0, noise });
      assertClose(keep, 0.5, { atol: 0, rtol: 0 });
      const [penalty, replace, pl] = genPathRegularizer(G, 2, 0.5, { decay: 1, noise });
      assertClose(replace, tf.mean(pl));
      assert.ok(penalty.dataSync()[0] >= 0, 'penalty ≥ 0');
      const g = tf.grad((t: tf.Tensor) => genPathRegularizer(G, 2, t, { noise })[1])(
        tf.scalar(0.3),
      );
      assertClose(g, 0, { atol: 0, rtol: 0 });
    });
    tf.dispose(vars);
  });

  test('GenPathRegularizer keeps the running mean in a tf.Variable, loss_weight multiplies', () => {
    const { G, vars } = tinyGenerator(5);
    const module = new GenPathRegularizer({ loss_weight: 2, decay: 0.5 });
    assert.equal(module.meanPathLength.trainable, false);
    tf.tidy(() => {
      const noise = tf.randomNormal([2, 3, 3, 1], 0, 1, 'float32', 6);
      const [penalty, pm] = genPathRegularizer(G, 2, 0, { decay: 0.5, noise });
      assertClose(module.forward(G, 2, { noise }), tf.mul(penalty, 2));
      assertClose(module.meanPathLength, pm);
      const [, pm2] = genPathRegularizer(G, 2, pm, { decay: 0.5, noise });
      const { grads } = tf.variableGrads(() => module.forward(G, 2, { noise }) as tf.Scalar, vars);
      assertClose(module.meanPathLength, pm2);
      assert.equal(Object.keys(grads).length, 2);
    });
    const before = tf.memory().numTensors;
    module.dispose();
    assert.equal(tf.memory().numTensors, before - 1);
    tf.dispose(vars);
  });

  test('2-D latents (n×S) are read as n×1×S', () => {
    tf.tidy(() => {
      const w = tf.randomUniform([4, 6], -1, 1, 'float32', 8);
      const G2d: PathGenerator = {
        mapping: (n) => tf.randomNormal([n, 4], 0, 1, 'float32', 9),
        synthesis: (lat) =>
          tf.reshape(tf.tanh(tf.matMul(lat as tf.Tensor2D, w as tf.Tensor2D)), [
            lat.shape[0]!,
            2,
            3,
            1,
          ]),
      };
      const G3d: PathGenerator = {
        mapping: (n) => tf.reshape(G2d.mapping(n), [n, 1, 4]),
        synthesis: (lat) => G2d.synthesis(tf.reshape(lat, [lat.shape[0]!, 4])),
      };
      const noise = tf.randomNormal([2, 2, 3, 1], 0, 1, 'float32', 10);
      const a = genPathRegularizer(G2d, 2, 0.1, { noise });
      const b = genPathRegularizer(G3d, 2, 0.1, { noise });
      for (const [i, t] of a.entries()) assertClose(t, b[i]);
    });
  });

  test('errors', () => {
    const { G, vars } = tinyGenerator(7);
    tf.tidy(() => {
      assert.throws(
        () => genPathRegularizer((() => 1) as never, 2, 0),
        /'generator' must be \{mapping/,
      );
      assert.throws(
        () => genPathRegularizer(G, 0, 0),
        /'num_batches' must be a positive integer, got 0/,
      );
      assert.throws(() => genPathRegularizer(G, 2, 0, { pl_batch_shrink: 1.5 }), ConfigError);
      assert.throws(
        () => genPathRegularizer(G, 2, tf.ones([2]), {}),
        /'mean_path_length' must be a number or a one-element tensor/,
      );
      assert.throws(
        () => genPathRegularizer(G, 2, 0, { noise: tf.ones([2, 4, 4, 1]) }),
        /'noise' must have the images' shape \[2, 3, 3, 1\], got a float32 tensor of shape \[2, 4, 4, 1\]/,
      );
      const bad: PathGenerator = { mapping: (n) => tf.ones([n + 1, 2, 3]), synthesis: G.synthesis };
      assert.throws(() => genPathRegularizer(bad, 2, 0), /must return 2 latents/);
      const flat: PathGenerator = {
        mapping: G.mapping,
        synthesis: (l) => tf.ones([l.shape[0]!, 9]),
      };
      assert.throws(
        () => genPathRegularizer(flat, 2, 0),
        /'generator.synthesis\(latent\)' must have rank 4/,
      );
      assert.throws(
        () => new GenPathRegularizer({ pl_batch_shrink: 0 }),
        /option 'pl_batch_shrink'/,
      );
    });
    tf.dispose(vars);
  });

  test('100 steps of GenPathRegularizer (with gradients) leave tf.memory().numTensors flat', () => {
    const { G, vars } = tinyGenerator(9);
    const module = new GenPathRegularizer({ pl_batch_shrink: 2 });
    assertNoLeak(() => {
      const { value, grads } = tf.variableGrads(() => module.forward(G, 4) as tf.Scalar, vars);
      return [value, ...Object.values(grads)];
    });
    assertNoLeak(() => genPathRegularizer(G, 2, 0.1));
    module.dispose();
    tf.dispose(vars);
  });

  test('a NaN path length raises NonFiniteLossError before the update: the mean stays, later calls are finite', () => {
    const { G, vars } = tinyGenerator(11);
    const nanG: PathGenerator = {
      mapping: G.mapping,
      synthesis: (latent) => tf.mul(G.synthesis(latent), Number.NaN),
    };
    const module = new GenPathRegularizer({ decay: 0.5 });
    tf.dispose(module.forward(G, 2));
    const mean = module.meanPathLength.dataSync()[0];
    assert.ok(Number.isFinite(mean) && mean > 0);
    const count = tf.memory().numTensors;
    for (const withGrads of [false, true]) {
      assert.throws(
        () =>
          withGrads
            ? safeVariableGrads(() => module.forward(nanG, 2) as tf.Scalar, vars)
            : module.forward(nanG, 2),
        (e: Error) =>
          e instanceof NonFiniteLossError &&
          e.lossKey === 'loss_path_regular' &&
          e.message ===
            `GenPathRegularizer: 'mean_path_length' must stay finite, got NaN from non-finite path lengths; it was left at ${mean}`,
      );
      assert.equal(module.meanPathLength.dataSync()[0], mean);
      assert.equal(tf.memory().numTensors, count, 'no tensor leaked by the failed call');
    }
    const next = module.forward(G, 2);
    assert.ok(Number.isFinite(next.dataSync()[0]));
    assert.ok(Number.isFinite(module.meanPathLength.dataSync()[0]));
    next.dispose();
    module.dispose();
    tf.dispose(vars);
  });
});

describe('the path regulariser leaves no tensors behind when the generator throws', () => {
  before(async () => {
    await chooseBackend('cpu');
  });

  test('a generator that throws mid-synthesis: 100 failing path-regulariser calls leak nothing', () => {
    const { G, vars } = tinyGenerator(13);
    const failing: PathGenerator = {
      mapping: G.mapping,
      synthesis: (latent) => {
        tf.tanh(G.synthesis(latent));
        throw new Error('synthesis failed');
      },
    };
    tf.dispose(genPathRegularizer(G, 2, 0));
    assertFailsWithoutLeak(
      () => genPathRegularizer(failing, 2, 0),
      (e: Error) =>
        e instanceof GenlossError &&
        /genPathRegularizer: TF.js could not differentiate 'generator.synthesis': synthesis failed/.test(
          e.message,
        ),
    );
    tf.dispose(vars);
  });
});
