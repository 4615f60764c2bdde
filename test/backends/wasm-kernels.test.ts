/**
 * The wasm kernels genloss registers (src/backends/wasm): every gradient kernel a `tf.layers`
 * GAN needs for training and for double backprop exists on `wasm` and agrees with the `cpu`
 * backend (TF.js's reference kernels) within float32 tolerance.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { chooseBackend, registerWasmKernels, WASM_KERNELS } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';

/** Max |a − b| / max |b|. */
function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'element count');
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? err : err / scale;
}

/** Runs `f` on cpu and on wasm (fresh inputs from `make` each time) and returns both outputs. */
async function onBoth(
  make: () => tf.Tensor[],
  f: (...xs: tf.Tensor[]) => tf.Tensor[],
): Promise<Record<'cpu' | 'wasm', Float32Array[]>> {
  const out = {} as Record<'cpu' | 'wasm', Float32Array[]>;
  for (const backend of ['cpu', 'wasm'] as const) {
    await chooseBackend(backend);
    out[backend] = tf.tidy(() => f(...make()).map((t) => t.dataSync() as Float32Array));
  }
  return out;
}

/** Asserts every output of `f` agrees between cpu and wasm to `tol` (relative to max |cpu|). */
async function assertSameOnBoth(
  what: string,
  make: () => tf.Tensor[],
  f: (...xs: tf.Tensor[]) => tf.Tensor[],
  tol = 2e-6,
): Promise<void> {
  const { cpu, wasm } = await onBoth(make, f);
  cpu.forEach((c, i) => {
    const e = relError(wasm[i], c);
    assert.ok(e <= tol, `${what}, output ${i}: wasm vs cpu relative error ${e}`);
  });
}

const uniform = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);

before(() => registerWasmKernels());
after(useTestBackend);

describe('wasm kernel registrations', () => {
  test('registerWasmKernels is idempotent and installs every kernel', () => {
    registerWasmKernels();
    registerWasmKernels();
    for (const config of WASM_KERNELS) {
      assert.equal(tf.getKernel(config.kernelName, 'wasm'), config, config.kernelName);
    }
  });

  test('wasm has every cpu kernel except complex numbers, FFT, ragged and string ops', () => {
    const wasm = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
    const missing = tf
      .getKernelsForBackend('cpu')
      .map((k) => k.kernelName)
      .filter((name) => !wasm.has(name));
    const unsupported =
      /^(Complex|ComplexAbs|Real|Imag|FFT|IFFT|RFFT|IRFFT|Draw|Ragged.*|StaticRegexReplace)$/;
    assert.deepEqual(
      missing.filter((name) => !unsupported.test(name)),
      [],
    );
  });
});

describe('wasm kernels free their intermediates', () => {
  test('the backend holds no more data after repeated gradient steps', async () => {
    await chooseBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = uniform([2, 9, 9, 4], 30);
    const w = uniform([4, 4, 4, 6], 31);
    const dw = uniform([3, 3, 4, 2], 32);
    const step = () =>
      tf.tidy(() => {
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
          const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
          const z = tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 1, 'same');
          const parts = tf.unstack(tf.stack([tf.sum(y), tf.sum(tf.square(z))]));
          return tf.add(parts[0], parts[1]);
        };
        return tf.grads(f)([x, w, dw]);
      });
    tf.dispose(step());
    const before = backend.numDataIds();
    for (let i = 0; i < 5; i++) tf.dispose(step());
    assert.equal(backend.numDataIds(), before);
    tf.dispose([x, w, dw]);
  });
});

