import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  buildMetric,
  ConfigError,
  type ConvertTo,
  PSNR,
  psnr,
  ShapeError,
  SSIM,
  ssimMetric,
} from '../../src/index.ts';
import { describeOnEachBackend, useTestBackend } from '../helpers/backend.ts';
import { loadCases } from '../helpers/reference.ts';
import { assertClose, assertFailsWithoutLeak, assertNoLeak } from '../helpers/tensors.ts';
import { type ImageSpec, proceduralImage } from './procedural.ts';

before(useTestBackend);

/** A PSNR/SSIM case of test/reference/metrics.json. */
interface PsnrSsimCase {
  id: string;
  type: 'PSNR/SSIM';
  shape: number[];
  pred: ImageSpec;
  gt: ImageSpec;
  config: { crop_border: number; convert_to: ConvertTo };
  /** Per image; null: infinite (identical images). */
  psnr: (number | null)[];
  ssim: number[];
}

describeOnEachBackend('PSNR and SSIM: PyTorch reference cases of MMagic (metrics.json)', () => {
  const cases = loadCases<PsnrSsimCase>('metrics.json', 'PSNR/SSIM');
  test(`${cases.length} cases, per image within 1e-5 + 5e-4·|want|; identical images: PSNR ∞`, () => {
    assert.equal(cases.length, 12);
    for (const c of cases) {
      const [pred, gt] = [proceduralImage(c.shape, c.pred), proceduralImage(c.shape, c.gt)];
      const gotPsnr = psnr(pred, gt, c.config);
      const wantPsnr = c.psnr.map((v) => v ?? Number.POSITIVE_INFINITY);
      wantPsnr.forEach((want, i) => {
        if (want === Number.POSITIVE_INFINITY)
          assert.equal(gotPsnr[i], want, `${c.id}: psnr[${i}]`);
        else assertClose(gotPsnr[i], want, { what: `${c.id}: psnr[${i}]` });
      });
      const gotSsim = ssimMetric(pred, gt, c.config);
      assert.equal(gotSsim.length, c.ssim.length, `${c.id}: ssim length`);
      c.ssim.forEach((want, i) => {
        assertClose(gotSsim[i], want, { what: `${c.id}: ssim[${i}]` });
      });
      tf.dispose([pred, gt]);
    }
  });
});

describe('psnr and ssimMetric', () => {
  let pred: tf.Tensor4D;
  let gt: tf.Tensor4D;
  before(() => {
    pred = proceduralImage([2, 16, 16, 3], { seed: 1, amp: 120 });
    gt = proceduralImage([2, 16, 16, 3], { seed: 1, amp: 60 });
  });
  after(() => tf.dispose([pred, gt]));

  test('closed forms: a uniform error of 1 gives 20·log10(255) dB; identical images SSIM 1', () => {
    const shifted = tf.add(gt, 1) as tf.Tensor4D;
    const want = 20 * Math.log10(255);
    for (const v of psnr(shifted, gt)) assertClose(v, want);
    assert.deepEqual(psnr(gt, gt), [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]);
    for (const v of ssimMetric(gt, gt, { convert_to: 'Y' })) assertClose(v, 1);
    shifted.dispose();
  });

  test('the config classes equal the functions', () => {
    const config = { crop_border: 2, convert_to: 'Y' } as const;
    const p = buildMetric({ type: 'PSNR', ...config });
    const s = buildMetric({ type: 'SSIM', crop_border: 2 });
    assert.ok(p instanceof PSNR && s instanceof SSIM);
    assert.deepEqual(p.compute(pred, gt), psnr(pred, gt, config));
    assert.deepEqual(s.compute(pred, gt), ssimMetric(pred, gt, { crop_border: 2 }));
    assert.deepEqual(buildMetric({ type: 'PSNR' }).cfg, { crop_border: 0, convert_to: null });
  });

  test('no tensors leak', () => {
    assertNoLeak(() => {
      psnr(pred, gt, { crop_border: 1, convert_to: 'Y' });
      ssimMetric(pred, gt, { convert_to: 'y' });
      return [];
    }, 20);
  });

  test('bad inputs and options: errors naming the metric and the argument', () => {
    const other = tf.zeros([2, 16, 12, 3]);
    const grey = tf.zeros([2, 16, 16, 1]);
    const signed = tf.fill([2, 16, 16, 3], -0.5);
    const small = tf.zeros([1, 10, 10, 3]);
    const failsWith = (
      call: () => unknown,
      type: new (...args: never[]) => Error,
      pattern: RegExp,
    ) => assertFailsWithoutLeak(call, (e) => e instanceof type && pattern.test(e.message));
    failsWith(() => psnr(pred, other), ShapeError, /psnr: 'gt' must have the shape of 'pred'/);
    failsWith(
      () => ssimMetric(signed, gt),
      ShapeError,
      /ssimMetric: 'pred' must be an image in \[0, 255\].*\(x \+ 1\) · 127\.5/,
    );
    failsWith(
      () => psnr(grey, grey, { convert_to: 'Y' }),
      ShapeError,
      /psnr: 'convert_to: Y' needs RGB images \(3 channels\), got 1/,
    );
    failsWith(
      () => psnr(pred, gt, { crop_border: 8 }),
      ShapeError,
      /psnr: the images must be at least 17×17 pixels \(1 after 'crop_border' 8 on each edge\), got 16×16/,
    );
    failsWith(
      () => ssimMetric(pred, gt, { crop_border: 3 }),
      ShapeError,
      /ssimMetric: the images must be at least 17×17 pixels \(11 after 'crop_border' 3/,
    );
    failsWith(() => ssimMetric(small, small), ShapeError, /at least 11×11 pixels/);
    failsWith(
      () => psnr(pred, gt, { crop_border: -1 }),
      ConfigError,
      /psnr: 'crop_border' must be a non-negative integer, got -1/,
    );
    failsWith(
      () => psnr(pred, gt, { convert_to: 'YCbCr' as never }),
      ConfigError,
      /psnr: 'convert_to' must be 'Y' or null/,
    );
    failsWith(
      () => buildMetric({ type: 'SSIM', crop_border: 1.5 }),
      ConfigError,
      /buildMetric: option 'crop_border'/,
    );
    failsWith(
      () => buildMetric({ type: 'PSNR', input_order: 'CHW' }),
      ConfigError,
      /buildMetric: .*'input_order'/,
    );
    tf.dispose([other, grey, signed, small]);
  });
});
