/**
 * Points the wasm backend at the files the Node test serves under /wasm/. Imported by page.ts
 * before genloss, whose import starts a backend (and the wasm paths must be set before that).
 */
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

setWasmPaths('/wasm/');
