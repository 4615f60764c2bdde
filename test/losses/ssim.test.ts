import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  LOSSES,
  MS_SSIM_SCALE_WEIGHTS,
  MultiScaleSSIMLoss,
  multiScaleSsim,
  ShapeError,
  SSIMLoss,
  ssim,
} from '../../src/index.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import { runBattery } from '../helpers/battery.ts';
import { ssimFormula } from '../helpers/formulas.ts';
import { readReference } from '../helpers/reference.ts';
import { checkSsimCase, type SsimCase } from '../helpers/ssim-cases.ts';
import { assertClose, assertNoLeak, uniform } from '../helpers/tensors.ts';

before(useTestBackend);

describeOnEachBackend('SSIM: PyTorch reference cases of piq (ssim.json)', () => {
  const cases = readReference<{ cases: SsimCase[] }>('ssim.json').cases;
  test(`${cases.length} cases: outputs and input gradients within 1e-5 + 5e-4·|want|`, () => {
    assert.ok(cases.length >= 21);
    assert.deepEqual([...new Set(cases.map((c) => c.type))].sort(), [
      'MultiScaleSSIMLoss',
      'SSIMLoss',
    ]);
    for (const c of cases) checkSsimCase(c);
  });
});

/**
 * Small images for the battery (finite differences of every element), inside [0.1, 0.9]: y is
 * 0.6·x plus independent noise, so the loss is of order 0.1–1 (its float32 rounding is what the
 * finite differences allow for) and every CS stays positive (away from MS-SSIM's relu).
 */
const smallPair =
  (c = 2) =>
  () =>
    tf.tidy(() => {
      const x = uniform([2, 6, 7, c], 1, 0.1, 0.9);
      return [x, tf.add(tf.mul(x, 0.6), uniform([2, 6, 7, c], 2, 0.04, 0.36))];
    });

describe('SSIMLoss', () => {
  const config = { kernel_size: 3, kernel_sigma: 1.2 };
  runBattery({
    type: 'SSIMLoss',
    config,
    args: smallPair(),
    gradArgs: [0, 1],
    reference: (x, y) => tf.mean(tf.sub(1, ssimFormula(x, y, config))),
  });
});

describe('MultiScaleSSIMLoss', () => {
  const config = { kernel_size: 3, scale_weights: [0.6, 0.4] };
  runBattery({
    type: 'MultiScaleSSIMLoss',
    config,
    args: smallPair(),
    gradArgs: [0, 1],
    reference: (x, y) => tf.mean(tf.sub(1, ssimFormula(x, y, config))),
  });
});

