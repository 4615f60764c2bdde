/**
 * The fused losses (src/backends/fused/losses.ts) and through them the kernels: `fusedPixelLoss`
 * equals the op chain (`l1Loss`, `mseLoss`, `charbonnierLoss` with the fused kernels
 * unregistered) and `fusedGradientLoss` equals `gradientLoss`'s, in value, first and second-order
 * gradients, on cpu and on wasm with and without SIMD; they decline what they do not cover; they
 * leak nothing; `withFusedKernel` takes the fused path or the op chain.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  PIXEL_LOSS_GRAD,
  PIXEL_LOSS_SUM,
  registerFusedKernels,
  SOBEL_L1_GRAD,
  SOBEL_L1_SUM,
} from '../../../src/backends/index.ts';
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
import { assertClose, assertNoLeak } from '../../helpers/tensors.ts';

after(async () => {
  setSimdEnabled(true);
  await useTestBackend();
});

/**
 * Runs `f` with the fused kernels unregistered from the current backend, so that the losses take
 * their op chains (the reference the fused path is checked against).
 */
function opChain<T>(f: () => T): T {
  const backend = tf.getBackend();
  for (const name of [PIXEL_LOSS_SUM, PIXEL_LOSS_GRAD, SOBEL_L1_SUM, SOBEL_L1_GRAD]) {
    tf.unregisterKernel(name, backend);
  }
  try {
    return f();
  } finally {
    registerFusedKernels();
  }
}

const CHAINS = { l1: l1Loss, mse: mseLoss, charbonnier: charbonnierLoss } as const;
type Loss = keyof typeof CHAINS;
type Options = {
  weight: 'none' | 'same' | 'one';
  reduction: 'mean' | 'sum';
  sample_wise: boolean;
};

/** Odd sizes, so the SIMD loops' scalar tails run. */
const SHAPE = [3, 5, 7, 3];

function inputs({ weight }: Options): tf.Tensor[] {
  const p = tf.randomUniform(SHAPE, -1, 1, 'float32', 1);
  const t = tf.randomUniform(SHAPE, -1, 1, 'float32', 2);
  if (weight === 'none') return [p, t];
  const channels = weight === 'same' ? 3 : 1;
  return [p, t, tf.randomUniform([...SHAPE.slice(0, 3), channels], 0, 1, 'float32', 3)];
}

/** Value, first-order gradients w.r.t. all inputs, and the second-order gradient of ‖∂/∂p‖². */
function everything(
  f: (p: tf.Tensor, t: tf.Tensor, w?: tf.Tensor) => tf.Tensor,
  xs: tf.Tensor[],
): tf.Tensor[] {
  const call = (...a: tf.Tensor[]) => f(a[0], a[1], a[2]);
  const first = tf.grads(call)(xs);
  const second = tf.grads((...a: tf.Tensor[]) =>
    tf.sum(tf.square(tf.grad((q: tf.Tensor) => call(q, ...a.slice(1)))(a[0]))),
  )(xs);
  return [call(...xs), ...first, ...second];
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

/** Asserts that the fused path's outputs (`everything`) equal the op chain's, one by one. */
function assertSameOutputs(fused: tf.Tensor[], chain: tf.Tensor[], what: string): void {
  fused.forEach((got, i) => {
    assertClose(got, chain[i], { atol: 1e-5, rtol: 1e-4, what: `${what} output ${i}` });
  });
}

const CASES: [Loss, Options][] = [];
for (const loss of ['l1', 'mse', 'charbonnier'] as const) {
  for (const weight of ['none', 'same', 'one'] as const) {
    for (const reduction of ['mean', 'sum'] as const) {
      for (const sample_wise of weight === 'none' ? [false] : [false, true]) {
        CASES.push([loss, { weight, reduction, sample_wise }]);
      }
    }
  }
}

describeOnTargets('fusedPixelLoss', (enter) => {
  test('equals the op chain: value, gradients w.r.t. pred, target and weight, second order', async () => {
    await enter();
    for (const [loss, options] of CASES) {
      tf.tidy(() => {
        const xs = inputs(options);
        const opts = {
          reduction: options.reduction,
          sample_wise: options.sample_wise,
          eps: 1e-3,
        };
        const fused = everything(
          (p, t, w) => fusedPixelLoss(loss, p, t, { ...opts, weight: w })!,
          xs,
        );
        const chain = opChain(() =>
          everything((p, t, w) => CHAINS[loss](p, t, { ...opts, weight: w }), xs),
        );
        assertSameOutputs(fused, chain, `${loss} ${JSON.stringify(options)}`);
      });
    }
  });

  test('a one-channel weight over more pixels than one expansion chunk (1024)', async () => {
    await enter();
    tf.tidy(() => {
      const p = tf.randomUniform([2, 40, 30, 3], -1, 1, 'float32', 11);
      const t = tf.randomUniform([2, 40, 30, 3], -1, 1, 'float32', 12);
      const w = tf.randomUniform([2, 40, 30, 1], 0, 1, 'float32', 13);
      for (const sample_wise of [false, true]) {
        const o = { weight: w, sample_wise, eps: 1e-3 };
        const fused = everything((q, r) => fusedPixelLoss('charbonnier', q, r, o)!, [p, t]);
        const chain = opChain(() => everything((q, r) => charbonnierLoss(q, r, o), [p, t]));
        assertSameOutputs(fused, chain, `sample_wise ${sample_wise}`);
      }
    });
  });

  test('no tensor leaks: value and gradient', async () => {
    await enter();
    const [p, t, w] = inputs({ weight: 'one', reduction: 'mean', sample_wise: true });
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
  [1, 7, 5, 1],
  [2, 1, 4, 2],
  [1, 2, 1, 3],
  [1, 6, 9, 4],
];

describeOnTargets('fusedGradientLoss', (enter) => {
  test('equals gradientLoss: value, gradients w.r.t. pred, target, weight, second order', async () => {
    await enter();
    for (const shape of SOBEL_SHAPES) {
      for (const weight of ['none', 'same', 'one'] as const) {
        for (const reduction of ['mean', 'sum'] as const) {
          tf.tidy(() => {
            const p = tf.randomUniform(shape, -1, 1, 'float32', 5);
            const t = tf.randomUniform(shape, -1, 1, 'float32', 6);
            const xs = [p, t];
            if (weight !== 'none') {
              const c = weight === 'same' ? shape[3] : 1;
              xs.push(tf.randomUniform([...shape.slice(0, 3), c], 0, 1, 'float32', 7));
            }
            const fused = (q: tf.Tensor, r: tf.Tensor, w?: tf.Tensor) =>
              fusedGradientLoss(q, r, { weight: w ?? null, reduction })!;
            const chain = (q: tf.Tensor, r: tf.Tensor, w?: tf.Tensor) =>
              gradientLoss(q, r, { weight: w ?? null, reduction });
            const a = everything(fused, xs);
            const b = opChain(() => everything(chain, xs));
            assertSameOutputs(a, b, `${shape} ${weight} ${reduction}`);
          });
        }
      }
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
