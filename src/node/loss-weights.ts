/**
 * Loading the network weights of a config's losses from the paths in the config (Node.js only;
 * `genloss train` and `genloss check` call it after building the trainer).
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { CLIPLossComps } from '../components/clip.ts';
import { FaceIdLossComps } from '../components/face-id.ts';
import { WeightsError } from '../core/errors.ts';
import type { LossModule } from '../core/module.ts';
import type { SafetensorsFile } from '../io/safetensors.ts';
import { CLIPLoss } from '../losses/clip.ts';
import { FaceIdLoss } from '../losses/face-id.ts';
import { DISTS, LPIPS } from '../losses/learned-perceptual.ts';
import { LightCNNFeatureLoss } from '../losses/lightcnn.ts';
import { NetworkLoss } from '../losses/network-loss.ts';
import { PerceptualLoss } from '../losses/perceptual.ts';
import { faceApiModelDir, loadFaceApiRecognitionWeights, loadSafetensorsFile } from './weights.ts';

/** One weights file a loss read: the config key that names it and the file's resolved path. */
export interface LoadedWeights {
  /** The key path in the config, e.g. `model.perceptual_loss.pretrained`. */
  key: string;
  /** The file read (a relative path in the config resolved against the config's folder). */
  file: string;
}

/** Where the config sits, for key paths in errors and relative weights paths. */
export interface LossWeightsSource {
  /** The whole config as given (its `model` holds the loss configs). */
  config: unknown;
  /** The folder relative weights paths are resolved against: the config file's. */
  configDir: string;
}

/** A weights file a loss's config names: the key under the loss's config, its value, what it holds. */
interface WeightsKey {
  key: string;
  path: string | null | undefined;
  holds: string;
}

/** The files a network loss reads from its config, and how it builds its network from them. */
interface WeightsPlan {
  keys: WeightsKey[];
  /** Builds the network from the files of `keys`, in their order. */
  load(files: SafetensorsFile[]): void | Promise<void>;
  /** For weights that ship with a package instead: the key that selects them. */
  shipped?: string;
}

/** The loss that runs the network: the module, or the loss a `*Comps` wraps. */
function networkLossOf(module: LossModule): LossModule {
  return module instanceof FaceIdLossComps || module instanceof CLIPLossComps
    ? module.loss
    : module;
}

