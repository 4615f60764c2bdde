import { readFileSync } from 'node:fs';
import type { RefCase } from './reference-cases.ts';

export {
  checkLossCase,
  type NetworkCase,
  type RefCase,
  type RefTensor,
  toTensor,
  toVariables,
  withoutFusedKernels,
} from './reference-cases.ts';

/** Reads and parses `test/reference/<file>`. */
export function readReference<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../reference/${file}`, import.meta.url), 'utf8')) as T;
}

/** Reads the cases of one reference file; only those of `type` when given. */
export function loadCases<C extends { type: string } = RefCase>(file: string, type?: string): C[] {
  const cases = readReference<{ cases: C[] }>(file).cases;
  return type === undefined ? cases : cases.filter((c) => c.type === type);
}

/** The bytes of a weights file the generator wrote to `test/reference/perceptual/`. */
export function weightsFixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`../reference/perceptual/${name}`, import.meta.url)));
}
