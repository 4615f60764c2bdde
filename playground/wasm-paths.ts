/**
 * Points the wasm backend at the files scripts/playground.ts serves under /wasm/. Imported by
 * main.ts before genloss, whose import starts a backend (the paths must be set before that).
 */
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

setWasmPaths('/wasm/');
