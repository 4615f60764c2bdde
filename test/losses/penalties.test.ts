/**
 * Gradient penalty, R1 and DiscShiftLoss (src/losses/penalties.ts): MMagic's unit-test values
 * (tests/test_models/test_losses/test_gradient_loss.py) and closed-form values, masks (masked
 * positions, all-zero masks), a `tf.layers` discriminator against the same network in plain ops,
 * injectable and seeded draws, errors, and memory over 100 steps. The path-length regulariser is
 * in path-regularizer.test.ts; the PyTorch reference cases are in penalties-reference.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  chooseBackend,
  DiscShiftLoss,
  defaultGenerator,
  discShiftLoss,
  GenlossError,
  GradientPenaltyLoss,
  gradientPenaltyLoss,
  LOSSES,
  manualSeed,
  r1GradientPenaltyLoss,
  SeedGenerator,
  ShapeError,
} from '../../src/index.ts';
import { dcganDiscriminator } from '../../src/train/architectures.ts';
import { assertClose, assertFailsWithoutLeak, assertNoLeak } from '../helpers/tensors.ts';

const identity = (x: tf.Tensor) => x;

/** 1×6×6×3 ones with a 2×2 hole at rows and columns 2–3 (MMagic's test mask). */
function holeMask(channels = 3): tf.Tensor {
  const b = tf.buffer([1, 6, 6, channels]);
  for (let i = 0; i < 6; i++)
    for (let j = 0; j < 6; j++)
      for (let c = 0; c < channels; c++)
        b.set(i >= 2 && i < 4 && j >= 2 && j < 4 ? 0 : 1, 0, i, j, c);
  return b.toTensor();
}

/** A small plain-op discriminator with its weights as variables: conv 3×3 → lReLU → mean → linear. */
function smallD(seed = 1): { D: (x: tf.Tensor) => tf.Tensor; vars: tf.Variable[] } {
  const w = tf.variable(tf.randomUniform([3, 3, 3, 4], -0.5, 0.5, 'float32', seed));
  const b = tf.variable(tf.randomUniform([4], -0.1, 0.1, 'float32', seed + 1));
  const fc = tf.variable(tf.randomUniform([4, 1], -0.5, 0.5, 'float32', seed + 2));
  const D = (x: tf.Tensor) =>
    tf.matMul(
      tf.mean(
        tf.leakyRelu(tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), b), 0.2),
        [1, 2],
      ) as tf.Tensor2D,
      fc as tf.Tensor2D,
    );
  return { D, vars: [w, b, fc] };
}

function allFinite(ts: tf.Tensor[]): boolean {
  return ts.every((t) => Array.from(t.dataSync()).every(Number.isFinite));
}

