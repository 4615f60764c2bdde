/**
 * Loading a training config (Node.js only): validation in two stages around the config's
 * `custom_imports`, which run code, and the checks that keep those imports to the config's own
 * folder or to installed packages.
 */
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import '../register.ts';
import { describeValue } from '../core/describe.ts';
import { ConfigError } from '../core/errors.ts';
import { parseOptions } from '../core/options.ts';
import { LOSSES } from '../core/registry.ts';
import { didYouMean } from '../core/suggest.ts';
import { type TrainConfig, trainConfigOptions } from '../train/config.ts';
import { loadConfigFile } from './config.ts';

/** How long one custom import may take to load by default: 30 s. */
const DEFAULT_IMPORT_TIMEOUT_MS = 30_000;

/** Options of {@link importCustom} and {@link loadTrainConfig}. */
export interface ImportOptions {
  /**
   * Receives the line printed before each import (`genloss: importing custom_imports[0] ./x.js
   * (runs code from the config)`), so that a module that never returns is named. Default: the
   * line on stderr.
   */
  log?: (line: string) => void;
  /** How long one module may take to load, in milliseconds. Default 30 000 (30 s). */
  timeoutMs?: number;
  /** The name of the list in messages (`custom_imports`, or `--import` on a command line). */
  key?: string;
}

/** Model keys whose `{type}` objects are networks, optimizers or settings, not losses. */
const NOT_LOSS_KEYS = new Set([
  'generator',
  'discriminator',
  'extractor',
  'transformer',
  'optimizers',
  'loss_config',
  'train_cfg',
]);

const isLossConfig = (v: unknown): v is { type: string } =>
  v !== null && typeof v === 'object' && typeof (v as { type?: unknown }).type === 'string';

/** A `ConfigError` for every loss config whose `type` no loss is registered under. */
function checkLossTypes(owner: string, model: TrainConfig['model']): void {
  const registered = LOSSES.list();
  const messages = Object.entries(model).flatMap(([key, value]) => {
    if (NOT_LOSS_KEYS.has(key)) return [];
    const entries = (Array.isArray(value) ? value : [value]).filter(isLossConfig);
    return entries.flatMap(({ type }, i) => {
      if (LOSSES.has(type)) return [];
      const where = Array.isArray(value) ? `model.${key}[${i}]` : `model.${key}`;
      return [
        `${owner}: option '${where}.type' must be a registered loss, got ${describeValue(type)}.${didYouMean(type, registered)} Registered: ${registered.join(', ')}. A loss of your own registers when custom_imports names its module.`,
      ];
    });
  });
  if (messages.length > 0) throw new ConfigError(messages.join('\n'));
}

/**
 * Reads a training config (`.yaml`, `.yml`, `.json`) and validates it in the order that runs no
 * code from an invalid config: first everything that does not depend on the imports (the keys,
 * `custom_imports`, `backend`, the networks, the optimizers, `data`, `train`), then the
 * `custom_imports` (see {@link importCustom}), then the loss types, which those imports may
 * register. Every error is a `ConfigError` that names the key's path. `raw` is the file as read,
 * `cfg` the config with its defaults.
 */
export async function loadTrainConfig(
  path: string,
  options: Omit<ImportOptions, 'key'> = {},
): Promise<{ raw: unknown; cfg: TrainConfig }> {
  const raw = await loadConfigFile(path);
  const cfg = parseOptions(path, trainConfigOptions, raw);
  await importCustom(path, cfg.custom_imports, options);
  checkLossTypes(path, cfg.model);
  return { raw, cfg };
}

/** A file import: a module file of the config's folder tree, by extension or by `./`. */
const MODULE_FILE = /^\.\.?(\/|$)|\.[cm]?[jt]sx?$/;
/** An npm package name, scoped or not, with an optional subpath (`@scope/pkg/sub`). */
const PACKAGE_NAME = /^(@[a-z0-9~-][\w.~-]*\/)?[a-z0-9~-][\w.~-]*(\/[\w.~@-]+)*$/i;
/** A URL of any scheme (`file:`, `data:`, `node:`, `https:`), or a Windows drive path. */
const URL_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

const isInside = (folder: string, target: string) => {
  const rel = relative(folder, target);
  return !isAbsolute(rel) && rel.split(/[\\/]/)[0] !== '..';
};

/** What an import resolved to: the URL to import, checked. */
interface ResolvedImport {
  where: string;
  spec: string;
  url: string;
}

