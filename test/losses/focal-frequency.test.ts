import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  ConfigError,
  FocalFrequencyLoss,
  focalFrequencyLoss,
  focalFrequencySpectrum,
  LOSSES,
  ShapeError,
} from '../../src/index.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import {
  checkLossCase,
  loadCases,
  type RefTensor,
  readReference,
  toTensor,
} from '../helpers/reference.ts';
import {
  assertClose,
  assertFailsWithoutLeak,
  assertNoLeak,
  checkGradient,
  uniform,
} from '../helpers/tensors.ts';

before(useTestBackend);

/** A `tensor2freq` value of focal_frequency.json: x (NCHW) and its N×P×h×w×C×2 spectrum. */
interface SpectrumCase {
  id: string;
  patch_factor: number;
  x: RefTensor;
  freq: RefTensor;
}

const isShapeError = (re: RegExp) => (e: Error) => e instanceof ShapeError && re.test(e.message);
const isConfigError = (re: RegExp) => (e: Error) => e instanceof ConfigError && re.test(e.message);

describeOnEachBackend('FocalFrequencyLoss: PyTorch reference (focal_frequency.json)', () => {
  const cases = loadCases('focal_frequency.json');
  const spectra = readReference<{ spectra: SpectrumCase[] }>('focal_frequency.json').spectra;

  test(`${cases.length} cases: outputs and gradients within 1e-5 + 5e-4·|want|`, () => {
    assert.equal(cases.length, 30);
    for (const c of cases) tf.tidy(() => checkLossCase(c));
  });

  test(`${spectra.length} spectra: the matrix-product DFT equals torch.fft.fft2(norm='ortho')`, () => {
    assert.equal(spectra.length, 5);
    for (const s of spectra) {
      tf.tidy(() => {
        const y = focalFrequencySpectrum(toTensor(s.x), s.patch_factor);
        assert.deepEqual(y.shape, s.freq.shape, s.id);
        assertClose(y, toTensor(s.freq), { atol: 1e-6, rtol: 1e-5, what: s.id });
      });
    }
  });
});

describe('FocalFrequencyLoss: identities', () => {
  test('defaults and registration', () => {
    const m = new FocalFrequencyLoss();
    assert.equal(m.lossName(), 'loss_ff');
    assert.deepEqual(
      [m.cfg.alpha, m.cfg.patch_factor, m.cfg.ave_spectrum, m.cfg.log_matrix, m.cfg.batch_matrix],
      [1, 1, false, false, false],
    );
    assert.ok(
      LOSSES.build({ type: 'FocalFrequencyLoss', patch_factor: 2 }) instanceof FocalFrequencyLoss,
    );
  });

  test('Parseval: alpha = 0 (weight 1) is the pixel MSE; its first and second gradients exactly', () => {
    tf.tidy(() => {
      const p = uniform([2, 8, 6, 3], 1, -1, 1);
      const t = uniform([2, 8, 6, 3], 2, -1, 1);
      const n = p.size;
      for (const patch_factor of [1, 2]) {
        const f = (a: tf.Tensor) => focalFrequencyLoss(a, t, { alpha: 0, patch_factor });
        assertClose(f(p), tf.mean(tf.squaredDifference(p, t)), { atol: 1e-6, rtol: 1e-5 });
        const d = tf.sub(p, t);
        assertClose(tf.grad(f)(p), tf.mul(d, 2 / n), { atol: 1e-7, rtol: 1e-4 });
        // Σ (∂L/∂p)² = 4/n² Σ d², whose gradient is 8d/n².
        const g2 = tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.grad(f)(a))))(p);
        assertClose(g2, tf.mul(d, 8 / (n * n)), { atol: 1e-9, rtol: 1e-4 });
      }
      // Parseval for the spectrum itself.
      const y = focalFrequencySpectrum(p, 2);
      assertClose(tf.sum(tf.square(y)), tf.sum(tf.square(p)), { rtol: 1e-5 });
    });
  });

  test('identical images: 0 with zero, finite gradients (0/0 normalisation → 0)', () => {
    tf.tidy(() => {
      const p = uniform([2, 4, 4, 3], 3, -1, 1);
      for (const cfg of [
        {},
        { log_matrix: true },
        { batch_matrix: true },
        { alpha: 2, patch_factor: 2 },
      ]) {
        const m = new FocalFrequencyLoss(cfg);
        const [gp, gt] = tf.grads((a: tf.Tensor, b: tf.Tensor) => m.forward(a, b))([
          p,
          tf.clone(p),
        ]);
        assertClose(m.forward(p, p), 0, { atol: 0 });
        assertClose(gp, tf.zerosLike(p), { atol: 0, what: JSON.stringify(cfg) });
        assertClose(gt, tf.zerosLike(p), { atol: 0, what: JSON.stringify(cfg) });
      }
    });
  });

  test('a given matrix: detached (zero gradient), broadcast, and finite-difference gradients', () => {
    const p = uniform([2, 4, 6, 2], 4, -1, 1);
    const t = uniform([2, 4, 6, 2], 5, -1, 1);
    const matrix = uniform([2, 4, 2, 3, 2], 6, 0, 1.5); // N×P×h×w×C for patch_factor 2
    tf.tidy(() => {
      const gm = tf.grad((m: tf.Tensor) =>
        focalFrequencyLoss(p, t, { matrix: m, patch_factor: 2 }),
      )(matrix);
      assertClose(gm, tf.zerosLike(matrix), { atol: 0 });
      // One h×w×1 matrix equals its explicit N×P×h×w×C broadcast.
      const small = uniform([4, 6, 1], 7, 0, 1);
      const big = tf.broadcastTo(tf.reshape(small, [1, 1, 4, 6, 1]), [2, 1, 4, 6, 2]);
      assertClose(
        focalFrequencyLoss(p, t, { matrix: small }),
        focalFrequencyLoss(p, t, { matrix: big }),
        {
          atol: 1e-7,
          rtol: 1e-6,
        },
      );
    });
    for (const i of [0, 1]) {
      checkGradient(
        (a, b, m) => focalFrequencyLoss(a, b, { matrix: m, patch_factor: 2 }),
        [p, t, matrix],
        i,
      );
    }
    tf.dispose([p, t, matrix]);
  });
});

