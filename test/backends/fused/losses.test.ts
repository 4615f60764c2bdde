/**
 * The fused losses (src/backends/fused/losses.ts) and through them every fused kernel: the
 * pixel-loss kernels ('l1', 'mse', 'charbonnier') and the Sobel kernels ('gradient'). Value,
 * gradients w.r.t. pred, target and weight under a non-trivial upstream gradient, and second order
 * equal MMagic's losses written from plain TF.js ops (test/helpers/formulas.ts), on cpu
 * and on wasm with and without SIMD; so does the op chain `withFusedKernel` falls back to. The
 * reference takes nothing from src/: src's op chain shares the masked-mean denominator
 * (`maskDenominator`, `MASK_EPS`) and the Sobel op with the fused path, so a bug in either would
 * show on both sides of a fused-vs-op-chain comparison and cancel. The fused losses decline what
 * they do not cover, leak nothing, and `withFusedKernel` takes the fused path or the op chain.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { setSimdEnabled } from '../../../src/backends/simd/instance.ts';
import {
  charbonnierLoss,
  chooseBackend,
  fusedGradientLoss,
  fusedPixelLoss,
  gradientLoss,
  l1Loss,
  mseLoss,
  ShapeError,
  withFusedKernel,
} from '../../../src/index.ts';
import { useTestBackend } from '../../helpers/backend.ts';
import * as formulas from '../../helpers/formulas.ts';
import { withoutFusedKernels } from '../../helpers/reference.ts';
import { assertClose, assertNoLeak, uniform } from '../../helpers/tensors.ts';

after(async () => {
  setSimdEnabled(true);
  await useTestBackend();
});

/** A loss of pred, target and an optional weight. */
type LossFn = (p: tf.Tensor, t: tf.Tensor, w?: tf.Tensor) => tf.Tensor;

/** One compared output: what it is, its order of differentiation, its value. */
interface Output {
  what: string;
  order: 0 | 1 | 2;
  tensor: tf.Tensor;
}

/**
 * The factor in the second-order objective. With an upstream gradient of 1 (the plain loss,
 * reduction 'sum'), a gradient that ignores its upstream gradient would still be right.
 */
const SCALE = 2.5;

/**
 * The loss; the gradients of loss² w.r.t. every input (upstream gradient 2·loss, not 1); and the
 * second order: the gradients of Σ(∂(SCALE·loss)/∂pred)² w.r.t. every input.
 */
function outputs(f: LossFn, xs: tf.Tensor[]): Output[] {
  const names = ['pred', 'target', 'weight'];
  const call = (a: tf.Tensor[]) => f(a[0], a[1], a[2]);
  const first = tf.grads((...a: tf.Tensor[]) => tf.square(call(a)))(xs);
  const second = tf.grads((...a: tf.Tensor[]) =>
    tf.sum(tf.square(tf.grad((q: tf.Tensor) => tf.mul(call([q, ...a.slice(1)]), SCALE))(a[0]))),
  )(xs);
  return [
    { what: 'value', order: 0, tensor: call(xs) },
    ...first.map((g, i) => ({ what: `∂(loss²)/∂${names[i]}`, order: 1 as const, tensor: g })),
    ...second.map((g, i) => ({
      what: `∂/∂${names[i]} of Σ(∂(${SCALE}·loss)/∂pred)²`,
      order: 2 as const,
      tensor: g,
    })),
  ];
}

/**
 * Tolerances by order of differentiation, relative to each tensor's largest element:
 * |got − want| ≤ rtol·(|want| + max|want|). The fused kernels and the reference round
 * differently (the fused sums accumulate in another order, the SIMD loops in float32 lanes), so
 * the largest differences seen are 8e-7 (values), 1.3e-6 (first order) and 3.8e-6 (second order)
 * of that scale, a few float32 ulps (1.2e-7): the tolerances are about ten times those. The
 * second order is looser because it stacks one more round of rounded products, and the reference
 * gets Charbonnier's f''(d) = eps/(d² + eps)^1.5 by differentiating d/sqrt(d² + eps), a
 * difference of two nearly equal terms where |d| ≫ √eps.
 */
const RTOL = { 0: 1e-5, 1: 1e-5, 2: 3e-5 } as const;

/** Asserts that `got` equals `want`, output by output, within {@link RTOL}. */
function assertMatches(got: Output[], want: Output[], label: string): void {
  assert.equal(got.length, want.length, `${label}: outputs`);
  got.forEach((o, i) => {
    const expected = want[i].tensor;
    const rtol = RTOL[o.order];
    const largest = tf.tidy(() => tf.max(tf.abs(expected)).dataSync()[0]);
    assertClose(o.tensor, expected, { rtol, atol: rtol * largest, what: `${label}: ${o.what}` });
  });
}

