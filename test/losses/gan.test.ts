/**
 * GANLoss and GANLossComps (src/losses/gan.ts): the PyTorch reference cases of
 * test/reference/gan.json on each backend (with its GaussianBlur and DiscShiftLoss cases), MMagic's
 * unit-test numbers (tests/test_models/test_losses/test_gan_loss.py and
 * test_loss_comps/test_gan_loss_comps.py), errors, memory. GaussianBlur's own tests are in
 * test/ops/gaussian-blur.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  bceWithLogits,
  ConfigError,
  chooseBackend,
  DiscShiftLoss,
  GANLoss,
  GANLossComps,
  type GanType,
  ganLoss,
  LOSSES,
  ShapeError,
} from '../../src/index.ts';
import { describeOnEachBackend } from '../helpers/backend.ts';
import { checkGanCase, type GanCase } from '../helpers/gan-cases.ts';
import { loadCases } from '../helpers/reference.ts';
import { assertClose, assertNoLeak } from '../helpers/tensors.ts';

const cases = loadCases<GanCase>('gan.json');

describeOnEachBackend(`gan.json PyTorch reference cases`, () => {
  for (const type of [
    'GANLoss',
    'GANLossComps',
    'GaussianBlur',
    'DiscShiftLoss',
    'disc_shift_loss',
  ]) {
    const some = cases.filter((c) => c.type === type);
    test(`${type}: ${some.length} cases`, () => {
      for (const c of some) tf.tidy(() => checkGanCase(c));
    });
  }
});

describe('GANLoss and GANLossComps', () => {
  before(async () => {
    await chooseBackend('cpu');
  });

  // MMagic's test_gan_loss.py / test_gan_loss_comps.py: loss_weight 2; columns (gen, real),
  // (gen, fake), (disc, real), (disc, fake).
  const combos: [boolean, boolean][] = [
    [false, true],
    [false, false],
    [true, true],
    [true, false],
  ];
  const unitTestValues: [GanType, number[]][] = [
    ['vanilla', [0.6265233, 2.6265232, 0.3132616, 1.3132616]],
    ['lsgan', [2, 8, 1, 4]],
    ['wgan', [-4, 4, -2, 2]],
    ['hinge', [-4, -4, 0, 3]],
    ['smgan', [2, 8, 1, 3.786323]],
  ];
  for (const [ganType, want] of unitTestValues) {
    test(`MMagic's unit-test values: ${ganType}`, () => {
      tf.tidy(() => {
        const input = ganType === 'vanilla' ? tf.ones([1, 1]) : tf.fill([1, 6, 6, 3], 2);
        const mask = tf.ones([1, 6, 6, 3]);
        for (const cls of ganType === 'smgan' ? [GANLoss] : [GANLoss, GANLossComps]) {
          const module = new cls({ gan_type: ganType, loss_weight: 2 });
          combos.forEach(([isDisc, real], i) => {
            const got = module.forward(input, real, isDisc, mask);
            assertClose(got, want[i], { atol: 1e-6, rtol: 1e-6, what: `${cls.lossType} ${i}` });
          });
        }
      });
    });
  }

  test("MMagic's unit-test values: smgan resizes a 6×5 input to the mask (gen, real → 2)", () => {
    tf.tidy(() => {
      const module = new GANLoss({ gan_type: 'smgan', loss_weight: 2 });
      const got = module.forward(tf.fill([1, 6, 5, 3], 2), true, false, tf.ones([1, 6, 6, 3]));
      assertClose(got, 2, { atol: 1e-6, rtol: 1e-6 });
    });
  });

  test('wgan-logistic-ns (GANLossComps only): 2·softplus(∓2)', () => {
    tf.tidy(() => {
      const module = new GANLossComps({ gan_type: 'wgan-logistic-ns', loss_weight: 2 });
      const x = tf.fill([1, 6, 6, 3], 2);
      assertClose(module.forward(x, true), 0.253856, { atol: 1e-6, rtol: 1e-6 });
      assertClose(module.forward(x, false), 4.253856, { atol: 1e-6, rtol: 1e-6 });
      assertClose(module.forward(x, false, true), 2.126928, { atol: 1e-6, rtol: 1e-6 });
    });
  });

  test("GANLoss, GANLossComps and ganLoss equal MMagic's formulas for every type, call and target", () => {
    tf.tidy(() => {
      const x = tf.randomUniform([2, 3, 3, 1], -2, 2, 'float32', 7);
      const v = Array.from(x.dataSync());
      const mean = (f: (x: number) => number) => v.reduce((s, e) => s + f(e), 0) / v.length;
      const softplus = (e: number) => Math.max(e, 0) + Math.log1p(Math.exp(-Math.abs(e)));
      const relu = (e: number) => Math.max(e, 0);
      // MMagic's GANLoss / GANLossComps in float64, labels 0.8 (real) and 0.1 (fake): vanilla is
      // BCEWithLogits, lsgan MSE, l1 L1 against the label; wgan, wgan-logistic-ns and hinge
      // ignore the labels; hinge's generator term is −mean x whatever the target.
      const formula = (type: Exclude<GanType, 'smgan'>, isDisc: boolean, real: boolean): number => {
        const label = real ? 0.8 : 0.1;
        switch (type) {
          case 'vanilla':
            return mean((e) => label * softplus(-e) + (1 - label) * softplus(e));
          case 'lsgan':
            return mean((e) => (e - label) ** 2);
          case 'l1':
            return mean((e) => Math.abs(e - label));
          case 'wgan':
            return real ? -mean((e) => e) : mean((e) => e);
          case 'wgan-logistic-ns':
          case 'wgan_softplus':
            return mean((e) => softplus(real ? -e : e));
          case 'hinge':
            if (!isDisc) return -mean((e) => e);
            return mean((e) => relu(real ? 1 - e : 1 + e));
        }
      };
      const classes = [
        [GANLoss, ['vanilla', 'lsgan', 'wgan', 'hinge', 'l1', 'wgan_softplus']],
        [GANLossComps, ['vanilla', 'lsgan', 'wgan', 'hinge', 'wgan-logistic-ns']],
      ] as const;
      for (const [cls, types] of classes) {
        for (const gan_type of types) {
          const cfg = { gan_type, loss_weight: 0.5, real_label_val: 0.8, fake_label_val: 0.1 };
          const module = new cls(cfg);
          for (const [isDisc, real] of combos) {
            const what = `${cls.lossType} ${gan_type}, is_disc ${isDisc}, real ${real}`;
            const close = { atol: 1e-7, rtol: 1e-6, what };
            const want = formula(gan_type, isDisc, real);
            // loss_weight applies to generator calls only; the function has none.
            assertClose(module.forward(x, real, isDisc), want * (isDisc ? 1 : 0.5), close);
            const options = { gan_type, is_disc: isDisc, real_label_val: 0.8, fake_label_val: 0.1 };
            assertClose(ganLoss(x, real, options), want, close);
          }
        }
      }
    });
  });

  test('BCE with logits is stable and has gradient sigmoid(x) − t everywhere', () => {
    tf.tidy(() => {
      const x = tf.tensor([-200, -30, -1, 0, 1, 30, 200]);
      const y = bceWithLogits(x, 0.3);
      const want = Array.from(x.dataSync()).map(
        (v) => Math.max(v, 0) - 0.3 * v + Math.log1p(Math.exp(-Math.abs(v))),
      );
      assertClose(y, want, { rtol: 1e-6 });
      const g = tf.grad((t: tf.Tensor) => tf.sum(bceWithLogits(t, 0.3)))(x);
      assertClose(
        g,
        Array.from(x.dataSync()).map((v) => 1 / (1 + Math.exp(-v)) - 0.3),
        { atol: 1e-6 },
      );
    });
  });

  test('smgan: an all-zero mask gives NaN for the generator (MMagic), a finite value for D', () => {
    tf.tidy(() => {
      const module = new GANLoss({ gan_type: 'smgan' });
      const x = tf.randomUniform([1, 4, 4, 1], -1, 1, 'float32', 3);
      const zeros = tf.zeros([1, 4, 4, 1]);
      assert.ok(Number.isNaN(module.forward(x, true, false, zeros).dataSync()[0]), 'gen: NaN');
      assert.ok(
        Number.isFinite(module.forward(x, false, true, zeros).dataSync()[0]),
        'disc: finite',
      );
    });
  });

  test('smgan: the blurred-mask target is detached (zero gradient w.r.t. the mask)', () => {
    tf.tidy(() => {
      const module = new GANLoss({ gan_type: 'smgan' });
      const x = tf.randomUniform([1, 4, 4, 1], -1, 1, 'float32', 3);
      const mask = tf.randomUniform([1, 4, 4, 1], 0, 1, 'float32', 4);
      const g = tf.grad((m: tf.Tensor) => module.forward(x, false, true, m))(mask);
      assertClose(g, tf.zerosLike(mask));
    });
  });

  test('config: registered names, defaults, loss_name', () => {
    const m = LOSSES.build({ type: 'GANLoss', gan_type: 'hinge' }) as GANLoss;
    assert.deepEqual(
      { ...m.cfg },
      {
        gan_type: 'hinge',
        real_label_val: 1,
        fake_label_val: 0,
        loss_weight: 1,
        loss_name: 'loss_gan',
      },
    );
    assert.equal(m.lossName(), 'loss_gan');
    assert.ok(LOSSES.has('GANLossComps'));
    assert.ok(LOSSES.has('DiscShiftLoss'));
    assert.equal(new DiscShiftLoss().lossWeight, 0.1);
    assert.ok(!LOSSES.has('GaussianBlur'));
  });

  test('errors: unknown or misplaced gan_type suggests the closest; smgan needs a 4-D mask', () => {
    assert.throws(
      () => new GANLoss({ gan_type: 'vanila' as GanType }),
      (e: Error) =>
        e instanceof ConfigError &&
        /GANLoss: 'gan_type'.*got 'vanila'.*Did you mean 'vanilla'/.test(e.message),
    );
    assert.throws(
      () => new GANLoss({ gan_type: 'wgan-logistic-ns' }),
      (e: Error) => e instanceof ConfigError && /is a type of GANLossComps/.test(e.message),
    );
    assert.throws(
      () => LOSSES.build({ type: 'GANLossComps', gan_type: 'smgan' }),
      (e: Error) =>
        e instanceof ConfigError && /GANLossComps.*is a type of GANLoss/.test(e.message),
    );
    assert.throws(() => LOSSES.build({ type: 'GANLoss' }), ConfigError);
    assert.throws(
      () => new GANLoss({ gan_type: 'lsgan', real_label: 1 } as never),
      /unknown option 'real_label'/,
    );
    const sm = new GANLoss({ gan_type: 'smgan' });
    tf.tidy(() => {
      assert.throws(
        () => sm.forward(tf.ones([1, 4, 4, 1]), true),
        (e: Error) =>
          e instanceof ShapeError && /GANLoss: gan_type 'smgan' needs a 'mask'/.test(e.message),
      );
      assert.throws(
        () => sm.forward(tf.ones([1, 4, 4, 1]), true, false, tf.ones([4, 4])),
        ShapeError,
      );
      assert.throws(
        () => sm.forward(tf.ones([1, 4, 4]), true, false, tf.ones([1, 4, 4, 1])),
        ShapeError,
      );
      assert.throws(
        () => sm.forward(tf.ones([2, 4, 4, 1]), true, false, tf.ones([3, 4, 4, 1])),
        /'mask' must broadcast/,
      );
      assert.throws(
        () => new GANLoss({ gan_type: 'wgan' }).forward([1, 2] as never, true),
        ShapeError,
      );
    });
  });

  test('no tensor leaks over 100 calls (forward and gradient), smgan included', () => {
    const x = tf.randomUniform([2, 6, 5, 1], -1, 1, 'float32', 1);
    const mask = tf.randomUniform([2, 6, 6, 1], 0, 1, 'float32', 2);
    const sm = new GANLoss({ gan_type: 'smgan', loss_weight: 2 });
    const vanilla = new GANLossComps({ gan_type: 'vanilla' });
    assertNoLeak(() => [sm.forward(x, false, true, mask), sm.forward(x, true, false, mask)]);
    assertNoLeak(() => tf.grad((t: tf.Tensor) => sm.forward(t, false, true, mask))(x));
    assertNoLeak(() => tf.grad((t: tf.Tensor) => vanilla.forward(t, true))(x));
    tf.dispose([x, mask]);
  });
});
