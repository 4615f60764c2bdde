import * as tf from '@tensorflow/tfjs';
import { chooseBackend } from '../../src/index.ts';

/** The backend tests run on: `GENLOSS_BACKEND`, else `cpu` (the reference backend). */
export async function useTestBackend(): Promise<string> {
  return chooseBackend(process.env.GENLOSS_BACKEND ?? 'cpu');
}

/** The backends the reference cases are checked on. */
export const REFERENCE_BACKENDS = ['cpu', 'wasm'] as const;

export { tf };
