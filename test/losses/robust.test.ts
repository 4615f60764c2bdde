import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  CauchyLoss,
  ConfigError,
  cauchyLoss,
  GemanMcClureLoss,
  GeneralRobustLoss,
  gemanMcClureLoss,
  generalRobustLoss,
  HuberLoss,
  huberLoss,
  LOSSES,
  ShapeError,
  SmoothL1Loss,
  smoothL1Loss,
  WelschLoss,
  welschLoss,
} from '../../src/index.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import { checkMaskedVariants, type Forwardable, runBattery } from '../helpers/battery.ts';
import { type RobustArgs, type RobustKind, robustLoss } from '../helpers/formulas.ts';
import { checkLossCase, loadCases } from '../helpers/reference.ts';
import {
  assertClose,
  assertNoLeak,
  binaryMask,
  checkGradient,
  uniform,
} from '../helpers/tensors.ts';

before(useTestBackend);

const SHAPE = [2, 4, 5, 3];

/**
 * pred, and a target at |pred − target| in [0.1, 0.25) or [0.4, 0.55): both sides of the
 * threshold 0.3 the Huber and SmoothL1 batteries use, at least 0.05 from it (finite differences
 * step 0.01), and away from 0 (L1's kink for SmoothL1 with β = 0).
 */
const pair = () =>
  tf.tidy(() => {
    const pred = uniform(SHAPE, 1, -1, 1);
    const far = tf.mul(binaryMask(SHAPE, 6, 0.5), 0.3);
    const magnitude = tf.add(uniform(SHAPE, 3, 0.1, 0.25), far);
    const offset = tf.mul(tf.sign(uniform(SHAPE, 2, -1, 1)), magnitude);
    return [pred, tf.add(pred, offset)];
  });

/** pred, target as {@link pair}, and a 1-channel weight in [0.5, 1.5). */
const weightedPair = () => [...pair(), uniform([2, 4, 5, 1], 5, 0.5, 1.5)];

type AnyLossFn = (p: tf.Tensor, t: tf.Tensor, o?: RobustArgs) => tf.Tensor;

/** Every robust loss: registry name, formula kind, function, config (own keys). */
const LOSS_TABLE: [string, RobustKind, AnyLossFn, Record<string, number>][] = [
  ['CauchyLoss', 'cauchy', cauchyLoss as AnyLossFn, {}],
  ['WelschLoss', 'welsch', welschLoss as AnyLossFn, {}],
  ['GemanMcClureLoss', 'geman-mcclure', gemanMcClureLoss as AnyLossFn, {}],
  ['HuberLoss', 'huber', huberLoss as AnyLossFn, { delta: 0.3 }],
  ['SmoothL1Loss', 'smooth-l1', smoothL1Loss as AnyLossFn, { beta: 0.3 }],
  ['SmoothL1Loss', 'smooth-l1', smoothL1Loss as AnyLossFn, { beta: 0 }],
  ...[-2, 0, 1, 2, 4].map(
    (alpha) =>
      [
        'GeneralRobustLoss',
        'general-robust',
        generalRobustLoss as AnyLossFn,
        { alpha, scale: alpha === 1 ? 0.5 : 1 },
      ] as [string, RobustKind, AnyLossFn, Record<string, number>],
  ),
];

const label = (type: string, own: Record<string, number>) =>
  `${type}${Object.entries(own)
    .map(([k, v]) => ` ${k}=${v}`)
    .join('')}`;

for (const [type, kind, fn, own] of LOSS_TABLE) {
  describe(label(type, own), () => {
    runBattery({
      type,
      config: own,
      args: weightedPair,
      gradArgs: [0, 1, 2],
      reference: (p, t, weight) => robustLoss(kind, p, t, { weight, ...own }),
    });

    test('module and function: every reduction × weight kind × sample_wise', () => {
      tf.tidy(() => {
        const [p, t0] = pair();
        const t = tf.add(p, tf.mul(tf.sub(t0, p), tf.tensor4d([1, 2], [2, 1, 1, 1])));
        checkMaskedVariants(
          { type, config: own, fn, formula: (p, t, o) => robustLoss(kind, p, t, o) },
          p,
          t,
        );
      });
    });
  });
}