/** How `loss` loads its network, by its own config keys; null when it runs none or has one. */
function weightsPlan(loss: LossModule): WeightsPlan | null {
  if (!(loss instanceof NetworkLoss) || loss.hasNetwork) return null;
  if (loss instanceof PerceptualLoss) {
    const { pretrained, vgg_type } = loss.cfg;
    return {
      keys: [{ key: 'pretrained', path: pretrained, holds: `torchvision's ${vgg_type}` }],
      load: ([vgg]) => loss.loadWeights(vgg),
    };
  }
  if (loss instanceof LPIPS || loss instanceof DISTS) {
    const { pretrained, model_path } = loss.cfg;
    const heads = loss instanceof LPIPS ? "lpips's weights/v0.1/vgg.pth" : "DISTS's alpha and beta";
    return {
      keys: [
        { key: 'pretrained', path: pretrained, holds: "torchvision's vgg16" },
        ...(loss.needsHeads ? [{ key: 'model_path', path: model_path, holds: heads }] : []),
      ],
      load: ([vgg, weights]) => loss.loadWeights(vgg, weights ?? null),
    };
  }
  if (loss instanceof LightCNNFeatureLoss) {
    return {
      keys: [{ key: 'pretrained', path: loss.cfg.pretrained, holds: "MMagic's LightCNN" }],
      load: ([net]) => loss.loadWeights(net),
    };
  }
  if (loss instanceof FaceIdLoss) {
    const facenet = loss.cfg.facenet;
    if (facenet.type !== 'ArcFace') {
      return {
        keys: [],
        load: async () => loss.loadWeights(await loadFaceApiRecognitionWeights()),
        shipped: 'facenet',
      };
    }
    return {
      keys: [{ key: 'facenet.ir_se50_weights', path: facenet.ir_se50_weights, holds: 'IR-SE50' }],
      load: ([net]) => loss.loadWeights(net),
    };
  }
  if (loss instanceof CLIPLoss) {
    const holds = "openai/clip-vit-base-patch32's model.safetensors";
    return {
      keys: [{ key: 'clip_model.weights', path: loss.cfg.clip_model.weights, holds }],
      load: ([model]) => loss.loadWeights(model),
    };
  }
  return null;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value at a dotted key path under `node` (undefined where a key is absent). */
function valueAt(node: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((v, k) => (isRecord(v) ? v[k] : undefined), node);
}

/**
 * The key path of the loss config in `config` (`model.perceptual_loss`,
 * `model.gen_auxiliary_loss[0]`) whose `type` is `type` and whose `keys` are each the value the
 * loss read or absent (defaulted): the first such config, depth first. Where two configs fit,
 * they name the same files, so either path points at a key to fix.
 */
function lossConfigPath(
  config: unknown,
  type: string,
  keys: readonly WeightsKey[],
  path = '',
): string | null {
  if (Array.isArray(config)) {
    for (const [i, item] of config.entries()) {
      const found = lossConfigPath(item, type, keys, `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  if (!isRecord(config)) return null;
  const fits = keys.every(({ key, path: value }) => {
    const given = valueAt(config, key);
    return given === undefined || given === value;
  });
  if (config.type === type && fits) return path;
  for (const [k, v] of Object.entries(config)) {
    const found = lossConfigPath(v, type, keys, path ? `${path}.${k}` : k);
    if (found !== null) return found;
  }
  return null;
}

/**
 * Checks the value of a weights key and resolves it against `configDir`: a `WeightsError` naming
 * `keyPath` for a value that is not set, a `torchvision://` URL, or a path with no file.
 */
async function weightsFile(
  keyPath: string,
  { path, holds }: WeightsKey,
  configDir: string,
): Promise<string> {
  if (path === null || path === undefined) {
    throw new WeightsError(
      `${keyPath} is not set: give the path of ${holds} as a safetensors file (docs/weights.md says how to export it)`,
    );
  }
  if (path.startsWith('torchvision://')) {
    throw new WeightsError(
      `${keyPath} is ${path}, a file MMagic downloads; genloss downloads nothing: export ${holds} to a safetensors file with the one-line command in docs/weights.md and set ${keyPath} to its path`,
    );
  }
  const file = resolve(configDir, path);
  const found = await stat(file).catch(() => null);
  if (found === null || !found.isFile()) {
    const where = isAbsolute(path) ? '' : ` (${path} relative to the config's folder ${configDir})`;
    throw new WeightsError(
      `${keyPath}: no ${found === null ? 'such file' : 'regular file at'} ${file}${where}; it should hold ${holds} as a safetensors file`,
    );
  }
  return file;
}

/** Runs `load`, prefixing the message of a `WeightsError` it throws with `keyPath`. */
async function naming<T>(keyPath: string, load: () => T | Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (err instanceof WeightsError) throw new WeightsError(`${keyPath}: ${err.message}`);
    throw err;
  }
}

/**
 * Loads the network of every loss in `modules` that runs one and has none (`PerceptualLoss`,
 * `LPIPS`, `DISTS`, `LightCNNFeatureLoss`, `FaceIdLoss`, `CLIPLoss`, and the `FaceIdLossComps`
 * and `CLIPLossComps` that wrap the last two) from the files its own config names: `pretrained`
 * (and `model_path` for LPIPS with `lpips: true` and DISTS), `facenet.ir_se50_weights` for the
 * ArcFace facenet, `clip_model.weights`; the dlib facenet (FaceId's default) from the weights that
 * ship in `@vladmandic/face-api`. A relative path is resolved against `configDir`.
 *
 * Every failure is a `WeightsError` that names the config key path (e.g.
 * `model.perceptual_loss.pretrained`) and the file: a key not set, a `torchvision://` URL
 * (MMagic's default, which genloss does not download: docs/weights.md has the export commands),
 * no such file, a file that is not safetensors, a file without the tensors the network needs.
 * Losses are loaded in order; those loaded before a failure keep their weights (freed with the
 * loss).
 *
 * @param modules e.g. `trainer.lossModules()`.
 * @returns the files read, in order, with their config keys.
 */
export async function loadLossWeights(
  modules: readonly LossModule[],
  { config, configDir }: LossWeightsSource,
): Promise<LoadedWeights[]> {
  const loaded: LoadedWeights[] = [];
  for (const module of modules) {
    const plan = weightsPlan(networkLossOf(module));
    if (plan === null) continue;
    const entry = lossConfigPath(config, module.lossType, plan.keys) ?? module.lossType;
    const files: LoadedWeights[] = [];
    for (const key of plan.keys) {
      const keyPath = `${entry}.${key.key}`;
      files.push({ key: keyPath, file: await weightsFile(keyPath, key, configDir) });
    }
    const sources: SafetensorsFile[] = [];
    for (const { key, file } of files) {
      sources.push(await naming(key, () => loadSafetensorsFile(file)));
    }
    if (plan.shipped) {
      const key = `${entry}.${plan.shipped}`;
      files.push({ key, file: await naming(key, faceApiModelDir) });
    }
    await naming(files.map((f) => f.key).join(' and '), () => plan.load(sources));
    loaded.push(...files);
  }
  return loaded;
}
