/**
 * The native kernels (src/backends/native, native/genloss-native.c): convolution, its gradients,
 * the fused convolution and the (fused) matrix product each agree with the `cpu` backend on
 * random shapes, first and second order; an all-zero dy gives zero gradients without a
 * convolution; native on and off agree; nothing leaks; the committed
 * binary was built from the committed source; and `GENLOSS_NATIVE=0` falls back to the wasm
 * kernels with one line on stderr.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { checkSecondOrder } from '../../src/autodiff/check-second-order.ts';
import {
  disableNativeKernels,
  enableNativeKernels,
  NATIVE_KERNEL_NAMES,
  nativeBinaryPath,
  nativeKernelStatus,
} from '../../src/backends/native/index.ts';
import { Mulberry32 } from '../../src/core/prng.ts';
import { chooseBackend, GANLoss, RelativisticGANLoss, ready } from '../../src/index.ts';
import { useTestBackend } from '../helpers/backend.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const native = process.platform === 'linux' && process.arch === 'x64';

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

const uniform = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);

/** A copy of `t` with `values[i]` at position `i·stride` (modulo its size). */
function withValues(t: tf.Tensor, values: number[], stride: number): tf.Tensor {
  const v = t.dataSync().slice() as Float32Array;
  values.forEach((e, i) => {
    v[(i * stride) % v.length] = e;
  });
  return tf.tensor(v, t.shape);
}

/** Runs `f` on `backend` with fresh inputs from `make`, returning its outputs' values. */
async function runOn(
  backend: string,
  make: () => tf.Tensor[],
  f: (...xs: tf.Tensor[]) => tf.Tensor[],
): Promise<Float32Array[]> {
  await chooseBackend(backend);
  return tf.tidy(() => f(...make()).map((t) => t.dataSync() as Float32Array));
}

/** Asserts that `f` on wasm (native kernels) equals `f` on cpu within `tol` of max |cpu|. */
async function assertNativeEqualsCpu(
  what: string,
  make: () => tf.Tensor[],
  f: (...xs: tf.Tensor[]) => tf.Tensor[],
  tol = 2e-6,
): Promise<void> {
  const cpu = await runOn('cpu', make, f);
  const wasm = await runOn('wasm', make, f);
  cpu.forEach((c, i) => {
    const e = relError(wasm[i], c);
    assert.ok(e <= tol, `${what}, output ${i}: native vs cpu relative error ${e}`);
  });
}

type Pad = 'same' | 'valid' | number[][];
interface ConvCase {
  x: number[];
  w: number[];
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
}

/** Random convolutions: batch 1 or 3, odd sizes, 1/3/odd channels, strides, dilations, pads. */
function randomCases(count: number, seed: number, dilated: boolean): ConvCase[] {
  const rng = new Mulberry32(seed);
  const pick = <T>(values: readonly T[]): T => values[rng.int(values.length)];
  return Array.from({ length: count }, (_, i) => {
    const k = [pick([1, 2, 3, 4, 5]), pick([1, 3, 4])];
    const strides = dilated ? ([1, 1] as [number, number]) : [pick([1, 2]), pick([1, 2])];
    const dilations = dilated ? [pick([1, 2]), 2] : [1, 1];
    const size = [pick([5, 7, 8, 9, 11]), pick([6, 7, 9, 13])];
    const pad: Pad =
      i % 3 === 0
        ? 'same'
        : i % 3 === 1
          ? 'valid'
          : [
              [0, 0],
              [pick([0, 1, 2]), pick([0, 1, 3])],
              [pick([0, 2]), pick([0, 1])],
              [0, 0],
            ];
    return {
      x: [pick([1, 3]), size[0], size[1], pick([1, 3, 5, 17])],
      w: [k[0], k[1], 0, pick([1, 3, 7, 33])],
      strides: strides as [number, number],
      dilations: dilations as [number, number],
      pad,
    };
  }).map((c) => ({ ...c, w: [c.w[0], c.w[1], c.x[3], c.w[3]] }));
}

const conv = (c: ConvCase) => (a: tf.Tensor, b: tf.Tensor) =>
  tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad as 'same', 'NHWC', c.dilations);

type Formulation = 'direct' | 'im2col' | 'conv';

/**
 * The filter-gradient formulation native/genloss-native.c's `conv_backprop_filter` picks: direct
 * for output channels a multiple of 16, for input channels a multiple of 16 (vectors along them),
 * or for at most 65536 pixel-taps (over copied patches for fewer than 8 input channels); else XNNPACK's im2col product for patches up to 1024 and 32 or more
 * output channels; else XNNPACK's convolution.
 */
