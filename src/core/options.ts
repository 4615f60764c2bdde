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

type Schema = z.core.$ZodType;

/** The schema a wrapper (optional, default, nullable, readonly, catch, pipe, lazy) wraps. */
function wrapped(s: Schema): Schema | undefined {
  if (
    s instanceof z.core.$ZodOptional ||
    s instanceof z.core.$ZodDefault ||
    s instanceof z.core.$ZodPrefault ||
    s instanceof z.core.$ZodNullable ||
    s instanceof z.core.$ZodNonOptional ||
    s instanceof z.core.$ZodReadonly ||
    s instanceof z.core.$ZodCatch
  ) {
    return s._zod.def.innerType;
  }
  if (s instanceof z.core.$ZodPipe) return s._zod.def.in;
  if (s instanceof z.core.$ZodLazy) return s._zod.def.getter();
  return undefined;
}

/** The schema under every wrapper of `schema`. */
function unwrap(schema: Schema): Schema {
  let s = schema;
  for (let inner = wrapped(s); inner; inner = wrapped(s)) s = inner;
  return s;
}

/**
 * The option of a union that `value` is checked against: for a discriminated union the one whose
 * discriminator value `value` has, otherwise the first that has a child at `key`.
 */
function unionOption(
  union: z.core.$ZodUnion,
  value: unknown,
  key: PropertyKey,
): Schema | undefined {
  const options = union._zod.def.options;
  if (union instanceof z.core.$ZodDiscriminatedUnion) {
    const tag = valueAt(value, [union._zod.def.discriminator]);
    return options.find((o) =>
      o._zod.propValues?.[union._zod.def.discriminator]?.has(tag as never),
    );
  }
  return options.find((o) => childSchema(o, key, value) !== undefined);
}

/** The schema of `key` in a value that `schema` checks (`value` picks a union's option). */
function childSchema(schema: Schema, key: PropertyKey, value: unknown): Schema | undefined {
  const s = unwrap(schema);
  if (s instanceof z.core.$ZodObject) {
    const catchall = s._zod.def.catchall;
    const own = Object.hasOwn(s._zod.def.shape, key) ? s._zod.def.shape[key as string] : undefined;
    return own ?? (catchall instanceof z.core.$ZodNever ? undefined : catchall);
  }
  if (s instanceof z.core.$ZodArray)
    return typeof key === 'number' ? s._zod.def.element : undefined;
  if (s instanceof z.core.$ZodTuple) {
    return typeof key === 'number'
      ? (s._zod.def.items[key] ?? s._zod.def.rest ?? undefined)
      : undefined;
  }
  if (s instanceof z.core.$ZodRecord) return s._zod.def.valueType;
  if (s instanceof z.core.$ZodUnion) {
    const option = unionOption(s, value, key);
    return option && childSchema(option, key, value);
  }
  return undefined;
}

/** The schema that checks the value at `path` of `input`, or undefined where none is known. */
function schemaAt(
  schema: Schema,
  input: unknown,
  path: readonly PropertyKey[],
): Schema | undefined {
  let s: Schema | undefined = schema;
  for (let i = 0; i < path.length && s; i++)
    s = childSchema(s, path[i], valueAt(input, path.slice(0, i)));
  return s;
}

/** The keys an object schema (reached through wrappers and `value`'s union option) declares. */
function knownKeys(schema: Schema | undefined, value: unknown): string[] {
  let s = schema && unwrap(schema);
  if (s instanceof z.core.$ZodUnion) s = unionOption(s, value, '');
  s = s && unwrap(s);
  return s instanceof z.core.$ZodObject ? Object.keys(s._zod.def.shape) : [];
}

const article = (noun: string) => `${/^[aeiou]/.test(noun) ? 'an' : 'a'} ${noun}`;

/** Short descriptions of the forms a schema accepts: `a string`, `{type, …}`, `a list of …`, `null`. */
function forms(schema: Schema): string[] {
  const inner = wrapped(schema);
  if (inner)
    return schema instanceof z.core.$ZodNullable ? [...forms(inner), 'null'] : forms(inner);
  const u = schema;
  if (u instanceof z.core.$ZodUnion) return u._zod.def.options.flatMap(forms);
  if (u instanceof z.core.$ZodObject) {
    const keys = Object.keys(u._zod.def.shape);
    const open = !(u._zod.def.catchall instanceof z.core.$ZodNever);
    return [`{${[...keys, ...(open ? ['…'] : [])].join(', ')}}`];
  }
  if (u instanceof z.core.$ZodArray) return [`a list of ${forms(u._zod.def.element).join(' or ')}`];
  if (u instanceof z.core.$ZodTuple) {
    return [`[${u._zod.def.items.map((item) => forms(item).join(' or ')).join(', ')}]`];
  }
  if (u instanceof z.core.$ZodLiteral) return u._zod.def.values.map((v) => describeValue(v));
  if (u instanceof z.core.$ZodEnum)
    return Object.values(u._zod.def.entries).map((v) => describeValue(v));
  if (u instanceof z.core.$ZodNull) return ['null'];
  if (u instanceof z.core.$ZodNumber) {
    const format = (u._zod.def as { format?: string }).format;
    return [format?.includes('int') ? 'an integer' : 'a number'];
  }
  if (u instanceof z.core.$ZodUnknown || u instanceof z.core.$ZodAny) return ['any value'];
  return [article(u._zod.def.type)];
}

