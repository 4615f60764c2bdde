import { describeValue } from './describe.ts';
import { ConfigError } from './errors.ts';
import type { LossClass, LossModule } from './module.ts';
import { describeOptions, type OptionInfo } from './options.ts';
import { didYouMean } from './suggest.ts';

/** A config object: `type` names a registered class, the other keys are its options. */
export interface BuildConfig {
  type: string;
  [key: string]: unknown;
}

/**
 * Registry name → class instance type, for typed `build` results. Each loss file adds its
 * entries by module augmentation, and so can a user's:
 * `declare module 'genloss' { interface LossTypeMap { MyLoss: MyLoss } }`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging.
export interface LossTypeMap {}

/** The instance type `build` returns for `type` K: the mapped class, else the registry's `T`. */
export type Built<M, K, T> = K extends keyof M ? M[K] : T;

/** A registered class, described for listings: its name and options. */
export interface RegistryEntry {
  name: string;
  options: OptionInfo[];
}

/**
 * A name → class table, as MMagic's `MODELS` registry: `build({type, ...cfg})` constructs the
 * class registered under `type` with the remaining keys as its config.
 */
export class Registry<T extends LossModule = LossModule, M extends object = object> {
  private readonly classes = new Map<string, LossClass<T>>();
  /** The names registered as a genloss copy's built-ins (see `register`). */
  private readonly builtins = new Set<string>();

  /** `kind` names what the registry holds, for error messages (`'loss'`). */
  constructor(readonly kind: string) {}

  /**
   * Registers `cls` under `cls.lossType`. Registering the same class again is a no-op;
   * registering a different class under a taken name is a `ConfigError`, except that a `builtin`
   * (a loss of genloss's catalogue) whose name another built-in holds is left out: that is the
   * same loss from a second copy of genloss in the process (the CLI running from `src/` and a
   * user's module importing the built `genloss`), and the copy loaded first serves the name.
   */
  register<C extends LossClass<T>>(cls: C, { builtin = false }: { builtin?: boolean } = {}): C {
    const name = cls.lossType;
    const existing = this.classes.get(name);
    if (existing && existing !== cls) {
      if (builtin && this.builtins.has(name)) return cls;
      throw new ConfigError(`Registry(${this.kind}): '${name}' is already registered`);
    }
    this.classes.set(name, cls);
    if (builtin) this.builtins.add(name);
    return cls;
  }

  /** Whether a class is registered under `name`. */
  has(name: string): boolean {
    return this.classes.has(name);
  }

  /** The class registered under `name`; a `ConfigError` suggesting close names otherwise. */
  get(name: string): LossClass<T> {
    const cls = this.classes.get(name);
    if (!cls) {
      throw new ConfigError(
        `Registry(${this.kind}): unknown type '${name}'.${didYouMean(name, this.classes.keys())}` +
          ` Registered: ${this.list().join(', ')}`,
      );
    }
    return cls;
  }

  /** Every registered name, sorted. */
  list(): string[] {
    return [...this.classes.keys()].sort();
  }

  /** Every registered class with its options (types, defaults, allowed values), sorted by name. */
  describe(): RegistryEntry[] {
    return this.list().map((name) => ({ name, options: describeOptions(this.get(name).options) }));
  }

  /**
   * Builds one module from `{type, ...options}`, or an array of modules from an array. With a
   * literal `type` the result has the registered class's type (`LossTypeMap`).
   */
  build<K extends string>(cfg: { type: K } & Record<string, unknown>): Built<M, K, T>;
  build<K extends string>(cfg: ({ type: K } & Record<string, unknown>)[]): Built<M, K, T>[];
  build(cfg: BuildConfig | BuildConfig[]): T | T[] {
    if (Array.isArray(cfg)) return cfg.map((c, i) => this.buildOne(c, `[${i}]`));
    return this.buildOne(cfg, '');
  }

  private buildOne(cfg: unknown, where: string): T {
    if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) {
      throw new ConfigError(
        `Registry(${this.kind}): config${where} must be an object with a 'type', got ${describeValue(cfg)}`,
      );
    }
    const { type, ...options } = cfg as Record<string, unknown>;
    if (typeof type !== 'string') {
      throw new ConfigError(
        `Registry(${this.kind}): config${where} needs 'type' (a registered name), got ${describeValue(type)}`,
      );
    }
    const cls = this.get(type);
    return new cls(options);
  }
}

const SHARED_LOSSES = Symbol.for('genloss.registry');
const shared = globalThis as { [SHARED_LOSSES]?: Registry<LossModule, LossTypeMap> };
shared[SHARED_LOSSES] ??= new Registry<LossModule, LossTypeMap>('loss');

/**
 * Every genloss loss, under its MMagic name. User losses register here too. One registry a
 * process: the first copy of genloss loaded keeps it on `globalThis` under
 * `Symbol.for('genloss.registry')` and every later copy uses it, so that a loss a user's module
 * registers through `import 'genloss'` (the built `dist/`) is the one the CLI builds, whichever
 * copy the CLI runs from.
 */
export const LOSSES: Registry<LossModule, LossTypeMap> = shared[SHARED_LOSSES];