function filterGradientFormulation(c: ConvCase): Formulation {
  const y = tf.tidy(() => conv(c)(tf.zeros(c.x), tf.zeros(c.w)).shape);
  const [kh, kw, ci, co] = c.w;
  const pixelTaps = y[0] * y[1] * y[2] * kh * kw;
  const byInput = co % 16 !== 0 && ci % 16 === 0;
  if (co % 16 === 0 || byInput || pixelTaps <= 65536) return 'direct';
  return kh * kw * ci <= 1024 && co >= 32 ? 'im2col' : 'conv';
}

const label = (c: ConvCase) =>
  `x ${c.x}, w ${c.w}, strides ${c.strides}, dilations ${c.dilations}, pad ${JSON.stringify(c.pad)}`;

/** The weights of a small conv discriminator: 3→5 (3×3/2), 5→4 (3×3/1), 4→1 (4×4 valid). */
const discriminatorShapes = [
  [3, 3, 3, 5],
  [3, 3, 5, 4],
  [4, 4, 4, 1],
];

function discriminator(x: tf.Tensor, ws: tf.Tensor[]): tf.Tensor {
  const [w1, w2, w3] = ws as tf.Tensor4D[];
  const h1 = tf.leakyRelu(tf.conv2d(x as tf.Tensor4D, w1, 2, 'same'), 0.2);
  const h2 = tf.leakyRelu(tf.conv2d(h1, w2, 1, 'same'), 0.2);
  return tf.conv2d(h2, w3, 1, 'valid');
}

type Net = (x: tf.Tensor, ws: tf.Tensor[]) => tf.Tensor;

/** WGAN-GP's penalty `mean((‖∇ₓD(x)‖ − 1)²)` and its gradients w.r.t. x and every weight. */
function gradientPenaltyAndGrads(net: Net, ...[x, ...ws]: tf.Tensor[]): tf.Tensor[] {
  const penalty = (a: tf.Tensor, ...b: tf.Tensor[]) => {
    const dx = tf.grad((p: tf.Tensor) => tf.sum(net(p, b)))(a);
    const norm = tf.sqrt(tf.add(tf.sum(tf.square(dx), [1, 2, 3]), 1e-12));
    return tf.mean(tf.square(tf.sub(norm, 1)));
  };
  const { value, grads } = tf.valueAndGrads(penalty)([x, ...ws]);
  return [value, ...grads];
}

const discriminatorInputs = (seed: number) => [
  uniform([3, 8, 8, 3], seed),
  ...discriminatorShapes.map((shape, i) => tf.mul(uniform(shape, seed + 1 + i), 0.5)),
];

/**
 * A conv layer and two dense layers, the first with a bias (`tf.fused.matMul`, as
 * `tf.layers.dense` computes it): 3→5 (3×3/2), 80→16, 16→1.
 */
const denseDiscriminatorShapes = [[3, 3, 3, 5], [80, 16], [16], [16, 1]];

function denseDiscriminator(x: tf.Tensor, ws: tf.Tensor[]): tf.Tensor {
  const [w1, w2, b2, w3] = ws;
  const h1 = tf.leakyRelu(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 2, 'same'), 0.2);
  const flat = tf.reshape(h1, [x.shape[0], 80]);
  const h2 = tf.leakyRelu(tf.fused.matMul({ a: flat, b: w2 as tf.Tensor2D, bias: b2 }), 0.2);
  return tf.matMul(h2, w3);
}

const denseDiscriminatorInputs = (seed: number) => [
  uniform([3, 8, 8, 3], seed),
  ...denseDiscriminatorShapes.map((shape, i) => tf.mul(uniform(shape, seed + 1 + i), 0.5)),
];

