/**
 * The playground's YAML editor: a textarea with line numbers whose config is validated on every
 * edit as `genloss train` validates a config file (`parseConfig`, then the train config's schema
 * through `parseOptions`), each problem listed with the key path its message names and the line
 * of that key highlighted.
 */
import YAML, { isMap, isScalar, isSeq, LineCounter, type Node } from 'yaml';
import { parseConfig } from '../src/core/config.ts';
import { ConfigError } from '../src/core/errors.ts';
import { parsePlaygroundConfig } from './run.ts';

/** One problem of a config: the CLI's message, the key path it names and that key's line. */
export interface ConfigProblem {
  message: string;
  /** `train.iters`, `model.disc_auxiliary_loss[0].type`; null for a problem of the whole text. */
  key: string | null;
  /** 1-based line of the key (or of the YAML syntax error); null where none is known. */
  line: number | null;
}

/** A config text checked: its parsed value (null when the YAML does not parse) and problems. */
export interface Validation {
  raw: unknown;
  problems: ConfigProblem[];
}

/** `model.disc_auxiliary_loss[0].type` as path segments: `['model', 'disc_auxiliary_loss', 0, 'type']`. */
function keySegments(key: string): (string | number)[] {
  return [...key.matchAll(/\[(\d+)\]|[^.[\]]+/g)].map((m) =>
    m[1] === undefined ? m[0] : Number(m[1]),
  );
}

/**
 * The 1-based line of the deepest key of `key` that `text` has (the key itself, or the nearest
 * enclosing one when it is missing), or null when not even its first segment is there.
 */
export function keyLine(text: string, key: string): number | null {
  const lineCounter = new LineCounter();
  let node: unknown = YAML.parseDocument(text, { lineCounter }).contents;
  let offset: number | null = null;
  for (const segment of keySegments(key)) {
    let next: Node | undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === segment);
      if (pair === undefined) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      next = pair.value as Node | undefined;
    } else if (isSeq(node) && typeof segment === 'number') {
      next = node.items[segment] as Node | undefined;
      if (next === undefined) break;
      offset = next.range?.[0] ?? offset;
    } else {
      break;
    }
    node = next;
  }
  return offset === null ? null : lineCounter.linePos(offset).line;
}

/** A problem of `text` from a message: the key path the message names and that key's line. */
function problemOf(text: string, message: string): ConfigProblem {
  const key = /option '([^']+)'/.exec(message)?.[1] ?? null;
  return { message, key, line: key === null ? null : keyLine(text, key) };
}

/** Validates a config text as `genloss train` validates a YAML config file. */
export function validateConfigText(text: string): Validation {
  let raw: unknown;
  try {
    raw = parseConfig(text, 'yaml', 'config');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const line = /at line (\d+)/.exec(error.message)?.[1];
    return {
      raw: null,
      problems: [{ message: error.message, key: null, line: line ? Number(line) : null }],
    };
  }
  try {
    parsePlaygroundConfig(raw);
    return { raw, problems: [] };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { raw, problems: error.message.split('\n').map((m) => problemOf(text, m)) };
  }
}

const element = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
};

/**
 * A config editor in `host`: line numbers, the textarea, the highlighted lines behind it, and the
 * list of problems below (a click on one puts the cursor on its line). `onChange` gets each
 * validation, after every edit.
 */
export class ConfigEditor {
  readonly textarea = element('textarea', 'code');
  private readonly gutter = element('div', 'gutter');
  private readonly backdrop = element('div', 'backdrop');
  private readonly problemList = element('ul', 'problems');
  /** The validation of the text now in the editor. */
  validation: Validation = { raw: null, problems: [] };

  constructor(
    host: HTMLElement,
    private readonly onChange: (validation: Validation) => void = () => {},
  ) {
    const frame = element('div', 'editor');
    const code = element('div', 'code-frame');
    this.textarea.spellcheck = false;
    this.textarea.wrap = 'off';
    code.append(this.backdrop, this.textarea);
    frame.append(this.gutter, code);
    host.append(frame, this.problemList);
    this.textarea.addEventListener('input', () => this.update());
    this.textarea.addEventListener('scroll', () => {
      this.backdrop.scrollTop = this.gutter.scrollTop = this.textarea.scrollTop;
      this.backdrop.scrollLeft = this.textarea.scrollLeft;
    });
  }

  get value(): string {
    return this.textarea.value;
  }

  /** Replaces the text and validates it. */
  set value(text: string) {
    this.textarea.value = text;
    this.update();
  }

  /** Disables or enables editing (while the config trains). */
  set readOnly(on: boolean) {
    this.textarea.readOnly = on;
  }

  private update(): void {
    this.validation = validateConfigText(this.value);
    this.render();
    this.onChange(this.validation);
  }

  /**
   * Lists a problem found past validation (building the trainer: a loss's own options, a loss
   * type no loss is registered under), until the next edit.
   */
  report(message: string): void {
    const problems = [...this.validation.problems, problemOf(this.value, message)];
    this.validation = { ...this.validation, problems };
    this.render();
  }

  /** Draws the line numbers, the highlighted lines and the problem list. */
  private render(): void {
    const bad = new Set(this.validation.problems.map((p) => p.line));
    const lines = this.value.split('\n');
    this.gutter.replaceChildren(
      ...lines.map((_, i) => element('div', bad.has(i + 1) ? 'bad' : '', String(i + 1))),
    );
    // A line of one space keeps an empty line its height.
    this.backdrop.replaceChildren(
      ...lines.map((line, i) => element('div', bad.has(i + 1) ? 'bad' : '', `${line} `)),
    );
    this.problemList.replaceChildren(
      ...this.validation.problems.map((p) => {
        const item = element('li', 'problem');
        const where = p.line === null ? '' : `line ${p.line}`;
        item.append(
          element('span', 'where', [p.key, where].filter(Boolean).join(' · ') || 'config'),
          element('span', 'message', p.message),
        );
        if (p.line !== null) item.addEventListener('click', () => this.goToLine(p.line as number));
        return item;
      }),
    );
  }

  /** Selects line `line` (1-based) and scrolls to it. */
  goToLine(line: number): void {
    const lines = this.value.split('\n');
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    this.textarea.focus();
    this.textarea.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
    const lineHeight = Number.parseFloat(getComputedStyle(this.textarea).lineHeight) || 16;
    this.textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }
}
