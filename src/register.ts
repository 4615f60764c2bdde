/**
 * Importing this module registers everything genloss adds to TF.js and to its own registry: the
 * patched gradients, the wasm kernels, the fused loss kernels, and the built-in losses (the
 * catalogue). Registration happens on import, so that no user who forgets an init call gets
 * wrong second-order penalties. It starts no backend: the entry point does (`startBackend()`).
 */
import { registerGradients } from './autodiff/index.ts';
import { registerFusedKernels, registerWasmKernels } from './backends/index.ts';
import './catalogue.ts';

registerGradients();
registerWasmKernels();
registerFusedKernels();
