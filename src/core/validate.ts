import * as tf from '@tensorflow/tfjs';
import { describeValue } from './describe.ts';
import { ConfigError, ShapeError } from './errors.ts';

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * Checks that `value` is a live, non-empty float tensor (of one of `ranks`, when given) and
 * returns it typed. `owner` is the loss or function name and `arg` the argument name, both used
 * in the message. A disposed tensor, or one with a zero-sized dimension (TF.js's wasm backend sums
 * an empty tensor to a denormal instead of 0), is a `ShapeError` here rather than a wrong number
 * or a crash deeper down.
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
  if (value.isDisposed) {
    throw new ShapeError(
      `${owner}: '${arg}' is a disposed tensor (freed by dispose() or by the tf.tidy that made it); pass a live one`,
    );
  }
  if (value.size === 0) {
    throw new ShapeError(
      `${owner}: '${arg}' is empty (shape ${shapeText(value.shape)} has a zero-sized dimension); every dimension must be at least 1`,
    );
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

/**
 * A call's options object, which must not be a tensor: `l1Loss(pred, target, weight)` (MMagic's
 * positional form) is a compile-time error where the options type is `Options<T>`, since a
 * tensor's `dataId` and `rankType` cannot be `never`.
 */
export type Options<T extends object> = T & {
  readonly dataId?: never;
  readonly rankType?: never;
};

/** Whether `value` is a plain `{...}` object (not a tensor, array, class instance or null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that the options argument of a genloss function is a plain object (or absent) and
 * returns it. Anything else, typically a tensor passed in MMagic's positional form
 * (`l1_loss(pred, target, weight)`), is a `ConfigError` showing `call`, genloss's form of the
 * call, so that no argument is silently ignored.
 */
export function checkOptions<T extends object>(
  owner: string,
  position: number,
  value: T | undefined,
  call: string,
): T {
  if (value === undefined) return {} as T;
  if (!isPlainObject(value)) {
    throw new ConfigError(
      `${owner}: argument ${position} must be an options object, got ${describeValue(value)}. ` +
        `genloss takes MMagic's optional arguments by name in one object: ${call}`,
    );
  }
  return value;
}
