import * as tf from '@tensorflow/tfjs';
import { WeightsError } from '../core/errors.ts';
import { didYouMean } from '../core/suggest.ts';
import type { DecodedTensor } from '../io/safetensors.ts';
import type { TensorSource } from '../io/tensor-source.ts';

const shapeText = (s: readonly (number | null)[]) =>
  `[${s.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;

/**
 * Reads a network's weights from a `TensorSource`, checking every name and shape, and keeps the
 * tensors it creates (`tensors`) so that the network can free them. Errors are `WeightsError`s
 * naming the network, the weight, the expected and the found shape. Layouts are converted from
 * PyTorch's: convolution OIHW → HWIO, linear [out, in] → [in, out].
 */
export class WeightReader {
  /** Every tensor created by this reader; the network owns and disposes them. */
  readonly tensors: tf.Tensor[] = [];

  constructor(
    readonly net: string,
    readonly src: TensorSource,
    readonly prefix = '',
  ) {}

  /** Whether the source has `prefix + name`. */
  has(name: string): boolean {
    return this.src.has(this.prefix + name);
  }

  /** The decoded values of a weight, checked against `shape` (`null` matches any size). */
  values(name: string, shape: readonly (number | null)[]): DecodedTensor {
    const full = this.prefix + name;
    if (!this.src.has(full)) {
      throw new WeightsError(
        `${this.net}: ${this.src.source} has no weight '${full}'.${didYouMean(full, this.src.names())}`,
      );
    }
    const d = this.src.read(full);
    const ok =
      d.shape.length === shape.length && shape.every((s, i) => s === null || s === d.shape[i]);
    if (!ok) {
      throw new WeightsError(
        `${this.net}: weight '${full}' in ${this.src.source} must have shape ${shapeText(shape)}, got ${shapeText(d.shape)}`,
      );
    }
    if (d.dtype !== 'float32') {
      throw new WeightsError(
        `${this.net}: weight '${full}' in ${this.src.source} must be a float tensor, got ${d.dtype}`,
      );
    }
    return d;
  }

  private keep(t: tf.Tensor): tf.Tensor {
    this.tensors.push(t);
    return t;
  }

  /** A weight as stored, shape-checked. */
  tensor(name: string, shape: readonly (number | null)[]): tf.Tensor {
    const d = this.values(name, shape);
    return this.keep(tf.tensor(d.values, d.shape, 'float32'));
  }

  /** A PyTorch conv weight [O, I, kh, kw] as TF.js HWIO [kh, kw, I, O]. */
  conv(name: string, shape: readonly (number | null)[]): tf.Tensor {
    const d = this.values(name, shape);
    return this.keep(
      tf.tidy(() => tf.transpose(tf.tensor(d.values, d.shape, 'float32'), [2, 3, 1, 0])),
    );
  }

  /** A PyTorch linear weight [out, in] as a matMul right operand [in, out]. */
  linear(name: string, shape: readonly (number | null)[]): tf.Tensor {
    const d = this.values(name, shape);
    return this.keep(tf.tidy(() => tf.transpose(tf.tensor(d.values, d.shape, 'float32'))));
  }
}

/** What every loaded network has: its weight tensors, freed by `dispose()`. */
export abstract class LoadedNet {
  protected readonly weights: tf.Tensor[] = [];
  private disposed = false;

  /** Registers the tensors of a reader as owned by this network. */
  protected own(reader: WeightReader): void {
    this.weights.push(...reader.tensors);
  }

  /** Frees the network's weights. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose(this.weights);
  }
}

/** Throws a `WeightsError` for the network `net` unless `cond`. */
export function expectWeights(cond: boolean, net: string, message: string): asserts cond {
  if (!cond) throw new WeightsError(`${net}: ${message}`);
}