/** Where the fused kernels run: cpu, and wasm with and without the SIMD module. */
const TARGETS = [
  ['cpu', true],
  ['wasm', true],
  ['wasm', false],
] as const;

/**
 * Declares a suite once per target, titled `${title} on <target>`; each of its tests first awaits
 * `enter`, which chooses the target's backend and SIMD setting.
 */
function describeOnTargets(title: string, body: (enter: () => Promise<void>) => void): void {
  for (const [backend, simd] of TARGETS) {
    const where = backend === 'wasm' ? (simd ? ' (SIMD)' : ' (JS loops)') : '';
    const enter = async () => {
      await chooseBackend(backend);
      setSimdEnabled(simd);
    };
    describe(`${title} on ${backend}${where}`, () => body(enter));
  }
}

/** Which weight a case has: none, one of C channels, or one of 1 channel. */
type WeightKind = 'none' | 'same' | 'one';

/**
 * A weight for an N×H×W×C input, with `channels` channels: masks of unequal sizes per sample, so
 * that the per-sample (`sample_wise`) and global denominators differ — sample 0 everywhere,
 * sample 1 every third pixel, later samples one pixel each — with values in [0.25, 1).
 */
function unequalWeight(shape: readonly number[], channels: number, seed: number): tf.Tensor {
  const [n, h, w] = shape;
  const pixels = h * w;
  const kept = (sample: number, pixel: number) =>
    sample === 0 || (sample === 1 ? pixel % 3 === 0 : pixel === (5 * sample) % pixels);
  const mask = Array.from({ length: n * pixels }, (_, i) =>
    kept(Math.floor(i / pixels), i % pixels) ? 1 : 0,
  );
  return tf.tidy(() =>
    tf.mul(
      tf.tensor4d(mask, [n, h, w, 1]),
      tf.randomUniform([n, h, w, channels], 0.25, 1, 'float32', seed),
    ),
  );
}

/**
 * A weight with one pixel of 1 per sample (all its channels for a C-channel weight), the rest 0:
 * the masked mean's denominator is then C per sample (N·C over the batch), where an ε of 1e-3
 * instead of 1e-12 moves the loss by 3.3e-4 (1.1e-4) of itself, 33 (11) times the value tolerance.
 */
function onePixelWeight(shape: readonly number[], channels: number): tf.Tensor {
  const [n, h, w] = shape;
  const pixels = h * w;
  const mask = Array.from({ length: n * pixels }, (_, i) =>
    i % pixels === (7 * Math.floor(i / pixels) + 2) % pixels ? 1 : 0,
  );
  return tf.tidy(() => tf.tile(tf.tensor4d(mask, [n, h, w, 1]), [1, 1, 1, channels]));
}

/** pred, target and (unless `weight` is 'none') an unequal-mask weight for `shape`. */
function inputs(shape: readonly number[], weight: WeightKind, seed: number): tf.Tensor[] {
  const p = uniform([...shape], seed, -1, 1);
  const t = uniform([...shape], seed + 1, -1, 1);
  if (weight === 'none') return [p, t];
  return [p, t, unequalWeight(shape, weight === 'same' ? shape[3] : 1, seed + 2)];
}

/** The element-wise losses with fused kernels. */
const LOSSES = ['l1', 'mse', 'charbonnier'] as const;

/** The library's losses: the fused path where it applies, else the op chain. */
const LIBRARY = { l1: l1Loss, mse: mseLoss, charbonnier: charbonnierLoss } as const;

/** Options of one pixel-loss case. */
interface PixelCase {
  loss: formulas.PixelKind;
  reduction: 'mean' | 'sum';
  sample_wise: boolean;
}

/**
 * Charbonnier's ε in every case: f''(d) = eps/(d² + eps)^1.5 is large where |d| ≲ √eps = 0.1,
 * as about a tenth of the random differences are, so the second order depends on ε.
 */
const CHARBONNIER_EPS = 1e-2;

/** The fused loss, the library's loss (fused or its op chain) and the reference of one case. */
function pixelLosses({ loss, reduction, sample_wise }: PixelCase) {
  const options = (weight?: tf.Tensor) => ({
    weight,
    reduction,
    sample_wise,
    eps: CHARBONNIER_EPS,
  });
  return {
    fused: ((p, t, w) => fusedPixelLoss(loss, p, t, options(w))!) as LossFn,
    library: ((p, t, w) => LIBRARY[loss](p, t, options(w))) as LossFn,
    plain: ((p, t, w) => formulas.pixelLoss(loss, p, t, options(w))) as LossFn,
  };
}

/**
 * Asserts that the fused loss and the library's op chain (fused kernels unregistered) both equal
 * the plain-op reference on `xs`.
 */
