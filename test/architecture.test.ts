/**
 * The import layers of src/: every file belongs to a layer, imports only from its own layer or
 * lower ones, and the browser entry point (src/index.ts) reaches no Node-only module.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

/**
 * The layers of src/, lowest first. Each names folders (`core/`) or top-level files
 * (`catalogue.ts`); a file may import from its own layer and from the layers before it.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['core/'],
  ['autodiff/'],
  ['backends/'],
  ['io/'],
  ['ops/'],
  ['nets/'],
  ['losses/'],
  ['metrics/'],
  ['components/'],
  ['catalogue.ts'],
  ['register.ts'],
  ['models/'],
  ['train/'],
  ['node/'],
  ['cli/'],
  ['index.ts', 'node.ts'],
];

/** Layers that use Node.js APIs, which the browser entry point must not reach. */
const NODE_ONLY = ['node/', 'cli/', 'node.ts'];

/** The browser-safe entry point. */
const BROWSER_ENTRY = 'index.ts';

/** Every `.ts` file under src/, as a path relative to src/ with `/` separators. */
function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [relative(SRC, join(dir, e.name)).split(sep).join('/')]
        : [],
  );
}

/** The unit a file belongs to: its top folder (`core/`), or its name at the top of src/. */
function unitOf(file: string): string {
  const slash = file.indexOf('/');
  return slash < 0 ? file : file.slice(0, slash + 1);
}

/** The index of a file's layer in `LAYERS`, or -1 if it belongs to none. */
function layerOf(file: string): number {
  const unit = unitOf(file);
  return LAYERS.findIndex((layer) => layer.includes(unit));
}

/** The specifiers a file imports (static, `export … from`, and literal dynamic imports). */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(SRC, file), 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

/** A relative specifier of `file`, as a path relative to src/ (it may lie outside: `../x`). */
function resolveImport(file: string, spec: string): string {
  return relative(SRC, resolve(SRC, dirname(file), spec))
    .split(sep)
    .join('/');
}

const files = sourceFiles();

test('every src file belongs to a layer, and every layer has files', () => {
  assert.deepEqual(
    files.filter((f) => layerOf(f) < 0),
    [],
    'files in no layer (add them to LAYERS)',
  );
  const units = new Set(files.map(unitOf));
  assert.deepEqual(
    LAYERS.flat().filter((unit) => !units.has(unit)),
    [],
    'layers without files',
  );
});

test('no src file imports from a higher layer', () => {
  const violations: string[] = [];
  let imports = 0;
  for (const file of files) {
    for (const spec of importsOf(file)) {
      if (!spec.startsWith('.')) continue;
      imports++;
      const target = resolveImport(file, spec);
      if (target.startsWith('../') || !existsSync(join(SRC, target))) {
        violations.push(`${file} imports ${spec}, not a file of src/`);
      } else if (layerOf(target) > layerOf(file)) {
        violations.push(
          `${file} (layer ${LAYERS[layerOf(file)].join(' ')}) imports ${target} (layer ${LAYERS[layerOf(target)].join(' ')})`,
        );
      }
    }
  }
  assert.ok(imports > 100, `only ${imports} relative imports found: is the parser broken?`);
  assert.deepEqual(violations, []);
});

test('src/index.ts reaches neither node/ nor cli/ nor a Node built-in, even transitively', () => {
  const violations: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string, via: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    const path = [...via, file];
    if (NODE_ONLY.includes(unitOf(file))) violations.push(`${path.join(' → ')}: Node-only module`);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) visit(resolveImport(file, spec), path);
      else if (isBuiltin(spec)) violations.push(`${path.join(' → ')} imports ${spec}`);
    }
  };
  visit(BROWSER_ENTRY, []);
  assert.ok(seen.size > 50, `only ${seen.size} modules reached from ${BROWSER_ENTRY}`);
  assert.deepEqual(violations, []);
});