describe('gradient penalty and R1', () => {
  before(async () => {
    await chooseBackend('cpu');
  });

  test("MMagic's unit-test values with the identity discriminator", () => {
    tf.tidy(() => {
      const twos = tf.fill([1, 6, 6, 3], 2);
      const gp = new GradientPenaltyLoss({ loss_weight: 10 });
      assertClose(gp.forward(identity, twos, twos), 5.358983, { atol: 1e-6, rtol: 1e-6 });
      assertClose(gp.forward(identity, twos, twos, holeMask()), 6.608983, {
        atol: 1e-6,
        rtol: 1e-6,
      });
      assertClose(r1GradientPenaltyLoss(identity, twos, { mask: holeMask() }), 3, { atol: 1e-6 });
      // HWC: one norm per sample, √108 for 6·6·3 ones; R1's HWC is H·W times its pixel value.
      assertClose(
        gradientPenaltyLoss(identity, twos, twos, { norm_mode: 'HWC' }),
        (Math.sqrt(108) - 1) ** 2,
        {
          rtol: 1e-6,
        },
      );
      assertClose(r1GradientPenaltyLoss(identity, twos, { norm_mode: 'HWC' }), 108, { rtol: 1e-6 });
      // A 1-channel mask broadcasts over C.
      assertClose(r1GradientPenaltyLoss(identity, twos, { mask: holeMask(1) }), 3, { atol: 1e-6 });
    });
  });

  test("DiscShiftLoss: MMagic's 0.001 on [0.1]; discShiftLoss is x² unreduced", () => {
    tf.tidy(() => {
      assertClose(new DiscShiftLoss().forward(tf.tensor([0.1])), 0.001, { rtol: 1e-6 });
      assertClose(discShiftLoss(tf.tensor([[1, -2]])), tf.tensor([[1, 4]]));
      const built = LOSSES.build({ type: 'DiscShiftLoss', loss_weight: 1 }) as DiscShiftLoss;
      assertClose(built.forward(tf.tensor([1, 3])), 5);
    });
  });

  test('masked positions: zero input gradient there, no NaN anywhere (pixel norm at 0)', () => {
    tf.tidy(() => {
      // A per-pixel discriminator: masked pixels get exactly zero gradient w.r.t. the image.
      const w = tf.variable(tf.tensor([0.7, -0.4, 0.9]));
      const D = (x: tf.Tensor) => tf.tanh(tf.mul(x, w));
      const real = tf.randomUniform([1, 6, 6, 3], -1, 1, 'float32', 11);
      const mask = holeMask(1);
      for (const norm_mode of ['pixel', 'HWC'] as const) {
        const r1 = (x: tf.Tensor) => r1GradientPenaltyLoss(D, x, { mask, norm_mode });
        const gx = tf.grad(r1)(real);
        const hole = tf.slice(gx, [0, 2, 2, 0], [1, 2, 2, 3]);
        assertClose(hole, tf.zerosLike(hole), { atol: 0, rtol: 0 });
        const { grads } = tf.variableGrads(() => r1(real) as tf.Scalar, [w]);
        const gp = () => gradientPenaltyLoss(D, real, real, { mask, norm_mode }) as tf.Scalar;
        const gpGrads = tf.variableGrads(gp, [w]).grads;
        assert.ok(allFinite([gx, grads[w.name], gpGrads[w.name], gp()]), norm_mode);
      }
      // A conv discriminator (spatial coupling): the gradients w.r.t. its weights stay finite.
      const { D: convD, vars } = smallD();
      const { value, grads } = tf.variableGrads(
        () => gradientPenaltyLoss(convD, real, tf.zerosLike(real), { mask }) as tf.Scalar,
        vars,
      );
      assert.ok(allFinite([value, ...Object.values(grads)]), 'conv D: finite');
      tf.dispose([w, ...vars]);
    });
  });

  test('an all-zero mask gives 0 with zero, finite gradients (MMagic divides by 0)', () => {
    tf.tidy(() => {
      const { D, vars } = smallD(3);
      const real = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 12);
      const fake = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 13);
      const zeros = tf.zeros([2, 6, 6, 1]);
      for (const norm_mode of ['pixel', 'HWC'] as const) {
        for (const f of [
          () => gradientPenaltyLoss(D, real, fake, { mask: zeros, norm_mode }),
          () => r1GradientPenaltyLoss(D, real, { mask: zeros, norm_mode }),
        ]) {
          const { value, grads } = tf.variableGrads(f as () => tf.Scalar, vars);
          assert.equal(value.dataSync()[0], 0);
          for (const g of Object.values(grads))
            assertClose(g, tf.zerosLike(g), { atol: 0, rtol: 0 });
        }
      }
      tf.dispose(vars);
    });
  });

  test('GP: no gradient reaches real_data or fake_data (x̂ is detached); R1 flows back to real_data', () => {
    tf.tidy(() => {
      const { D, vars } = smallD(5);
      const real = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 14);
      const fake = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 15);
      const alpha = tf.tensor([0.3, 0.6], [2, 1, 1, 1]);
      const [gr, gf] = tf.grads((r: tf.Tensor, f: tf.Tensor) =>
        gradientPenaltyLoss(D, r, f, { alpha }),
      )([real, fake]);
      assertClose(gr, tf.zerosLike(real), { atol: 0, rtol: 0 });
      assertClose(gf, tf.zerosLike(fake), { atol: 0, rtol: 0 });
      // A smooth D (a piecewise-linear one has a locally constant input gradient).
      const smooth = (x: tf.Tensor) => tf.sum(tf.tanh(D(tf.tanh(x))));
      const g1 = tf.grad((r: tf.Tensor) => r1GradientPenaltyLoss(smooth, r))(real);
      assert.ok(tf.max(tf.abs(g1)).dataSync()[0] > 1e-7, 'R1 has a gradient w.r.t. real_data');
      tf.dispose(vars);
    });
  });

  test('loss_scaler: scaled then unscaled gives the unscaled penalty', () => {
    tf.tidy(() => {
      const { D, vars } = smallD(7);
      const real = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 16);
      const s = 3;
      const loss_scaler = { scale: (t: tf.Tensor) => tf.mul(t, s), getScale: () => s };
      for (const norm_mode of ['pixel', 'HWC'] as const) {
        assertClose(
          r1GradientPenaltyLoss(D, real, { norm_mode, loss_scaler }),
          r1GradientPenaltyLoss(D, real, { norm_mode }),
          { atol: 1e-6, rtol: 1e-5 },
        );
      }
      tf.dispose(vars);
    });
  });

  test('alpha: injectable; otherwise drawn from the seedable default generator', () => {
    tf.tidy(() => {
      const { D, vars } = smallD(9);
      const real = tf.randomUniform([3, 6, 6, 3], -1, 1, 'float32', 17);
      const fake = tf.randomUniform([3, 6, 6, 3], -1, 1, 'float32', 18);
      manualSeed(42);
      const a = gradientPenaltyLoss(D, real, fake).dataSync()[0];
      const b = gradientPenaltyLoss(D, real, fake).dataSync()[0];
      manualSeed(42);
      const a2 = gradientPenaltyLoss(D, real, fake).dataSync()[0];
      assert.equal(a, a2);
      assert.notEqual(a, b);
      manualSeed(42);
      const alpha = new SeedGenerator(42).uniform([3, 1, 1, 1]);
      assertClose(gradientPenaltyLoss(D, real, fake, { alpha }), a, { atol: 0, rtol: 0 });
      assert.notEqual(defaultGenerator.nextSeed(), 0);
      tf.dispose(vars);
    });
  });

  test('a tf.layers model (Conv2D, LeakyReLU, AveragePooling2D, Dense) equals the same plain-op network', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [6, 6, 3],
          filters: 4,
          kernelSize: 3,
          padding: 'same',
          seed: 1,
        } as never),
        tf.layers.leakyReLU({ alpha: 0.2 }),
        tf.layers.averagePooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'valid' }),
        tf.layers.leakyReLU({ alpha: 0.2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 1 }),
      ],
    });
    const [k1, b1, k2, b2, wd, bd] = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const layersD = (x: tf.Tensor) => model.apply(x) as tf.Tensor;
    const plainD = (x: tf.Tensor) => {
      let h = tf.leakyRelu(
        tf.add(tf.conv2d(x as tf.Tensor4D, k1 as tf.Tensor4D, 1, 'same'), b1),
        0.2,
      );
      h = tf.avgPool(h as tf.Tensor4D, 2, 2, 'valid');
      h = tf.leakyRelu(tf.add(tf.conv2d(h as tf.Tensor4D, k2 as tf.Tensor4D, 1, 'valid'), b2), 0.2);
      return tf.add(tf.matMul(tf.reshape(h, [h.shape[0]!, -1]), wd as tf.Tensor2D), bd);
    };
    const vars = [k1, b1, k2, b2, wd, bd];
    tf.tidy(() => {
      const real = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 21);
      const fake = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 22);
      const alpha = tf.tensor([0.25, 0.75], [2, 1, 1, 1]);
      const mask = tf.cast(
        tf.greater(tf.randomUniform([2, 6, 6, 1], 0, 1, 'float32', 23), 0.3),
        'float32',
      );
      const penalties = [
        (D: (x: tf.Tensor) => tf.Tensor) => gradientPenaltyLoss(D, real, fake, { alpha }),
        (D: (x: tf.Tensor) => tf.Tensor) =>
          gradientPenaltyLoss(D, real, fake, { alpha, mask, norm_mode: 'HWC' }),
        (D: (x: tf.Tensor) => tf.Tensor) => r1GradientPenaltyLoss(D, real, { mask }),
        (D: (x: tf.Tensor) => tf.Tensor) => r1GradientPenaltyLoss(D, real, { norm_mode: 'HWC' }),
      ];
      for (const [i, p] of penalties.entries()) {
        const viaLayers = tf.variableGrads(() => p(layersD) as tf.Scalar, vars);
        const viaOps = tf.variableGrads(() => p(plainD) as tf.Scalar, vars);
        assertClose(viaLayers.value, viaOps.value, { what: `penalty ${i}` });
        assert.ok(viaLayers.value.dataSync()[0] > 0, `penalty ${i} is positive`);
        // The last bias does not change an input gradient: neither path has a gradient for it.
        assert.deepEqual(Object.keys(viaLayers.grads).sort(), Object.keys(viaOps.grads).sort());
        assert.equal(Object.keys(viaOps.grads).length, vars.length - 1);
        for (const [name, g] of Object.entries(viaOps.grads)) {
          assertClose(viaLayers.grads[name], g, { what: `penalty ${i} d/d${name}` });
        }
      }
    });
    model.dispose();
  });

  test('errors name the function, the argument, what was expected and what was given', () => {
    tf.tidy(() => {
      const x = tf.ones([1, 4, 4, 3]);
      assert.throws(
        () => gradientPenaltyLoss(identity, x, x, { norm_mode: 'pixle' as never }),
        (e: Error) =>
          e instanceof ConfigError &&
          /gradientPenaltyLoss: 'norm_mode' must be one of 'pixel'\|'HWC', got 'pixle'/.test(
            e.message,
          ),
      );
      assert.throws(
        () => LOSSES.build({ type: 'GradientPenaltyLoss', norm_mode: 'hwc' }),
        (e: Error) =>
          e instanceof ConfigError && /GradientPenaltyLoss: option 'norm_mode'/.test(e.message),
      );
      assert.throws(
        () => r1GradientPenaltyLoss(identity, tf.ones([4, 4, 3])),
        (e: Error) =>
          e instanceof ShapeError &&
          /r1GradientPenaltyLoss: 'real_data' must have rank 4 \(NHWC\), got a float32 tensor of shape \[4, 4, 3\]/.test(
            e.message,
          ),
      );
      assert.throws(
        () => gradientPenaltyLoss(identity, x, tf.ones([1, 4, 4, 1])),
        /'fake_data' must have the shape of 'real_data'/,
      );
      assert.throws(
        () => gradientPenaltyLoss(identity, x, x, { mask: tf.ones([1, 4, 4, 2]) }),
        ShapeError,
      );
      assert.throws(
        () => gradientPenaltyLoss(identity, x, x, { alpha: tf.ones([1]) }),
        /'alpha' must have rank 4/,
      );
      assert.throws(
        () => gradientPenaltyLoss(identity, x, x, { alpha: tf.ones([2, 1, 1, 1]) }),
        /'alpha' must have shape \[1, 1, 1, 1\]/,
      );
      assert.throws(
        () => gradientPenaltyLoss('D' as never, x, x),
        (e: Error) =>
          e instanceof ConfigError && /'discriminator' must be a function/.test(e.message),
      );
      assert.throws(
        () => r1GradientPenaltyLoss(() => 3 as never, x),
        /'discriminator' must return a float32 tf.Tensor, got 3/,
      );
      assert.throws(
        () => r1GradientPenaltyLoss(() => tf.ones([1]), x),
        (e: Error) => e instanceof GenlossError && /does not depend on its input/.test(e.message),
      );
      assert.throws(
        () => r1GradientPenaltyLoss(identity, x, { loss_scaler: { scale: identity } as never }),
        /'loss_scaler' must have scale\(t\) and getScale\(\)/,
      );
      assert.throws(() => new SeedGenerator(1.5), ConfigError);
    });
  });

  test('100 steps (penalty and its gradients w.r.t. D) leave tf.memory().numTensors flat', () => {
    const { D, vars } = smallD(31);
    const real = tf.randomUniform([1, 4, 4, 3], -1, 1, 'float32', 32);
    const fake = tf.randomUniform([1, 4, 4, 3], -1, 1, 'float32', 33);
    const mask = tf.ones([1, 4, 4, 1]);
    const gp = new GradientPenaltyLoss({ loss_weight: 10 });
    assertNoLeak(() => {
      const { value, grads } = tf.variableGrads(
        () => gp.forward(D, real, fake, mask) as tf.Scalar,
        vars,
      );
      return [value, ...Object.values(grads)];
    });
    assertNoLeak(() => {
      const { value, grads } = tf.variableGrads(
        () => r1GradientPenaltyLoss(D, real, { mask, norm_mode: 'HWC' }) as tf.Scalar,
        vars,
      );
      return [value, ...Object.values(grads)];
    });
    const shift = new DiscShiftLoss();
    assertNoLeak(() => [shift.forward(real), discShiftLoss(real)]);
    tf.dispose([...vars, real, fake, mask]);
  });
});

