import * as tf from '@tensorflow/tfjs';
import { safeVariableGrads } from '../autodiff/safe-gradients.ts';
import { NonFiniteLossError } from '../core/errors.ts';
import { type LossDict, parseLosses } from './parse-losses.ts';

/** What one step logs: `loss` (a phase's total), then every loss by name; `skipped` is 1 on a skipped step. */
export type LogVars = Record<string, number>;

/**
 * One optimisation phase of a model: differentiates `parseLosses(build()).loss` w.r.t.
 * `variables`, checks that every logged value is finite (else a `NonFiniteLossError` naming the
 * first non-finite loss, and nothing is applied), and applies the gradients with `optimizer`.
 * Returns the logged values as numbers.
 *
 * @param owner the model's name, for messages.
 * @param phase the phase's name, for messages (`'generator'`, `'discriminator'`).
 */
export function optimiseLosses(
  owner: string,
  phase: string,
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  build: () => LossDict,
): LogVars {
  // The logged values leave the gradient call's scope, so they are kept, and freed here even
  // when TF.js rejects the result after `build` ran (no variable reaches the loss).
  const kept: Record<string, tf.Tensor> = {};
  let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
  try {
    result = safeVariableGrads(() => {
      const { loss, log_vars } = parseLosses(build());
      for (const [key, v] of Object.entries(log_vars)) kept[key] = tf.keep(tf.clone(v));
      return loss;
    }, variables);
  } catch (error) {
    tf.dispose(Object.values(kept));
    throw error;
  }
  const { value, grads } = result;
  const log = Object.fromEntries(Object.entries(kept).map(([k, v]) => [k, v.dataSync()[0]]));
  tf.dispose([value, Object.values(kept)]);
  // Name the first non-finite component; the total is non-finite whenever one of them is.
  const keys = [...Object.keys(log).filter((k) => k !== 'loss'), 'loss'];
  const bad = keys.find((k) => !Number.isFinite(log[k]));
  if (bad !== undefined) {
    tf.dispose(grads);
    throw new NonFiniteLossError(
      `${owner}: ${phase} loss '${bad}' is ${log[bad]} (not finite); the step was undone`,
      bad,
      log,
    );
  }
  optimizer.applyGradients(grads);
  tf.dispose(grads);
  return log;
}
