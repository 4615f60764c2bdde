import type * as tf from '@tensorflow/tfjs';
import { WeightsError } from '../core/errors.ts';
import type { DecodedTensor } from './safetensors.ts';

/**
 * Named tensors a network loads its weights from: a `SafetensorsFile`, `TfjsWeights`, or
 * `tensorMapSource(...)` over tensors the user already has.
 */
export interface TensorSource {
  /** Names the file or origin in error messages. */
  readonly source: string;
  names(): string[];
  has(name: string): boolean;
  read(name: string): DecodedTensor;
}

/** A `TensorSource` over a `{name: tf.Tensor}` map (for weights converted by the user). */
export function tensorMapSource(
  map: Record<string, tf.Tensor>,
  source = 'tensor map',
): TensorSource {
  return {
    source,
    names: () => Object.keys(map),
    has: (name) => name in map,
    read: (name) => {
      const t = map[name];
      if (!t) throw new WeightsError(`${source}: no tensor named '${name}'`);
      return {
        dtype: t.dtype === 'float32' ? 'float32' : 'int32',
        shape: t.shape.slice(),
        values: t.dataSync() as Float32Array | Int32Array,
      };
    },
  };
}
