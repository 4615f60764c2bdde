/**
 * The fused GAN-loss kernels (src/backends/fused/gan-loss*.ts) through `ganLoss` and `GANLoss`:
 * for every fused type and role, on cpu and on wasm with and without the SIMD GAN module
 * (src/backends/simd/source.ts), on a patch map, on sizes that leave 1–3 elements to the JS tail
 * and on extreme logits, the value, the gradient of loss² (upstream
 * gradient 2·loss) and the second order (the gradient of Σ(∂(SCALE·loss)/∂x)²) equal the loss
 * written from plain TF.js ops here, which takes nothing from src/, and equal `ganLoss`'s op
 * chain (the kernels unregistered); NaN logits give a NaN loss; the PyTorch reference cases of
 * test/reference/gan.json hold on the fused path; nothing leaks; the fused path declines what it
 * does not cover.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fusedGanLoss, GAN_LOSS_GRAD, GAN_LOSS_SUM } from '../../../src/backends/fused/index.ts';
import { setSimdEnabled } from '../../../src/backends/simd/instance.ts';
import { chooseBackend, type GanType, ganLoss } from '../../../src/index.ts';
import { useTestBackend } from '../../helpers/backend.ts';
import { checkGanCase, type GanCase } from '../../helpers/gan-cases.ts';
import { loadCases } from '../../helpers/reference.ts';
import { withoutFusedKernels } from '../../helpers/reference-cases.ts';
import { assertClose, assertNoLeak } from '../../helpers/tensors.ts';

after(async () => {
  setSimdEnabled(true);
  await useTestBackend();
});

/** One call of the loss: type, role and labels. */
interface Call {
  type: GanType;
  real: boolean;
  disc: boolean;
  realLabel: number;
  fakeLabel: number;
}

const softplus = (x: tf.Tensor) => tf.softplus(x);

/** MMagic's `GANLoss` formulas in plain TF.js ops (the mean over all elements). */
function reference(x: tf.Tensor, c: Call): tf.Tensor {
  const t = c.real ? c.realLabel : c.fakeLabel;
  switch (c.type) {
    case 'vanilla':
      return tf.mean(tf.add(tf.mul(t, softplus(tf.neg(x))), tf.mul(1 - t, softplus(x))));
    case 'lsgan':
      return tf.mean(tf.square(tf.sub(x, t)));
    case 'wgan':
      return c.real ? tf.neg(tf.mean(x)) : tf.mean(x);
    case 'wgan_softplus':
    case 'wgan-logistic-ns':
      return tf.mean(softplus(c.real ? tf.neg(x) : x));
    case 'hinge':
      if (!c.disc) return tf.neg(tf.mean(x));
      return tf.mean(tf.relu(c.real ? tf.sub(1, x) : tf.add(1, x)));
    default:
      throw new Error(`no reference for ${c.type}`);
  }
}

const genloss = (c: Call) => (x: tf.Tensor) =>
  ganLoss(x, c.real, {
    gan_type: c.type,
    is_disc: c.disc,
    real_label_val: c.realLabel,
    fake_label_val: c.fakeLabel,
  });

/** The factor in the second-order objective, so that an ignored upstream gradient shows. */
const SCALE = 2.5;

/** Whether the loss is linear in x (wgan, the hinge's generator form): no second order. */
const linear = (c: Call) => c.type === 'wgan' || (c.type === 'hinge' && !c.disc);

/**
 * Value, ∂(loss²)/∂x and, unless the loss is linear (TF.js cannot differentiate a constant
 * gradient), ∂/∂x of Σ(∂(SCALE·loss)/∂x)².
 */
function outputs(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, c: Call): tf.Tensor[] {
  const firstOrder = [f(x), tf.grad((v: tf.Tensor) => tf.square(f(v)))(x)];
  if (linear(c)) return firstOrder;
  return [
    ...firstOrder,
    tf.grad((v: tf.Tensor) => tf.sum(tf.square(tf.grad((q: tf.Tensor) => tf.mul(f(q), SCALE))(v))))(
      x,
    ),
  ];
}

