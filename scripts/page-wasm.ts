/**
 * The wasm set-up of every page genloss serves to a browser (the browser tests' page, the browser
 * benchmark's page, the playground), imported by each before genloss, whose import starts a
 * backend: TF.js's wasm files come from `/wasm/` (scripts/isolated-server.ts serves them there),
 * and on a cross-origin-isolated page (where TF.js picks its threaded SIMD binary) that binary
 * runs with one thread per logical core (at most TF.js's 8). A page that is not isolated gets
 * TF.js's single-threaded binary, untouched.
 *
 * TF.js 4.22 gives no more than `navigator.hardwareConcurrency / 2` threads, whatever
 * `setThreadsCount` asks: its `init_with_threads_count` (tfjs-backend-wasm/src/cc/backend.cc)
 * caps the count at `num_cores`, a global set to `emscripten_num_logical_cores() / 2` (that is,
 * `navigator.hardwareConcurrency / 2`, assuming two hyper-threads a core) when the wasm module
 * starts. On 2 logical cores that is 1 thread. So the wasm backend's factory is wrapped: while it
 * creates the backend (the module's start and `init_with_threads_count`), `hardwareConcurrency`
 * reads twice the wanted count, and then the browser's own value again.
 */
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** The page URL's parameter that sets the thread count (`?wasm-threads=1`), for the benchmark. */
const THREADS_PARAMETER = 'wasm-threads';

/** The threads the wasm backend is asked for: the URL's `wasm-threads`, else the logical cores. */
function wantedThreads(): number {
  const given = new URLSearchParams(globalThis.location?.search ?? '').get(THREADS_PARAMETER);
  if (given === null) return navigator.hardwareConcurrency;
  const threads = Number(given);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`page-wasm: ?${THREADS_PARAMETER}= must be a positive integer, got '${given}'`);
  }
  return threads;
}

/**
 * Re-registers the wasm backend (same priority) with a factory that shows TF.js's module twice
 * `threads` logical cores while it starts, so that its halving cap lets `threads` through.
 */
function liftThreadCap(threads: number): void {
  const registered = tf.engine().registryFactory.wasm;
  if (!registered) throw new Error('page-wasm: the wasm backend is not registered');
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      Object.defineProperty(navigator, 'hardwareConcurrency', {
        configurable: true,
        get: () => 2 * threads,
      });
      try {
        return await registered.factory();
      } finally {
        // The own property goes; Navigator.prototype's getter answers again.
        delete (navigator as { hardwareConcurrency?: number }).hardwareConcurrency;
      }
    },
    registered.priority,
  );
}

setWasmPaths('/wasm/');
if (globalThis.crossOriginIsolated) {
  const threads = wantedThreads();
  setThreadsCount(threads);
  liftThreadCap(threads);
}