interface MatMulCase {
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * Random matrix products: odd sizes, both transpositions, batches equal, one broadcast against
 * several (a rank-2 operand among them), and batch dimensions that flatten differently.
 */
function randomMatMulCases(count: number, seed: number): MatMulCase[] {
  const rng = new Mulberry32(seed);
  const pick = <T>(values: readonly T[]): T => values[rng.int(values.length)];
  const batches = [
    [[], []],
    [[3], [3]],
    [[], [3]],
    [[3], []],
    [[2, 3], [1]],
    [[1], [2, 2]],
    [
      [2, 2],
      [2, 2],
    ],
  ];
  return Array.from({ length: count }, (_, i) => {
    const [ba, bb] = batches[i % batches.length];
    const [m, k, n] = [pick([1, 5, 17, 33]), pick([1, 6, 19, 40]), pick([1, 3, 16, 37])];
    const transposeA = rng.int(2) === 1;
    const transposeB = rng.int(2) === 1;
    return {
      a: [...ba, ...(transposeA ? [k, m] : [m, k])],
      b: [...bb, ...(transposeB ? [n, k] : [k, n])],
      transposeA,
      transposeB,
    };
  });
}

const matMulLabel = (c: MatMulCase) =>
  `a ${c.a}${c.transposeA ? 'ᵀ' : ''}, b ${c.b}${c.transposeB ? 'ᵀ' : ''}`;

/**
 * Asserts that `native` has NaN and ±Inf where `wasm` has them (and has some), and equals it
 * elsewhere to float32 precision.
 */
function assertSameNonFinite(native: Float32Array[], wasm: Float32Array[]): void {
  wasm.forEach((c, i) => {
    const nonFinite = (v: Float32Array) =>
      Array.from(v, (e) => (Number.isFinite(e) ? 0 : String(e)));
    assert.deepEqual(nonFinite(native[i]), nonFinite(c), `output ${i}: non-finite entries`);
    assert.ok(
      nonFinite(c).some((e) => e !== 0),
      `output ${i} has non-finite entries`,
    );
    const finite = (v: Float32Array) => v.map((e) => (Number.isFinite(e) ? e : 0));
    const e = relError(finite(native[i]), finite(c));
    assert.ok(e <= 2e-6, `output ${i}: relative error ${e}`);
  });
}

describe('native kernels', { skip: !native && 'no prebuilt binary for this platform' }, () => {
  before(async () => {
    await ready();
    enableNativeKernels();
    await chooseBackend('wasm');
  });
  after(useTestBackend);

  test('are active on linux-x64', () => {
    const status = nativeKernelStatus();
    assert.equal(status.active, true, status.reason);
    assert.ok((status.threads ?? 0) >= 1);
    assert.deepEqual(NATIVE_KERNEL_NAMES, [
      'Conv2D',
      'FusedConv2D',
      'Conv2DBackpropInput',
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNative',
      'FusedDepthwiseConv2D',
      'DepthwiseConv2dNativeBackpropInput',
      'DepthwiseConv2dNativeBackpropFilter',
      'BatchMatMul',
      '_FusedMatMul',
      'LeakyRelu',
      'Greater',
      'Select',
      'Cast',
      'LogicalNot',
      'Sum',
      'Mean',
      'GenlossGanLossSum',
      'GenlossGanLossGrad',
    ]);
    for (const name of NATIVE_KERNEL_NAMES) assert.ok(tf.getKernel(name, 'wasm'), name);
  });

  test('conv2d runs natively and caches one operator per filter tensor', async () => {
    await chooseBackend('wasm');
    const cached = nativeKernelStatus().cachedOperators;
    tf.tidy(() => {
      const x = uniform([2, 9, 9, 3], 1);
      const w = uniform([3, 3, 3, 4], 2);
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same').dataSync();
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same').dataSync();
    });
    assert.equal(nativeKernelStatus().cachedOperators, cached + 1);
  });

  describe('forward, input and filter gradients equal cpu on random shapes', () => {
    const cases = randomCases(18, 7, false);
    for (const c of cases) {
      test(label(c), async () => {
        await assertNativeEqualsCpu(
          'y, dx, dw',
          () => [uniform(c.x, 1), uniform(c.w, 2)],
          (x, w) => {
            const y = conv(c)(x, w);
            const r = uniform(y.shape, 3);
            return [
              y,
              ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(c)(a, b), r)))([x, w]),
            ];
          },
        );
      });
    }
  });

  describe('depthwise convolution, its input and filter gradients equal cpu on random shapes', () => {
    const rng = new Mulberry32(29);
    const pick = <T>(values: readonly T[]): T => values[rng.int(values.length)];
    const cases = randomCases(10, 23, false).map((c, i) => ({
      ...c,
      w: [c.w[0], c.w[1], c.x[3], pick([1, 2, 3])],
      // Dilated forward convolutions for every third case (TF.js has no dilated gradients).
      dilations: (i % 3 === 2 ? [2, 1] : [1, 1]) as [number, number],
      strides: (i % 3 === 2 ? [1, 1] : c.strides) as [number, number],
    }));
    const depthwise = (c: ConvCase) => (a: tf.Tensor, b: tf.Tensor) =>
      tf.depthwiseConv2d(
        a as tf.Tensor4D,
        b as tf.Tensor4D,
        c.strides,
        c.pad as 'same',
        'NHWC',
        c.dilations,
      );
    for (const c of cases) {
      const dilated = c.dilations[0] > 1;
      test(`${label(c)}${dilated ? ' (forward)' : ''}`, async () => {
        await assertNativeEqualsCpu(
          dilated ? 'y' : 'y, dx, dw',
          () => [uniform(c.x, 1), uniform(c.w, 2)],
          (x, w) => {
            const y = depthwise(c)(x, w);
            if (dilated) return [y];
            const r = uniform(y.shape, 3);
            const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(depthwise(c)(a, b), r));
            return [y, ...tf.grads(f)([x, w])];
          },
        );
      });
    }
    test('fused depthwise with a bias equals cpu', async () => {
      await assertNativeEqualsCpu(
        'y',
        () => [uniform([2, 11, 9, 5], 4), uniform([3, 3, 5, 2], 5), uniform([10], 6)],
        (x, w, bias) => [
          tf.fused.depthwiseConv2d({
            x: x as tf.Tensor4D,
            filter: w as tf.Tensor4D,
            strides: 2,
            pad: 'same',
            bias,
          }),
        ],
      );
    });
  });

  describe('dilated forward convolutions equal cpu', () => {
    for (const c of randomCases(6, 11, true)) {
      test(label(c), async () => {
        await assertNativeEqualsCpu(
          'y',
          () => [uniform(c.x, 4), uniform(c.w, 5)],
          (x, w) => [conv(c)(x, w)],
        );
      });
    }
  });

  test('NaN and ±Inf give what the wasm kernels give (forward and both gradients)', async () => {
    const make = () => {
      const x = tf.buffer(
        [2, 7, 7, 3],
        'float32',
        uniform([2, 7, 7, 3], 60).dataSync() as Float32Array,
      );
      x.set(Number.NaN, 0, 2, 3, 1);
      const w = tf.buffer(
        [3, 3, 3, 4],
        'float32',
        uniform([3, 3, 3, 4], 61).dataSync() as Float32Array,
      );
      w.set(Number.POSITIVE_INFINITY, 1, 2, 0, 3);
      return [x.toTensor(), w.toTensor()];
    };
    const f = (x: tf.Tensor, w: tf.Tensor) => {
      const c = conv({ x: [], w: [], strides: [2, 2], dilations: [1, 1], pad: 'same' });
      const r = uniform(c(x, w).shape, 62);
      return [
        c(x, w),
        ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(c(a, b), r)))([x, w]),
      ];
    };
    const native = await runOn('wasm', make, f);
    disableNativeKernels();
    const wasm = await runOn('wasm', make, f).finally(() => enableNativeKernels());
    assertSameNonFinite(native, wasm);
  });

  test('an all-zero dy gives zero gradients without a convolution (a finite x and filter)', async () => {
    await chooseBackend('wasm');
    const attrs = { strides: 2, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
    /** Both gradient kernels of a 3×3/2 conv of x [2, 9, 9, 3] and w [3, 3, 3, 4] at dy. */
    const gradients = (x: tf.Tensor, w: tf.Tensor, dy: tf.Tensor) => {
      const e = tf.engine();
      return [
        e.runKernel('Conv2DBackpropFilter', { x, dy }, {
          ...attrs,
          filterShape: w.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
        e.runKernel('Conv2DBackpropInput', { dy, filter: w }, {
          ...attrs,
          inputShape: x.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      ];
    };
    tf.tidy(() => {
      const [x, w] = [uniform([2, 9, 9, 3], 70), uniform([3, 3, 3, 4], 71)];
      const cached = nativeKernelStatus().cachedOperators;
      const [dw, dx] = gradients(x, w, tf.zeros([2, 5, 5, 4]));
      assert.deepEqual([dw.shape, dx.shape], [w.shape, x.shape]);
      assert.ok(dw.dataSync().every((v) => v === 0) && dx.dataSync().every((v) => v === 0));
      // No deconvolution operator was packed for w: the input gradient ran no convolution.
      assert.equal(nativeKernelStatus().cachedOperators, cached);
    });
    // One non-zero entry, the last: the scan goes on to it, and the convolutions run.
    const make = () => {
      const dy = tf.buffer([2, 5, 5, 4], 'float32');
      dy.set(0.75, 1, 4, 4, 3);
      return [uniform([2, 9, 9, 3], 70), uniform([3, 3, 3, 4], 71), dy.toTensor()];
    };
    const [dwNative, dxNative] = await runOn('wasm', make, gradients);
    const [dwCpu, dxCpu] = await runOn('cpu', make, gradients);
    await chooseBackend('wasm');
    assert.ok(dwNative.some((v) => v !== 0) && dxNative.some((v) => v !== 0));
    assert.ok(relError(dwNative, dwCpu) <= 2e-6 && relError(dxNative, dxCpu) <= 2e-6);
    // A NaN in x, an ∞ in w: zeros times them are NaN, as the wasm kernels give.
    const nonFinite = () => {
      const x = tf.buffer(
        [2, 9, 9, 3],
        'float32',
        uniform([2, 9, 9, 3], 72).dataSync() as Float32Array,
      );
      x.set(Number.NaN, 1, 4, 4, 2);
      const w = tf.buffer(
        [3, 3, 3, 4],
        'float32',
        uniform([3, 3, 3, 4], 73).dataSync() as Float32Array,
      );
      w.set(Number.POSITIVE_INFINITY, 1, 1, 0, 2);
      return [x.toTensor(), w.toTensor(), tf.zeros([2, 5, 5, 4])];
    };
    const native = await runOn('wasm', nonFinite, gradients);
    disableNativeKernels();
    const wasm = await runOn('wasm', nonFinite, gradients).finally(() => enableNativeKernels());
    assertSameNonFinite(native, wasm);
  });

  describe('each filter-gradient formulation equals cpu', () => {
    const cases: [Formulation, string, ConvCase][] = [
      [
        'direct',
        'tiles of 12 and 1 input by 32 and 16 output channels, 2 chunks of pixels',
        { x: [3, 15, 17, 13], w: [3, 4, 13, 48], strides: [2, 2], dilations: [1, 1], pad: 'same' },
      ],
      [
        'direct',
        '33 output channels (the last one by one), padding on every side',
        {
          x: [2, 9, 11, 5],
          w: [4, 3, 5, 33],
          strides: [1, 2],
          dilations: [1, 1],
          pad: [
            [0, 0],
            [2, 1],
            [1, 3],
            [0, 0],
          ],
        },
      ],
      [
        'direct',
        'vectors along 32 input channels, tiles of 8 and 3 output channels, 9216 pixels',
        { x: [4, 48, 48, 32], w: [3, 3, 32, 11], strides: [1, 1], dilations: [1, 1], pad: 'same' },
      ],
      [
        'direct',
        'vectors along 16 input channels, 5 output channels, stride 2',
        { x: [3, 13, 11, 16], w: [4, 4, 16, 5], strides: [2, 2], dilations: [1, 1], pad: 'same' },
      ],
      [
        'direct',
        'patches of 4×4×3 copied per chunk, 16 output channels, 14400 pixels',
        { x: [4, 60, 60, 3], w: [4, 4, 3, 16], strides: [1, 1], dilations: [1, 1], pad: 'same' },
      ],
      [
        'im2col',
        '9216 pixels in chunks of 2048',
        { x: [4, 48, 48, 8], w: [3, 3, 8, 40], strides: [1, 1], dilations: [1, 1], pad: 'same' },
      ],
      [
        'conv',
        '5 output channels over 9216 pixels',
        { x: [4, 48, 48, 3], w: [3, 3, 3, 5], strides: [1, 1], dilations: [1, 1], pad: 'same' },
      ],
    ];
    for (const [formulation, what, c] of cases) {
      test(`${formulation}: ${what}`, async () => {
        assert.equal(filterGradientFormulation(c), formulation);
        await assertNativeEqualsCpu(
          'dw',
          () => [uniform(c.x, 70), uniform(c.w, 71)],
          (x, w) => {
            const y = conv(c)(x, w);
            const r = uniform(y.shape, 72);
            return [tf.grad((b: tf.Tensor) => tf.sum(tf.mul(conv(c)(x, b), r)))(w)];
          },
          // Each entry sums up to 9216 products in float32.
          1e-5,
        );
      });
    }
  });

  describe('element-wise kernels equal the wasm ones (NaN, ±Inf, ±0 among the values)', () => {
    /** 2×24×24×5 (natively) or 3×5×7 (below the addon's 4096 elements) values with specials. */
    const values = (shape: number[], seed: number) =>
      withValues(uniform(shape, seed), [Number.NaN, Infinity, -Infinity, 0, -0], 7919);
    const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor[]][] = [
      ['leakyRelu', (a) => [tf.leakyRelu(a, 0.2)]],
      ['greater than a scalar, than a tensor', (a, b) => [tf.greater(a, 0.25), tf.greater(a, b)]],
      ['where', (a, b) => [tf.where(tf.greater(a, b), a, b)]],
      ['cast of a mask', (a) => [tf.cast(tf.greater(a, 0), 'float32')]],
      ['logicalNot', (a) => [tf.logicalNot(tf.greater(a, 0))]],
      [
        'the gradient of leakyRelu, and its gradient',
        (a, b) => {
          const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(x, 0.2), b));
          return [tf.grad(f)(a), tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.grad(f)(x))))(a)];
        },
      ],
    ];
    for (const shape of [
      [2, 24, 24, 5],
      [3, 5, 7],
    ]) {
      for (const [what, op] of ops) {
        test(`${what}, ${shape.join('×')}`, async () => {
          const make = () => [values(shape, 81), values(shape, 82)];
          const run = () =>
            runOn('wasm', make, (a, b) => op(a, b).map((t) => tf.cast(t, 'float32')));
          const native = await run();
          disableNativeKernels();
          const wasm = await run().finally(() => enableNativeKernels());
          assert.deepEqual(
            native.map((v) => Array.from(v)),
            wasm.map((v) => Array.from(v)),
          );
        });
      }
    }
  });

  test("vanilla and relativistic GAN losses (the fused BCE) and their gradients equal cpu's", async () => {
    const loss = new GANLoss({ gan_type: 'vanilla' });
    const relativistic = new RelativisticGANLoss({ gan_type: 'vanilla' });
    const specials = (t: tf.Tensor) => withValues(t, [30, -30, 0, 1e-8, -1e-8, 90, -90], 331);
    await assertNativeEqualsCpu(
      'losses and gradients',
      () => [specials(tf.mul(uniform([3, 29, 31, 2], 95), 6)), uniform([3, 29, 31, 2], 96)],
      (real, fake) => {
        const vanilla = (r: tf.Tensor, f: tf.Tensor) =>
          tf.add(loss.forward(r, true, true), loss.forward(f, false, true));
        const ra = (r: tf.Tensor, f: tf.Tensor) => relativistic.forward(r, f, true);
        return [vanilla, ra].flatMap((f) => {
          const { value, grads } = tf.valueAndGrads(f)([real, fake]);
          return [value, ...grads];
        });
      },
    );
  });

  test('sum and mean over leading axes equal cpu; other axes as before', async () => {
    await assertNativeEqualsCpu(
      'sums and means',
      () => [uniform([4, 33, 31, 17], 90)],
      (x) => [
        tf.sum(x, [0, 1, 2]),
        tf.sum(x, [1, 0], true),
        tf.sum(x, 0),
        tf.sum(x, [1, 2]),
        tf.mean(x, 0),
        tf.mean(x, [0, 1], true),
        tf.mean(x, [2, 3]),
        tf.grad((b: tf.Tensor) => tf.sum(tf.square(tf.add(x, b))))(tf.zeros([17])),
      ],
      1e-5,
    );
  });

  describe('matMul equals cpu on random shapes (and its gradients where TF.js has them)', () => {
    for (const c of randomMatMulCases(14, 13)) {
      // TF.js's BatchMatMul gradient refuses broadcast batches.
      const broadcast = c.a.length !== c.b.length || c.a.slice(0, -2).some((d, i) => d !== c.b[i]);
      test(`${matMulLabel(c)}${broadcast ? ' (forward)' : ''}`, async () => {
        await assertNativeEqualsCpu(
          'y, da, db',
          () => [uniform(c.a, 8), uniform(c.b, 9)],
          (a, b) => {
            const f = (p: tf.Tensor, q: tf.Tensor) => tf.matMul(p, q, c.transposeA, c.transposeB);
            if (broadcast) return [f(a, b)];
            const r = uniform(f(a, b).shape, 10);
            return [
              f(a, b),
              ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(f(p, q), r)))([a, b]),
            ];
          },
        );
      });
    }
  });

  describe('fused matMul and fused conv2d (bias; linear natively, relu on wasm) equal cpu', () => {
    for (const activation of ['linear', 'relu'] as const) {
      // TF.js-wasm's own _FusedMatMul is wrong with transposeB and a bias (0.73 off here), so the
      // relu case, which runs on it, takes b untransposed; the native one is right with both.
      const transposeB = activation === 'linear';
      test(`fused.matMul, ${activation}${transposeB ? ', b transposed' : ''}`, async () => {
        await assertNativeEqualsCpu(
          'y, da, db, dbias',
          () => [
            uniform([7, 33], 11),
            uniform(transposeB ? [5, 33] : [33, 5], 12),
            uniform([5], 13),
          ],
          (a, b, bias) => {
            const f = (p: tf.Tensor, q: tf.Tensor, s: tf.Tensor) =>
              tf.fused.matMul({ a: p, b: q, transposeB, bias: s, activation });
            const r = uniform([7, 5], 14);
            const grads = tf.grads((p: tf.Tensor, q: tf.Tensor, s: tf.Tensor) =>
              tf.sum(tf.mul(f(p, q, s), r)),
            )([a, b, bias]);
            return [f(a, b, bias), ...grads];
          },
        );
      });
      test(`fused.conv2d, ${activation}`, async () => {
        await assertNativeEqualsCpu(
          'y, dx, dw, dbias',
          () => [uniform([2, 9, 7, 5], 15), uniform([3, 3, 5, 6], 16), uniform([6], 17)],
          (x, w, bias) => {
            const f = (p: tf.Tensor, q: tf.Tensor, s: tf.Tensor) =>
              tf.fused.conv2d({
                x: p as tf.Tensor4D,
                filter: q as tf.Tensor4D,
                strides: 2,
                pad: 'same',
                bias: s,
                activation,
              });
            const r = uniform(f(x, w, bias).shape, 18);
            const grads = tf.grads((p: tf.Tensor, q: tf.Tensor, s: tf.Tensor) =>
              tf.sum(tf.mul(f(p, q, s), r)),
            )([x, w, bias]);
            return [f(x, w, bias), ...grads];
          },
        );
      });
    }
  });

  test('NaN and ±Inf in a matrix product give what the wasm kernel gives', async () => {
    const make = () => {
      const a = tf.buffer([2, 5, 6], 'float32', uniform([2, 5, 6], 63).dataSync() as Float32Array);
      a.set(Number.NaN, 1, 2, 3);
      const b = tf.buffer([2, 6, 4], 'float32', uniform([2, 6, 4], 64).dataSync() as Float32Array);
      b.set(Number.NEGATIVE_INFINITY, 0, 0, 1);
      return [a.toTensor(), b.toTensor()];
    };
    const f = (a: tf.Tensor, b: tf.Tensor) => {
      const r = uniform([2, 5, 4], 65);
      return [
        tf.matMul(a, b),
        ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q), r)))([a, b]),
      ];
    };
    const native = await runOn('wasm', make, f);
    disableNativeKernels();
    const wasm = await runOn('wasm', make, f).finally(() => enableNativeKernels());
    assertSameNonFinite(native, wasm);
  });

  test('the gradient penalty of a conv net with dense layers (second order) equals cpu', async () => {
    await assertNativeEqualsCpu(
      'gradient penalty, dense',
      () => denseDiscriminatorInputs(90),
      (...xs) => gradientPenaltyAndGrads(denseDiscriminator, ...xs),
      5e-6,
    );
  });

  test('second order through the dense net agrees with finite differences', async () => {
    await chooseBackend('wasm');
    const inputs = denseDiscriminatorInputs(91);
    const report = checkSecondOrder((x, ...ws) => denseDiscriminator(x, ws), inputs, {
      eps: 1e-3,
      entries: 12,
    });
    tf.dispose(inputs);
    assert.ok(report.maxRelError < 5e-3, JSON.stringify(report));
  });

  test('conv2dTranspose (the input gradient as a forward op) and its gradients equal cpu', async () => {
    await assertNativeEqualsCpu(
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

  test('the gradient penalty of a conv net and its gradients (second order) equal cpu', async () => {
    await assertNativeEqualsCpu(
      'gradient penalty',
      () => discriminatorInputs(20),
      (...xs) => gradientPenaltyAndGrads(discriminator, ...xs),
      5e-6,
    );
  });

  test('second order through the conv net agrees with finite differences', async () => {
    await chooseBackend('wasm');
    const inputs = discriminatorInputs(30);
    const report = checkSecondOrder((x, ...ws) => discriminator(x, ws), inputs, {
      eps: 1e-3,
      entries: 12,
    });
    tf.dispose(inputs);
    assert.ok(report.maxRelError < 5e-3, JSON.stringify(report));
  });

  test('native on and off agree to float32 precision', async () => {
    await chooseBackend('wasm');
    const run = () =>
      tf.tidy(() =>
        gradientPenaltyAndGrads(denseDiscriminator, ...denseDiscriminatorInputs(40)).map((t) =>
          t.dataSync(),
        ),
      );
    const on = run();
    disableNativeKernels();
    try {
      assert.equal(nativeKernelStatus().active, false);
      const off = run();
      on.forEach((values, i) => {
        const e = relError(values, off[i]);
        assert.ok(e <= 5e-6, `output ${i}: native vs wasm relative error ${e}`);
      });
    } finally {
      enableNativeKernels();
    }
    assert.equal(nativeKernelStatus().active, true);
  });

  test('training steps leak no tensors, no wasm data and no cached operators', async () => {
    await chooseBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const weights = denseDiscriminatorShapes.map((shape, i) =>
      tf.variable(tf.mul(uniform(shape, 50 + i), 0.5)),
    );
    const x = uniform([2, 8, 8, 3], 49);
    const step = () =>
      tf.tidy(() => {
        const grads = gradientPenaltyAndGrads(denseDiscriminator, x, ...weights).slice(2);
        // New weight tensors every step, as an optimizer makes them.
        for (const [i, w] of weights.entries()) w.assign(tf.sub(w, tf.mul(grads[i], 1e-3)));
      });
    // The cache frees a dead filter's operators at the next insertion: flat from the second step.
    step();
    step();
    const tensors = tf.memory().numTensors;
    const data = backend.numDataIds();
    const operators = nativeKernelStatus().cachedOperators;
    for (let i = 0; i < 4; i++) step();
    assert.equal(tf.memory().numTensors, tensors, 'tensors');
    assert.equal(backend.numDataIds(), data, 'wasm data');
    assert.equal(
      nativeKernelStatus().cachedOperators,
      operators,
      'operators of dead weights freed',
    );
    tf.dispose([x, ...weights]);
  });
});

describe('the native addon', { skip: !native && 'no prebuilt binary for this platform' }, () => {
  test('was built from the committed source (prebuilds/linux-x64/build.json)', () => {
    const build = JSON.parse(readFileSync(`${root}prebuilds/linux-x64/build.json`, 'utf8'));
    const source = readFileSync(`${root}${build.source}`);
    assert.equal(build.source, 'native/genloss-native.c');
    assert.equal(
      createHash('sha256').update(source).digest('hex'),
      build.source_sha256,
      'native/genloss-native.c changed since the binary was built: run npm run build:native',
    );
  });

  test('finds its libraries beside it, through the rpath $ORIGIN', () => {
    const ldd = execFileSync('ldd', [nativeBinaryPath('linux-x64')], { encoding: 'utf8' });
    for (const lib of ['libXNNPACK.so.0', 'libpthreadpool.so.0', 'libcpuinfo.so.0']) {
      assert.match(
        ldd,
        new RegExp(`${lib.replace(/\./g, '\\.')} => ${root}prebuilds/linux-x64/${lib}`),
      );
    }
  });

  test('refuses a tensor outside the wasm heap', async () => {
    await chooseBackend('wasm');
    const addon = createRequire(import.meta.url)(nativeBinaryPath('linux-x64'));
    const heap = new ArrayBuffer(64);
    const outside = { name: 'RangeError', message: /outside the wasm heap/ };
    assert.throws(
      () => addon.createConv(heap, 32, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0),
      outside,
    );
    // 4096 elements from byte 0 of a 64-byte heap; a bool operand at an odd offset is fine.
    assert.throws(() => addon.elementwise(heap, 0, 4096, 0, 0, 0, 0, 0), outside);
    assert.doesNotThrow(() => addon.elementwise(heap, 5, 3, 0, 33, 0, 0, 0));
    assert.throws(() => addon.sumRows(heap, 0, 0, 8, 4, 1), outside);
  });
});

describe('GENLOSS_NATIVE', { skip: !native && 'no prebuilt binary for this platform' }, () => {
  const probe = `
    import * as tf from '@tensorflow/tfjs';
    import { chooseBackend, ready } from './src/index.ts';
    import { nativeKernelStatus } from './src/backends/native/index.ts';
    await ready();
    await chooseBackend('wasm');
    const x = tf.randomUniform([1, 6, 6, 2], -1, 1, 'float32', 1);
    const w = tf.randomUniform([3, 3, 2, 2], -1, 1, 'float32', 2);
    const [dx, dw] = tf.grads((a, b) => tf.sum(tf.square(tf.conv2d(a, b, 2, 'same'))))([x, w]);
    console.log(JSON.stringify({ ...nativeKernelStatus(), dx: dx.shape, dw: dw.shape }));
  `;
  /**
   * Runs the probe in a child process with GENLOSS_NATIVE set to `value` (unset if undefined)
   * and GENLOSS_NATIVE_THREADS to `threads` (unset if undefined).
   */
  const run = (value: string | undefined, threads?: string) => {
    const env = { ...process.env };
    if (value === undefined) delete env.GENLOSS_NATIVE;
    else env.GENLOSS_NATIVE = value;
    if (threads === undefined) delete env.GENLOSS_NATIVE_THREADS;
    else env.GENLOSS_NATIVE_THREADS = threads;
    return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
  };

  /** The probe's status line (the last line of its stdout). */
  const statusOf = (child: ReturnType<typeof run>) =>
    JSON.parse(child.stdout.trim().split('\n').at(-1) as string);

  test('=0 falls back to the wasm kernels, saying so once on stderr', () => {
    const child = run('0');
    assert.equal(child.status, 0, child.stderr);
    const status = statusOf(child);
    assert.equal(status.active, false);
    assert.equal(status.reason, 'GENLOSS_NATIVE=0');
    assert.deepEqual(
      [status.dx, status.dw],
      [
        [1, 6, 6, 2],
        [3, 3, 2, 2],
      ],
    );
    const lines = child.stderr.split('\n').filter((line) => line.includes('native kernels off'));
    assert.deepEqual(lines, [
      'genloss: native kernels off (GENLOSS_NATIVE=0); the wasm backend uses its own convolution kernels',
    ]);
  });

  test('unset, the native kernels start on import and stderr stays quiet', () => {
    const child = run(undefined);
    assert.equal(child.status, 0, child.stderr);
    assert.equal(statusOf(child).active, true);
    assert.doesNotMatch(child.stderr, /native kernels/);
  });

  test('one thread unless GENLOSS_NATIVE_THREADS asks for more', () => {
    const threadsOf = (threads?: string) => {
      const child = run(undefined, threads);
      assert.equal(child.status, 0, child.stderr);
      return statusOf(child).threads;
    };
    assert.equal(threadsOf(undefined), 1);
    assert.equal(threadsOf('2'), 2);
  });
});
