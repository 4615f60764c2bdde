import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { type DataInfo, outputAt, outputsOf, resolveDataInfo } from '../core/data-info.ts';
import { describeValue } from '../core/describe.ts';
import { ConfigError, DataInfoError } from '../core/errors.ts';
import { LossModule } from '../core/module.ts';
import { lossOptions, type OptionsSchema } from '../core/options.ts';

/** The zod schema of `data_info`: loss argument name → outputs-dict key, or null. */
export const dataInfoOption = z.record(z.string(), z.string()).nullable().default(null);

/** The zod schema of `interval`: run every k-th iteration (needs `iteration` in the outputs). */
export const intervalOption = z.number().int().min(1).default(1);

/**
 * Options of a data_info component: `loss_weight`, `loss_name`, `data_info` (null), then its own.
 */
export function componentOptions<E extends z.ZodRawShape>(
  defaults: { loss_weight?: number; loss_name: string },
  extra: E,
) {
  return lossOptions(defaults, { data_info: dataInfoOption, ...extra });
}

/**
 * Base of every data_info component (MMagic's `loss_comps`). It owns the protocol once:
 *
 * - with `data_info`, `forward(outputs)` or `forward({outputs_dict, ...extraArgs})` fills the loss's
 *   arguments from the model's named outputs (`resolveDataInfo`: a missing key is a
 *   `DataInfoError` listing the available ones; an argument given twice is an error);
 * - without `data_info`, `forward(...args)` passes MMagic's positional arguments straight through;
 * - with `interval` k > 1 (a config key of the subclass), the loss runs only when
 *   `outputs.iteration % k === 0` and `forward` returns `null` otherwise.
 *
 * A subclass declares `argNames` (MMagic's argument order) and `compute(named)`.
 */
export abstract class LossComponent<
  S extends OptionsSchema = OptionsSchema,
  R = tf.Tensor,
> extends LossModule<S> {
  /** The wrapped function's argument names, in MMagic's positional order. */
  protected abstract readonly argNames: readonly string[];

  /** The loss from named arguments (already multiplied by `loss_weight`). */
  protected abstract compute(args: Record<string, unknown>): R;

  /** `data_info`, or null. */
  get dataInfo(): DataInfo | null {
    return (this.cfg as { data_info?: DataInfo | null }).data_info ?? null;
  }

  /** `interval` (1 when the component has none). */
  get interval(): number {
    return (this.cfg as { interval?: number }).interval ?? 1;
  }

  /** See the class comment. Returns `null` on an iteration the interval skips. */
  forward(...args: unknown[]): R | null {
    const owner = this.lossType;
    const dataInfo = this.dataInfo;
    if (dataInfo === null) {
      if (this.interval > 1) {
        throw new ConfigError(
          `${owner}: interval ${this.interval} needs data_info (the outputs dict gives 'iteration')`,
        );
      }
      return this.compute(this.positional(args));
    }
    const { outputs, extra } = outputsOf(owner, args);
    if (this.interval > 1) {
      const iteration = outputAt(owner, outputs, 'iteration', `interval ${this.interval}`);
      if (!Number.isInteger(iteration)) {
        throw new DataInfoError(
          `${owner}: output 'iteration' must be an integer, got ${describeValue(iteration)}`,
        );
      }
      if ((iteration as number) % this.interval !== 0) return null;
    }
    return this.compute(resolveDataInfo(owner, dataInfo, outputs, extra));
  }

  private positional(args: readonly unknown[]): Record<string, unknown> {
    if (args.length > this.argNames.length) {
      throw new DataInfoError(
        `${this.lossType}: takes at most ${this.argNames.length} arguments (${this.argNames.join(', ')}), got ${args.length}`,
      );
    }
    return Object.fromEntries(args.map((a, i) => [this.argNames[i], a]));
  }
}
