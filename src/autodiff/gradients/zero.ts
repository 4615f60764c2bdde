import * as tf from '@tensorflow/tfjs';

// Comparisons and logical ops are piecewise constant, so their gradient is zero. TF.js registers
// none for most of them, and backprop throws as soon as one sits on the tape: every
// `where(greater(x, 0), …)` in a gradient (leakyRelu, prelu, maximum, minimum, clipByValue, max)
// then breaks double backprop. The zeros are float32 because the tape requires it.

const BINARY = [
  tf.Equal,
  tf.NotEqual,
  tf.Greater,
  tf.GreaterEqual,
  tf.Less,
  tf.LessEqual,
  tf.LogicalAnd,
  tf.LogicalOr,
  tf.LogicalXor,
];
const UNARY = [tf.LogicalNot, tf.All, tf.Any];

const zerosFor = (t: tf.Tensor) => () => tf.zeros(t.shape, 'float32');

/** Zero gradients for the comparison and logical kernels (`Greater`, `LogicalAnd`, …). */
export const zeroGradConfigs: tf.GradConfig[] = [
  ...BINARY.map(
    (kernelName): tf.GradConfig => ({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, [a, b]) => ({ a: zerosFor(a), b: zerosFor(b) }),
    }),
  ),
  ...UNARY.map(
    (kernelName): tf.GradConfig => ({
      kernelName,
      inputsToSave: ['x'],
      gradFunc: (_dy, [x]) => ({ x: zerosFor(x) }),
    }),
  ),
];