describe('Identity shares its input data', () => {
  test('a clone holds no new data, outlives its source, and its gradients are right', async () => {
    await chooseBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = uniform([3, 5, 7], 40);
    const values = x.dataSync().slice();
    const before = backend.numDataIds();
    const copy = tf.clone(x);
    assert.equal(backend.numDataIds(), before);
    x.dispose();
    assert.deepEqual(copy.dataSync(), values);
    const y = tf.tidy(() => tf.add(copy, 1));
    copy.dispose();
    assert.equal(backend.numDataIds(), before);
    y.dispose();
    assert.equal(backend.numDataIds(), before - 1);
    // Second order through saved (cloned) tensors: ∂/∂a Σ(∂Σa³/∂a)² = 36a³.
    const a = uniform([4, 3], 41);
    const got = tf.tidy(() =>
      tf.grad((v: tf.Tensor) =>
        tf.sum(tf.square(tf.grad((q: tf.Tensor) => tf.sum(tf.pow(q, 3)))(v))),
      )(a),
    );
    const want = tf.tidy(() => tf.mul(tf.pow(a, 3), 36));
    assert.ok(relError(got.dataSync(), want.dataSync()) < 1e-5);
    tf.dispose([a, got, want]);
  });
});

describe('Cast to the same dtype shares its input data', () => {
  test('holds no new data; a cast to int32 converts', async () => {
    await chooseBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = tf.tensor([1.5, -2.25, 0], [3]);
    const before = backend.numDataIds();
    const same = tf.cast(x, 'float32');
    assert.equal(backend.numDataIds(), before);
    x.dispose();
    assert.deepEqual(Array.from(same.dataSync()), [1.5, -2.25, 0]);
    const ints = tf.cast(same, 'int32');
    assert.equal(backend.numDataIds(), before + 1);
    assert.deepEqual(Array.from(ints.dataSync()), [1, -2, 0]);
    tf.dispose([same, ints]);
  });
});

describe('Sum and Mean of a whole float32 tensor add in double precision', () => {
  test('equal the double-precision sum to float32 rounding; other reductions as before', async () => {
    await chooseBackend('wasm');
    const x = tf.randomUniform([16, 64, 64, 3], 0, 1, 'float32', 44);
    const values = x.dataSync();
    let total = 0;
    for (const v of values) total += v;
    const sum = tf.sum(x);
    const mean = tf.mean(x, [3, 0, 1, 2], true);
    assert.ok(Math.abs(sum.dataSync()[0] - total) / total <= 6e-8, `sum ${sum.dataSync()[0]}`);
    assert.deepEqual(mean.shape, [1, 1, 1, 1]);
    assert.equal(mean.dataSync()[0], Math.fround(total / values.length));
    const ints = tf.sum(tf.tensor([1, 2, 3], [3], 'int32'));
    assert.equal(ints.dtype, 'int32');
    assert.equal(ints.dataSync()[0], 6);
    const partial = tf.sum(x, [1, 2]);
    assert.deepEqual(partial.shape, [16, 3]);
    tf.dispose([x, sum, mean, ints, partial]);
  });
});