async function resolveModule(
  configFolder: string,
  where: string,
  spec: unknown,
): Promise<ResolvedImport> {
  if (typeof spec !== 'string') {
    throw new ConfigError(`${where} must be a string, got ${describeValue(spec)}`);
  }
  const accepted =
    "a module file inside the config's folder (./losses.js, sub/losses.ts) or a package name (genloss-extra, @scope/pkg)";
  if (URL_SCHEME.test(spec)) {
    throw new ConfigError(`${where}: '${spec}' is a URL; it must be ${accepted}`);
  }
  if (isAbsolute(spec) || spec.startsWith('\\')) {
    throw new ConfigError(`${where}: '${spec}' is an absolute path; it must be ${accepted}`);
  }
  if (!MODULE_FILE.test(spec)) {
    if (!PACKAGE_NAME.test(spec) || spec.split('/').some((s) => s === '.' || s === '..')) {
      throw new ConfigError(`${where}: '${spec}' is not a package name; it must be ${accepted}`);
    }
    try {
      return { where, spec, url: import.meta.resolve(spec) };
    } catch (error) {
      const name = spec
        .split('/')
        .slice(0, spec.startsWith('@') ? 2 : 1)
        .join('/');
      throw new ConfigError(
        `${where}: cannot find package '${spec}' (${(error as Error).message.split('\n')[0]}); install it with npm install ${name}`,
      );
    }
  }
  const target = resolve(configFolder, spec);
  const outside = (what: string) =>
    new ConfigError(
      `${where}: '${spec}' ${what}, outside the config's folder ${configFolder}; custom imports may only name files inside it`,
    );
  if (!isInside(configFolder, target)) throw outside(`resolves to ${target}`);
  const info = await stat(target).catch(() => null);
  if (!info) throw new ConfigError(`${where}: ${spec} not found (looked for ${target})`);
  if (!info.isFile()) throw new ConfigError(`${where}: ${spec} is not a regular file (${target})`);
  const real = await realpath(target);
  if (!isInside(await realpath(configFolder), real)) {
    throw outside(`is a link to ${real}`);
  }
  return { where, spec, url: pathToFileURL(target).href };
}

const describeError = (error: unknown) =>
  error instanceof Error
    ? error.name === 'Error'
      ? error.message
      : `${error.name}: ${error.message}`
    : String(error);

/** A TypeScript module file. */
const TYPESCRIPT_FILE = /\.([cm]?ts|tsx)$/;

let typeScriptLoader: Promise<void> | undefined;

/**
 * Lets Node import TypeScript modules when genloss runs as built JavaScript (`npx genloss`, which
 * runs `dist/` with plain Node): registers tsx's loaders, once, both of them as `node --import
 * tsx` does (a `.ts` file of a package without `"type": "module"` is CommonJS to Node, and needs
 * tsx's CommonJS loader beside its ES module one). Running as `.ts` (`npm run genloss`, under
 * tsx), a loader that runs TypeScript is active already.
 */
async function loadTypeScript(): Promise<void> {
  if (import.meta.url.endsWith('.ts')) return;
  typeScriptLoader ??= Promise.all([import('tsx/cjs/api'), import('tsx/esm/api')]).then(
    ([commonJs, esModule]) => {
      commonJs.register();
      esModule.register();
    },
  );
  await typeScriptLoader;
}

/** Imports one module, or rejects once `timeoutMs` has passed; the pending timer keeps Node running. */
async function importWithin(target: ResolvedImport, timeoutMs: number): Promise<void> {
  const label = `${target.where} (${target.spec})`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new ConfigError(
    `${label} did not finish loading within ${timeoutMs / 1000} s (a top-level await that never settles?)`,
  );
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut), timeoutMs);
  });
  try {
    if (TYPESCRIPT_FILE.test(target.url)) await loadTypeScript();
    await Promise.race([import(target.url), deadline]);
  } catch (error) {
    if (error === timedOut) throw error;
    throw new ConfigError(`${label}: the module threw: ${describeError(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Imports the user modules a config names (`custom_imports`; they register custom losses),
 * which runs their code, as a Python config file does. Accepted: module files inside the
 * config's folder tree (`./x.js`, `sub/x.mjs`, `x.ts`: TypeScript through tsx), existing regular files that do
 * not lead out of it (no absolute path, no `..` or link out), and package names (`genloss-extra`,
 * `@scope/pkg`, `pkg/subpath`) as Node resolves them from genloss; URLs of any scheme are
 * refused. Every name is checked before any module runs. Each import is announced through `log`
 * first, and may take `timeoutMs`. Every failure is a `ConfigError` that names the entry
 * (`custom_imports[1] (./bad.js): the module threw: …`), with the module's error as `cause`.
 */
export async function importCustom(
  configPath: string,
  modules: readonly unknown[],
  options: ImportOptions = {},
): Promise<void> {
  const {
    log = (line: string) => process.stderr.write(`${line}\n`),
    timeoutMs = DEFAULT_IMPORT_TIMEOUT_MS,
    key = 'custom_imports',
  } = options;
  const folder = dirname(resolve(configPath));
  const targets: ResolvedImport[] = [];
  for (const [i, spec] of modules.entries()) {
    targets.push(await resolveModule(folder, `${key}[${i}]`, spec));
  }
  for (const target of targets) {
    log(`genloss: importing ${target.where} ${target.spec} (runs code from the config)`);
    await importWithin(target, timeoutMs);
  }
}
