/**
 * Reprints the error column of docs/second-order.md: every case of `cases.ts` through
 * `checkSecondOrder`, first with TF.js's own gradients, then with genloss's.
 * Run: `node --import tsx test/autodiff/measure.ts` (cpu backend; `wasm` as first argument).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { checkSecondOrder, registerGradients } from '../../src/autodiff/index.ts';
import { CASES } from './cases.ts';

await tf.setBackend(process.argv[2] ?? 'cpu');

function measure(label: string): void {
  for (const c of CASES) {
    const inputs = c.inputs();
    try {
      const r = checkSecondOrder(c.fn, inputs);
      const orders = `first ${r.firstOrder.map((e) => e.toExponential(1))}, second ${r.secondOrder.map((e) => e.toExponential(1))}`;
      console.log(`${label} | ${c.name} | ${r.maxRelError.toExponential(1)} | ${orders}`);
    } catch (e) {
      console.log(`${label} | ${c.name} | throws: ${(e as Error).message}`);
    } finally {
      tf.dispose(inputs);
    }
  }
}

measure('TF.js 4.22');
registerGradients();
measure('genloss');
