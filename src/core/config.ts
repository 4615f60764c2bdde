import YAML from 'yaml';
import { ConfigError } from './errors.ts';

/** The formats a config text can be in. */
export type ConfigFormat = 'json' | 'yaml';

/**
 * Parses a config text (JSON or YAML) into plain objects — the same objects either way, so a
 * config can be written in whichever a user prefers. `source` names the text in error messages.
 */
export function parseConfig(text: string, format: ConfigFormat, source = 'config'): unknown {
  try {
    if (format === 'json') return JSON.parse(text);
    const doc = YAML.parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) throw doc.errors[0];
    return doc.toJS();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`${source}: not valid ${format.toUpperCase()}: ${reason}`);
  }
}

/** The format implied by a file name's extension (`.json`, `.yaml`, `.yml`). */
export function formatOf(path: string): ConfigFormat {
  const lower = path.toLowerCase();
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.yaml') || lower.endsWith('.yml')) return 'yaml';
  throw new ConfigError(`${path}: config files must end in .json, .yaml or .yml`);
}