describe('penalties leave no tensors behind when the network throws', () => {
  before(async () => {
    await chooseBackend('cpu');
  });

  /** A `tf.layers` DCGAN discriminator for 8×8×3 images. */
  function dcgan(): { D: (x: tf.Tensor) => tf.Tensor; net: tf.LayersModel } {
    const net = dcganDiscriminator({
      type: 'DCGANDiscriminator',
      in_size: 8,
      base_channels: 4,
      seed: 2,
    });
    return { D: (x) => net.apply(x) as tf.Tensor, net };
  }

  test('a DCGAN discriminator fed the wrong image size: 100 failing R1 and GP calls leak nothing', () => {
    const { D, net } = dcgan();
    const right = tf.zeros([2, 8, 8, 3]);
    const wrong = tf.zeros([2, 16, 16, 3]);
    tf.dispose(r1GradientPenaltyLoss(D, right));
    const tfError = (owner: string) => (e: Error) =>
      e instanceof GenlossError &&
      e.message.startsWith(`${owner}: TF.js could not differentiate 'discriminator': `);
    assertFailsWithoutLeak(() => r1GradientPenaltyLoss(D, wrong), tfError('r1GradientPenaltyLoss'));
    assertFailsWithoutLeak(
      () => gradientPenaltyLoss(D, wrong, wrong),
      tfError('gradientPenaltyLoss'),
    );
    assertNoLeak(() => r1GradientPenaltyLoss(D, right));
    net.dispose();
    tf.dispose([right, wrong]);
  });

  test('an int32 discriminator output is a ShapeError naming the argument; 100 failing calls leak nothing', () => {
    const { D, net } = dcgan();
    const intD = (x: tf.Tensor) => tf.cast(D(x), 'int32');
    const x = tf.zeros([2, 8, 8, 3]);
    const shapeError = (owner: string) => (e: Error) =>
      e instanceof ShapeError &&
      e.message ===
        `${owner}: 'discriminator' must return a float32 tf.Tensor, got a int32 tensor of shape [2, 1]`;
    assertFailsWithoutLeak(
      () => r1GradientPenaltyLoss(intD, x),
      shapeError('r1GradientPenaltyLoss'),
    );
    assertFailsWithoutLeak(
      () => gradientPenaltyLoss(intD, x, x),
      shapeError('gradientPenaltyLoss'),
    );
    net.dispose();
    x.dispose();
  });
});
