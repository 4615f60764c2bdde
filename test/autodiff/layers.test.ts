import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { checkSecondOrder, registerGradients } from '../../src/autodiff/index.ts';
import { points } from './points.ts';

before(async () => {
  await tf.setBackend('cpu');
  registerGradients();
});

const init = (seed: number) => tf.initializers.glorotUniform({ seed });

/** conv2d → leakyReLU → averagePooling2d → flatten → dense: the DCGAN-style discriminator. */
function plainDiscriminator(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        filters: 3,
        kernelSize: 3,
        padding: 'same',
        inputShape: [4, 4, 2],
        kernelInitializer: init(1),
      }),
      tf.layers.leakyReLU({ alpha: 0.2 }),
      tf.layers.averagePooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 1, kernelInitializer: init(2) }),
    ],
  });
}

/** Strided conv → batch norm → upsampling → conv2dTranspose (tanh) → 1×1 conv (sigmoid) → max pool → dense. */
function richDiscriminator(): tf.Sequential {
  return tf.sequential({
    layers: [
      // No bias before a batch norm: its gradient is exactly zero.
      tf.layers.conv2d({
        filters: 4,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        useBias: false,
        inputShape: [4, 4, 2],
        kernelInitializer: init(3),
      }),
      tf.layers.batchNormalization(),
      tf.layers.upSampling2d({ size: [2, 2] }),
      tf.layers.conv2dTranspose({
        filters: 2,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        activation: 'tanh',
        kernelInitializer: init(4),
      }),
      tf.layers.conv2d({
        filters: 1,
        kernelSize: 1,
        activation: 'sigmoid',
        kernelInitializer: init(5),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 1, kernelInitializer: init(6) }),
    ],
  });
}

/**
 * Finite differences need steps that cross no kink. The plain model's leakyReLU inputs sit
 * within 1e-2 of 0 for some weights, so it uses 1e-3. The rich model is smooth but for its max
 * pool, and float32 rounding through batch norm dominates below 1e-2, so it uses 1e-2 with
 * probe seed 1: seed 0 happens to probe a conv2dTranspose weight whose ±1e-2 step swaps the
 * maximum of a pooling window (0.7 error at that one entry, 1e-4 at 3e-3).
 */
const MODELS: [string, () => tf.Sequential, { eps: number; seed: number }][] = [
  ['conv2d, leakyReLU, averagePooling2d, dense', plainDiscriminator, { eps: 1e-3, seed: 0 }],
  [
    'batchNormalization, upSampling2d, conv2dTranspose, tanh, sigmoid, maxPooling2d',
    richDiscriminator,
    { eps: 1e-2, seed: 1 },
  ],
];

/** R1 penalty `Σ (∂/∂x Σ D(x))²`, with batch statistics as in a discriminator step. */
const r1 = (model: tf.Sequential, x: tf.Tensor) =>
  tf.tidy(() => {
    const g = tf.grad((v: tf.Tensor) => tf.sum(model.apply(v, { training: true }) as tf.Tensor))(x);
    return tf.sum(tf.square(g)) as tf.Scalar;
  });

describe('double backprop through tf.layers models', () => {
  for (const [name, build, { eps, seed }] of MODELS) {
    it(`${name}: checkSecondOrder over the input and every weight`, () => {
      const model = build();
      const x = points([2, 4, 4, 2], 7, { kinks: [] });
      const weights = model.trainableWeights.map((w) => w.read());
      const report = checkSecondOrder(
        (v) => model.apply(v, { training: true }) as tf.Tensor,
        [x, ...weights],
        { eps, seed, entries: 6 },
      );
      assert.ok(
        report.maxRelError < 5e-3,
        `first ${report.firstOrder}, second ${report.secondOrder}`,
      );
      x.dispose();
      model.dispose();
    });

    it(`${name}: the R1 gradient w.r.t. weights matches finite differences`, () => {
      const model = build();
      const x = points([2, 4, 4, 2], 8, { kinks: [] });
      const { value, grads } = tf.variableGrads(() => r1(model, x));
      for (const w of model.trainableWeights) {
        const variable = w.read() as tf.Variable;
        // The last bias does not reach the input gradient, so variableGrads leaves it out.
        const analytic = grads[variable.name]?.dataSync() ?? new Float32Array(variable.size);
        const base = variable.dataSync().slice();
        const at = (k: number, delta: number) => {
          const moved = base.slice();
          moved[k] += delta;
          tf.tidy(() => variable.assign(tf.tensor(moved, variable.shape)));
          return r1(model, x).dataSync()[0];
        };
        const scale = Math.max(
          ...Array.from(analytic, Math.abs),
          1e-3 * Math.abs(value.dataSync()[0]),
        );
        for (const k of [0, base.length - 1]) {
          const numeric = (at(k, eps) - at(k, -eps)) / (2 * eps);
          assert.ok(
            Math.abs(numeric - analytic[k]) < 5e-3 * scale,
            `${variable.name}[${k}]: analytic ${analytic[k]}, numeric ${numeric}`,
          );
        }
        tf.tidy(() => variable.assign(tf.tensor(base, variable.shape)));
      }
      tf.dispose([x, value, ...Object.values(grads)]);
      model.dispose();
    });
  }
});
