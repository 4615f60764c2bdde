/**
 * Loading network weights from files (Node.js only; exported by `genloss/node`).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ready } from '../core/backend.ts';
import { WeightsError } from '../core/errors.ts';
import { parseSafetensors, type SafetensorsFile } from '../io/safetensors.ts';
import { TfjsWeights } from '../io/tfjs-weights.ts';
import type { CLIPLoss } from '../losses/clip.ts';
import type { FaceIdLoss } from '../losses/face-id.ts';
import type { DISTS, LPIPS } from '../losses/learned-perceptual.ts';
import type { LightCNNFeatureLoss } from '../losses/lightcnn.ts';
import type { PerceptualLoss } from '../losses/perceptual.ts';
import { DlibFaceRecognitionNet } from '../nets/face-recognition.ts';

/** Reads a file into bytes; a missing or unreadable file is a `WeightsError` naming it. */
export async function readWeightsFile(path: string, what = 'weights'): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new WeightsError(`cannot read ${what} file ${path}: ${(err as Error).message}`);
  }
}

/**
 * Reads and validates a `.safetensors` file. Waits for the backend (`ready()`), since the tensors
 * it yields, and the networks built from them, need one.
 */
export async function loadSafetensorsFile(path: string): Promise<SafetensorsFile> {
  await ready();
  return parseSafetensors(await readWeightsFile(path, 'safetensors'), path);
}

/**
 * Reads a TF.js weights manifest (`*-weights_manifest.json`, or a `model.json`) and its shard
 * files (paths relative to the manifest), and decodes them with validation. Waits for the backend
 * (`ready()`), as {@link loadSafetensorsFile}.
 */
export async function loadTfjsWeightsFile(manifestPath: string): Promise<TfjsWeights> {
  await ready();
  const text = new TextDecoder().decode(await readWeightsFile(manifestPath, 'weights manifest'));
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (err) {
    throw new WeightsError(`${manifestPath}: not JSON (${(err as Error).message})`);
  }
  const groups = (
    manifest && typeof manifest === 'object' && 'weightsManifest' in manifest
      ? (manifest as { weightsManifest: unknown }).weightsManifest
      : manifest
  ) as { paths?: unknown }[];
  if (!Array.isArray(groups)) throw new WeightsError(`${manifestPath}: not a weights manifest`);
  const shards: Uint8Array[] = [];
  for (const group of groups) {
    const paths = Array.isArray(group?.paths) ? (group.paths as unknown[]) : [];
    for (const p of paths) {
      if (typeof p !== 'string' || p.includes('..')) {
        throw new WeightsError(`${manifestPath}: invalid shard path ${JSON.stringify(p)}`);
      }
      shards.push(await readWeightsFile(join(dirname(manifestPath), p), 'weights shard'));
    }
  }
  return TfjsWeights.parse(groups, shards, manifestPath);
}

/** The `model/` folder of the installed `@vladmandic/face-api` package. */
export function faceApiModelDir(): string {
  try {
    return join(
      dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
      'model',
    );
  } catch {
    throw new WeightsError(
      'the dlib face-recognition weights come from the npm package @vladmandic/face-api, which is not installed',
    );
  }
}

/** face-api's `face_recognition_model` weights (dlib ResNet, public domain), read from the package. */
export async function loadFaceApiRecognitionWeights(): Promise<TfjsWeights> {
  return loadTfjsWeightsFile(
    join(faceApiModelDir(), 'face_recognition_model-weights_manifest.json'),
  );
}

/** The dlib face-recognition ResNet with face-api's shipped weights. */
export async function loadFaceApiRecognitionNet(): Promise<DlibFaceRecognitionNet> {
  return DlibFaceRecognitionNet.load(await loadFaceApiRecognitionWeights());
}

/** Loads a `PerceptualLoss`'s VGG from the safetensors file at `path` (default: `cfg.pretrained`). */
export async function loadPerceptualWeights(
  loss: PerceptualLoss,
  path = loss.cfg.pretrained,
): Promise<void> {
  if (path.startsWith('torchvision://')) {
    throw new WeightsError(
      `PerceptualLoss: pretrained is ${path}; genloss does not download: export torchvision's weights to safetensors (docs/weights.md) and pass the file's path`,
    );
  }
  loss.loadWeights(await loadSafetensorsFile(path));
}