describe('convolution gradients: wasm equals cpu', () => {
  const cases: [number[], number[], number | [number, number], 'same' | 'valid' | number[][]][] = [
    [[2, 8, 8, 3], [3, 3, 3, 4], 1, 'same'],
    [[2, 8, 8, 3], [3, 3, 3, 4], 1, 'valid'],
    [[2, 9, 9, 3], [4, 4, 3, 5], 2, 'same'],
    [[2, 8, 8, 3], [4, 4, 3, 5], 2, 'same'],
    [[1, 9, 7, 2], [3, 3, 2, 2], 2, 'valid'],
    [[2, 7, 9, 2], [3, 2, 2, 3], [2, 3], 'same'],
    [[1, 6, 6, 2], [1, 1, 2, 3], 2, 'valid'],
    [[1, 10, 10, 2], [5, 5, 2, 2], 3, 'same'],
    [
      [1, 8, 8, 2],
      [3, 3, 2, 2],
      1,
      [
        [0, 0],
        [2, 0],
        [1, 3],
        [0, 0],
      ],
    ],
    [
      [1, 8, 8, 2],
      [3, 3, 2, 2],
      2,
      [
        [0, 0],
        [0, 2],
        [3, 1],
        [0, 0],
      ],
    ],
  ];
  for (const [xShape, wShape, strides, pad] of cases) {
    test(`conv2d x ${xShape}, w ${wShape}, strides ${strides}, pad ${JSON.stringify(pad)}`, async () => {
      await assertSameOnBoth(
        'dx, dw',
        () => [uniform(xShape, 1), uniform(wShape, 2)],
        (x, w) => {
          const conv = (a: tf.Tensor, b: tf.Tensor) =>
            tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad as 'same');
          const r = uniform(conv(x, w).shape, 3);
          return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), r)))([x, w]);
        },
      );
    });
  }

  test('conv2dTranspose stride 2: output, dx, dw', async () => {
    await assertSameOnBoth(
      'conv2dTranspose',
      () => [uniform([2, 5, 5, 4], 4), uniform([4, 4, 3, 4], 5)],
      (x, w) => {
        const f = (a: tf.Tensor, b: tf.Tensor) =>
          tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [2, 10, 10, 3], 2, 'same');
        const r = uniform([2, 10, 10, 3], 6);
        return [
          f(x, w),
          ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), r)))([x, w]),
        ];
      },
    );
  });

  test('grad of grad through conv2d (inner gradient w.r.t. x and w)', async () => {
    await assertSameOnBoth(
      'second order',
      () => [uniform([2, 6, 6, 2], 7), uniform([3, 3, 2, 3], 8)],
      (x, w) => {
        const inner = (a: tf.Tensor, b: tf.Tensor) =>
          tf.grads((p: tf.Tensor, q: tf.Tensor) =>
            tf.sum(tf.square(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 2, 'same'))),
          )([a, b]);
        return tf.grads((a: tf.Tensor, b: tf.Tensor) => {
          const [gx, gw] = inner(a, b);
          return tf.add(tf.sum(tf.square(gx)), tf.sum(tf.square(gw)));
        })([x, w]);
      },
      5e-6,
    );
  });
});

describe('other gradient kernels: wasm equals cpu', () => {
  test('depthwiseConv2d (multiplier 2, stride 2): dx, dw and second order', async () => {
    await assertSameOnBoth(
      'depthwise',
      () => [uniform([2, 7, 7, 3], 9), uniform([3, 3, 3, 2], 10)],
      (x, w) => {
        const f = (a: tf.Tensor, b: tf.Tensor) =>
          tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
        const first = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(f(a, b))));
        const second = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.square(first([a, b])[0])),
        )([x, w]);
        return [...first([x, w]), ...second];
      },
    );
  });

  test('gather backward (UnsortedSegmentSum)', async () => {
    await assertSameOnBoth(
      'gather',
      () => [uniform([5, 3], 11)],
      (x) => [tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.gather(a, [0, 2, 2, 4, 0]))))(x)],
    );
  });

  test('UnsortedSegmentSum: float32 and int32, ids out of range dropped', async () => {
    await assertSameOnBoth(
      'unsortedSegmentSum',
      () => [uniform([6, 2, 3], 16)],
      (x) => {
        const ids = tf.tensor1d([0, 3, -1, 3, 7, 1], 'int32');
        const ints = tf.cast(tf.mul(x, 10), 'int32');
        return [
          tf.unsortedSegmentSum(x, ids, 4),
          tf.cast(tf.unsortedSegmentSum(ints, ids, 4), 'float32'),
        ];
      },
      0,
    );
  });

  test('MaxPoolGrad and MaxPoolWithArgmax kernels', async () => {
    await assertSameOnBoth(
      'maxPool kernels',
      () => [uniform([2, 8, 8, 3], 12)],
      (x) => {
        const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
        const y = tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid');
        const dy = uniform(y.shape, 13);
        const dx = tf.engine().runKernel(tf.MaxPoolGrad, { dy, input: x, output: y }, attrs);
        const [v, idx] = tf.engine().runKernel(
          tf.MaxPoolWithArgmax,
          { x },
          {
            ...attrs,
            includeBatchInIndex: true,
          },
        ) as tf.Tensor[];
        assert.equal(idx.dtype, 'int32');
        return [dx as tf.Tensor, v, tf.cast(idx, 'float32')];
      },
      0,
    );
  });

  test('einsum', async () => {
    await assertSameOnBoth(
      'einsum',
      () => [uniform([2, 3], 14), uniform([3, 4], 15)],
      (a, b) => [tf.einsum('ij,jk->ik', a, b)],
    );
  });
});

