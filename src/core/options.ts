import { z } from 'zod';
import { describeValue } from './describe.ts';
import { ConfigError } from './errors.ts';
import { didYouMean } from './suggest.ts';

/** How a loss tensor is reduced: MMagic's `reduction` values. */
export const REDUCTIONS = ['none', 'mean', 'sum'] as const;
/** `'none'` keeps the element-wise tensor; `'mean'` and `'sum'` reduce over every element. */
export type Reduction = (typeof REDUCTIONS)[number];

/**
 * An MMagic flag with no TF.js counterpart (`use_apex_amp`, `sync_mean_buffer`): accepted so that
 * configs port verbatim, but only as `false` (its default); `true` is a `ConfigError`.
 */
export const falseOnlyOption = z.literal(false).default(false);

/**
 * The message of an argument outside its allowed values, in the words `parseOptions` uses for
 * config keys: `${owner}: '${arg}' must be one of 'a'|'b', got 'c'. Did you mean …?`.
 */
export function choiceMessage(
  owner: string,
  arg: string,
  value: unknown,
  allowed: readonly string[],
): string {
  const hint = typeof value === 'string' ? didYouMean(value, allowed) : '';
  return `${owner}: '${arg}' must be one of ${allowed.map((v) => describeValue(v)).join('|')}, got ${describeValue(value)}.${hint}`;
}

/**
 * Checks a function argument against its allowed values (the config-key counterpart is the
 * option's `z.enum` in `parseOptions`); a `ConfigError` with {@link choiceMessage} otherwise.
 */
export function checkChoice<T extends string>(
  owner: string,
  arg: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value))
    return value as T;
  throw new ConfigError(choiceMessage(owner, arg, value, allowed));
}

/** The zod schema of the `reduction` key. */
export const reductionOption = z.enum(REDUCTIONS);

/** A schema for a loss's config: a strict zod object (unknown keys are rejected). */
export type OptionsSchema = z.ZodObject<z.ZodRawShape, z.core.$strict>;

/**
 * The options every loss module has, followed by its own: `loss_weight` (a finite number that
 * multiplies the result) and `loss_name` (the key under which a model logs the loss; losses whose
 * name contains `loss` are summed by `parseLosses`). `loss_name` is a genloss addition for the
 * losses whose MMagic class has none.
 */
export function lossOptions<E extends z.ZodRawShape>(
  defaults: { loss_weight?: number; loss_name: string },
  extra: E,
) {
  return z.strictObject({
    loss_weight: z
      .number()
      .finite()
      .default(defaults.loss_weight ?? 1),
    loss_name: z.string().min(1).default(defaults.loss_name),
    ...extra,
  });
}

function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => describeValue(v)).join('|')}`;
    case 'invalid_type':
      return `must be ${issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `must have at least ${issue.minimum} items`
        : `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
    case 'invalid_union':
      return 'does not match any allowed form';
    case 'too_big':
      return issue.origin === 'array'
        ? `must have at most ${issue.maximum} items`
        : `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
    default:
      return `is invalid (${issue.message})`;
  }
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/**
 * Validates a config against a loss's schema and fills in defaults. Throws a `ConfigError` that
 * names the loss, the key, what was expected and what was given; an unknown key suggests the
 * closest known ones.
 */
export function parseOptions<S extends z.ZodType>(
  owner: string,
  schema: S,
  cfg: unknown,
): z.output<S> {
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) {
    throw new ConfigError(`${owner}: the config must be an object, got ${describeValue(cfg)}`);
  }
  const result = schema.safeParse(cfg);
  if (result.success) return result.data;
  const known = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
  const messages = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map(
          (k) =>
            `${owner}: unknown option '${k}'.${didYouMean(k, known)} Known options: ${known.join(', ')}`,
        )
        .join('\n');
    }
    const key = issue.path.map(String).join('.');
    const given = valueAt(cfg, issue.path);
    const hint =
      issue.code === 'invalid_value' && typeof given === 'string'
        ? didYouMean(given, issue.values.map(String))
        : '';
    return `${owner}: option '${key}' ${expectation(issue)}, got ${describeValue(given)}${hint ? `.${hint}` : ''}`;
  });
  throw new ConfigError(messages.join('\n'));
}

/** One option of a registered loss, for listings and generated docs. */
export interface OptionInfo {
  name: string;
  type: string;
  default: unknown;
  allowed?: unknown[];
  required: boolean;
}

/** The options a schema declares, with their types, defaults and allowed values. */
export function describeOptions(schema: OptionsSchema): OptionInfo[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, prop]) => ({
    name,
    type: jsonType(prop),
    default: prop.default,
    ...(Array.isArray(prop.enum) ? { allowed: prop.enum } : {}),
    required: (json.required ?? []).includes(name) && !('default' in prop),
  }));
}

function jsonType(prop: Record<string, unknown>): string {
  if (Array.isArray(prop.anyOf)) {
    return (prop.anyOf as Record<string, unknown>[]).map(jsonType).join(' | ');
  }
  if (Array.isArray(prop.prefixItems)) {
    return `[${(prop.prefixItems as Record<string, unknown>[]).map(jsonType).join(', ')}]`;
  }
  if (prop.type === 'array' && prop.items && typeof prop.items === 'object') {
    return `${jsonType(prop.items as Record<string, unknown>)}[]`;
  }
  if (prop.type === 'integer') return 'integer';
  return typeof prop.type === 'string' ? prop.type : 'any';
}
