import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  GANFeatLoss,
  GANLoss,
  GANLossComps,
  ganFeatLoss,
  ganLoss,
  LOSSES,
  MaskedTVLoss,
  MultiScaleGANLoss,
  ShapeError,
  WeightedTVLoss,
  weightedTvLoss,
} from '../../src/index.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import { checkListCase, type ListCase } from '../helpers/gan-cases.ts';
import { checkLossCase, loadCases } from '../helpers/reference.ts';
import { assertClose, assertNoLeak, checkGradient, uniform } from '../helpers/tensors.ts';

before(useTestBackend);

const nhwc = (shape: number[], seed: number) => uniform(shape, seed, -1, 1);

/** pix2pixHD-like outputs: 2 discriminators × (3 features + prediction). */
function discOutputs(seed: number): tf.Tensor[][] {
  return [4, 2].map((s, i) => [
    ...[2, 3, 4].map((c, j) => nhwc([2, s, s, c], seed + 10 * i + j)),
    nhwc([2, s, s, 1], seed + 10 * i + 9),
  ]);
}

describe('GANLoss wgan_softplus (BasicSR)', () => {
  test('equals wgan-logistic-ns; GANLoss only (GANLossComps names GANLoss)', () => {
    tf.tidy(() => {
      const x = nhwc([2, 3, 3, 1], 1);
      for (const is_disc of [false, true]) {
        for (const real of [false, true]) {
          assertClose(
            ganLoss(x, real, { gan_type: 'wgan_softplus', is_disc }),
            ganLoss(x, real, { gan_type: 'wgan-logistic-ns', is_disc }),
            { atol: 0, rtol: 0 },
          );
        }
      }
      const m = new GANLoss({ gan_type: 'wgan_softplus', loss_weight: 3 });
      assertClose(m.forward(x, true), tf.mul(tf.mean(tf.softplus(tf.neg(x))), 3));
      assertClose(m.forward(x, false, true), tf.mean(tf.softplus(x)));
    });
    assert.throws(
      () => new GANLossComps({ gan_type: 'wgan_softplus' } as never),
      (e: Error) => e instanceof ConfigError && /is a type of GANLoss/.test(e.message),
    );
  });
});

