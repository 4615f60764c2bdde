/**
 * The peers' gradient penalties (issue 16 item 5): R2 and R1 + R2 (Mescheder et al. 2018,
 * GAN_stability), the zero-centred WGAN-GP (`target: 0`) and TF-GAN's `target` and `one_sided`
 * options, against test/reference/penalties_peers.json (generate_penalties_peers.py, PyTorch
 * float64 with `autograd.grad(create_graph=True)`): each case compares the penalty and its
 * gradient w.r.t. every discriminator weight (second order) and the images, on each reference
 * backend. Then components, a model with `R2GradientPenaltyComps`, bad inputs and leaks.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  GANWithCustomizedLoss,
  GenlossError,
  GradientPenaltyLossComps,
  gradientPenaltyLoss,
  LOSSES,
  type NormMode,
  R2GradientPenaltyComps,
  r1GradientPenaltyLoss,
  r2GradientPenaltyLoss,
  ShapeError,
} from '../../src/index.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import { WorstError } from '../helpers/gan-reference.ts';
import { checkPenaltyCase, type NetFile, type PenaltyCase } from '../helpers/penalty-cases.ts';
import { readReference } from '../helpers/reference.ts';
import { assertClose, assertFailsWithoutLeak, assertNoLeak } from '../helpers/tensors.ts';
import { tinyDiscriminator, tinyGenerator, valuesOf } from '../helpers/tiny-gan.ts';

before(useTestBackend);

const peers = readReference<NetFile<PenaltyCase>>('penalties_peers.json');
let worst = new WorstError();

describeOnEachBackend(
  'PyTorch reference cases of the peers’ penalties',
  (backend) => {
    for (const type of [
      'r2_gradient_penalty_loss',
      'r1_r2',
      'gradient_penalty_loss',
      'GradientPenaltyLoss',
    ]) {
      const cases = peers.cases.filter((c) => c.type === type);
      test(`${type}: ${cases.length} cases (value, gradients w.r.t. every D weight and image)`, () => {
        assert.ok(cases.length > 0);
        for (const c of cases) tf.tidy(() => checkPenaltyCase(c, peers, worst));
      });
    }

    test('worst error against PyTorch is within tolerance', () => {
      worst.assertWithinTolerance(backend);
    });
  },
  () => {
    worst = new WorstError();
  },
);

/** A small smooth discriminator and inputs for the unit tests. */
function setup() {
  const w = tf.tensor4d(
    Array.from({ length: 27 }, (_, i) => Math.sin(i + 1) * 0.4),
    [3, 3, 3, 1],
  );
  const D = (x: tf.Tensor) => tf.tanh(tf.conv2d(x as tf.Tensor4D, w, 1, 'same'));
  const real = tf.randomUniform([2, 5, 5, 3], -1, 1, 'float32', 3);
  const fake = tf.randomUniform([2, 5, 5, 3], -1, 1, 'float32', 4);
  const alpha = tf.tensor4d([0.25, 0.75], [2, 1, 1, 1]);
  return { w, D, real, fake, alpha, free: () => tf.dispose([w, real, fake, alpha]) };
}