/**
 * Tolerances of the three outputs, relative to each one's largest element: the fused sum
 * accumulates in double precision and the op chain in float32, and softplus and sigmoid round
 * differently in the two, so they differ by a few float32 ulps.
 */
const RTOL = [2e-6, 2e-6, 1e-5];

function assertOutputsMatch(got: tf.Tensor[], want: tf.Tensor[], what: string): void {
  assert.equal(got.length, want.length, `${what}: outputs`);
  const names = ['value', '∂(loss²)/∂x', '∂Σ(∂loss/∂x)²/∂x'];
  got.forEach((g, i) => {
    const largest = tf.tidy(() => tf.max(tf.abs(want[i])).dataSync()[0]);
    assertClose(g, want[i], {
      rtol: RTOL[i],
      atol: RTOL[i] * largest,
      what: `${what}: ${names[i]}`,
    });
  });
}

const CALLS: Call[] = (
  [
    ['vanilla', 0.9, 0.2],
    ['vanilla', 1, 0],
    ['lsgan', 0.9, 0.2],
    ['wgan', 1, 0],
    ['wgan_softplus', 1, 0],
    ['wgan-logistic-ns', 1, 0],
    ['hinge', 1, 0],
  ] as const
).flatMap(([type, realLabel, fakeLabel]) =>
  [true, false].flatMap((real) =>
    [true, false].map((disc) => ({ type, real, disc, realLabel, fakeLabel })),
  ),
);

const label = (c: Call) =>
  `${c.type} ${c.disc ? 'disc' : 'gen'} ${c.real ? 'real' : 'fake'} (labels ${c.realLabel}, ${c.fakeLabel})`;

/**
 * A 16×30×30×1 patch map (the size the benchmark times) of logits in (−4, 4), with a few large
 * ones (±40, where softplus saturates) and some exactly on the hinge's kinks (±1).
 */
function patchMap(): tf.Tensor {
  return tf.tidy(() => {
    const values = tf.randomUniform([16, 30, 30, 1], -4, 4, 'float32', 7).dataSync().slice();
    values.set([40, -40, 1, -1, 0], 0);
    return tf.tensor4d(values, [16, 30, 30, 1]);
  });
}

/**
 * Logits of `shape` from (−4, 4), the first ones replaced by `extremes`, which land in the SIMD
 * vectors; the last (up to) three, the JS tail where the size is not a multiple of 4, are 0.5 and
 * the first extremes (a moderate logit, so that no output is all zeros or denormals).
 */
function logits(shape: number[], extremes: number[], seed: number): tf.Tensor {
  return tf.tidy(() => {
    const values = tf.randomUniform(shape, -4, 4, 'float32', seed).dataSync().slice();
    values.set(extremes.slice(0, values.length), 0);
    const tail = [0.5, ...extremes].slice(0, Math.min(3, values.length));
    values.set(tail, values.length - tail.length);
    return tf.tensor(values, shape);
  });
}

/**
 * Beyond where exp underflows in float32 (±88, ±100), where the SIMD exp clamps (±87), where
 * softplus is x or 0 to float32 (±20, ±60), tiny, zero and the hinge's kinks.
 */
const EXTREMES = [
  -100, 100, -88, 88, -87.5, 87.5, -87, 87, -20, 20, 60, -60, 1e-30, -1e-30, 0, 1, -1,
];

/** Where the fused kernels run: cpu, and wasm with and without the SIMD GAN module. */
const TARGETS = [
  ['cpu', true],
  ['wasm', true],
  ['wasm', false],
] as const;

