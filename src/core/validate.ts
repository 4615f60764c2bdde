import * as tf from '@tensorflow/tfjs';
import { describeValue } from './describe.ts';
import { ShapeError } from './errors.ts';

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * Checks that `value` is a float tensor (of one of `ranks`, when given) and returns it typed.
 * `owner` is the loss or function name and `arg` the argument name, both used in the message.
 */
export function checkTensor(
  owner: string,
  arg: string,
  value: unknown,
  ranks?: number | readonly number[],
): tf.Tensor {
  if (!(value instanceof tf.Tensor)) {
    throw new ShapeError(`${owner}: '${arg}' must be a tf.Tensor, got ${describeValue(value)}`);
  }
  if (value.dtype !== 'float32') {
    throw new ShapeError(`${owner}: '${arg}' must be float32, got ${describeValue(value)}`);
  }
  if (ranks !== undefined) {
    const allowed = typeof ranks === 'number' ? [ranks] : ranks;
    if (!allowed.includes(value.rank)) {
      const want = allowed.map((r) => (r === 4 ? '4 (NHWC)' : String(r))).join(' or ');
      throw new ShapeError(
        `${owner}: '${arg}' must have rank ${want}, got ${describeValue(value)}`,
      );
    }
  }
  return value;
}

/** Checks that two tensors have the same shape. */
export function checkSameShape(
  owner: string,
  [nameA, a]: [string, tf.Tensor],
  [nameB, b]: [string, tf.Tensor],
): void {
  if (!tf.util.arraysEqual(a.shape, b.shape)) {
    throw new ShapeError(
      `${owner}: '${nameB}' must have the shape of '${nameA}' ${shapeText(a.shape)}, got ${shapeText(b.shape)}`,
    );
  }
}

/**
 * Whether a weight fits the loss tensor it weights (MMagic's rule for `mask_reduce_loss`): the
 * same rank and leading dims, and a last (channel) axis of 1 or C.
 */
export function weightFits(weight: tf.Tensor, loss: tf.Tensor): boolean {
  const wc = weight.shape[weight.rank - 1];
  return (
    weight.rank === loss.rank &&
    tf.util.arraysEqual(weight.shape.slice(0, -1), loss.shape.slice(0, -1)) &&
    (wc === 1 || wc === loss.shape[loss.rank - 1])
  );
}

/**
 * Checks a per-element weight (mask) against the loss tensor it weights: same rank, same
 * leading dims, and a last (channel) axis of 1 or C — MMagic's rule for `mask_reduce_loss`.
 */
export function checkWeight(
  owner: string,
  arg: string,
  weight: unknown,
  loss: tf.Tensor,
): tf.Tensor {
  const w = checkTensor(owner, arg, weight, loss.rank);
  const c = loss.shape[loss.rank - 1];
  const lead = loss.shape.slice(0, -1);
  if (!weightFits(w, loss)) {
    const want =
      c === 1 ? shapeText([...lead, 1]) : `${shapeText([...lead, 1])} or ${shapeText(loss.shape)}`;
    throw new ShapeError(`${owner}: '${arg}' must have shape ${want}, got ${shapeText(w.shape)}`);
  }
  return w;
}

/** Checks that a dimension of a tensor has one of the allowed sizes. */
export function checkDim(
  owner: string,
  arg: string,
  t: tf.Tensor,
  axis: number,
  sizes: readonly number[],
  axisName: string,
): void {
  const size = t.shape[axis < 0 ? t.rank + axis : axis];
  if (!sizes.includes(size)) {
    throw new ShapeError(
      `${owner}: '${arg}' must have ${sizes.join(' or ')} ${axisName}, got ${describeValue(t)}`,
    );
  }
}
