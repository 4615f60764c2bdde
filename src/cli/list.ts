import { LossComponent } from '../components/base.ts';
import type { OptionInfo } from '../core/options.ts';
import { LOSSES } from '../core/registry.ts';
import { lossUsage } from '../train/loss-usage.ts';

/** How `genloss list` prints the registry. */
export type ListFormat = 'text' | 'json' | 'markdown';

const show = (v: unknown) => JSON.stringify(v ?? null);

function optionText(o: OptionInfo): string {
  const allowed = o.allowed ? ` (${o.allowed.map(show).join('|')})` : '';
  return `${o.name}: ${o.type}${allowed}, ${o.required ? 'required' : `default ${show(o.default)}`}`;
}

/** Where `genloss train` can use a loss (`SRGAN.pixel_loss, …`), or how to use it otherwise. */
function usageText(name: string): string {
  const usage = lossUsage(name);
  return usage.length > 0 ? usage.join(', ') : 'no model kind: call it from code';
}

/** A config that builds the loss: `type` plus its required options with a placeholder value. */
function exampleConfig(name: string, options: readonly OptionInfo[]): string {
  const required = options
    .filter((o) => o.required)
    .map((o) => `${o.name}: ${o.allowed ? show(o.allowed[0]) : '…'}`);
  return `{type: ${name}${required.map((r) => `, ${r}`).join('')}}`;
}

function markdownTable(entries: ReturnType<typeof LOSSES.describe>): string {
  const rows = entries.map(({ name, options }) => {
    const cell = options
      .map((o) => (o.required ? `\`${o.name}\` (required)` : `\`${o.name}\`=${show(o.default)}`))
      .join(', ')
      .replace(/\|/g, '\\|');
    return `| \`${name}\` | ${cell} | \`${exampleConfig(name, options)}\` | ${usageText(name)} |`;
  });
  return [
    '| type | options (defaults) | config | used in `genloss train` |',
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/**
 * Every registered loss with its options (types, defaults, allowed values) and the model kinds
 * and config keys of `genloss train` that can use it (see `lossUsage`): as text, as JSON, or
 * as the two Markdown tables of the guide (losses, then data_info components). User losses appear
 * once their module is imported.
 */
export function listLosses(format: ListFormat = 'text'): string {
  const entries = LOSSES.describe();
  if (format === 'json') {
    return JSON.stringify(
      entries.map((e) => ({ ...e, used_in: lossUsage(e.name) })),
      null,
      2,
    );
  }
  if (format === 'markdown') {
    const isComponent = (name: string) => LOSSES.get(name).prototype instanceof LossComponent;
    return [
      '### Losses',
      '',
      markdownTable(entries.filter((e) => !isComponent(e.name))),
      '',
      '### Components (with `data_info`)',
      '',
      markdownTable(entries.filter((e) => isComponent(e.name))),
    ].join('\n');
  }
  return entries
    .map(({ name, options }) =>
      [name, ...options.map((o) => `  ${optionText(o)}`), `  used in: ${usageText(name)}`].join(
        '\n',
      ),
    )
    .join('\n\n');
}
