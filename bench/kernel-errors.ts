/**
 * Measures each wasm kernel genloss registers against TF.js's cpu kernel on the same inputs:
 * the max |wasm − cpu| / max |cpu| over a set of shapes, strides and paddings, and the time of
 * both. Prints the markdown table of docs/performance.md. Run: `npx tsx bench/kernel-errors.ts`.
 */
import * as tf from '@tensorflow/tfjs';
import { chooseBackend } from '../src/index.ts';

type Case = {
  kernel: string;
  label: string;
  inputs: () => tf.Tensor[];
  run: (...x: tf.Tensor[]) => tf.Tensor[];
};

const u = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);
const k = (name: string, inputs: tf.NamedTensorMap | tf.Tensor[], attrs: object) =>
  tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as
    | tf.Tensor
    | tf.Tensor[];

type Shape4 = [number, number, number, number];
const convShapes: [Shape4, Shape4, number, 'same' | 'valid'][] = [
  [[2, 9, 9, 3], [3, 3, 3, 8], 1, 'same'],
  [[2, 9, 9, 3], [3, 3, 3, 8], 1, 'valid'],
  [[4, 16, 16, 8], [4, 4, 8, 16], 2, 'same'],
  [[2, 11, 11, 4], [5, 5, 4, 4], 3, 'same'],
  // Larger layers would take minutes in the cpu reference (its weight gradient runs at ~3 MMAC/s).
  [[4, 16, 16, 32], [4, 4, 32, 64], 2, 'same'],
  [[1, 32, 32, 32], [3, 3, 32, 32], 1, 'same'],
];