/** `train.itres`, `model.disc_auxiliary_loss[0].type`: a config key path as a user writes it. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i > 0 ? '.' : ''}${String(k)}`))
    .join('');
}

function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => describeValue(v)).join('|')}`;
    case 'invalid_type':
      return `must be ${issue.expected === 'int' ? 'an integer' : article(issue.expected)}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `must have at least ${issue.minimum} items`
        : `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'array'
        ? `must have at most ${issue.maximum} items`
        : `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
    default:
      return `is invalid (${issue.message})`;
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** Whether a union option's issues say only that the value is not of its kind at all. */
const kindMismatch = (issues: readonly z.core.$ZodIssue[]): boolean =>
  issues.every(
    (i) =>
      i.path.length === 0 &&
      (i.code === 'invalid_type' ||
        i.code === 'invalid_value' ||
        (i.code === 'invalid_union' &&
          i.discriminator === undefined &&
          kindMismatch(i.errors.flat()))),
  );

/**
 * The messages of one zod issue found `prefix` deep in `cfg`. A union whose options all reject
 * the value's kind lists its forms; one whose option takes the value's kind (an object, a list)
 * reports that option's issues, at their own key paths.
 */
function issueMessages(
  owner: string,
  schema: Schema,
  cfg: unknown,
  issue: z.core.$ZodIssue,
  prefix: readonly PropertyKey[],
): string[] {
  const path = [...prefix, ...issue.path];
  const key = formatPath(path);
  const given = valueAt(cfg, path);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(schemaAt(schema, cfg, path), given);
    const where = path.length > 0 ? ` in '${key}'` : '';
    return issue.keys.map(
      (k) =>
        `${owner}: unknown option '${formatPath([...path, k])}'.${didYouMean(k, known)} Known options${where}: ${known.join(', ')}`,
    );
  }
  const subject = path.length > 0 ? `option '${key}'` : 'the config';
  if (issue.code === 'invalid_union') {
    if (issue.discriminator !== undefined && 'options' in issue && issue.options) {
      const allowed = issue.options.map(String);
      const hint = typeof given === 'string' ? didYouMean(given, allowed) : '';
      return [
        `${owner}: ${subject} must be one of ${issue.options.map((v) => describeValue(v)).join('|')}, got ${describeValue(given)}${hint ? `.${hint}` : ''}`,
      ];
    }
    const matching = issue.errors.filter((e) => !kindMismatch(e));
    if (matching.length > 0) {
      const closest = matching.reduce((a, b) => (b.length < a.length ? b : a));
      return closest.flatMap((i) => issueMessages(owner, schema, cfg, i, path));
    }
    const sub = schemaAt(schema, cfg, path);
    const accepted = sub ? forms(sub).join(' | ') : 'one of its allowed forms';
    return [
      `${owner}: ${subject} must be one of these forms: ${accepted}, got ${describeValue(given)}`,
    ];
  }
  const hint =
    issue.code === 'invalid_value' && typeof given === 'string'
      ? didYouMean(given, issue.values.map(String))
      : '';
  return [
    `${owner}: ${subject} ${expectation(issue)}, got ${describeValue(given)}${hint ? `.${hint}` : ''}`,
  ];
}

/**
 * Validates a config against a schema and fills in defaults. Throws a `ConfigError` that names
 * the owner (a loss, a config file), the key's full path (`train.iters`,
 * `model.disc_auxiliary_loss[0].type`), what was expected and what was given: an unknown key lists
 * the keys known at its level and suggests the closest, a value outside its allowed values (an
 * enum, a discriminated union's `type`) lists them and suggests the closest, and a value that
 * fits none of a union's forms lists the forms.
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
  const messages = result.error.issues.flatMap((issue) =>
    issueMessages(owner, schema, cfg, issue, []),
  );
  throw new ConfigError([...new Set(messages)].join('\n'));
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
