import * as tf from '@tensorflow/tfjs';
import { distinct, points } from './points.ts';

/** One second-order check: `fn` on fresh `inputs()`, and the kernels it exercises. */
export interface GradCase {
  name: string;
  kernels: string[];
  inputs: () => tf.Tensor[];
  fn: (...xs: tf.Tensor[]) => tf.Tensor;
}

const kernel = (name: string, inputs: tf.NamedTensorMap, attrs: object): tf.Tensor =>
  tf.engine().runKernel<tf.Tensor>(name, inputs, attrs as tf.NamedAttrMap);

const w = (shape: number[], seed: number) => () =>
  tf.tidy(() => tf.mul(0.5, points(shape, seed, { kinks: [] })));

/** Every kernel genloss patches, plus the GAN-network kernels whose TF.js gradient we keep. */
export const CASES: GradCase[] = [
  // Convolutions.
  ...(
    [
      [1, 'same', [1, 4, 4, 2], [3, 3, 2, 2]],
      [1, 'valid', [1, 4, 4, 2], [3, 3, 2, 3]],
      [2, 'same', [2, 4, 4, 2], [3, 3, 2, 2]],
      [2, 'valid', [1, 5, 5, 2], [3, 3, 2, 2]],
    ] as const
  ).map(
    ([stride, pad, xs, ws]): GradCase => ({
      name: `conv2d s${stride} ${pad}`,
      kernels: [tf.Conv2D, tf.Conv2DBackpropInput, tf.Conv2DBackpropFilter],
      inputs: () => [points([...xs], 1, { kinks: [] }), w([...ws], 2)()],
      fn: (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, pad),
    }),
  ),
  {
    name: 'conv2dTranspose s2 same',
    kernels: [tf.Conv2DBackpropInput, tf.Conv2D, tf.Conv2DBackpropFilter],
    inputs: () => [points([1, 3, 3, 2], 3, { kinks: [] }), w([3, 3, 3, 2], 4)()],
    fn: (x, f) => tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, [1, 6, 6, 3], 2, 'same'),
  },
  {
    name: 'Conv2DBackpropFilter kernel',
    kernels: [tf.Conv2DBackpropFilter],
    inputs: () => [points([1, 5, 5, 2], 5, { kinks: [] }), points([1, 2, 2, 3], 6, { kinks: [] })],
    fn: (x, dy) =>
      kernel(
        tf.Conv2DBackpropFilter,
        { x, dy },
        {
          strides: 2,
          pad: 'valid',
          dataFormat: 'NHWC',
          filterShape: [3, 3, 2, 3],
        },
      ),
  },
  ...(
    [
      [1, 'same', [1, 4, 4, 2]],
      [2, 'valid', [1, 5, 5, 2]],
    ] as const
  ).map(
    ([stride, pad, xs]): GradCase => ({
      name: `depthwiseConv2d s${stride} ${pad}`,
      kernels: [
        tf.DepthwiseConv2dNative,
        tf.DepthwiseConv2dNativeBackpropInput,
        tf.DepthwiseConv2dNativeBackpropFilter,
      ],
      inputs: () => [points([...xs], 7, { kinks: [] }), w([3, 3, 2, 2], 8)()],
      fn: (x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, pad),
    }),
  ),
  {
    name: 'DepthwiseConv2dNativeBackpropInput kernel',
    kernels: [tf.DepthwiseConv2dNativeBackpropInput],
    inputs: () => [points([1, 4, 4, 4], 9, { kinks: [] }), w([3, 3, 2, 2], 10)()],
    fn: (dy, f) =>
      kernel(
        tf.DepthwiseConv2dNativeBackpropInput,
        { dy, filter: f },
        {
          strides: 1,
          pad: 'same',
          dilations: 1,
          inputShape: [1, 4, 4, 2],
        },
      ),
  },
  {
    name: 'DepthwiseConv2dNativeBackpropFilter kernel',
    kernels: [tf.DepthwiseConv2dNativeBackpropFilter],
    inputs: () => [
      points([1, 4, 4, 2], 11, { kinks: [] }),
      points([1, 4, 4, 4], 12, { kinks: [] }),
    ],
    fn: (x, dy) =>
      kernel(
        tf.DepthwiseConv2dNativeBackpropFilter,
        { x, dy },
        {
          strides: 1,
          pad: 'same',
          dilations: 1,
          filterShape: [3, 3, 2, 2],
        },
      ),
  },
  {
    name: 'separableConv2d',
    kernels: [tf.DepthwiseConv2dNative, tf.Conv2D],
    inputs: () => [
      points([1, 4, 4, 2], 13, { kinks: [] }),
      w([3, 3, 2, 1], 14)(),
      w([1, 1, 2, 3], 15)(),
    ],
    fn: (x, d, p) =>
      tf.separableConv2d(x as tf.Tensor4D, d as tf.Tensor4D, p as tf.Tensor4D, 1, 'same'),
  },
  // Pooling.
  ...(
    [
      [2, 2, 'valid'],
      [3, 1, 'same'],
      [3, 2, 'same'],
    ] as const
  ).flatMap(([size, stride, pad]): GradCase[] => [
    {
      name: `avgPool ${size}x${size} s${stride} ${pad}`,
      kernels: [tf.AvgPool],
      inputs: () => [points([1, 4, 4, 2], 16, { kinks: [] })],
      fn: (x) => tf.avgPool(x as tf.Tensor4D, size, stride, pad),
    },
    {
      name: `maxPool ${size}x${size} s${stride} ${pad}`,
      kernels: [tf.MaxPool],
      inputs: () => [distinct([2, 4, 4, 2], 17)],
      fn: (x) => tf.maxPool(x as tf.Tensor4D, size, stride, pad),
    },
  ]),
  // Resizing.
  ...(
    [
      [[2, 3, 3, 2], [5, 5], false, true],
      [[2, 3, 3, 2], [5, 5], true, false],
      [[2, 3, 3, 2], [6, 6], false, false],
      [[2, 5, 5, 1], [3, 2], false, true],
    ] as const
  ).flatMap(([shape, size, alignCorners, halfPixel]): GradCase[] => {
    const flags = `alignCorners=${alignCorners} halfPixel=${halfPixel}`;
    return [
      {
        name: `resizeBilinear ${shape[1]}→${size[0]}x${size[1]} ${flags}`,
        kernels: [tf.ResizeBilinear],
        inputs: () => [points([...shape], 18, { kinks: [] })],
        fn: (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [...size], alignCorners, halfPixel),
      },
      {
        name: `resizeNearestNeighbor ${shape[1]}→${size[0]}x${size[1]} ${flags}`,
        kernels: [tf.ResizeNearestNeighbor],
        inputs: () => [points([...shape], 19, { kinks: [] })],
        fn: (x) =>
          tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [...size], alignCorners, halfPixel),
      },
    ];
  }),
  // Activations and element-wise ops.
  ...(
    [
      ['relu', [tf.Relu], (x) => tf.relu(x)],
      ['relu6', [tf.Relu6], (x) => tf.relu6(tf.mul(8, x))],
      ['leakyRelu', [tf.LeakyRelu], (x) => tf.leakyRelu(x, 0.2)],
      ['elu', [tf.Elu], (x) => tf.elu(x)],
      ['selu', [tf.Selu], (x) => tf.selu(x)],
      ['sigmoid', [tf.Sigmoid], (x) => tf.sigmoid(tf.mul(2, x))],
      ['tanh', [tf.Tanh], (x) => tf.tanh(tf.mul(2, x))],
      ['exp', [tf.Exp], (x) => tf.exp(x)],
      ['softplus', [tf.Softplus], (x) => tf.softplus(tf.mul(2, x))],
      ['abs', [tf.Abs], (x) => tf.abs(x)],
      ['clipByValue', [tf.ClipByValue], (x) => tf.clipByValue(x, -0.5, 0.5)],
      ['softmax', [tf.Softmax], (x) => tf.softmax(tf.mul(2, x))],
      ['max (reduce)', [tf.Max], (x) => tf.max(x, [1, 2])],
      [
        'where(greater)',
        [tf.Select, tf.Greater],
        (x) => tf.where(tf.greater(x, 0), x, tf.mul(0.3, x)),
      ],
    ] as [string, string[], (x: tf.Tensor) => tf.Tensor][]
  ).map(
    ([name, kernels, fn]): GradCase => ({
      name,
      kernels,
      inputs: () => [
        name === 'max (reduce)'
          ? distinct([2, 3, 3, 2], 20)
          : points([2, 3, 3, 2], 21, { kinks: name === 'relu6' ? [0, 0.75] : [0, 0.5, -0.5] }),
      ],
      fn,
    }),
  ),
  {
    name: 'prelu',
    kernels: [tf.Prelu],
    inputs: () => [points([1, 3, 3, 2], 22), tf.tensor1d([0.1, 0.3])],
    fn: (x, alpha) => tf.prelu(x, alpha),
  },
  {
    name: 'maximum, minimum',
    kernels: [tf.Maximum, tf.Minimum],
    // b = a ± [0.1, 1]: never within a step of a tie.
    inputs: () => {
      const a = points([2, 3, 2], 23);
      return [a, tf.tidy(() => tf.add(a, points([2, 3, 2], 24)))];
    },
    fn: (a, b) => tf.add(tf.maximum(a, b), tf.mul(2, tf.minimum(a, b))),
  },
  {
    name: 'pow (tensor exponent)',
    kernels: [tf.Pow],
    inputs: () => [
      points([2, 3], 25, { lo: 0.5, hi: 2, kinks: [] }),
      points([2, 3], 26, { kinks: [] }),
    ],
    fn: (a, b) => tf.pow(a, b),
  },
  // Slicing and tiling.
  ...(
    [
      ['strided', [0, 1, 0, 0], [2, 5, 6, 3], [1, 2, 3, 1], 0, 0, 0, 0, 0],
      ['negative stride', [1, 4, 5, 0], [0, 0, 0, 3], [-1, -2, -2, 1], 0, 0, 0, 0, 0],
      // TF.js's forward kernel misreads shrunk axes when a stride is not 1, so strides are 1 here.
      ['masks + shrink', [0, 3, 1, 1], [2, 0, 5, 3], [1, 1, 1, 1], 0b0001, 0b0010, 0, 0, 0b0010],
      ['ellipsis + new axis', [0, 0, 1], [0, 0, 3], [1, 1, 1], 0, 0, 0b001, 0b010, 0],
    ] as const
  ).map(
    ([
      label,
      begin,
      end,
      strides,
      beginMask,
      endMask,
      ellipsisMask,
      newAxisMask,
      shrinkMask,
    ]): GradCase => ({
      name: `stridedSlice ${label}`,
      kernels: [tf.StridedSlice],
      inputs: () => [points([2, 5, 6, 3], 27, { kinks: [] })],
      fn: (x) =>
        tf.stridedSlice(
          x,
          [...begin],
          [...end],
          [...strides],
          beginMask,
          endMask,
          ellipsisMask,
          newAxisMask,
          shrinkMask,
        ),
    }),
  ),
  {
    name: 'tile rank 3',
    kernels: [tf.Tile],
    inputs: () => [points([2, 3, 2], 28, { kinks: [] })],
    fn: (x) => tf.tile(x, [2, 1, 3]),
  },
  {
    name: 'tile rank 6',
    kernels: [tf.Tile],
    inputs: () => [points([1, 2, 1, 2, 1, 2], 29, { kinks: [] })],
    fn: (x) => tf.tile(x, [2, 1, 2, 1, 2, 1]),
  },
  // Normalisation and dense layers.
  {
    name: 'batchNorm (batch statistics)',
    kernels: [tf.FusedBatchNorm],
    inputs: () => [
      points([2, 3, 3, 2], 30, { kinks: [] }),
      points([2], 31, { lo: 0.5, hi: 1.5, kinks: [] }),
      points([2], 32, { kinks: [] }),
    ],
    fn: (x, gamma, beta) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.batchNorm(x, mean, variance, beta, gamma, 1e-3);
    },
  },
  {
    name: 'matMul + bias (dense)',
    kernels: [tf.BatchMatMul],
    inputs: () => [
      points([3, 4], 33, { kinks: [] }),
      w([4, 2], 34)(),
      points([2], 35, { kinks: [] }),
    ],
    fn: (x, k, b) => tf.add(tf.matMul(x, k), b),
  },
];
