import * as tf from '@tensorflow/tfjs';
import type { z } from 'zod';
import { type OptionsSchema, parseOptions } from './options.ts';

/** What the registry needs of a loss class: its MMagic name, its option schema, a constructor. */
export interface LossClass<T = LossModule> {
  /** The registry name, MMagic's (`'L1Loss'`). Survives minification, unlike `Function.name`. */
  readonly lossType: string;
  /** The config keys the class accepts, with types, defaults and allowed values. */
  readonly options: OptionsSchema;
  // biome-ignore lint/suspicious/noExplicitAny: constructors of registered classes take their own config type.
  new (cfg?: any): T;
}

/**
 * Makes `value instanceof base` hold for instances of any copy of `base` loaded in the process
 * (the CLI running from `src/` and a user's module extending the built `genloss`'s class), by a
 * brand `Symbol.for(key)` on `base.prototype` instead of the prototype's identity. Subclasses of
 * `base` keep the ordinary `instanceof`.
 */
// biome-ignore lint/suspicious/noExplicitAny: any constructor, abstract or not.
export function shareInstanceof(base: abstract new (...args: any[]) => unknown, key: string): void {
  const brand = Symbol.for(key);
  Object.defineProperty(base.prototype, brand, { value: true });
  Object.defineProperty(base, Symbol.hasInstance, {
    value(this: unknown, value: unknown): boolean {
      if (this !== base) return Function.prototype[Symbol.hasInstance].call(this, value);
      if (value === null || (typeof value !== 'object' && typeof value !== 'function'))
        return false;
      const proto: object | null = Object.getPrototypeOf(value);
      return proto !== null && brand in proto;
    },
  });
}

/**
 * Base of every loss module. The subclass declares `static lossType` and `static options` once;
 * the constructor validates the config against them (so `new L1Loss({...})` and
 * `LOSSES.build({type: 'L1Loss', ...})` reject the same mistakes with the same messages) and keeps
 * the parsed, defaulted config in `cfg`.
 */
export abstract class LossModule<S extends OptionsSchema = OptionsSchema> {
  static readonly lossType: string = 'LossModule';
  static readonly options: OptionsSchema;

  /** The validated config, defaults filled in (MMagic's snake_case keys). */
  readonly cfg: z.output<S>;

  constructor(cfg: z.input<S> = {} as z.input<S>) {
    const cls = new.target as unknown as LossClass;
    this.cfg = parseOptions(cls.lossType, cls.options, cfg) as z.output<S>;
  }

  /** The registry name of this loss (`'L1Loss'`), used in error messages. */
  get lossType(): string {
    return (this.constructor as unknown as LossClass).lossType;
  }

  /** `loss_weight`: the factor applied to the result. */
  get lossWeight(): number {
    return (this.cfg as { loss_weight: number }).loss_weight;
  }

  /** `loss_weight · compute()`, with `compute`'s intermediates freed. */
  protected scaled(compute: () => tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(compute(), this.lossWeight));
  }

  /** The key under which a model logs this loss (`loss_name`). */
  lossName(): string {
    return (this.cfg as { loss_name: string }).loss_name;
  }

  /**
   * The state the module updates as it runs (running means, pools), as variables. A model
   * snapshots them before a step and restores them when the step fails. Stateless: none.
   */
  buffers(): tf.Variable[] {
    return [];
  }

  /** Frees tensors and variables the module owns. Stateless losses own none. */
  dispose(): void {}
}

shareInstanceof(LossModule, 'genloss.LossModule');