describe('target and one_sided options of the gradient penalty', () => {
  test('defaults give MMagic’s penalty bit for bit; target 1 and one_sided false are the defaults', () => {
    const { D, real, fake, alpha, free } = setup();
    for (const norm_mode of ['pixel', 'HWC'] as const) {
      const plain = gradientPenaltyLoss(D, real, fake, { alpha, norm_mode });
      const explicit = gradientPenaltyLoss(D, real, fake, {
        alpha,
        norm_mode,
        target: 1,
        one_sided: false,
      });
      assert.deepEqual(explicit.dataSync(), plain.dataSync());
      tf.dispose([plain, explicit]);
    }
    const module = LOSSES.build({ type: 'GradientPenaltyLoss' });
    assert.equal(module.cfg.target, 1);
    assert.equal(module.cfg.one_sided, false);
    free();
  });

  test('target 0 is the mean squared norm; one-sided with a large target is 0', () => {
    const { D, real, fake, alpha, free } = setup();
    tf.tidy(() => {
      const x = tf.add(tf.mul(alpha, real), tf.mul(tf.sub(1, alpha), fake));
      const g = tf.grad((t: tf.Tensor) => tf.sum(D(t)))(x);
      const want = tf.mean(tf.sum(tf.square(g), [1, 2, 3]));
      const zero = gradientPenaltyLoss(D, real, fake, { alpha, norm_mode: 'HWC', target: 0 });
      assertClose(zero, want, { what: 'target 0' });
      const oneSided = gradientPenaltyLoss(D, real, fake, {
        alpha,
        target: 1e6,
        one_sided: true,
      });
      assert.equal(oneSided.dataSync()[0], 0);
      const twoSided = gradientPenaltyLoss(D, real, fake, { alpha, target: 1e6 });
      assert.ok(twoSided.dataSync()[0] > 0.99);
    });
    free();
  });

  test('components: GradientPenaltyLossComps passes target and one_sided; R2 = loss_weight · r2', () => {
    const { D, real, fake, alpha, free } = setup();
    tf.tidy(() => {
      const gp = new GradientPenaltyLossComps({ loss_weight: 3, target: 0.5, one_sided: true });
      const want = tf.mul(
        gradientPenaltyLoss(D, real, fake, { alpha, target: 0.5, one_sided: true }),
        3,
      );
      assertClose(gp.forward(D, real, fake, null, alpha)!, want, { what: 'GP comps' });
      const r2 = LOSSES.build({ type: 'R2GradientPenaltyComps', loss_weight: 5, norm_mode: 'HWC' });
      assert.ok(r2 instanceof R2GradientPenaltyComps);
      assert.equal(r2.lossName(), 'loss_r2_gp');
      const r2Want = tf.mul(r2GradientPenaltyLoss(D, fake, { norm_mode: 'HWC' }), 5);
      assertClose(r2.forward(D, fake) as tf.Tensor, r2Want, { what: 'R2 comps' });
      // R2 is R1's formula on its input.
      assertClose(r2GradientPenaltyLoss(D, fake), r1GradientPenaltyLoss(D, fake), {
        what: 'R2 = R1 on fakes',
      });
    });
    free();
  });

  test('bad inputs are clear errors, and leave no tensors', () => {
    const { D, real, fake, alpha, free } = setup();
    for (const target of [-1, Number.NaN, Number.POSITIVE_INFINITY, '1']) {
      assertFailsWithoutLeak(
        () => gradientPenaltyLoss(D, real, fake, { alpha, target: target as number }),
        (e) => e instanceof ConfigError && /'target' must be a finite number >= 0/.test(e.message),
      );
    }
    assertFailsWithoutLeak(
      () => gradientPenaltyLoss(D, real, fake, { alpha, one_sided: 'yes' as unknown as boolean }),
      (e) => e instanceof ConfigError && /'one_sided' must be a boolean/.test(e.message),
    );
    assert.throws(() => LOSSES.build({ type: 'GradientPenaltyLoss', target: -0.5 }), ConfigError);
    assert.throws(
      () => LOSSES.build({ type: 'GradientPenaltyLossComps', one_sided: 1 }),
      ConfigError,
    );
    assert.throws(() => LOSSES.build({ type: 'R2GradientPenaltyComps', interval: 0 }), ConfigError);
    assertFailsWithoutLeak(
      () => r2GradientPenaltyLoss(42 as never, fake),
      (e) => e instanceof ConfigError && /r2GradientPenaltyLoss: 'discriminator'/.test(e.message),
    );
    const rank3 = tf.zeros([5, 5, 3]);
    assertFailsWithoutLeak(
      () => r2GradientPenaltyLoss(D, rank3),
      (e) => e instanceof ShapeError && /'fake_data'/.test(e.message),
    );
    rank3.dispose();
    assertFailsWithoutLeak(
      () => r2GradientPenaltyLoss(D, fake, { norm_mode: 'CHW' as NormMode }),
      (e) => e instanceof ConfigError && /'norm_mode'/.test(e.message),
    );
    assertFailsWithoutLeak(
      () => r2GradientPenaltyLoss(() => tf.scalar(1), fake),
      (e) => e instanceof GenlossError && /does not depend on its input/.test(e.message),
    );
    assertFailsWithoutLeak(
      () => r2GradientPenaltyLoss(D, fake, real as never),
      (e) => e instanceof ConfigError && /argument 3 must be an options object/.test(e.message),
    );
    free();
  });

  test('no leaks: R2, target 0, one-sided, with masks and gradients w.r.t. D', () => {
    const { w, D, real, fake, alpha, free } = setup();
    const mask = tf.cast(
      tf.greater(tf.randomUniform([2, 5, 5, 1], 0, 1, 'float32', 9), 0.4),
      'float32',
    );
    const v = tf.variable(w);
    const Dv = (x: tf.Tensor) => tf.tanh(tf.conv2d(x as tf.Tensor4D, v as tf.Tensor4D, 1, 'same'));
    assertNoLeak(() => r2GradientPenaltyLoss(D, fake, { mask, norm_mode: 'HWC' }), 20);
    assertNoLeak(() => gradientPenaltyLoss(D, real, fake, { alpha, mask, target: 0 }), 20);
    assertNoLeak(
      () =>
        (({ value, grads }) => [value, ...Object.values(grads)])(
          tf.variableGrads(
            () =>
              gradientPenaltyLoss(Dv, real, fake, {
                alpha,
                mask,
                target: 0.3,
                one_sided: true,
              }) as tf.Scalar,
          ),
        ),
      20,
    );
    tf.dispose([mask, v]);
    free();
  });
});

