import * as tf from '@tensorflow/tfjs';

/**
 * Runs a kernel through the engine, so that it is recorded on the tape and its own registered
 * gradient applies: the building block of gradients that are themselves differentiable.
 */
export function runKernel(name: string, inputs: tf.NamedTensorMap, attrs: object = {}): tf.Tensor {
  return tf.engine().runKernel<tf.Tensor>(name, inputs, attrs as tf.NamedAttrMap);
}