describe('FocalFrequencyLoss: bad input', () => {
  const p = () => uniform([1, 6, 4, 3], 8);

  test('an image size not divisible by patch_factor: ShapeError naming patch_factor', () => {
    tf.tidy(() => {
      const x = p();
      assertFailsWithoutLeak(
        () => new FocalFrequencyLoss({ patch_factor: 4 }).forward(x, x),
        isShapeError(
          /^focalFrequencyLoss: the image size 6×4 must be divisible by 'patch_factor' 4/,
        ),
      );
      assert.throws(() => focalFrequencySpectrum(x, 3), isShapeError(/'patch_factor' 3/));
    });
  });

  test('bad options: ConfigErrors naming the key', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ patch_factor: 0 }, /FocalFrequencyLoss: option 'patch_factor'/],
      [{ patch_factor: 1.5 }, /FocalFrequencyLoss: option 'patch_factor'/],
      [{ alpha: -1 }, /FocalFrequencyLoss: option 'alpha'/],
      [{ log_matrix: 1 }, /FocalFrequencyLoss: option 'log_matrix'/],
      [{ reduction: 'mean' }, /FocalFrequencyLoss: unknown option 'reduction'/],
    ];
    for (const [cfg, message] of bad) {
      assert.throws(
        () => LOSSES.build({ type: 'FocalFrequencyLoss', ...cfg } as never),
        isConfigError(message),
        JSON.stringify(cfg),
      );
    }
    tf.tidy(() => {
      const x = p();
      assertFailsWithoutLeak(
        () => focalFrequencyLoss(x, x, { alpha: -1 }),
        isConfigError(/^focalFrequencyLoss: 'alpha' must be a finite number >= 0, got -1$/),
      );
      assertFailsWithoutLeak(
        () => focalFrequencyLoss(x, x, { patch_factor: 0.5 }),
        isConfigError(/^focalFrequencyLoss: 'patch_factor' must be a positive integer, got 0.5$/),
      );
      assertFailsWithoutLeak(
        () => focalFrequencyLoss(x, x, x as never),
        isConfigError(/^focalFrequencyLoss: argument 3 must be an options object/),
      );
    });
  });

  test('bad tensors: ShapeErrors naming the argument', () => {
    tf.tidy(() => {
      const x = p();
      const grey = tf.zeros([1, 6, 4, 1]);
      const rank3 = tf.zeros([6, 4, 3]);
      const [m2, m6, m5] = [
        [1, 1, 6, 4, 2],
        [1, 1, 1, 6, 4, 3],
        [2, 1, 6, 4, 3],
      ].map((s) => tf.ones(s));
      assertFailsWithoutLeak(
        () => focalFrequencyLoss(x, grey),
        isShapeError(/'target' must have the shape of 'pred' \[1, 6, 4, 3\], got \[1, 6, 4, 1\]/),
      );
      assertFailsWithoutLeak(
        () => focalFrequencyLoss(rank3, rank3),
        isShapeError(/'pred' must have rank 4 \(NHWC\)/),
      );
      assertFailsWithoutLeak(
        () => focalFrequencyLoss(x, x, { matrix: m2 }),
        isShapeError(
          /'matrix' must broadcast to the spectrum's shape \[1, 1, 6, 4, 3\] \(N×P×h×w×C\), got \[1, 1, 6, 4, 2\]/,
        ),
      );
      assertFailsWithoutLeak(
        () => focalFrequencyLoss(x, x, { matrix: m6 }),
        isShapeError(/'matrix' must broadcast/),
      );
      const ave = new FocalFrequencyLoss({ ave_spectrum: true });
      assertFailsWithoutLeak(
        () => ave.forward(x, x, m5),
        isShapeError(/'matrix' must broadcast to the spectrum's shape \[1, 1, 6, 4, 3\]/),
      );
    });
  });
});

describe('FocalFrequencyLoss: no leaks and speed', () => {
  test('numTensors flat over repeated calls, from the very first call of a new size', () => {
    const p = uniform([2, 10, 14, 3], 9, -1, 1);
    const t = uniform([2, 10, 14, 3], 10, -1, 1);
    // A size no other test uses: its DFT matrices are built by this call (and kept as arrays).
    const before = tf.memory().numTensors;
    tf.dispose(focalFrequencyLoss(p, t, { patch_factor: 2 }));
    assert.equal(tf.memory().numTensors, before, 'the first call (building the DFT matrices)');
    for (const cfg of [
      {},
      { patch_factor: 2, alpha: 2 },
      { ave_spectrum: true, log_matrix: true, batch_matrix: true },
    ]) {
      const m = new FocalFrequencyLoss(cfg);
      assertNoLeak(() => m.forward(p, t), 10);
      assertNoLeak(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => m.forward(a, b))([p, t]), 10);
    }
    assertNoLeak(() => focalFrequencySpectrum(p, 2), 10);
    tf.dispose([p, t]);
  });
});