describe('GANWithCustomizedLoss with R2GradientPenaltyComps', () => {
  test('R1 + R2 and a zero-centred WGAN-GP in disc_auxiliary_loss train 2 steps', async () => {
    const generator = tinyGenerator();
    const discriminator = tinyDiscriminator();
    const adam = { type: 'Adam', lr: 0.01, betas: [0.0, 0.99] };
    const model = new GANWithCustomizedLoss({
      generator,
      discriminator,
      gan_loss: { type: 'GANLossComps', gan_type: 'vanilla' },
      disc_auxiliary_loss: [
        {
          type: 'R1GradientPenaltyComps',
          loss_weight: 5,
          data_info: { discriminator: 'disc', real_data: 'real_imgs' },
        },
        {
          type: 'R2GradientPenaltyComps',
          loss_weight: 5,
          norm_mode: 'HWC',
          data_info: { discriminator: 'disc', fake_data: 'fake_imgs' },
        },
        {
          type: 'GradientPenaltyLossComps',
          loss_weight: 1,
          target: 0,
          loss_name: 'loss_gp0',
          data_info: { discriminator: 'disc', real_data: 'real_imgs', fake_data: 'fake_imgs' },
        },
      ],
      optimizers: { generator: adam, discriminator: adam },
    });
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 42);
    const before = valuesOf(discriminator.variables);
    let counted = 0;
    for (let step = 0; step < 2; step++) {
      // The first step creates the optimizers' state; the second must add no tensor.
      if (step === 1) counted = tf.memory().numTensors;
      const log = await model.trainStep({ real_imgs: x });
      for (const key of ['loss_r1_gp', 'loss_r2_gp', 'loss_gp0']) {
        assert.ok(Number.isFinite(log[key]) && log[key] > 0, `step ${step}: ${key} = ${log[key]}`);
      }
    }
    assert.equal(tf.memory().numTensors, counted, 'no tensors leaked by the second step');
    assert.notDeepEqual(valuesOf(discriminator.variables), before, 'D was updated');
    model.dispose();
    tf.dispose([x, ...generator.variables, ...discriminator.variables]);
  });
});
