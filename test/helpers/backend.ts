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
