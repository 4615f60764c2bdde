import { describeValue } from './describe.ts';
import { DataInfoError } from './errors.ts';
import { isPlainObject } from './validate.ts';

/** A model's named outputs of one step (`disc_pred_fake`, `real_imgs`, `gen`, `iteration`, …). */
export type OutputsDict = Record<string, unknown>;

/** `data_info`: loss argument name → key of the outputs dict. */
export type DataInfo = Record<string, string>;

/**
 * The outputs dict of a call with `data_info`, as MMagic accepts it: the single positional
 * argument, or `{outputs_dict: dict, ...extraArgs}`. Returns the dict and any extra named
 * arguments. Anything else is a `DataInfoError`.
 */
export function outputsOf(
  owner: string,
  args: readonly unknown[],
): { outputs: OutputsDict; extra: Record<string, unknown> } {
  if (args.length === 1 && isPlainObject(args[0])) {
    const { outputs_dict, ...extra } = args[0];
    if (outputs_dict === undefined) return { outputs: args[0], extra: {} };
    if (!isPlainObject(outputs_dict)) {
      throw new DataInfoError(
        `${owner}: 'outputs_dict' must be an object of named outputs, got ${describeValue(outputs_dict)}`,
      );
    }
    return { outputs: outputs_dict, extra };
  }
  throw new DataInfoError(
    `${owner}: with data_info, call with one outputs dict (or {outputs_dict}), got ${args.length} argument(s)` +
      (args.length > 0 ? ` starting with ${describeValue(args[0])}` : ''),
  );
}

/** Reads one output by key; a missing key is a `DataInfoError` listing the keys available. */
export function outputAt(owner: string, outputs: OutputsDict, key: string, why: string): unknown {
  if (!(key in outputs)) {
    throw new DataInfoError(
      `${owner}: ${why} needs output '${key}', which the outputs dict does not have. Available: ${
        Object.keys(outputs).join(', ') || '(none)'
      }`,
    );
  }
  return outputs[key];
}

/**
 * Fills a loss's named arguments from a model's outputs (MMagic's `data_info` protocol, TF-GAN's
 * strict adapter): `args[arg] = outputs[dataInfo[arg]]`, merged with `extra` arguments given
 * directly. A mapped key missing from the outputs, or an argument given both ways, is a
 * `DataInfoError`. Outputs that no argument maps are ignored.
 */
export function resolveDataInfo(
  owner: string,
  dataInfo: DataInfo,
  outputs: OutputsDict,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const args: Record<string, unknown> = { ...extra };
  for (const [arg, key] of Object.entries(dataInfo)) {
    if (arg in extra) {
      throw new DataInfoError(
        `${owner}: argument '${arg}' is given twice: directly and through data_info (output '${key}')`,
      );
    }
    args[arg] = outputAt(owner, outputs, key, `data_info argument '${arg}'`);
  }
  return args;
}

/**
 * The arguments a loss reads through `data_info`: MMagic's argument names in positional order
 * (genloss additions, such as an injectable random draw, last) and the other names it accepts for
 * them (`aliases`: alias → argument name).
 */
export interface ArgumentSpec {
  /** The argument names, in positional order. */
  readonly names: readonly string[];
  /** Accepted other names: alias → argument name. */
  readonly aliases: Readonly<Record<string, string>>;
}

/** The arguments of `spec` for a message: `pred (alias: x), gt`. */
function describeArguments(spec: ArgumentSpec): string {
  return spec.names
    .map((name) => {
      const aliases = Object.keys(spec.aliases).filter((a) => spec.aliases[a] === name);
      return aliases.length > 0 ? `${name} (alias: ${aliases.join(', ')})` : name;
    })
    .join(', ');
}

/**
 * Renames the keys of `given` (a `data_info`, or arguments given directly) to argument names: an
 * argument name stays, an alias becomes the name it stands for. A key that is neither, or two keys
 * for one argument, is a `DataInfoError` that lists the loss's arguments. `what` names the keys in
 * the message (`'data_info key'`, `'argument'`).
 */
export function canonicalArguments<V>(
  owner: string,
  spec: ArgumentSpec,
  given: Readonly<Record<string, V>>,
  what: string,
): Record<string, V> {
  const out: Record<string, V> = {};
  const from: Record<string, string> = {};
  for (const [key, value] of Object.entries(given)) {
    const name = spec.names.includes(key)
      ? key
      : Object.hasOwn(spec.aliases, key)
        ? spec.aliases[key]
        : undefined;
    if (name === undefined) {
      throw new DataInfoError(
        `${owner}: ${what} '${key}' is not an argument of the loss; expected one of: ${describeArguments(spec)}`,
      );
    }
    if (name in from) {
      throw new DataInfoError(
        `${owner}: argument '${name}' is given twice, as ${what}s '${from[name]}' and '${key}'`,
      );
    }
    from[name] = key;
    out[name] = value;
  }
  return out;
}