describe('robust losses: defaults, limits and identities', () => {
  const x = () => tf.tensor4d([0, 0.25, -0.5, 1, -2, 3], [1, 2, 3, 1]);
  const zero = () => tf.zeros([1, 2, 3, 1]);
  const none = { reduction: 'none' } as const;

  test('defaults: loss_name, reduction mean, delta = beta = alpha = scale = 1', () => {
    const names = [
      [new CauchyLoss(), 'loss_cauchy'],
      [new WelschLoss(), 'loss_welsch'],
      [new GemanMcClureLoss(), 'loss_geman_mcclure'],
      [new HuberLoss(), 'loss_huber'],
      [new SmoothL1Loss(), 'loss_smooth_l1'],
      [new GeneralRobustLoss(), 'loss_general_robust'],
    ] as const;
    for (const [m, name] of names) assert.equal(m.lossName(), name);
    assert.equal(new HuberLoss().cfg.delta, 1);
    assert.equal(new SmoothL1Loss().cfg.beta, 1);
    assert.deepEqual(
      [new GeneralRobustLoss().cfg.alpha, new GeneralRobustLoss().cfg.scale],
      [1, 1],
    );
    tf.tidy(() => {
      const [p, t] = pair();
      assertClose(new HuberLoss().forward(p, t), tf.mean(robustLoss('huber', p, t)));
    });
  });

  test('closed-form values (PyTorch and kornia)', () => {
    tf.tidy(() => {
      const p = x();
      const t = zero();
      assertClose(
        huberLoss(p, t, none),
        tf.tensor4d([0, 0.03125, 0.125, 0.5, 1.5, 2.5], [1, 2, 3, 1]),
      );
      assertClose(
        huberLoss(p, t, { ...none, delta: 0.5 }),
        tf.tensor4d([0, 0.03125, 0.125, 0.375, 0.875, 1.375], [1, 2, 3, 1]),
      );
      assertClose(
        smoothL1Loss(p, t, { ...none, beta: 0.5 }),
        tf.tensor4d([0, 0.0625, 0.25, 0.75, 1.75, 2.75], [1, 2, 3, 1]),
      );
      assertClose(smoothL1Loss(p, t, { ...none, beta: 0 }), tf.abs(p));
      assertClose(cauchyLoss(p, t, none), tf.log(tf.add(tf.mul(tf.square(p), 0.5), 1)));
      assertClose(gemanMcClureLoss(p, t, none).max(), (2 * 9) / 13);
      assertClose(welschLoss(p, t, none).max(), 1 - Math.exp(-4.5));
    });
  });

  test('Barron: α = −2 is Geman–McClure, 0 Cauchy, 1 pseudo-Huber, 2 half-L2, −∞ Welsch', () => {
    tf.tidy(() => {
      const p = x();
      const t = zero();
      const g = (alpha: number, scale = 1) => generalRobustLoss(p, t, { ...none, alpha, scale });
      assertClose(g(-2), gemanMcClureLoss(p, t, none), { atol: 1e-6 });
      assertClose(g(0), cauchyLoss(p, t, none), { atol: 1e-7 });
      assertClose(g(1), tf.sub(tf.sqrt(tf.add(tf.square(p), 1)), 1), { atol: 1e-6 });
      assertClose(g(2), tf.mul(tf.square(p), 0.5), { atol: 0 });
      // −∞ is Welsch: ρ(x, α) − Welsch(x) is O(x⁴/|α|). (A very large |α| loses float32 precision
      // on wasm, whose Log1p is log(1 + u).)
      assertClose(g(-1e4), welschLoss(p, t, none), { atol: 5e-3 });
      // The scale divides x: ρ(x, α, c) = ρ(x/c, α, 1).
      assertClose(g(1, 0.5), generalRobustLoss(tf.mul(p, 2), t, { ...none, alpha: 1 }));
    });
  });

  test('Barron is continuous in α at the exact limits 0 and 2, with gradients', () => {
    tf.tidy(() => {
      const p = x();
      const t = zero();
      for (const at of [0, 2]) {
        for (const alpha of [at - 1e-4, at + 1e-4]) {
          const f = (a: number) => (q: tf.Tensor) =>
            generalRobustLoss(q, t, { alpha: a, reduction: 'sum' });
          assertClose(f(alpha)(p), f(at)(p), { rtol: 2e-3, atol: 1e-5, what: `α = ${alpha}` });
          assertClose(tf.grad(f(alpha))(p), tf.grad(f(at))(p), { rtol: 2e-3, atol: 1e-5 });
        }
      }
    });
  });

  test('Huber(δ) = δ · SmoothL1(β = δ); SmoothL1 β = 0 has L1 gradients (0 at a tie), no NaN', () => {
    tf.tidy(() => {
      const [p, t] = pair();
      for (const d of [0.3, 1, 2]) {
        assertClose(huberLoss(p, t, { delta: d }), tf.mul(smoothL1Loss(p, t, { beta: d }), d));
      }
      const q = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
      const r = tf.tensor4d([1, 0, 3, 5], [1, 2, 2, 1]);
      const grad = tf.grad((a: tf.Tensor) => smoothL1Loss(a, r, { beta: 0 }))(q);
      assertClose(grad, [0, 0.25, 0, -0.25], { atol: 0 });
      for (const type of ['HuberLoss', 'SmoothL1Loss', 'GeneralRobustLoss', 'WelschLoss']) {
        const m = LOSSES.build({ type }) as unknown as Forwardable;
        const gq = tf.grad((a: tf.Tensor) => m.forward(a, q))(q);
        assertClose(gq, tf.zeros([1, 2, 2, 1]), { atol: 0, what: `${type} at pred = target` });
      }
    });
  });
});

