import * as tf from '@tensorflow/tfjs';

/** A node of TF.js's gradient tape, as far as freeing it goes. */
interface TapeNode {
  /** The tensors the node's gradient reads: kept clones, which no `tidy` frees. */
  saved?: tf.Tensor[];
}

/** The part of TF.js's engine state that a gradient call changes. */
interface TapeState {
  /** The tape of the outermost gradient call (null once a completed call has freed it). */
  activeTape: TapeNode[] | null;
  /** How many gradient calls are running, nested in one another. */
  gradientDepth: number;
}

/**
 * Runs `run`, a TF.js gradient call (`tf.grad`, `tf.grads`, `tf.variableGrads`, …), in a `tidy`
 * scope, and frees what it leaves behind when it throws.
 *
 * TF.js's `Engine.gradients` records every kernel of the differentiated function on a tape, each
 * node with kept clones of the tensors its gradient needs (`saved`). Only a backward pass that
 * completes outside any other gradient call frees them; when the function throws (a network fed
 * the wrong shape, a failed check), or the backward pass does, they stay allocated, and the next
 * gradient call drops the tape without freeing them. On an error this removes the nodes the
 * failed call added to the tape, frees their saved tensors, and rethrows the error unchanged.
 * Nested in another gradient call, only this call's nodes go (they belong to a computation that
 * was thrown away); the enclosing call's stay.
 */
export function freeTapeOnError<T extends tf.TensorContainer>(run: () => T): T {
  const state = tf.engine().state as unknown as TapeState;
  const enclosing = state.gradientDepth > 0 ? state.activeTape : null;
  const start = enclosing?.length ?? 0;
  const before = state.activeTape;
  try {
    return tf.tidy(run);
  } catch (error) {
    const tape = state.activeTape;
    // Outside other gradient calls, TF.js starts a new tape per call: none means `run` failed
    // before recording anything.
    if (tape !== null && (enclosing !== null || tape !== before)) {
      for (const node of tape.splice(start)) tf.dispose(node.saved ?? []);
    }
    throw error;
  }
}

/**
 * `tf.grad(f)` that leaves no tensors behind when `f` or its gradient throws
 * ({@link freeTapeOnError}).
 */
export function safeGrad(
  f: (x: tf.Tensor) => tf.Tensor,
): (x: tf.Tensor, dy?: tf.Tensor) => tf.Tensor {
  const g = tf.grad(f);
  return (x, dy) => freeTapeOnError(() => g(x, dy));
}

/**
 * `tf.grads(f)` that leaves no tensors behind when `f` or its gradient throws
 * ({@link freeTapeOnError}).
 */
export function safeGrads(
  f: (...args: tf.Tensor[]) => tf.Tensor,
): (args: tf.Tensor[], dy?: tf.Tensor) => tf.Tensor[] {
  const g = tf.grads(f);
  return (args, dy) => freeTapeOnError(() => g(args, dy));
}

/**
 * `tf.variableGrads(f, varList)` that leaves no tensors behind when `f` or its gradient throws
 * ({@link freeTapeOnError}), nor when TF.js rejects the result (no variable reaches it, not a
 * scalar).
 */
export function safeVariableGrads(
  f: () => tf.Scalar,
  varList?: tf.Variable[],
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  return freeTapeOnError(() => tf.variableGrads(f, varList));
}
