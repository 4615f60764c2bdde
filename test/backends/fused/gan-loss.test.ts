/**
 * The fused GAN-loss kernels (src/backends/fused/gan-loss*.ts) through `ganLoss` and `GANLoss`:
 * for every fused type and role, on cpu and wasm, the value, the gradient of loss² (upstream
 * gradient 2·loss) and the second order (the gradient of Σ(∂(SCALE·loss)/∂x)²) equal the loss
 * written from plain TF.js ops here, which takes nothing from src/, and equal `ganLoss`'s op
 * chain (the kernels unregistered); the PyTorch reference cases of test/reference/gan.json hold
 * on the fused path; nothing leaks; the fused path declines what it does not cover.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fusedGanLoss, GAN_LOSS_GRAD, GAN_LOSS_SUM } from '../../../src/backends/fused/index.ts';
import { chooseBackend, type GanType, ganLoss } from '../../../src/index.ts';
import { REFERENCE_BACKENDS, useTestBackend } from '../../helpers/backend.ts';
import { checkGanCase, type GanCase } from '../../helpers/gan-cases.ts';
import { loadCases } from '../../helpers/reference.ts';
import { withoutFusedKernels } from '../../helpers/reference-cases.ts';
import { assertClose, assertNoLeak } from '../../helpers/tensors.ts';

after(useTestBackend);

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

for (const backend of REFERENCE_BACKENDS) {
  describe(`fused GAN losses on ${backend}`, () => {
    const enter = () => chooseBackend(backend);

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
