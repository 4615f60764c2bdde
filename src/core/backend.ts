import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { ConfigError } from './errors.ts';
import { didYouMean } from './suggest.ts';

/** The backends genloss tries, fastest first: tfjs-node's native TensorFlow, WebAssembly, plain JS. */
export const BACKEND_PREFERENCE = ['tensorflow', 'wasm', 'cpu'] as const;

/** The environment variable that overrides the backend choice (`GENLOSS_BACKEND=cpu`). */
export const BACKEND_ENV = 'GENLOSS_BACKEND';

/** The backend start begun on import (see {@link ready}), or null before it. */
let starting: Promise<string> | null = null;

function envBackend(): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env;
  const value = env?.[BACKEND_ENV];
  return value ? value : undefined;
}

/** Registers tfjs-node's `tensorflow` backend if the user has the package installed. */
async function tryTfjsNode(): Promise<void> {
  if (tf.findBackendFactory('tensorflow')) return;
  const name = '@tensorflow/tfjs-node';
  try {
    await import(/* @vite-ignore */ name);
  } catch {
    // Not installed (it cannot be installed from the npm registry alone): use the next backend.
  }
}

/**
 * Chooses and activates the TF.js backend, returning its name. The first of: `preferred`, the
 * `GENLOSS_BACKEND` environment variable, then `tensorflow` (when `@tensorflow/tfjs-node` is
 * installed), `wasm`, `cpu`. A backend named explicitly that cannot start is a `ConfigError`;
 * in the automatic order a backend that fails is skipped.
 */
export async function chooseBackend(preferred?: string): Promise<string> {
  // TF.js drops one of two backend initialisations that overlap: let the import-time one finish.
  await starting?.catch(() => {});
  return selectBackend(preferred);
}

async function selectBackend(preferred?: string): Promise<string> {
  const explicit = preferred ?? envBackend();
  if (explicit === 'tensorflow' || explicit === undefined) await tryTfjsNode();
  if (explicit !== undefined) {
    if (!tf.findBackendFactory(explicit) || !(await tf.setBackend(explicit))) {
      const registered = Object.keys(tf.engine().registryFactory);
      const [source, setting] =
        preferred !== undefined
          ? ['requested', "the config's 'backend' key or --backend"]
          : [`set by ${BACKEND_ENV}`, BACKEND_ENV];
      const tensorflow = registered.includes('tensorflow')
        ? ''
        : " The 'tensorflow' backend (native TensorFlow, fastest) needs @tensorflow/tfjs-node: npm install @tensorflow/tfjs-node.";
      throw new ConfigError(
        `chooseBackend: backend '${explicit}' (${source}) is not available; registered: ${registered.join(', ')}.${didYouMean(explicit, registered)} Set ${setting} to one of them.${tensorflow}`,
      );
    }
    await tf.ready();
    return tf.getBackend();
  }
  for (const name of BACKEND_PREFERENCE) {
    if (tf.findBackendFactory(name) && (await tf.setBackend(name).catch(() => false))) {
      await tf.ready();
      return tf.getBackend();
    }
  }
  throw new ConfigError('chooseBackend: no TF.js backend could be started');
}

/**
 * Makes sure a backend is active: keeps one already chosen (by the user, or by a library loaded
 * earlier), else runs `chooseBackend()`.
 */
export async function ensureBackend(): Promise<string> {
  await starting?.catch(() => {});
  const active = tf.engine().backendName;
  return active ? active : selectBackend();
}

/**
 * Resolves to the active backend's name once it can run ops. Importing genloss starts the
 * backend (`ensureBackend()`) without waiting for it, so an import costs nothing and genloss can be
 * `require`d from CommonJS; `await ready()` (or TF.js's own `await tf.ready()`) once before the
 * first tensor op. genloss's own async entry points (the CLI and the weight-file loaders of
 * `genloss/node`) await it.
 * Before it resolves, a tensor op meets TF.js's "backend 'wasm' has not yet been initialized"
 * error. Rejects with the `ConfigError` of `chooseBackend` when no backend starts.
 */
export async function ready(): Promise<string> {
  // The backend starts at once (TF.js starts one itself if an op comes first); the native kernels
  // register beside it, before `ready` resolves.
  starting ??= Promise.all([ensureBackend(), enableNativeKernelsOnNode()]).then(([name]) => name);
  await starting;
  return tf.getBackend();
}

/**
 * On Node, registers genloss's native convolution kernels for `wasm` (src/backends/native/; they
 * fall back to the wasm ones by themselves). The module is imported by a computed path, so that
 * browser bundles never contain it or its Node built-ins.
 */
async function enableNativeKernelsOnNode(): Promise<void> {
  const versions = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions;
  if (!versions?.node) return;
  const file = `../backends/native/index.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`;
  const native = await import(/* @vite-ignore */ new URL(file, import.meta.url).href);
  native.enableNativeKernels();
}

/** Starts the backend in the background (see {@link ready}); a failure surfaces there. */
export function startBackend(): void {
  ready().catch(() => {});
}
