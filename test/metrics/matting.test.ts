import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  buildMetric,
  ConfigError,
  connectivityError,
  gradientError,
  type MattingMetrics,
  mattingMetrics,
  mattingMse,
  ShapeError,
  sad,
} from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';
import { loadCases, readReference } from '../helpers/reference.ts';
import { assertClose, assertFailsWithoutLeak, assertNoLeak } from '../helpers/tensors.ts';

before(useTestBackend);

/** A case of test/reference/matting_metrics.json: one image, row-major H×W maps. */
interface MattingCase extends MattingMetrics {
  id: string;
  type: 'matting';
  options: { sigma?: number; step?: number; norm_const?: number };
  shape: [number, number];
  pred_alpha: number[];
  gt_alpha: number[];
  trimap: number[];
}

interface MattingBatch extends MattingMetrics {
  ids: string[];
}

const CASES = loadCases<MattingCase>('matting_metrics.json');
const BATCHES = readReference<{ batches: MattingBatch[] }>('matting_metrics.json').batches;
const METRICS = ['SAD', 'MattingMSE', 'GradientError', 'ConnectivityError'] as const;

/** The four one-image functions under MMagic's result keys. */
const FUNCTIONS = {
  SAD: sad,
  MattingMSE: mattingMse,
  GradientError: gradientError,
  ConnectivityError: connectivityError,
} as const;

/** The options of a case that the metric `key` takes (each MMagic metric has its own keys). */
function optionsFor(
  key: (typeof METRICS)[number],
  { sigma, step, norm_const }: MattingCase['options'],
) {
  const own = {
    SAD: { norm_const },
    MattingMSE: {},
    GradientError: { sigma, norm_const },
    ConnectivityError: { step, norm_const },
  }[key];
  return Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined));
}

const map = (c: MattingCase, key: 'pred_alpha' | 'gt_alpha' | 'trimap') =>
  tf.tensor3d(c[key], [...c.shape, 1]);

/** A 6×7 sample whose centre is unknown, its known border masked, and pred = gt. */
function smallSample() {
  const [h, w] = [6, 7];
  const trimap = new Float32Array(h * w);
  const gt = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const inner = y > 0 && y < h - 1 && x > 0 && x < w - 1;
      trimap[i] = inner ? 128 : x < 3 ? 0 : 255;
      gt[i] = inner ? (37 * i) % 256 : trimap[i];
    }
  }
  return { gt, trimap, pred: gt.slice(), shape: [h, w] as const };
}

describe('matting metrics: PyTorch references (MMagic definitions)', () => {
  test('the reference file has every kind of case', () => {
    assert.equal(CASES.length, 13);
    for (const kind of ['disc/', 'disc-blob/', 'random/', 'thresholds/', 'tie/', 'no-unknown/']) {
      assert.ok(
        CASES.some((c) => c.id.startsWith(kind)),
        kind,
      );
    }
  });

  for (const c of CASES) {
    test(`${c.id}: every metric from H×W×1 tensors`, () => {
      tf.tidy(() => {
        const [p, g, t] = [map(c, 'pred_alpha'), map(c, 'gt_alpha'), map(c, 'trimap')];
        for (const key of METRICS) {
          assertClose(FUNCTIONS[key](p, g, t, optionsFor(key, c.options)), c[key], {
            what: `${c.id}: ${key}`,
          });
        }
      });
    });

    test(`${c.id}: every metric from Float32Arrays`, () => {
      const [p, g, t] = [c.pred_alpha, c.gt_alpha, c.trimap].map((v) => Float32Array.from(v));
      for (const key of METRICS) {
        const got = FUNCTIONS[key](p, g, t, { ...optionsFor(key, c.options), shape: c.shape });
        assertClose(got, c[key], { what: `${c.id}: ${key}` });
      }
    });
  }

  for (const batch of BATCHES) {
    test(`mattingMetrics averages per image as MMagic: ${batch.ids.join(', ')}`, () => {
      tf.tidy(() => {
        const samples = batch.ids.map((id) => {
          const c = CASES.find((x) => x.id === id) as MattingCase;
          return {
            pred_alpha: map(c, 'pred_alpha'),
            gt_alpha: map(c, 'gt_alpha'),
            trimap: map(c, 'trimap'),
          };
        });
        const got = mattingMetrics(samples);
        assert.deepEqual(Object.keys(got), [...METRICS]);
        for (const key of METRICS) assertClose(got[key], batch[key], { what: key });
      });
    });
  }
});