describe('SSIM: module, function and formula', () => {
  test('defaults: piq keys and values, loss names', () => {
    const s = new SSIMLoss();
    assert.deepEqual(s.cfg, {
      loss_weight: 1,
      loss_name: 'loss_ssim',
      kernel_size: 11,
      kernel_sigma: 1.5,
      k1: 0.01,
      k2: 0.03,
      data_range: 1,
      reduction: 'mean',
      downsample: true,
    });
    const m = new MultiScaleSSIMLoss();
    assert.equal(m.lossName(), 'loss_ms_ssim');
    assert.deepEqual(m.cfg.scale_weights, [...MS_SSIM_SCALE_WEIGHTS]);
    assert.equal('downsample' in m.cfg, false);
  });

  test('the module equals 1 − the function, every reduction, grey and RGB, data_range 255', () => {
    tf.tidy(() => {
      for (const c of [1, 3]) {
        const x = tf.mul(uniform([3, 20, 18, c], 3), 255);
        const y = tf.mul(uniform([3, 20, 18, c], 4), 255);
        const opts = { data_range: 255, kernel_size: 7 };
        const v = ssim(x, y, opts);
        assert.deepEqual(v.shape, [3]);
        const msOpts = { data_range: 255, kernel_size: 3, scale_weights: [1, 3, 2] };
        const mv = multiScaleSsim(x, y, msOpts);
        for (const reduction of ['none', 'mean', 'sum'] as const) {
          const reduce = (t: tf.Tensor) =>
            reduction === 'none' ? t : reduction === 'sum' ? tf.sum(t) : tf.mean(t);
          const what = `C=${c} ${reduction}`;
          const s = new SSIMLoss({ ...opts, reduction, loss_weight: 0.5 });
          assertClose(s.forward(x, y), tf.mul(reduce(tf.sub(1, v)), 0.5), { what });
          const ms = new MultiScaleSSIMLoss({ ...msOpts, reduction });
          assertClose(ms.forward(x, y), reduce(tf.sub(1, mv)), { what });
        }
        assertClose(v, ssimFormula(x, y, opts), { atol: 1e-5, what: 'ssim vs formula' });
        assertClose(mv, ssimFormula(x, y, msOpts), { atol: 1e-5, what: 'ms-ssim vs formula' });
        // The function's default scale weights are the paper's as they are; the class's are
        // normalised (piq's class passes them on), a relative 1e-4 in each exponent.
        const x2 = uniform([1, 161, 161, c], 5);
        const y2 = tf.clipByValue(tf.add(x2, uniform([1, 161, 161, c], 6, -0.1, 0.1)), 0, 1);
        assertClose(
          new MultiScaleSSIMLoss({ reduction: 'none' }).forward(x2, y2),
          tf.sub(1, multiScaleSsim(x2, y2, { scale_weights: [...MS_SSIM_SCALE_WEIGHTS] })),
        );
      }
    });
  });

  test('identical images: value 1, loss 0, finite near-zero gradients (SSIM and MS-SSIM)', () => {
    tf.tidy(() => {
      const x = uniform([2, 161, 165, 3], 7);
      for (const [name, f] of [
        ['ssim', (a: tf.Tensor, b: tf.Tensor) => ssim(a, b)],
        ['multiScaleSsim', (a: tf.Tensor, b: tf.Tensor) => multiScaleSsim(a, b)],
      ] as const) {
        assertClose(f(x, x), [1, 1], { atol: 1e-5, what: name });
        const [gx, gy] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(f(a, b)))([x, x]);
        for (const g of [gx, gy]) {
          assert.equal(tf.all(tf.isFinite(g)).dataSync()[0], 1, `${name}: finite gradient`);
          assert.ok(tf.max(tf.abs(g)).dataSync()[0] < 1e-6, `${name}: zero-ish gradient`);
        }
      }
    });
  });

  test('flat images (σ = 0) and anti-correlated ones (CS < 0): finite values and gradients', () => {
    tf.tidy(() => {
      const flat = tf.fill([1, 20, 20, 1], 0.5);
      const other = tf.fill([1, 20, 20, 1], 0.25);
      const c1 = 0.01 ** 2;
      // σ = 0: CS = c2/c2 = 1 and SSIM is the luminance term.
      const lum = (2 * 0.5 * 0.25 + c1) / (0.25 + 0.0625 + c1);
      assertClose(ssim(flat, other), [lum], { atol: 1e-6 });
      assertClose(ssim(flat, flat), [1], { atol: 1e-6 });
      const x = uniform([2, 20, 21, 3], 8);
      const inverted = tf.sub(1, x);
      const opts = { kernel_size: 3, scale_weights: [0.5, 0.3, 0.2] };
      const v = multiScaleSsim(x, inverted, opts);
      assertClose(v, [0, 0], { atol: 0, what: 'relu of a negative CS' });
      for (const [a, b] of [
        [x, inverted],
        [flat, other],
        [flat, flat],
      ]) {
        const o = a === flat ? { kernel_size: 3, scale_weights: [0.5, 0.5] } : opts;
        for (const f of [
          (p: tf.Tensor, q: tf.Tensor) => multiScaleSsim(p, q, o),
          (p: tf.Tensor, q: tf.Tensor) => ssim(p, q),
        ]) {
          const grads = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(f(p, q)))([a, b]);
          for (const g of grads) assert.equal(tf.all(tf.isFinite(g)).dataSync()[0], 1);
        }
      }
      const gz = tf.grad((p: tf.Tensor) => tf.sum(multiScaleSsim(p, inverted, opts)))(x);
      assertClose(gz, tf.zerosLike(x), { atol: 0, what: 'zero gradient through relu(CS ≤ 0)' });
    });
  });

  test("downsample: f = max(1, round(min(H, W)/256)) with Python's round (640 → 2, not 3)", () => {
    tf.tidy(() => {
      for (const [h, w, f] of [
        [384, 390, 2],
        [640, 641, 2],
      ]) {
        const x = uniform([1, h, w, 1], 9);
        const y = tf.clipByValue(tf.add(x, uniform([1, h, w, 1], 10, -0.2, 0.2)), 0, 1);
        const pooled = (t: tf.Tensor) => tf.avgPool(t as tf.Tensor4D, f, f, 'valid');
        assertClose(ssim(x, y), ssim(pooled(x), pooled(y), { downsample: false }), {
          atol: 1e-6,
          what: `${h}×${w}`,
        });
      }
      const x = uniform([1, 300, 260, 1], 11);
      const y = uniform([1, 300, 260, 1], 12);
      assertClose(ssim(x, y), ssim(x, y, { downsample: false }), { atol: 0, what: 'f = 1' });
    });
  });

  test('no tensor leaks: functions, modules and gradients', () => {
    const [x, y] = smallPair(3)();
    const big = uniform([1, 161, 161, 1], 13);
    assertNoLeak(() => ssim(x, y, { kernel_size: 5 }), 20);
    assertNoLeak(() => multiScaleSsim(x, y, { kernel_size: 3, scale_weights: [1, 1] }), 20);
    assertNoLeak(() => multiScaleSsim(big, big), 3);
    const m = new MultiScaleSSIMLoss({ kernel_size: 3, scale_weights: [1, 1] });
    assertNoLeak(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => m.forward(a, b))([x, y]), 10);
    tf.dispose([x, y, big]);
  });
});