describe('copy kernels (Slice, Concat, Pack, Unpack): wasm equals cpu exactly', () => {
  const shape = [2, 3, 4, 2, 3, 5];
  test('slice at every rank 1–6, on inner, outer and middle axes', async () => {
    await assertSameOnBoth(
      'slice',
      () => [uniform(shape, 20)],
      (x) => {
        const outs: tf.Tensor[] = [];
        for (let rank = 1; rank <= 6; rank++) {
          const t = tf.reshape(x, [...shape.slice(0, rank - 1), -1]);
          const begin = t.shape.map((s, i) => (i % 2 === 0 ? 0 : Math.min(1, s - 1)));
          const size = t.shape.map((s, i) => (i === rank - 1 ? Math.max(1, s - 2) : -1));
          outs.push(tf.slice(t, begin, size));
          outs.push(
            tf.slice(
              t,
              t.shape.map(() => 0),
              t.shape.map((s, i) => (i === rank - 1 ? 1 : s)),
            ),
          );
        }
        return outs;
      },
      0,
    );
  });

  test('concat, stack and unstack on every axis; int32 and bool', async () => {
    await assertSameOnBoth(
      'concat/stack/unstack',
      () => [uniform([2, 3, 4, 5], 21), uniform([2, 3, 4, 5], 22)],
      (a, b) => {
        const outs: tf.Tensor[] = [];
        for (let axis = 0; axis < 4; axis++) {
          outs.push(
            tf.concat(
              [
                a,
                tf.slice(
                  b,
                  0,
                  a.shape.map((s, i) => (i === axis ? 1 : s)),
                ),
              ],
              axis,
            ),
          );
          outs.push(tf.stack([a, b, a], axis));
          outs.push(...tf.unstack(b, axis));
        }
        outs.push(tf.stack([a, b], 4));
        const ints = tf.cast(tf.mul(a, 100), 'int32');
        outs.push(tf.cast(tf.concat([ints, ints], 3), 'float32'));
        outs.push(tf.cast(tf.stack([tf.greater(a, 0), tf.greater(b, 0)], 2), 'float32'));
        return outs;
      },
      0,
    );
  });
});

/** A DCGAN-style generator and discriminator on 8×8 images, built from seeded initialisers. */
function buildGan(): { g: tf.LayersModel; d: tf.LayersModel } {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const g = tf.sequential({
    layers: [
      tf.layers.dense({ units: 2 * 2 * 8, inputShape: [4], kernelInitializer: init(1) }),
      tf.layers.reshape({ targetShape: [2, 2, 8] }),
      tf.layers.batchNormalization(),
      tf.layers.leakyReLU({ alpha: 0.2 }),
      tf.layers.upSampling2d({ size: [2, 2] }),
      tf.layers.conv2dTranspose({
        filters: 4,
        kernelSize: 4,
        strides: 2,
        padding: 'same',
        kernelInitializer: init(2),
      }),
      tf.layers.leakyReLU({ alpha: 0.2 }),
      tf.layers.conv2d({
        filters: 3,
        kernelSize: 3,
        padding: 'same',
        activation: 'tanh',
        kernelInitializer: init(3),
      }),
    ],
  });
  const d = tf.sequential({
    layers: [
      tf.layers.conv2d({
        filters: 4,
        kernelSize: 4,
        strides: 2,
        padding: 'same',
        inputShape: [8, 8, 3],
        kernelInitializer: init(4),
      }),
      tf.layers.leakyReLU({ alpha: 0.2 }),
      // No bias before a batch norm: its gradient is exactly zero, and float32 noise elsewhere.
      tf.layers.depthwiseConv2d({
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        depthwiseInitializer: init(5),
      }),
      tf.layers.batchNormalization(),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: init(6) }),
      tf.layers.averagePooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 1, kernelInitializer: init(7) }),
    ],
  });
  return { g, d };
}