describe('MultiScaleGANLoss', () => {
  test('defaults; a tensor or a one-element list is GANLoss; nested lists use the last tensor', () => {
    const m = new MultiScaleGANLoss({ gan_type: 'lsgan', loss_weight: 0.5 });
    assert.equal(m.lossName(), 'loss_gan');
    assert.equal(m.cfg.real_label_val, 1);
    assert.ok(
      LOSSES.build({ type: 'MultiScaleGANLoss', gan_type: 'hinge' }) instanceof MultiScaleGANLoss,
    );
    const g = new GANLoss({ gan_type: 'lsgan', loss_weight: 0.5 });
    tf.tidy(() => {
      const [d0, d1] = discOutputs(3);
      const p0 = d0[3];
      const p1 = d1[3];
      for (const is_disc of [false, true]) {
        assertClose(m.forward(p0, true, is_disc), g.forward(p0, true, is_disc), { atol: 0 });
        assertClose(m.forward([p0], true, is_disc), g.forward(p0, true, is_disc));
        assertClose(m.forward([d0], false, is_disc), g.forward(p0, false, is_disc));
        const want = tf.div(tf.add(g.forward(p0, true, is_disc), g.forward(p1, true, is_disc)), 2);
        assertClose(m.forward([d0, d1], true, is_disc), want);
        assertClose(m.forward([p0, d1], true, is_disc), want);
      }
    });
  });

  test("gan_type: BasicSR's types only, with hints", () => {
    for (const [gan_type, message] of [
      ['l1', /MultiScaleGANLoss: 'gan_type' must be one of .*is a type of GANLoss/],
      ['smgan', /is a type of GANLoss/],
      ['wgan-logistic-ns', /is a type of GANLossComps/],
      ['wgan-softplus', /Did you mean 'wgan_softplus'/],
    ] as const) {
      assert.throws(
        () => LOSSES.build({ type: 'MultiScaleGANLoss', gan_type } as never),
        (e: Error) => e instanceof ConfigError && message.test(e.message),
        gan_type,
      );
    }
    assert.throws(() => LOSSES.build({ type: 'MultiScaleGANLoss' } as never), ConfigError);
  });

  test('bad inputs: ShapeErrors naming the element, no leak', () => {
    const m = new MultiScaleGANLoss({ gan_type: 'vanilla' });
    const x = nhwc([1, 2, 2, 1], 4);
    const before = tf.memory().numTensors;
    const bad: [unknown, RegExp][] = [
      [[], /^MultiScaleGANLoss: 'input' is an empty list/],
      [[x, []], /^MultiScaleGANLoss: 'input\[1\]' is an empty list/],
      [[x, 3], /^MultiScaleGANLoss: 'input\[1\]' must be a tf.Tensor, got 3/],
      [[x, [x, 'p']], /^MultiScaleGANLoss: 'input\[1\]\[1\]' must be a tf.Tensor/],
      [[x, tf.zeros([1, 2, 2, 1], 'int32')], /'input\[1\]' must be float32/],
      [{ a: x }, /^MultiScaleGANLoss: 'input' must be a tf.Tensor or a list/],
    ];
    for (const [input, message] of bad) {
      assert.throws(
        () => m.forward(input as never, true),
        (e: Error) => e instanceof ShapeError && message.test(e.message),
        String(message),
      );
    }
    tf.dispose((bad[4][0] as tf.Tensor[])[1]);
    assert.throws(() => m.forward([x], 'yes' as never), /'target_is_real' must be true or false/);
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });

  test('no leaks, gradients w.r.t. each prediction only', () => {
    const m = new MultiScaleGANLoss({ gan_type: 'hinge', loss_weight: 2 });
    const outs = discOutputs(20);
    assertNoLeak(() => m.forward(outs, true), 20);
    assertNoLeak(
      () =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) => m.forward([a, [b]], false, true))([
          outs[0][3],
          outs[1][3],
        ]),
      20,
    );
    checkGradient(
      (a, b) => m.forward([[outs[0][0], a], b], true, true),
      [outs[0][3], outs[1][3]],
      1,
    );
    tf.dispose(outs);
  });
});