/** Loads a `LightCNNFeatureLoss`'s network from the safetensors file at `path` (default: `cfg.pretrained`). */
export async function loadLightCNNWeights(
  loss: LightCNNFeatureLoss,
  path = loss.cfg.pretrained,
): Promise<void> {
  if (path === undefined) {
    throw new WeightsError(
      "LightCNNFeatureLoss: 'pretrained' is not set; pass the path of the LightCNN weights converted to safetensors (docs/weights.md)",
    );
  }
  loss.loadWeights(await loadSafetensorsFile(path));
}

/**
 * Loads a `FaceIdLoss`'s facenet: ArcFace from the safetensors file at `path` (default:
 * `facenet.ir_se50_weights`), dlib from `@vladmandic/face-api` (or the manifest at `path`).
 */
export async function loadFaceIdWeights(loss: FaceIdLoss, path?: string): Promise<void> {
  const facenet = loss.cfg.facenet;
  if (facenet.type === 'ArcFace') {
    const file = path ?? facenet.ir_se50_weights;
    if (!file) {
      throw new WeightsError(
        'FaceIdLoss: facenet.ir_se50_weights is null; pass the path of the IR-SE50 weights converted to safetensors (docs/weights.md)',
      );
    }
    loss.loadWeights(await loadSafetensorsFile(file));
  } else {
    loss.loadWeights(
      path ? await loadTfjsWeightsFile(path) : await loadFaceApiRecognitionWeights(),
    );
  }
}

/** Loads a `CLIPLoss`'s model from a Hugging Face `model.safetensors` at `path` (default: `clip_model.weights`). */
export async function loadCLIPWeights(
  loss: CLIPLoss,
  path = loss.cfg.clip_model.weights,
): Promise<void> {
  if (!path) {
    throw new WeightsError(
      "CLIPLoss: clip_model.weights is null; pass the path of openai/clip-vit-base-patch32's model.safetensors",
    );
  }
  loss.loadWeights(await loadSafetensorsFile(path));
}

/**
 * Loads an `LPIPS` or `DISTS` loss's VGG16 from the safetensors file at `paths.pretrained`
 * (default `cfg.pretrained`) and, when it needs them, its heads from `paths.model_path`
 * (default `cfg.model_path`).
 */
async function loadLearnedVGG16Weights(
  loss: LPIPS | DISTS,
  { pretrained = loss.cfg.pretrained, model_path = loss.cfg.model_path }: LearnedWeightPaths,
  heads: string,
): Promise<void> {
  if (pretrained.startsWith('torchvision://')) {
    throw new WeightsError(
      `${loss.lossType}: pretrained is ${pretrained}; genloss does not download: export torchvision's VGG16 to safetensors (docs/weights.md) and pass the file's path`,
    );
  }
  if (loss.needsHeads && !model_path) {
    throw new WeightsError(
      `${loss.lossType}: model_path is null; pass the path of ${heads} converted to safetensors (docs/weights.md)`,
    );
  }
  const backbone = await loadSafetensorsFile(pretrained);
  const weights = loss.needsHeads ? await loadSafetensorsFile(model_path as string) : null;
  loss.loadWeights(backbone, weights);
}

/** The files of {@link loadLPIPSWeights} and {@link loadDISTSWeights}, by config key. */
export interface LearnedWeightPaths {
  /** The VGG16 safetensors. Default: the loss's `pretrained`. */
  pretrained?: string;
  /** The heads' safetensors. Default: the loss's `model_path`. */
  model_path?: string | null;
}

/**
 * Loads an `LPIPS` loss's VGG16 (`pretrained`) and, with `lpips: true`, its heads
 * (`model_path`: lpips's `weights/v0.1/vgg.pth` as safetensors) from files.
 */
export async function loadLPIPSWeights(loss: LPIPS, paths: LearnedWeightPaths = {}): Promise<void> {
  await loadLearnedVGG16Weights(loss, paths, "lpips's weights/v0.1/vgg.pth");
}

/**
 * Loads a `DISTS` loss's VGG16 (`pretrained`) and its `alpha`/`beta` (`model_path`:
 * `DISTS_pytorch/weights.pt` as safetensors) from files.
 */
export async function loadDISTSWeights(loss: DISTS, paths: LearnedWeightPaths = {}): Promise<void> {
  await loadLearnedVGG16Weights(loss, paths, "DISTS_pytorch's weights.pt (alpha, beta)");
}
