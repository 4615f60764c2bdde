/**
 * genloss for Node.js: everything of the browser entry point, plus loading configs and network
 * weights from files (src/node/).
 */
export * from './index.ts';
export { loadConfigFile } from './node/config.ts';
export {
  type LoadedWeights,
  type LossWeightsSource,
  loadLossWeights,
} from './node/loss-weights.ts';
export {
  faceApiModelDir,
  type LearnedWeightPaths,
  loadCLIPWeights,
  loadDISTSWeights,
  loadFaceApiRecognitionNet,
  loadFaceApiRecognitionWeights,
  loadFaceIdWeights,
  loadLightCNNWeights,
  loadLPIPSWeights,
  loadPerceptualWeights,
  loadSafetensorsFile,
  loadTfjsWeightsFile,
  readWeightsFile,
} from './node/weights.ts';
