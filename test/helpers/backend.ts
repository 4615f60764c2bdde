import { after, before, describe } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { chooseBackend } from '../../src/index.ts';

/**
 * The backend tests run on: `GENLOSS_BACKEND`, else `wasm` (the default on Node; genloss
 * registers the kernels it needs for training, src/backends). `GENLOSS_BACKEND=cpu` runs the
 * suite on TF.js's reference backend.
 */
export async function useTestBackend(): Promise<string> {
  return chooseBackend(process.env.GENLOSS_BACKEND ?? 'wasm');
}

/** The backends the reference cases are checked on. */
export const REFERENCE_BACKENDS = ['cpu', 'wasm'] as const;

export { tf };

/**
 * Declares a suite once per reference backend, titled `${title} on ${backend}`: its tests run on
 * that backend (chosen before them, after which `onEnter` runs) and the previous backend comes
 * back after them.
 */
export function describeOnEachBackend(
  title: string,
  body: (backend: string) => void,
  onEnter: () => void = () => {},
): void {
  for (const backend of REFERENCE_BACKENDS) {
    describe(`${title} on ${backend}`, () => {
      let previous = '';
      before(async () => {
        previous = tf.getBackend();
        await chooseBackend(backend);
        onEnter();
      });
      after(async () => {
        await chooseBackend(previous);
      });
      body(backend);
    });
  }
}