describe('SSIM: bad input', () => {
  const pair = (h: number, w: number, c = 1) => [
    uniform([1, h, w, c], 14),
    uniform([1, h, w, c], 15),
  ];

  test('images too small: a ShapeError naming the minimum size, without leaking', () => {
    const [a, b] = pair(10, 30);
    const [c, d] = pair(160, 170);
    const [e, f] = pair(8, 30);
    const before = tf.memory().numTensors;
    const bad: [() => unknown, string][] = [
      [
        () => ssim(a, b),
        'ssim: the images must be at least 11×11 pixels (kernel_size 11), got 10×30',
      ],
      [
        () => new SSIMLoss({ kernel_size: 13 }).forward(a, b),
        'SSIMLoss: the images must be at least 13×13 pixels (kernel_size 13), got 10×30',
      ],
      [
        () => multiScaleSsim(c, d),
        'multiScaleSsim: the images must be at least 161×161 pixels for 5 scales and kernel_size 11 ((kernel_size − 1)·2^(scales − 1) + 1), got 160×170',
      ],
      [
        () => new MultiScaleSSIMLoss({ kernel_size: 3, scale_weights: [1, 1, 1] }).forward(e, f),
        'MultiScaleSSIMLoss: the images must be at least 9×9 pixels for 3 scales and kernel_size 3 ((kernel_size − 1)·2^(scales − 1) + 1), got 8×30',
      ],
    ];
    for (const [call, message] of bad) {
      assert.throws(call, (e: Error) => e instanceof ShapeError && e.message === message);
    }
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([a, b, c, d, e, f]);
  });

  test('even or non-positive kernel_size, bad keys: ConfigError at construction and call', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ type: 'SSIMLoss', kernel_size: 10 }, /^SSIMLoss: option 'kernel_size' is invalid/],
      [{ type: 'MultiScaleSSIMLoss', kernel_size: 4 }, /option 'kernel_size' is invalid/],
      [{ type: 'SSIMLoss', kernel_size: 0 }, /option 'kernel_size' must be > 0/],
      [{ type: 'SSIMLoss', data_range: 0 }, /option 'data_range' must be > 0/],
      [{ type: 'SSIMLoss', scale_weights: [1] }, /SSIMLoss: unknown option 'scale_weights'/],
      [{ type: 'MultiScaleSSIMLoss', downsample: false }, /unknown option 'downsample'/],
      [{ type: 'MultiScaleSSIMLoss', scale_weights: [] }, /option 'scale_weights'/],
      [{ type: 'MultiScaleSSIMLoss', scale_weights: [0, 0] }, /option 'scale_weights'/],
      [{ type: 'SSIMLoss', reduction: 'avg' }, /option 'reduction' must be one of/],
    ];
    for (const [cfg, message] of bad) {
      assert.throws(
        () => LOSSES.build(cfg as never),
        (e: Error) => e instanceof ConfigError && message.test(e.message),
        JSON.stringify(cfg),
      );
    }
    const [a, b] = pair(12, 12);
    const calls: [() => unknown, string][] = [
      [
        () => ssim(a, b, { kernel_size: 4 }),
        "ssim: 'kernel_size' must be an odd positive integer, got 4",
      ],
      [() => ssim(a, b, { k2: 0 }), "ssim: 'k2' must be a positive number, got 0"],
      [
        () => multiScaleSsim(a, b, { scale_weights: [-1, 2] }),
        "multiScaleSsim: 'scale_weights' must be a non-empty list of non-negative numbers with a positive sum, got an array of length 2",
      ],
    ];
    for (const [call, message] of calls) {
      assert.throws(call, (e: Error) => e instanceof ConfigError && e.message === message);
    }
    assert.throws(() => ssim(a, b, b as never), /ssim: argument 3 must be an options object/);
    tf.dispose([a, b]);
  });

  test('inputs outside [0, data_range], shape mismatches: ShapeErrors naming the argument', () => {
    tf.tidy(() => {
      const [a, b] = pair(12, 12, 3);
      assert.throws(
        () => ssim(tf.mul(a, 255), b),
        (e: Error) =>
          e instanceof ShapeError &&
          /^ssim: 'x' must be an image in \[0, data_range\] = \[0, 1\], got values in \[.*\] \(an image in 0\.\.255\? set data_range: 255\)$/.test(
            e.message,
          ),
      );
      assert.throws(
        () => new MultiScaleSSIMLoss({ data_range: 255 }).forward(a, tf.sub(b, 0.5)),
        /MultiScaleSSIMLoss: 'y' must be an image in \[0, data_range\] = \[0, 255\]/,
      );
      assert.throws(
        () => ssim(a, tf.zeros([1, 12, 12, 1])),
        /ssim: 'y' must have the shape of 'x' \[1, 12, 12, 3\], got \[1, 12, 12, 1\]$/,
      );
      assert.throws(() => ssim(tf.zeros([12, 12, 3]), b), /ssim: 'x' must have rank 4 \(NHWC\)/);
    });
  });
});
