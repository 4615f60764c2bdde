import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../core/errors.ts';
import { checkOptions, checkTensor, type Options } from '../core/validate.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { maxPool2d } from '../ops/pooling.ts';
import { conv2d } from './layers.ts';
import { LoadedNet, WeightReader } from './weights.ts';

/** The VGG variants of torchvision that PerceptualLoss uses. */
export type VGGType = 'vgg16' | 'vgg19';

/** torchvision's configurations: channel counts of the convolutions, `'M'` a 2×2 max-pool. */
const CONFIGS: Record<VGGType, (number | 'M')[]> = {
  vgg16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  vgg19: [
    64,
    64,
    'M',
    128,
    128,
    'M',
    256,
    256,
    256,
    256,
    'M',
    512,
    512,
    512,
    512,
    'M',
    512,
    512,
    512,
    512,
    'M',
  ],
};

/** One layer of `vgg.features`, at its torchvision index. */
export interface VGGLayer {
  /** torchvision's index in `features` (`'0'`, `'1'`, …), the key used by `layer_weights`. */
  index: number;
  kind: 'conv' | 'relu' | 'pool';
  /** The conventional name: `conv3_4`, `relu3_4`, `pool3`. */
  name: string;
  /** torchvision's channel count (conv and relu layers); a loaded net may have other widths. */
  channels?: number;
}

/** The layers of torchvision's `vgg16().features` or `vgg19().features`, by index. */
export function vggLayers(type: VGGType): VGGLayer[] {
  const layers: VGGLayer[] = [];
  let block = 1;
  let conv = 1;
  for (const v of CONFIGS[type]) {
    if (v === 'M') {
      layers.push({ index: layers.length, kind: 'pool', name: `pool${block}` });
      block += 1;
      conv = 1;
    } else {
      layers.push({
        index: layers.length,
        kind: 'conv',
        name: `conv${block}_${conv}`,
        channels: v,
      });
      layers.push({
        index: layers.length,
        kind: 'relu',
        name: `relu${block}_${conv}`,
        channels: v,
      });
      conv += 1;
    }
  }
  return layers;
}

/** Checks `vgg_type` and returns its layers; a `ConfigError` for an unknown type. */
function layersOf(type: string): VGGLayer[] {
  if (type !== 'vgg16' && type !== 'vgg19') {
    throw new ConfigError(`VGG: 'vgg_type' must be vgg16|vgg19, got '${type}'`);
  }
  return vggLayers(type);
}

/** Options of `VGGFeatures.load`. */
export interface VGGLoadOptions {
  /** Load and run `features[0..upTo]` only (PyTorch's `features[:upTo + 1]`). Default: all. */
  upTo?: number;
  /** Key prefix of the conv weights. Default `'features.'` (torchvision's state dict). */
  prefix?: string;
  /**
   * The pooling layers: `'max'` (torchvision's 2×2 max-pool, the default) or `'l2'` (DISTS's
   * `L2pooling`, {@link l2Pool2d}, which replaces every max-pool of its VGG16).
   */
  pool?: 'max' | 'l2';
}

/**
 * DISTS's `L2pooling` (DISTS_pytorch/DISTS_pt.py, `filter_size` 5, stride 2): per channel,
 * `sqrt(conv2d(x², g, stride 2, padding 1) + 1e-12)` with the 3×3 window `g = a aᵀ / Σ a aᵀ`,
 * `a = np.hanning(5)[1:-1] = [0.5, 1, 0.5]`, so `g = [1, 2, 1]ᵀ[1, 2, 1] / 16`.
 *
 * @param x N×H×W×C. @returns N×⌈H/2⌉×⌈W/2⌉×C.
 */
export function l2Pool2d(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const window = [1, 2, 1].flatMap((r) => [1, 2, 1].map((c) => (r * c) / 16));
    const filter = tf.tile(tf.tensor4d(window, [3, 3, 1, 1]), [1, 1, x.shape[3], 1]);
    const padded = tf.pad(tf.square(x), [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]) as tf.Tensor4D;
    const pooled = tf.depthwiseConv2d(padded, filter as tf.Tensor4D, 2, 'valid');
    return tf.sqrt(tf.add(pooled, 1e-12)) as tf.Tensor4D;
  });
}

/**
 * torchvision's VGG16/VGG19 `features` stack (MMagic's `PerceptualVGG` without the input
 * normalisation), in NHWC: 3×3 convolutions with padding 1 and bias, ReLU, 2×2 max-pools (or
 * DISTS's L2 pooling, load option `pool: 'l2'`). Layers
 * are addressed by torchvision's indices, so a conv tap is the pre-ReLU value and a ReLU or pool
 * tap the post-activation one, as in PyTorch.
 *
 * Weights: torchvision's state dict (`features.N.weight` OIHW, `features.N.bias`) as safetensors
 * (see docs/weights.md). The widths are read from the file, so a VGG-shaped network with other
 * widths loads too; every conv must be 3×3 and its input width must equal the previous output
 * (3 for the first), else a `WeightsError`.
 */