describe('GANFeatLoss', () => {
  test('defaults; loss_weight counts twice (BasicSR); the function has none', () => {
    const m = new GANFeatLoss();
    assert.deepEqual(
      [m.cfg.criterion, m.cfg.reduction, m.lossWeight, m.lossName()],
      ['l1', 'mean', 1, 'loss_gan_feat'],
    );
    tf.tidy(() => {
      const fake = discOutputs(30);
      const real = discOutputs(40);
      const fn = ganFeatLoss(fake, real);
      // (1/2) Σ_i Σ_{j<3} mean|fake − real|
      const terms = [0, 1].flatMap((i) =>
        [0, 1, 2].map((j) => tf.mean(tf.abs(tf.sub(fake[i][j], real[i][j])))),
      );
      assertClose(fn, tf.div(tf.addN(terms), 2));
      assertClose(new GANFeatLoss({ loss_weight: 3 }).forward(fake, real), tf.mul(fn, 9));
      for (const criterion of ['l2', 'charbonnier'] as const) {
        const want = ganFeatLoss(fake, real, { criterion, reduction: 'sum' });
        const got = LOSSES.build({ type: 'GANFeatLoss', criterion, reduction: 'sum' }).forward(
          fake,
          real,
        );
        assertClose(got, want);
      }
      // identical features: 0 for l1 and l2
      assertClose(ganFeatLoss(fake, fake, { criterion: 'l2' }), 0, { atol: 0 });
    });
  });

  test("config: criterion l1|l2|charbonnier, reduction mean|sum (no 'none')", () => {
    assert.throws(
      () => LOSSES.build({ type: 'GANFeatLoss', reduction: 'none' } as never),
      (e: Error) => e instanceof ConfigError && /GANFeatLoss: option 'reduction'/.test(e.message),
    );
    assert.throws(
      () => LOSSES.build({ type: 'GANFeatLoss', criterion: 'mse' } as never),
      (e: Error) => e instanceof ConfigError && /GANFeatLoss: option 'criterion'/.test(e.message),
    );
    tf.tidy(() => {
      const f = discOutputs(50);
      assert.throws(
        () => ganFeatLoss(f, f, { criterion: 'L1' as never }),
        (e: Error) =>
          e instanceof ConfigError && /^ganFeatLoss: 'criterion' must be one of/.test(e.message),
      );
      assert.throws(() => ganFeatLoss(f, f, { reduction: 'none' as never }), ConfigError);
      assert.throws(() => ganFeatLoss(f, f, f[0] as never), /argument 3 must be an options object/);
    });
  });

  test('bad inputs: ShapeErrors naming the element, no leak', () => {
    const m = new GANFeatLoss();
    const f = discOutputs(60);
    const r = discOutputs(70);
    const before = tf.memory().numTensors;
    const bad: [unknown, unknown, RegExp][] = [
      [f[0][0], r, /^GANFeatLoss: 'pred_fake' must be a non-empty list/],
      [[], [], /'pred_fake' must be a non-empty list/],
      [f, [r[0]], /'pred_real' must have one entry per discriminator as 'pred_fake' \(2\), got 1/],
      [
        f,
        [r[0], r[1].slice(1)],
        /'pred_real\[1\]' must have as many outputs as 'pred_fake\[1\]' \(4\), got 3/,
      ],
      [
        f,
        [r[0], [r[0][0], ...r[1].slice(1)]],
        /'pred_real\[1\]\[0\]' must have the shape of 'pred_fake\[1\]\[0\]'/,
      ],
      [[f[0], [f[1][3]]], [r[0], r[1][3]], /'pred_real\[1\]' must be a non-empty list/],
      [[[f[0][3]], [f[1][3]]], [[r[0][3]], [r[1][3]]], /no features to match/],
      [[[1, f[0][3]]], [[r[0][0], r[0][3]]], /'pred_fake\[0\]\[0\]' must be a tf.Tensor, got 1/],
    ];
    for (const [a, b, message] of bad) {
      assert.throws(
        () => m.forward(a as never, b as never),
        (e: Error) => e instanceof ShapeError && message.test(e.message),
        String(message),
      );
    }
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([f, r]);
  });

  test('no leaks; gradients reach the fake features only (real detached, predictions unused)', () => {
    const f = discOutputs(80);
    const r = discOutputs(90);
    for (const criterion of ['l1', 'l2', 'charbonnier'] as const) {
      const m = new GANFeatLoss({ criterion, loss_weight: 2 });
      assertNoLeak(() => m.forward(f, r), 20);
      assertNoLeak(
        () =>
          tf.grads((a: tf.Tensor, b: tf.Tensor) => m.forward([[a, f[0][3]]], [[b, r[0][3]]]))([
            f[0][0],
            r[0][0],
          ]),
        20,
      );
      tf.tidy(() => {
        const [ga, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.add(m.forward([[a, f[0][3]]], [[b, r[0][3]]]), tf.mul(0, tf.sum(b))),
        )([f[0][0], r[0][0]]);
        assert.ok(tf.any(tf.notEqual(ga, 0)).dataSync()[0]);
        assertClose(gb, tf.zerosLike(gb), { atol: 0, rtol: 0, what: `${criterion}: d/dreal` });
      });
      // Finite differences for l2 (l1 and Charbonnier have kinks near ties: the reference cases
      // check their gradients).
      if (criterion === 'l2') {
        checkGradient((a) => m.forward([[a, f[0][3]]], [[r[0][0], r[0][3]]]), [f[0][0]], 0);
      }
    }
    tf.dispose([f, r]);
  });
});

