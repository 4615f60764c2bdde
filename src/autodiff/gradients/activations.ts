import * as tf from '@tensorflow/tfjs';

// TF.js's gradients of Sigmoid, Tanh, Exp, Softmax and Pow reuse the saved forward output. The
// engine records the copy it saves *before* the op itself, so during double backprop that copy
// is a constant and the second-order terms through it are lost (0.26–1.9 relative error). Ours
// save the input and recompute the output on the tape.

/** `Abs`: `dy · sign(x)`, 0 at x = 0 as in PyTorch (TF.js uses `step(x, −1)`, −1 at 0). */
export const absGradConfig: tf.GradConfig = {
  kernelName: tf.Abs,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.sign(x)) }),
};

/** `Sigmoid`: `dy · σ(x)(1 − σ(x))`, with `σ(x)` recomputed from the saved input. */
export const sigmoidGradConfig: tf.GradConfig = {
  kernelName: tf.Sigmoid,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({
    x: () => {
      const y = tf.sigmoid(x);
      return tf.mul(dy as tf.Tensor, tf.mul(y, tf.sub(1, y)));
    },
  }),
};

/** `Tanh`: `dy · (1 − tanh²(x))`, with `tanh(x)` recomputed from the saved input. */
export const tanhGradConfig: tf.GradConfig = {
  kernelName: tf.Tanh,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({
    x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(tf.tanh(x)))),
  }),
};

/** `Exp`: `dy · exp(x)`, recomputed from the saved input. */
export const expGradConfig: tf.GradConfig = {
  kernelName: tf.Exp,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.exp(x)) }),
};

/**
 * `Elu`: `dy · exp(min(x, 0))` (equal to 1 for x > 0). TF.js calls the `EluGrad` kernel, which
 * has no gradient. The `min` keeps `exp` from overflowing on the branch that is not taken, which
 * would turn its zero second derivative into NaN.
 */
export const eluGradConfig: tf.GradConfig = {
  kernelName: tf.Elu,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.exp(tf.minimum(x, 0))) }),
};

// Constants of `tf.selu` (Klambauer et al., 2017): λ and λ·α, as in TF.js's selu_util.
const SELU_SCALE = 1.0507009873554805;
const SELU_SCALE_ALPHA = 1.7580993408473768;

/**
 * `Selu`: `dy · (x > 0 ? λ : λα·exp(min(x, 0)))`. TF.js evaluates `exp(x)` on both branches,
 * so its second derivative is NaN once `exp(x)` overflows (x > 88).
 */
export const seluGradConfig: tf.GradConfig = {
  kernelName: tf.Selu,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({
    x: () => {
      const negative = tf.mul(SELU_SCALE_ALPHA, tf.exp(tf.minimum(x, 0)));
      const slope = tf.where(tf.greater(x, 0), tf.fill(x.shape, SELU_SCALE), negative);
      return tf.mul(dy as tf.Tensor, slope);
    },
  }),
};

/** `Softmax`: `y⊙dy − y·Σ(y⊙dy)` along `dim`, with `y = softmax(logits)` recomputed. */
export const softmaxGradConfig: tf.GradConfig = {
  kernelName: tf.Softmax,
  inputsToSave: ['logits'],
  gradFunc: (dy, [logits], attrs) => ({
    logits: () => {
      const { dim } = attrs as unknown as tf.SoftmaxAttrs;
      const y = tf.softmax(logits, dim);
      const yDy = tf.mul(y, dy as tf.Tensor);
      return tf.sub(yDy, tf.mul(y, tf.sum(yDy, dim, true)));
    },
  }),
};

/**
 * `Pow`: `∂a = dy·b·a^(b−1)`, `∂b = dy·aᵇ·log(a)` (0 where a ≤ 0), reduced to each input's
 * shape after broadcasting; `aᵇ` is recomputed rather than read from the saved output.
 */
export const powGradConfig: tf.GradConfig = {
  kernelName: tf.Pow,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, [a, b]) => {
    const g = dy as tf.Tensor;
    return {
      a: () => reduceTo(tf.mul(g, tf.mul(b, tf.pow(a, tf.sub(b, 1)))), a.shape),
      b: () => {
        const positive = tf.greater(a, 0);
        // log of a safe base, so that the unused branch stays finite at every order.
        const logA = tf.where(
          positive,
          tf.log(tf.where(positive, a, tf.onesLike(a))),
          tf.zerosLike(a),
        );
        return reduceTo(tf.mul(g, tf.mul(tf.pow(a, b), logA)), b.shape);
      },
    };
  },
};

/** Sums a broadcast gradient back to `shape`. */
function reduceTo(grad: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.broadcast_util.getReductionAxes(shape, grad.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(grad, axes) : grad, shape);
}