function assertPixelCase(c: PixelCase, xs: tf.Tensor[], label: string): void {
  const { fused, library, plain } = pixelLosses(c);
  const want = outputs(plain, xs);
  assertMatches(outputs(fused, xs), want, `fused ${label}`);
  assertMatches(
    withoutFusedKernels(() => outputs(library, xs)),
    want,
    `op chain ${label}`,
  );
}

/** Odd sizes, so the SIMD loops' scalar tails run. */
const SHAPE = [3, 5, 7, 3];

const PIXEL_CASES: [PixelCase, WeightKind][] = [];
for (const loss of LOSSES) {
  for (const weight of ['none', 'same', 'one'] as const) {
    for (const reduction of ['mean', 'sum'] as const) {
      for (const sample_wise of weight === 'none' ? [false] : [false, true]) {
        PIXEL_CASES.push([{ loss, reduction, sample_wise }, weight]);
      }
    }
  }
}

describeOnTargets('fusedPixelLoss', (enter) => {
  test('equals the plain-op reference: value, gradients w.r.t. pred, target and weight, second order', async () => {
    await enter();
    for (const [c, weight] of PIXEL_CASES) {
      tf.tidy(() => assertPixelCase(c, inputs(SHAPE, weight, 1), `${JSON.stringify(c)} ${weight}`));
    }
  });

  test('one-pixel masks: the masked mean divides by C·Σw + 1e-12, per sample and globally', async () => {
    await enter();
    for (const loss of LOSSES) {
      for (const channels of [1, SHAPE[3]]) {
        for (const sample_wise of [false, true]) {
          tf.tidy(() => {
            const p = tf.randomUniform(SHAPE, -1, 1, 'float32', 4);
            // |pred − target| ≥ 0.5 everywhere, so the one pixel's loss is far from 0.
            const t = tf.sub(p, tf.randomUniform(SHAPE, 0.5, 1, 'float32', 5));
            const xs = [p, t, onePixelWeight(SHAPE, channels)];
            const c: PixelCase = { loss, reduction: 'mean', sample_wise };
            assertPixelCase(c, xs, `${JSON.stringify(c)} C_w = ${channels}`);
          });
        }
      }
    }
  });

  test('a one-channel weight over more pixels than one expansion chunk (1024): as the C-channel weight and the reference', async () => {
    await enter();
    // 37·41 = 1517 pixels per sample, 3034 in all: chunks of 1024 and a partial one, per sample
    // (sample_wise) and across the sample boundary (global).
    const shape = [2, 37, 41, 3];
    for (const loss of LOSSES) {
      for (const reduction of ['mean', 'sum'] as const) {
        for (const sample_wise of [false, true]) {
          tf.tidy(() => {
            const xs = inputs(shape, 'one', 11);
            const c: PixelCase = { loss, reduction, sample_wise };
            const { fused } = pixelLosses(c);
            // The same weight tiled to C channels takes the unchunked same-shape loops; its
            // gradient w.r.t. the one-channel weight comes through tile's.
            const tiled: LossFn = (p, t, w) => fused(p, t, tf.tile(w!, [1, 1, 1, shape[3]]));
            const got = outputs(fused, xs);
            const label = `${JSON.stringify(c)} ${shape}`;
            assertMatches(got, outputs(tiled, xs), `chunked vs C-channel weight ${label}`);
            assertPixelCase(c, xs, label);
          });
        }
      }
    }
  });

  test('no tensor leaks: value and gradient', async () => {
    await enter();
    const [p, t, w] = inputs(SHAPE, 'one', 1);
    const f = (q: tf.Tensor) =>
      fusedPixelLoss('charbonnier', q, t, { weight: w, sample_wise: true })!;
    assertNoLeak(() => f(p));
    assertNoLeak(() => tf.grad(f)(p), 20);
    tf.dispose([p, t, w]);
  });
});

/** Shapes for the Sobel stencil's edges: W·C not a multiple of 4, C = 1, H or W of 1 and 2. */
const SOBEL_SHAPES = [
  [2, 5, 6, 3],
  [3, 7, 5, 1],
  [2, 1, 4, 2],
  [1, 2, 1, 3],
  [3, 6, 9, 4],
];

/**
 * Asserts that `fusedGradientLoss` and `gradientLoss`'s op chain (fused kernels unregistered)
 * both equal the plain-op reference on `xs`.
 */
function assertSobelCase(reduction: 'mean' | 'sum', xs: tf.Tensor[], label: string): void {
  const options = (weight?: tf.Tensor) => ({ weight: weight ?? null, reduction });
  const want = outputs((p, t, w) => formulas.gradientLoss(p, t, options(w)), xs);
  assertMatches(
    outputs((p, t, w) => fusedGradientLoss(p, t, options(w))!, xs),
    want,
    `fused ${label}`,
  );
  assertMatches(
    withoutFusedKernels(() => outputs((p, t, w) => gradientLoss(p, t, options(w)), xs)),
    want,
    `op chain ${label}`,
  );
}

