import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import {
  type ArgumentSpec,
  canonicalArguments,
  type DataInfo,
  outputAt,
  outputsOf,
  resolveDataInfo,
} from '../core/data-info.ts';
import { describeValue } from '../core/describe.ts';
import { ConfigError, DataInfoError, GenlossError } from '../core/errors.ts';
import { type LossClass, LossModule, shareInstanceof } from '../core/module.ts';
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

/** What a component class declares besides a loss class's: its arguments (see `LossComponent`). */
interface ComponentClass extends LossClass {
  readonly argNames: readonly string[];
  readonly argAliases: Readonly<Record<string, string>>;
}

/**
 * Base of every data_info component (MMagic's `loss_comps`). It owns the protocol once:
 *
 * - the arguments: a subclass declares `static argNames`, MMagic's argument names in MMagic's
 *   positional order (genloss additions last), and `static argAliases` (alias → argument name),
 *   other names it accepts; `compute` always receives the argument names;
 * - at construction, every `data_info` key must be an argument name or an alias, else a
 *   `DataInfoError` lists the arguments (a config error surfaces when the config is built);
 * - with `data_info`, `forward(outputs)` or `forward({outputs_dict, ...extraArgs})` fills the loss's
 *   arguments from the model's named outputs (`resolveDataInfo`: a missing key is a
 *   `DataInfoError` listing the available ones; an argument given twice, or an extra argument
 *   that is not one, is an error);
 * - without `data_info`, `forward(...args)` passes the positional arguments straight through;
 * - with `interval` k > 1 (a config key of the subclass), the loss runs only when
 *   `outputs.iteration % k === 0` and `forward` returns `null` otherwise.
 *
 * A subclass declares `argNames`, `argAliases` (if any) and `compute(named)`.
 */
export abstract class LossComponent<
  S extends OptionsSchema = OptionsSchema,
  R = tf.Tensor,
> extends LossModule<S> {
  /** The wrapped function's argument names, in positional order (MMagic's first). */
  static readonly argNames: readonly string[] = [];
  /** Other accepted argument names: alias → argument name. None by default. */
  static readonly argAliases: Readonly<Record<string, string>> = {};

  /** The argument names and aliases the class declares. */
  readonly argumentSpec: ArgumentSpec;
  /** `data_info` (aliases renamed to the argument names), or null. */
  readonly dataInfo: DataInfo | null;

  constructor(cfg: z.input<S> = {} as z.input<S>) {
    super(cfg);
    const cls = this.constructor as unknown as ComponentClass;
    this.argumentSpec = { names: cls.argNames, aliases: cls.argAliases };
    if (cls.argNames.length === 0) {
      throw new GenlossError(`${this.lossType}: a LossComponent must declare static argNames`);
    }
    const dataInfo = (this.cfg as { data_info?: DataInfo | null }).data_info ?? null;
    this.dataInfo =
      dataInfo === null
        ? null
        : canonicalArguments(this.lossType, this.argumentSpec, dataInfo, 'data_info key');
  }

  /** The loss from named arguments (already multiplied by `loss_weight`). */
  protected abstract compute(args: Record<string, unknown>): R;

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
    const named = canonicalArguments(owner, this.argumentSpec, extra, 'keyword');
    if (this.interval > 1) {
      const iteration = outputAt(owner, outputs, 'iteration', `interval ${this.interval}`);
      if (!Number.isInteger(iteration)) {
        throw new DataInfoError(
          `${owner}: output 'iteration' must be an integer, got ${describeValue(iteration)}`,
        );
      }
      if ((iteration as number) % this.interval !== 0) return null;
    }
    return this.compute(resolveDataInfo(owner, dataInfo, outputs, named));
  }

  private positional(args: readonly unknown[]): Record<string, unknown> {
    const { names } = this.argumentSpec;
    if (args.length > names.length) {
      throw new DataInfoError(
        `${this.lossType}: takes at most ${names.length} arguments (${names.join(', ')}), got ${args.length}`,
      );
    }
    return Object.fromEntries(args.map((a, i) => [names[i], a]));
  }
}

shareInstanceof(LossComponent, 'genloss.LossComponent');