describe('robust losses: bad input', () => {
  test('negative or zero delta, negative beta, non-positive scale: ConfigError naming the key', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ type: 'HuberLoss', delta: -1 }, /^HuberLoss: option 'delta' must be > 0, got -1$/],
      [{ type: 'HuberLoss', delta: 0 }, /^HuberLoss: option 'delta' must be > 0, got 0$/],
      [
        { type: 'SmoothL1Loss', beta: -0.5 },
        /^SmoothL1Loss: option 'beta' must be >= 0, got -0.5$/,
      ],
      [
        { type: 'GeneralRobustLoss', scale: -2 },
        /^GeneralRobustLoss: option 'scale' must be > 0, got -2$/,
      ],
      [
        { type: 'GeneralRobustLoss', scale: 0 },
        /^GeneralRobustLoss: option 'scale' must be > 0, got 0$/,
      ],
      [{ type: 'GeneralRobustLoss', alpha: '1' }, /option 'alpha' must be a number, got '1'/],
      [{ type: 'CauchyLoss', delta: 1 }, /CauchyLoss: unknown option 'delta'/],
      [{ type: 'WelschLoss', reduction: 'avg' }, /WelschLoss: option 'reduction' must be one of/],
    ];
    for (const [cfg, message] of bad) {
      assert.throws(
        () => LOSSES.build(cfg as never),
        (e: Error) => e instanceof ConfigError && message.test(e.message),
        JSON.stringify(cfg),
      );
    }
    assert.equal(new SmoothL1Loss({ beta: 0 }).cfg.beta, 0);
  });

  test('alpha must be finite: −∞, +∞ and NaN are refused (use WelschLoss for α = −∞)', () => {
    for (const alpha of [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, Number.NaN]) {
      assert.throws(
        () => new GeneralRobustLoss({ alpha }),
        (e: Error) =>
          e instanceof ConfigError && /GeneralRobustLoss: option 'alpha'/.test(e.message),
      );
    }
  });

  test('the functions refuse bad hyper-parameters by name, without leaking', () => {
    tf.tidy(() => {
      const [p, t] = pair();
      const before = tf.memory().numTensors;
      const bad: [() => unknown, RegExp][] = [
        [() => huberLoss(p, t, { delta: -1 }), /^huberLoss: 'delta' must be > 0, got -1$/],
        [() => huberLoss(p, t, { delta: 0 }), /^huberLoss: 'delta' must be > 0, got 0$/],
        [() => smoothL1Loss(p, t, { beta: -1 }), /^smoothL1Loss: 'beta' must be >= 0, got -1$/],
        [() => generalRobustLoss(p, t, { scale: 0 }), /^generalRobustLoss: 'scale' must be > 0/],
        [
          () => generalRobustLoss(p, t, { alpha: Number.NEGATIVE_INFINITY }),
          /^generalRobustLoss: 'alpha' must be a finite number, got -Infinity$/,
        ],
        [
          () => generalRobustLoss(p, t, { alpha: '2' as unknown as number }),
          /^generalRobustLoss: 'alpha' must be a finite number, got '2'$/,
        ],
      ];
      for (const [call, message] of bad) {
        assert.throws(call, (e: Error) => e instanceof ConfigError && message.test(e.message));
      }
      assert.equal(tf.memory().numTensors, before);
    });
  });

  test('shape mismatches and bad weights are ShapeErrors naming the function', () => {
    tf.tidy(() => {
      const [p, t] = pair();
      for (const type of ['CauchyLoss', 'HuberLoss', 'GeneralRobustLoss']) {
        const m = LOSSES.build({ type }) as unknown as Forwardable;
        const name = type[0].toLowerCase() + type.slice(1);
        assert.throws(
          () => m.forward(p, tf.zeros([2, 4, 5, 1])),
          (e: Error) =>
            e instanceof ShapeError &&
            e.message ===
              `${name}: 'target' must have the shape of 'pred' [2, 4, 5, 3], got [2, 4, 5, 1]`,
        );
        assert.throws(
          () => m.forward(p, t, tf.ones([2, 4, 5, 2])),
          new RegExp(`${name}: 'weight' must have shape \\[2, 4, 5, 1\\] or \\[2, 4, 5, 3\\]`),
        );
        assert.throws(() => m.forward(p, t, tf.ones([2, 4, 5])), ShapeError);
        assert.throws(
          () => m.forward(p, tf.zeros(SHAPE, 'int32')),
          new RegExp(`${name}: 'target' must be float32`),
        );
      }
    });
  });
});