const CASES: Case[] = [
  ...convShapes.flatMap(([xs, ws, s, pad], i): Case[] => {
    const label = `x ${xs.join('×')}, w ${ws.join('×')}, s${s} ${pad}`;
    return [
      {
        kernel: tf.Conv2DBackpropFilter,
        label,
        inputs: () => [
          u(xs, i),
          u(
            tf.conv2d(tf.zeros(xs) as tf.Tensor4D, tf.zeros(ws) as tf.Tensor4D, s, pad).shape,
            i + 50,
          ),
        ],
        run: (x, dy) => [
          k(
            tf.Conv2DBackpropFilter,
            { x, dy },
            { strides: s, pad, dataFormat: 'NHWC', filterShape: ws },
          ) as tf.Tensor,
        ],
      },
      {
        kernel: tf.Conv2DBackpropInput,
        label,
        inputs: () => [
          u(
            tf.conv2d(tf.zeros(xs) as tf.Tensor4D, tf.zeros(ws) as tf.Tensor4D, s, pad).shape,
            i + 60,
          ),
          u(ws, i + 70),
        ],
        run: (dy, w) => [
          k(
            tf.Conv2DBackpropInput,
            { dy, filter: w },
            { strides: s, pad, dataFormat: 'NHWC', inputShape: xs },
          ) as tf.Tensor,
        ],
      },
    ];
  }),
  ...(
    [
      [[2, 9, 9, 3], [3, 3, 3, 2], 1, 'same'],
      [[2, 9, 9, 3], [3, 3, 3, 1], 2, 'valid'],
    ] as const
  ).flatMap(([xs, ws, s, pad], i): Case[] => {
    const label = `x ${xs.join('×')}, w ${ws.join('×')}, s${s} ${pad}`;
    const dyShape = () =>
      tf.depthwiseConv2d(tf.zeros([...xs]) as tf.Tensor4D, tf.zeros([...ws]) as tf.Tensor4D, s, pad)
        .shape;
    const attrs = { strides: s, pad, dilations: 1 };
    return [
      {
        kernel: tf.DepthwiseConv2dNativeBackpropInput,
        label,
        inputs: () => [u(dyShape(), i + 80), u([...ws], i + 90)],
        run: (dy, w) => [
          k(
            tf.DepthwiseConv2dNativeBackpropInput,
            { dy, filter: w },
            { ...attrs, inputShape: xs },
          ) as tf.Tensor,
        ],
      },
      {
        kernel: tf.DepthwiseConv2dNativeBackpropFilter,
        label,
        inputs: () => [u([...xs], i + 100), u(dyShape(), i + 110)],
        run: (x, dy) => [
          k(
            tf.DepthwiseConv2dNativeBackpropFilter,
            { x, dy },
            { ...attrs, filterShape: ws },
          ) as tf.Tensor,
        ],
      },
    ];
  }),
  {
    kernel: tf.UnsortedSegmentSum,
    label: 'gather backward, 1000×64 → 100 segments',
    inputs: () => [u([1000, 64], 1)],
    run: (x) => [
      tf.unsortedSegmentSum(
        x,
        tf.tensor1d(
          Array.from({ length: 1000 }, (_, i) => (i * 7) % 100),
          'int32',
        ),
        100,
      ),
    ],
  },
  {
    kernel: tf.MaxPoolGrad,
    label: '2×32×32×16, 2×2/2 and 3×3/2 same',
    inputs: () => [u([2, 32, 32, 16], 2)],
    run: (x) =>
      (
        [
          [2, 'valid'],
          [3, 'same'],
        ] as const
      ).map(([f, pad]) => {
        const y = tf.maxPool(x as tf.Tensor4D, f, 2, pad);
        return k(
          tf.MaxPoolGrad,
          { dy: u(y.shape, 3), input: x, output: y },
          { filterSize: f, strides: 2, pad },
        ) as tf.Tensor;
      }),
  },
  {
    kernel: tf.MaxPoolWithArgmax,
    label: '2×32×32×16, 2×2/2 (values and int32 indices)',
    inputs: () => [u([2, 32, 32, 16], 4)],
    run: (x) => {
      const [v, i] = k(
        tf.MaxPoolWithArgmax,
        { x },
        { filterSize: 2, strides: 2, pad: 'valid', includeBatchInIndex: true },
      ) as tf.Tensor[];
      return [v, tf.cast(i, 'float32')];
    },
  },
  {
    kernel: tf.Einsum,
    label: "'bij,bjk->bik', 4×32×64 · 4×64×16",
    inputs: () => [u([4, 32, 64], 5), u([4, 64, 16], 6)],
    run: (a, b) => [tf.einsum('bij,bjk->bik', a, b)],
  },
  {
    kernel: 'Slice / Concat / Pack / Unpack',
    label: 'unstack + stack on the last axis of 16×64×64×3×2, slices at rank 6',
    inputs: () => [u([16, 64, 64, 3, 2], 7)],
    run: (x) => [
      ...tf.unstack(x, 4),
      tf.stack(tf.unstack(x, 4), 4),
      tf.slice(tf.reshape(x, [16, 32, 2, 32, 2, 6]), [0, 0, 1, 0, 1, 0], [16, 32, 1, 32, 1, 6]),
      tf.concat([x, x], 3),
    ],
  },
];

function relError(a: Float32Array, b: Float32Array): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? err : err / scale;
}

const rows: string[] = [
  '| kernel | case | max rel. error vs cpu | wasm ms | cpu ms |',
  '|---|---|---|---|---|',
];
for (const c of CASES) {
  const out: Record<string, { values: Float32Array[]; ms: number }> = {};
  for (const backend of ['cpu', 'wasm']) {
    await chooseBackend(backend);
    out[backend] = tf.tidy(() => {
      const xs = c.inputs();
      tf.dispose(c.run(...xs)); // warm-up (XNNPACK operator creation, cpu JIT)
      const t0 = performance.now();
      const ys = c.run(...xs);
      const values = ys.map((y) => y.dataSync() as Float32Array);
      return { values, ms: performance.now() - t0 };
    });
  }
  const err = Math.max(...out.cpu.values.map((v, i) => relError(out.wasm.values[i], v)));
  rows.push(
    `| ${c.kernel} | ${c.label} | ${err === 0 ? '0 (exact)' : err.toExponential(1)} | ${out.wasm.ms.toFixed(1)} | ${out.cpu.ms.toFixed(1)} |`,
  );
  console.error(rows[rows.length - 1]);
}
console.log(rows.join('\n'));
