import * as tf from '@tensorflow/tfjs';
import { describeValue } from '../core/describe.ts';
import { GenlossError } from '../core/errors.ts';

/** The named losses of one step: a tensor (any shape) or a list of tensors per key. */
export type LossDict = Record<string, tf.Tensor | readonly tf.Tensor[]>;

/** `parseLosses`' result: the total to optimise and every key's value, `loss` first. */
export interface ParsedLosses {
  /** Σ of the logged values whose key contains `loss`. A scalar. */
  loss: tf.Scalar;
  /** `{loss, ...each key: its mean}` in insertion order; all scalars. */
  log_vars: Record<string, tf.Scalar>;
}

/**
 * mmengine's `BaseModel.parse_losses`: each tensor is mean-reduced (a list contributes the sum of
 * its means), and the total is the sum over keys that contain `loss` anywhere (`loss_gp`,
 * `disc_losses`, `cycle_loss`); other keys (`acc`) are logged only. As in mmengine, a key whose
 * value is already a sum of other `loss` keys is counted twice. Unreduced tensors (tv_loss,
 * DiscShiftLossComps) are reduced here. A value that is not a tensor is an error.
 */
export function parseLosses(losses: LossDict): ParsedLosses {
  for (const [key, value] of Object.entries(losses)) {
    const ok =
      value instanceof tf.Tensor ||
      (Array.isArray(value) && value.every((v) => v instanceof tf.Tensor));
    if (!ok) {
      throw new GenlossError(
        `parseLosses: '${key}' must be a tensor or a list of tensors, got ${describeValue(value)}`,
      );
    }
  }
  const entries = Object.entries(losses).map(([key, value]) => {
    const mean =
      value instanceof tf.Tensor
        ? tf.mean(value)
        : value.length === 0
          ? tf.scalar(0)
          : tf.addN((value as readonly tf.Tensor[]).map((v) => tf.mean(v)));
    return [key, mean as tf.Scalar] as const;
  });
  const summed = entries.filter(([key]) => key.includes('loss')).map(([, v]) => v);
  const loss = (summed.length > 0 ? tf.addN(summed) : tf.scalar(0)) as tf.Scalar;
  return { loss, log_vars: { loss, ...Object.fromEntries(entries) } };
}