describe('robust losses: no leaks and gradients', () => {
  test('no tensor leaks for the functions at every α, β = 0 and a weight', () => {
    const [p, t, w] = weightedPair();
    for (const alpha of [-2, 0, 1, 2, 4]) {
      assertNoLeak(() => generalRobustLoss(p, t, { alpha, weight: w, sample_wise: true }), 20);
      assertNoLeak(
        () => tf.grads((a: tf.Tensor, b: tf.Tensor) => generalRobustLoss(a, b, { alpha }))([p, t]),
        20,
      );
    }
    assertNoLeak(() => smoothL1Loss(p, t, { beta: 0, weight: w }), 20);
    assertNoLeak(() => tf.grad((a: tf.Tensor) => huberLoss(a, t, { delta: 0.3 }))(p), 20);
    tf.dispose([p, t, w]);
  });

  test('gradients of every function match finite differences (sum reduction, C-channel weight)', () => {
    const [p, t] = pair();
    const w = uniform(SHAPE, 9, 0.5, 1.5);
    for (const [type, , fn, own] of LOSS_TABLE) {
      for (const i of [0, 1]) {
        checkGradient((a, b, c) => fn(a, b, { weight: c, reduction: 'sum', ...own }), [p, t, w], i);
      }
      assert.ok(type);
    }
    tf.dispose([p, t, w]);
  });
});

describeOnEachBackend('robust losses: PyTorch reference cases (robust.json)', () => {
  const cases = loadCases('robust.json');
  test(`${cases.length} cases: outputs and gradients within 1e-5 + 5e-4·|want|`, () => {
    assert.ok(cases.length >= 90);
    const types = new Set(cases.map((c) => c.type));
    assert.deepEqual([...types].sort(), [
      'CauchyLoss',
      'GemanMcClureLoss',
      'GeneralRobustLoss',
      'HuberLoss',
      'SmoothL1Loss',
      'WelschLoss',
    ]);
    for (const c of cases) tf.tidy(() => checkLossCase(c));
  });
});
