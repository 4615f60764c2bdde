/**
 * Reading config files (Node.js only; exported by `genloss/node`).
 */
import { readFile } from 'node:fs/promises';
import { formatOf, parseConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';

/** Reads a `.json`, `.yaml` or `.yml` config file into plain objects. */
export async function loadConfigFile(path: string): Promise<unknown> {
  const format = formatOf(path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config file (${(err as Error).message})`);
  }
  return parseConfig(text, format, path);
}