describeOnTargets('fusedGradientLoss', (enter) => {
  test('equals the plain-op reference: value, gradients w.r.t. pred, target, weight, second order', async () => {
    await enter();
    for (const shape of SOBEL_SHAPES) {
      for (const weight of ['none', 'same', 'one'] as const) {
        for (const reduction of ['mean', 'sum'] as const) {
          tf.tidy(() =>
            assertSobelCase(reduction, inputs(shape, weight, 5), `${shape} ${weight} ${reduction}`),
          );
        }
      }
    }
  });

  test('one-pixel masks: the masked mean divides by C·Σw + 1e-12', async () => {
    await enter();
    const shape = SOBEL_SHAPES[0];
    for (const channels of [1, shape[3]]) {
      tf.tidy(() => {
        const [p, t] = inputs(shape, 'none', 8);
        assertSobelCase('mean', [p, t, onePixelWeight(shape, channels)], `C_w = ${channels}`);
      });
    }
  });

  test('no tensor leaks: value and gradient', async () => {
    await enter();
    const p = tf.randomUniform([2, 6, 5, 3], -1, 1, 'float32', 8);
    const t = tf.zerosLike(p);
    const w = tf.ones([2, 6, 5, 1]);
    const f = (q: tf.Tensor) => fusedGradientLoss(q, t, { weight: w })!;
    assertNoLeak(() => f(p));
    assertNoLeak(() => tf.grad(f)(p), 20);
    tf.dispose([p, t, w]);
  });
});

describe('the plain-op reference', () => {
  test("gives MMagic's GradientLoss unit-test values (test_gradient_loss.py, C = 1)", async () => {
    await chooseBackend('cpu');
    tf.tidy(() => {
      const weight = tf.pad(tf.ones([1, 32, 32, 1]), [
        [0, 0],
        [0, 32],
        [0, 32],
        [0, 0],
      ]);
      const target = tf.mul(weight, 2);
      assertClose(formulas.gradientLoss(weight, target, { reduction: 'mean' }), 0.1860352, {
        rtol: 1e-6,
      });
      // MMagic's 252 is with loss_weight 0.5.
      assertClose(formulas.gradientLoss(weight, target, { weight, reduction: 'sum' }), 504, {
        rtol: 1e-6,
      });
    });
  });
});

describe('fusedPixelLoss declines what it does not cover', () => {
  test('reduction none, mismatched shapes, bad weights, non-float input: null', async () => {
    await chooseBackend('cpu');
    tf.tidy(() => {
      const p = tf.ones([2, 4, 4, 3]);
      assert.equal(fusedPixelLoss('l1', p, p, { reduction: 'none' }), null);
      assert.equal(fusedPixelLoss('l1', p, tf.ones([2, 4, 4, 1])), null);
      assert.equal(fusedPixelLoss('l1', p, p, { weight: tf.ones([2, 4, 4, 2]) }), null);
      assert.equal(fusedPixelLoss('l1', p, p, { weight: tf.ones([2, 4, 3, 1]) }), null);
      assert.equal(fusedPixelLoss('l1', tf.ones([2, 3], 'int32'), tf.ones([2, 3], 'int32')), null);
      assert.notEqual(fusedPixelLoss('l1', p, p, { weight: tf.ones([2, 4, 4, 1]) }), null);
      assert.equal(fusedGradientLoss(p, p, { reduction: 'none' }), null);
      assert.equal(fusedGradientLoss(tf.ones([4, 4, 3]), tf.ones([4, 4, 3])), null);
      assert.equal(fusedGradientLoss(p, p, { weight: tf.ones([2, 4, 4, 2]) }), null);
      assert.notEqual(fusedGradientLoss(p, p, { weight: tf.ones([2, 4, 4, 3]) }), null);
    });
  });

  test('withFusedKernel: the fused path where it applies, the op chain (and its errors) elsewhere', async () => {
    await chooseBackend('wasm');
    let fallbacks = 0;
    const wrapped = withFusedKernel('mse', (p: tf.Tensor, t: tf.Tensor, o?: object) => {
      fallbacks += 1;
      return mseLoss(p, t, o);
    });
    tf.tidy(() => {
      const p = tf.randomUniform([2, 4, 4, 3], 0, 1, 'float32', 4);
      const t = tf.zerosLike(p);
      assertClose(wrapped(p, t), mseLoss(p, t));
      assert.equal(fallbacks, 0);
      assertClose(wrapped(p, t, { reduction: 'none' }), mseLoss(p, t, { reduction: 'none' }));
      assert.equal(fallbacks, 1);
      assert.throws(() => wrapped(p, tf.zeros([2, 4, 4, 2])), ShapeError);
    });
  });
});