describe('WeightedTVLoss', () => {
  test('defaults; equals MaskedTVLoss with the weight as mask; a flat image gives 0', () => {
    const m = new WeightedTVLoss();
    assert.deepEqual(
      [m.cfg.reduction, m.lossWeight, m.lossName()],
      ['mean', 1, 'loss_weighted_tv'],
    );
    tf.tidy(() => {
      const p = nhwc([2, 5, 4, 3], 100);
      const w = uniform([2, 5, 4, 1], 101, 0.2, 1.5);
      assertClose(
        new WeightedTVLoss({ loss_weight: 0.5 }).forward(p, w),
        new MaskedTVLoss({ loss_weight: 0.5 }).forward(p, w),
      );
      // no weight: mean |Δx| + mean |Δy|
      const dx = tf.mean(
        tf.abs(tf.sub(p.slice([0, 0, 0, 0], [2, 5, 3, 3]), p.slice([0, 0, 1, 0]))),
      );
      const dy = tf.mean(
        tf.abs(tf.sub(p.slice([0, 0, 0, 0], [2, 4, 4, 3]), p.slice([0, 1, 0, 0]))),
      );
      assertClose(m.forward(p), tf.add(dx, dy));
      assertClose(weightedTvLoss(p), tf.add(dx, dy));
      const sum = LOSSES.build({ type: 'WeightedTVLoss', reduction: 'sum' }).forward(p);
      assertClose(sum, tf.add(tf.mul(dx, 2 * 5 * 3 * 3), tf.mul(dy, 2 * 4 * 4 * 3)));
      assertClose(m.forward(tf.ones([1, 3, 3, 2])), 0, { atol: 0 });
    });
  });

  test("bad inputs: 'none', H or W of 1, bad weight, non-tensor; no leak", () => {
    assert.throws(
      () => LOSSES.build({ type: 'WeightedTVLoss', reduction: 'none' } as never),
      (e: Error) =>
        e instanceof ConfigError && /WeightedTVLoss: option 'reduction'/.test(e.message),
    );
    const m = new WeightedTVLoss();
    const p = nhwc([2, 4, 4, 3], 110);
    const before = tf.memory().numTensors;
    const row = nhwc([2, 1, 4, 3], 111);
    const w2 = tf.ones([2, 4, 4, 2]);
    const bad: [() => unknown, RegExp][] = [
      [() => m.forward(row), /WeightedTVLoss: 'pred' needs H ≥ 2 and W ≥ 2/],
      [
        () => m.forward(p, w2),
        /WeightedTVLoss: 'weight' must have shape \[2, 4, 4, 1\] or \[2, 4, 4, 3\]/,
      ],
      [() => tf.tidy(() => m.forward(tf.zeros([4, 4, 3]) as never)), /'pred' must have rank 4/],
      [
        () => weightedTvLoss(p, { reduction: 'none' as never }),
        /weightedTvLoss: 'reduction' must be one of/,
      ],
    ];
    for (const [call, message] of bad) assert.throws(call, message);
    tf.dispose([row, w2]);
    assert.equal(tf.memory().numTensors, before);
    p.dispose();
  });

  test('no leaks; gradients match finite differences', () => {
    const p = nhwc([2, 4, 5, 3], 120);
    const w = uniform([2, 4, 5, 3], 121, 0.2, 1.5);
    const m = new WeightedTVLoss({ reduction: 'sum' });
    assertNoLeak(() => m.forward(p, w), 20);
    assertNoLeak(() => tf.grad((a: tf.Tensor) => m.forward(a, w))(p), 20);
    checkGradient((a, b) => m.forward(a, b), [p, w], 0);
    checkGradient((a, b) => m.forward(a, b), [p, w], 1);
    tf.dispose([p, w]);
  });
});

describeOnEachBackend('BasicSR losses: PyTorch reference cases (basicsr.json)', () => {
  const all = loadCases<{ type: string; structure?: unknown }>('basicsr.json');
  const lists = all.filter((c) => c.structure !== undefined) as unknown as ListCase[];
  const plain = loadCases('basicsr.json', 'WeightedTVLoss');
  test(`${all.length} cases: outputs and gradients within 1e-5 + 5e-4·|want|`, () => {
    assert.ok(all.length >= 60);
    assert.equal(lists.length + plain.length, all.length);
    const types = new Set(all.map((c) => c.type));
    assert.deepEqual([...types].sort(), [
      'GANFeatLoss',
      'GANLoss',
      'MultiScaleGANLoss',
      'WeightedTVLoss',
    ]);
    for (const c of lists) tf.tidy(() => checkListCase(c));
    for (const c of plain) tf.tidy(() => checkLossCase(c));
  });
});