for (const [backend, simd] of TARGETS) {
  const where = backend === 'wasm' ? (simd ? ' (SIMD)' : ' (JS loops)') : '';
  describe(`fused GAN losses on ${backend}${where}`, () => {
    const enter = async () => {
      await chooseBackend(backend);
      setSimdEnabled(simd);
    };

    test('take the fused kernel (one kernel forward, one backward)', async () => {
      await enter();
      for (const c of CALLS) {
        const x = patchMap();
        const { kernelNames } = await tf.profile(() =>
          tf.tidy(() => tf.grad((v: tf.Tensor) => genloss(c)(v))(x)),
        );
        assert.ok(kernelNames.includes(GAN_LOSS_SUM), `${label(c)}: ${kernelNames.join(', ')}`);
        assert.ok(kernelNames.includes(GAN_LOSS_GRAD), `${label(c)}: ${kernelNames.join(', ')}`);
        x.dispose();
      }
    });

    test('value, first and second order equal the plain-ops formula and the op chain', async () => {
      await enter();
      const x = patchMap();
      for (const c of CALLS) {
        tf.tidy(() => {
          const fused = outputs(genloss(c), x, c);
          assertOutputsMatch(
            fused,
            outputs((v) => reference(v, c), x, c),
            `${label(c)} vs formula`,
          );
          const chain = withoutFusedKernels(() => outputs(genloss(c), x, c));
          assertOutputsMatch(fused, chain, `${label(c)} vs op chain`);
        });
      }
      x.dispose();
    });

    test('odd sizes (a JS tail after the SIMD vectors) and extreme logits: as the formula', async () => {
      await enter();
      for (const shape of [[2], [3], [2, 3, 3, 1], [5, 7]]) {
        const x = logits(shape, EXTREMES, shape.length);
        for (const c of CALLS) {
          tf.tidy(() => {
            assertOutputsMatch(
              outputs(genloss(c), x, c),
              outputs((v) => reference(v, c), x, c),
              `${label(c)} on [${shape}] vs formula`,
            );
          });
        }
        x.dispose();
      }
    });

    test('NaN logits: a NaN loss, and NaN gradients where the logit is NaN', async () => {
      await enter();
      // One NaN in the SIMD vectors, one in the JS tail (35 = 8 vectors + 3: 0.5, NaN, 2).
      const x = logits([5, 7], [Number.NaN, 2, -2], 9);
      const nans = (t: tf.Tensor) =>
        [...t.dataSync()].flatMap((v, i) => (Number.isNaN(v) ? [i] : []));
      for (const c of CALLS) {
        tf.tidy(() => {
          const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => genloss(c)(v))(x);
          assert.ok(Number.isNaN(value.dataSync()[0]), `${label(c)}: value ${value.dataSync()[0]}`);
          // The smooth losses' gradients (the piecewise-linear ones' are constants or steps).
          if (c.type === 'wgan' || c.type === 'hinge') return;
          assert.deepEqual(nans(grad), [0, 33], `${label(c)}: NaN gradients`);
        });
      }
      x.dispose();
    });

    test('the PyTorch reference cases of gan.json hold on the fused path', async () => {
      await enter();
      const fusedTypes = ['vanilla', 'lsgan', 'wgan', 'hinge', 'wgan-logistic-ns', 'wgan_softplus'];
      const cases = loadCases<GanCase>('gan.json').filter(
        (c) =>
          (c.type === 'GANLoss' || c.type === 'GANLossComps') &&
          fusedTypes.includes(c.config.gan_type as string),
      );
      assert.ok(cases.length >= 20, `${cases.length} cases`);
      for (const c of cases) tf.tidy(() => checkGanCase(c));
    });

    test('leak nothing: value, gradient and second order', async () => {
      await enter();
      const x = patchMap();
      for (const c of CALLS.filter((k) => k.disc)) {
        assertNoLeak(() => outputs(genloss(c), x, c), 5);
      }
      x.dispose();
    });

    test('decline l1, smgan, non-float input and a backend without the kernel', async () => {
      await enter();
      const x = patchMap();
      const o = { target_is_real: true, is_disc: true, label: 1 };
      const before = tf.memory().numTensors;
      assert.equal(fusedGanLoss('l1', x, o), null);
      assert.equal(fusedGanLoss('smgan', x, o), null);
      const ints = tf.cast(x, 'int32');
      assert.equal(fusedGanLoss('vanilla', ints, o), null);
      ints.dispose();
      withoutFusedKernels(() => assert.equal(fusedGanLoss('vanilla', x, o), null));
      assert.equal(tf.memory().numTensors, before);
      const value = fusedGanLoss('vanilla', x, o);
      assert.ok(value !== null && value.rank === 0);
      value.dispose();
      x.dispose();
    });
  });
}