export class VGGFeatures extends LoadedNet {
  /** The layers this instance runs (`features[0..upTo]`). */
  readonly layers: VGGLayer[];
  /** The pooling layers' kind (load option `pool`). */
  readonly pool: 'max' | 'l2';
  private readonly convs = new Map<number, { w: tf.Tensor; b: tf.Tensor }>();

  private constructor(
    readonly type: VGGType,
    src: TensorSource,
    { upTo, prefix = 'features.', pool = 'max' }: VGGLoadOptions,
  ) {
    super();
    if (pool !== 'max' && pool !== 'l2') {
      throw new ConfigError(`VGGFeatures(${type}): 'pool' must be 'max'|'l2', got '${pool}'`);
    }
    this.pool = pool;
    const all = layersOf(type);
    const last = upTo ?? all.length - 1;
    if (!Number.isInteger(last) || last < 0 || last >= all.length) {
      throw new ConfigError(
        `VGGFeatures(${type}): 'upTo' must be an index in 0..${all.length - 1}, got ${upTo}`,
      );
    }
    this.layers = all.slice(0, last + 1);
    const reader = new WeightReader(`VGGFeatures(${type})`, src, prefix);
    let inChannels = 3;
    try {
      for (const layer of this.layers) {
        if (layer.kind !== 'conv') continue;
        const [out] = reader.values(`${layer.index}.weight`, [null, inChannels, 3, 3]).shape;
        const w = reader.conv(`${layer.index}.weight`, [out, inChannels, 3, 3]);
        const b = reader.tensor(`${layer.index}.bias`, [out]);
        this.convs.set(layer.index, { w, b });
        inChannels = out;
      }
    } catch (err) {
      tf.dispose(reader.tensors);
      throw err;
    }
    this.own(reader);
  }

  /** Builds the network from a state dict (`TensorSource`), validating every weight. */
  static load(type: VGGType, src: TensorSource, options?: Options<VGGLoadOptions>): VGGFeatures {
    return new VGGFeatures(
      type,
      src,
      checkOptions(
        'VGGFeatures.load',
        3,
        options,
        'VGGFeatures.load(type, src, {upTo, prefix, pool})',
      ),
    );
  }

  /**
   * Runs the layers up to the deepest requested index and returns the requested outputs.
   *
   * @param x N×H×W×3 (already normalised as the weights expect).
   * @param taps layer indices as strings (`['2', '7']`).
   * @returns `{index: N×h×w×C}` for each tap.
   */
  run(x: tf.Tensor, taps: readonly string[]): Record<string, tf.Tensor> {
    const input = checkTensor(`VGGFeatures(${this.type})`, 'x', x, 4);
    const wanted = new Set(taps.map((t) => vggIndex(this.type, t, this.layers.length - 1)));
    const deepest = Math.max(...wanted);
    return tf.tidy(() => {
      const out: Record<string, tf.Tensor> = {};
      let h = input as tf.Tensor4D;
      for (const layer of this.layers) {
        if (layer.index > deepest) break;
        if (layer.kind === 'conv') {
          const { w, b } = this.convs.get(layer.index)!;
          h = conv2d(h, w, b, 1, 1);
        } else if (layer.kind === 'relu') {
          h = tf.relu(h);
        } else {
          h = this.pool === 'l2' ? l2Pool2d(h) : maxPool2d(h, 2, 2, false);
        }
        if (wanted.has(layer.index)) out[String(layer.index)] = h;
      }
      return out;
    });
  }

  /** `(x) => run(x, taps)`: the feature function a perceptual loss takes. */
  extractor(taps: readonly string[]): (x: tf.Tensor) => Record<string, tf.Tensor> {
    return (x) => this.run(x, taps);
  }
}

/**
 * Parses a layer key of `layer_weights` (`'34'`) into an index of the VGG type's `features`
 * (0..36 for vgg19, 0..30 for vgg16, or ≤ `max`); a `ConfigError` otherwise.
 */
export function vggIndex(type: VGGType, key: string, max?: number): number {
  const layers = layersOf(type);
  const limit = max ?? layers.length - 1;
  const index = /^\d+$/.test(key) ? Number(key) : Number.NaN;
  if (!(index >= 0 && index <= limit)) {
    throw new ConfigError(
      `VGG(${type}): layer '${key}' is not an index of features (0..${limit}; e.g. ${layers
        .filter((l) => l.kind === 'relu')
        .slice(0, 3)
        .map((l) => `'${l.index}' = ${l.name}`)
        .join(', ')})`,
    );
  }
  return index;
}