describe('matting metrics: closed forms', () => {
  test('pred = gt gives 0 for every metric', () => {
    const { gt, trimap, pred, shape } = smallSample();
    for (const key of METRICS) assert.equal(FUNCTIONS[key](pred, gt, trimap, { shape }), 0, key);
  });

  test('gt 0 and pred 255 over an all-unknown trimap: SAD = H·W / norm_const, MSE = 1', () => {
    const shape = [5, 8] as const;
    const trimap = new Float32Array(40).fill(128);
    const gt = new Float32Array(40);
    const pred = new Float32Array(40).fill(255);
    assert.equal(sad(pred, gt, trimap, { shape }), 0.04);
    assert.equal(sad(pred, gt, trimap, { shape, norm_const: 1 }), 40);
    assert.equal(mattingMse(pred, gt, trimap, { shape }), 1);
    // both alphas are flat, so min-max normalisation makes both 0 (cv2's scale 0)
    assert.equal(gradientError(pred, gt, trimap, { shape }), 0);
    // no pixel reaches 0.1 in gt: every level is 0, phi(gt) = 1, phi(pred) = 0
    assert.equal(connectivityError(pred, gt, trimap, { shape, norm_const: 1 }), 40);
  });

  test('a trimap without unknown pixels gives 0 for MSE, gradient and connectivity (MMagic), SAD as usual', () => {
    const shape = [3, 4] as const;
    const trimap = Float32Array.from([0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255]);
    const gt = Float32Array.from([0, 10, 255, 200, 0, 0, 255, 255, 0, 0, 255, 255]);
    const pred = trimap.slice();
    assert.equal(mattingMse(pred, gt, trimap, { shape }), 0);
    assert.equal(gradientError(pred, gt, trimap, { shape }), 0);
    assert.equal(connectivityError(pred, gt, trimap, { shape }), 0);
    assertClose(sad(pred, gt, trimap, { shape }), 65 / 255 / 1000);
  });

  test('H×W and H×W×1 tensors and Float32Arrays give the same numbers', () => {
    const { gt, trimap, shape } = smallSample();
    const pred = gt.map((v, i) => (trimap[i] === 128 ? 255 - v : v));
    tf.tidy(() => {
      const as2d = (a: Float32Array) => tf.tensor2d(a, [...shape]);
      const as3d = (a: Float32Array) => tf.tensor3d(a, [...shape, 1]);
      for (const key of METRICS) {
        const fromArrays = FUNCTIONS[key](pred, gt, trimap, { shape });
        assert.ok(fromArrays > 0, key);
        assert.equal(FUNCTIONS[key](as2d(pred), as2d(gt), as2d(trimap)), fromArrays, key);
        assert.equal(FUNCTIONS[key](as3d(pred), as3d(gt), as3d(trimap)), fromArrays, key);
      }
    });
  });

  test('no tensor is left behind', () => {
    const c = CASES[0];
    const [p, g, t] = [map(c, 'pred_alpha'), map(c, 'gt_alpha'), map(c, 'trimap')];
    assertNoLeak(() => {
      for (const key of METRICS) FUNCTIONS[key](p, g, t);
      mattingMetrics([{ pred_alpha: p, gt_alpha: g, trimap: t }]);
      return [];
    }, 5);
    tf.dispose([p, g, t]);
  });
});