/**
 * Three non-saturating GAN steps with Adam, the D step with an R1 penalty (double backprop).
 * Returns the gradients of the first step and every weight after the last.
 */
function trainGan(): Float32Array[] {
  const { g, d } = buildGan();
  const gOpt = tf.train.adam(1e-2);
  const dOpt = tf.train.adam(1e-2);
  const gVars = g.trainableWeights.map((w) => w.read() as tf.Variable);
  const dVars = d.trainableWeights.map((w) => w.read() as tf.Variable);
  const grads: Float32Array[] = [];
  for (let step = 0; step < 3; step++) {
    tf.tidy(() => {
      const z = tf.randomNormal([4, 4], 0, 1, 'float32', 20 + step);
      const real = tf.randomUniform([4, 8, 8, 3], -1, 1, 'float32', 30 + step);
      const dLoss = () =>
        tf.tidy(() => {
          const fake = g.apply(z, { training: true }) as tf.Tensor;
          const onReal = (x: tf.Tensor) => d.apply(x, { training: true }) as tf.Tensor;
          const realGrad = tf.grad((x: tf.Tensor) => tf.sum(onReal(x)))(real);
          const r1 = tf.mul(tf.mean(tf.sum(tf.square(realGrad), [1, 2, 3])), 5);
          const adv = tf.add(
            tf.mean(tf.softplus(tf.neg(onReal(real)))),
            tf.mean(tf.softplus(onReal(fake))),
          );
          return tf.add(adv, r1) as tf.Scalar;
        });
      const dStep = dOpt.computeGradients(dLoss, dVars);
      const gStep = gOpt.computeGradients(
        () =>
          tf.mean(
            tf.softplus(
              tf.neg(d.apply(g.apply(z, { training: true }), { training: true }) as tf.Tensor),
            ),
          ) as tf.Scalar,
        gVars,
      );
      if (step === 0) {
        for (const v of [...dVars, ...gVars]) {
          const grad = dStep.grads[v.name] ?? gStep.grads[v.name];
          grads.push(grad.dataSync() as Float32Array);
        }
      }
      dOpt.applyGradients(
        dStep.grads as unknown as Parameters<tf.AdamOptimizer['applyGradients']>[0],
      );
      gOpt.applyGradients(
        gStep.grads as unknown as Parameters<tf.AdamOptimizer['applyGradients']>[0],
      );
    });
  }
  const weights = [...dVars, ...gVars].map((v) => v.dataSync() as Float32Array);
  g.dispose();
  d.dispose();
  gOpt.dispose();
  dOpt.dispose();
  return [...grads, ...weights];
}

describe('a tf.layers GAN trains on wasm as on cpu', () => {
  test('every weight gradient (with an R1 penalty) and the weights after 3 Adam steps', async () => {
    const out: Record<string, Float32Array[]> = {};
    for (const backend of ['cpu', 'wasm']) {
      await chooseBackend(backend);
      const before = tf.memory().numTensors;
      out[backend] = trainGan();
      assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
    }
    out.cpu.forEach((c, i) => {
      const e = relError(out.wasm[i], c);
      assert.ok(e < 1e-4, `array ${i}: wasm vs cpu relative error ${e}`);
    });
  });
});