describe('matting metrics: bad input', () => {
  const { gt, trimap, pred, shape } = smallSample();
  const fails = (call: () => unknown, type: typeof ShapeError | typeof ConfigError, re: RegExp) =>
    assertFailsWithoutLeak(call, (e) => e instanceof type && re.test(e.message));

  test('maps of different sizes', () => {
    const a = tf.zeros([4, 5, 1]);
    const b = tf.zeros([4, 6, 1]);
    fails(() => sad(a, b, a), ShapeError, /sad: 'gt_alpha' must be 4×5 as 'pred_alpha', got 4×6/);
    fails(
      () => gradientError(a, a, b),
      ShapeError,
      /gradientError: 'trimap' must be 4×5 as 'pred_alpha', got 4×6/,
    );
    fails(
      () => mattingMse(a, a, a, { shape: [5, 4] }),
      ShapeError,
      /'pred_alpha' must be 5×4 \(shape: \[5, 4\]\), got a float32 tensor of shape \[4, 5, 1\]/,
    );
    tf.dispose([a, b]);
  });

  test('a map that is not an H×W×1 float32 tensor or a Float32Array', () => {
    const rgb = tf.zeros([4, 5, 3]);
    fails(() => sad(rgb, rgb, rgb), ShapeError, /sad: 'pred_alpha' must be single-channel/);
    const ints = tf.zeros([4, 5, 1], 'int32');
    fails(() => sad(ints, ints, ints), ShapeError, /'pred_alpha' must be float32/);
    fails(
      () => sad([1, 2] as never, gt, trimap),
      ShapeError,
      /'pred_alpha' must be an H×W×1 float32 tensor or a Float32Array, got an array of length 2/,
    );
    tf.dispose([rgb, ints]);
  });

  test('a Float32Array without its shape, or of another length', () => {
    fails(
      () => connectivityError(pred, gt, trimap),
      ShapeError,
      /connectivityError: 'pred_alpha' is a Float32Array; give its size as the option shape: \[H, W\]/,
    );
    fails(
      () => sad(pred, gt.subarray(1), trimap, { shape }),
      ShapeError,
      /'gt_alpha' must hold H·W = 6·7 = 42 values \(shape: \[6, 7\]\), got 41/,
    );
  });

  test('an alpha outside [0, 255]', () => {
    for (const bad of [-1, 256, Number.NaN]) {
      const g = gt.slice();
      g[8] = bad;
      fails(
        () => sad(pred, g, trimap, { shape }),
        ShapeError,
        new RegExp(
          `'gt_alpha' must be an alpha matte in \\[0, 255\\], got ${bad} at \\(row 1, column 1\\)`,
        ),
      );
    }
  });

  test('a trimap value other than 0, 128, 255', () => {
    const t = trimap.slice();
    t[3] = 1;
    fails(
      () => mattingMse(pred, gt, t, { shape }),
      ShapeError,
      /'trimap' must hold only 0 \(background\), 128 \(unknown\) and 255 \(foreground\), got 1 at \(row 0, column 3\)/,
    );
  });

  test('a prediction not masked by the trimap (MMagic refuses it too)', () => {
    const p = pred.slice();
    p[0] = 3;
    fails(
      () => gradientError(p, gt, trimap, { shape }),
      ShapeError,
      /'pred_alpha' must be masked by the trimap before evaluation .*got 3 at \(row 0, column 0\) where the trimap is 0$/,
    );
    const unit = pred.map((v) => v / 255);
    fails(
      () =>
        sad(
          unit,
          gt,
          trimap.map((v) => (v === 0 ? 128 : v)),
          { shape },
        ),
      ShapeError,
      /where the trimap is 255 \(an alpha in \[0, 1\]\? multiply it by 255\)/,
    );
  });

  test('bad options', () => {
    const o = { shape };
    fails(
      () => sad(pred, gt, trimap, { ...o, norm_const: 0 }),
      ConfigError,
      /sad: option 'norm_const' must be > 0/,
    );
    fails(() => connectivityError(pred, gt, trimap, { ...o, step: 0 }), ConfigError, /'step'/);
    fails(() => connectivityError(pred, gt, trimap, { ...o, step: 1.5 }), ConfigError, /'step'/);
    fails(
      () => gradientError(pred, gt, trimap, { ...o, sigma: 40 }),
      ConfigError,
      /gradientError: 'sigma' must give a finite derivative-of-Gaussian filter .*got 40/,
    );
    fails(
      () => gradientError(pred, gt, trimap, { ...o, sigma: 0.01 }),
      ConfigError,
      /'sigma' must give a finite/,
    );
    fails(
      () => mattingMse(pred, gt, trimap, { ...o, norm_const: 1000 } as never),
      ConfigError,
      /mattingMse: .*norm_const/,
    );
    fails(() => sad(pred, gt, trimap, { ...o, shape: [6.5, 7] as never }), ConfigError, /shape/);
    const t = tf.zeros([2, 2]);
    fails(() => sad(t, t, t, t as never), ConfigError, /sad: argument 4 must be an options object/);
    t.dispose();
  });

  test('mattingMetrics: no samples, a bad sample (named by its index)', () => {
    fails(() => mattingMetrics([]), ShapeError, /'samples' must be a non-empty array/);
    const good = { pred_alpha: pred, gt_alpha: gt, trimap };
    fails(
      () => mattingMetrics([good, null as never], { shape }),
      ShapeError,
      /'samples\[1\]' must be an object \{pred_alpha, gt_alpha, trimap\}, got null/,
    );
    fails(
      () => mattingMetrics([good, { ...good, gt_alpha: gt.map(() => 300) }], { shape }),
      ShapeError,
      /mattingMetrics: 'samples\[1\]\.gt_alpha' must be an alpha matte in \[0, 255\]/,
    );
    fails(() => mattingMetrics([good], { shape, steps: 0.1 } as never), ConfigError, /steps/);
  });
});

describe('matting metrics: MMagic configs (buildMetric)', () => {
  test('each of the four, built from its MMagic config, computes its function with the config', () => {
    const c = CASES.find((x) => x.id.startsWith('two-discs/32x29/')) as MattingCase;
    const [p, g, t] = [c.pred_alpha, c.gt_alpha, c.trimap].map((v) => Float32Array.from(v));
    for (const key of METRICS) {
      const metric = buildMetric({ type: key, ...optionsFor(key, c.options) });
      assert.equal((metric.constructor as { metricType?: string }).metricType, key);
      const got = (metric as { compute(...a: unknown[]): number }).compute(p, g, t, c.shape);
      assertClose(got, c[key], { what: key });
    }
    const defaults = buildMetric({ type: 'ConnectivityError' });
    assert.deepEqual(defaults.cfg, { step: 0.1, norm_const: 1000 });
  });

  test("keys MMagic's metric does not use are refused, naming the key", () => {
    assert.throws(
      () => buildMetric({ type: 'MattingMSE', norm_const: 1000 }),
      (e) => e instanceof ConfigError && /buildMetric: unknown option 'norm_const'/.test(e.message),
    );
    assert.throws(
      () => buildMetric({ type: 'SAD', scaling: 100 }),
      (e) => e instanceof ConfigError && /'scaling'/.test(e.message),
    );
    assert.throws(
      () => buildMetric({ type: 'GradientError', sigma: -1 }),
      (e) => e instanceof ConfigError && /'sigma'/.test(e.message),
    );
  });
});
