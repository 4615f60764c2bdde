import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { ConfigError, ShapeError } from '../core/errors.ts';
import { type InputRange, inputRangeOption } from '../core/input-range.ts';
import { checkChoice, lossOptions } from '../core/options.ts';
import { didYouMean } from '../core/suggest.ts';
import { checkTensor } from '../core/validate.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { VGGFeatures, type VGGType, vggIndex, vggLayers } from '../nets/vgg.ts';
import { NetworkLoss, weightsSource } from './network-loss.ts';
import { l1Loss, mseLoss } from './pixelwise.ts';

/** A feature network for `PerceptualLoss`: image N×H×W×3 → `{layer key: N×h×w×C}`. */
export type FeatureFn = (x: tf.Tensor) => Record<string, tf.Tensor>;

/** The perceptual criteria: mean absolute (`'l1'`) or mean squared (`'mse'`) difference. */
export const FEATURE_CRITERIA = ['l1', 'mse'] as const;
/** A feature distance: `'l1'` or `'mse'`. */
export type FeatureCriterion = (typeof FEATURE_CRITERIA)[number];

/**
 * The criteria of `PerceptualLoss`: {@link FEATURE_CRITERIA} and BasicSR's `'l2'` (its name for
 * `'mse'`) and `'fro'` (the Frobenius norm of the difference).
 */
export const PERCEPTUAL_CRITERIA = [...FEATURE_CRITERIA, 'l2', 'fro'] as const;
/** A criterion of `PerceptualLoss`: `'l1'`, `'mse'` (= `'l2'`) or `'fro'`. */
export type PerceptualCriterion = (typeof PERCEPTUAL_CRITERIA)[number];

/** ImageNet mean and std of torchvision's models, for inputs in [0, 1]. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/**
 * `‖a − b‖_F = √Σ(a − b)²` over every element (BasicSR's `torch.norm(a − b, p='fro')`), with a
 * zero gradient where `a = b`, as PyTorch's norm has (√ alone would give 0·∞ = NaN there).
 */
function frobeniusDistance(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const squares = tf.sum(tf.squaredDifference(a, b));
    const zero = tf.equal(squares, 0);
    return tf.where(
      zero,
      tf.zerosLike(squares),
      tf.sqrt(tf.where(zero, tf.onesLike(squares), squares)),
    );
  });
}

/**
 * `mean|a − b|` (`'l1'`), `mean (a − b)²` (`'mse'`, and BasicSR's `'l2'`) over every element
 * (PyTorch `L1Loss`/`MSELoss`), or `‖a − b‖_F` (`'fro'`, BasicSR); any other criterion is a
 * `ConfigError`.
 */
export function featureDistance(
  a: tf.Tensor,
  b: tf.Tensor,
  criterion: PerceptualCriterion,
): tf.Tensor {
  const kind = checkChoice('featureDistance', 'criterion', criterion, PERCEPTUAL_CRITERIA);
  if (kind === 'l1') return l1Loss(a, b);
  return kind === 'fro' ? frobeniusDistance(a, b) : mseLoss(a, b);
}

/**
 * Gram matrix of a feature map (MMagic `PerceptualLoss._gram_mat`):
 * `G = F Fᵀ / (C·H·W)` with F the features reshaped to C × (H·W) per sample.
 *
 * @param features N×H×W×C.
 * @returns N×C×C.
 */
export function gramMatrix(features: tf.Tensor): tf.Tensor3D {
  const f = checkTensor('gramMatrix', 'features', features, 4);
  const [n, h, w, c] = f.shape as number[];
  return tf.tidy(() => {
    const flat = tf.reshape(f, [n, h * w, c]) as tf.Tensor3D;
    return tf.div(tf.matMul(flat, flat, true, false), c * h * w) as tf.Tensor3D;
  });
}

/**
 * The weighted feature distance of two feature dicts: `Σ_k crit(a_k, b_k) · weights[k]`, or of
 * their Gram matrices when `gram` (MMagic's perceptual and style terms before their factors).
 */
export function weightedFeatureDistance(
  a: Record<string, tf.Tensor>,
  b: Record<string, tf.Tensor>,
  weights: Record<string, number>,
  criterion: PerceptualCriterion,
  gram = false,
  owner = 'weightedFeatureDistance',
): tf.Tensor {
  return tf.tidy(() => {
    let total: tf.Tensor = tf.scalar(0);
    for (const [key, weight] of Object.entries(weights)) {
      if (!(key in a) || !(key in b)) {
        throw new ShapeError(
          `${owner}: the feature network returned no layer '${key}' (it returned ${Object.keys(a)
            .map((k) => `'${k}'`)
            .join(', ')})`,
        );
      }
      const fa = gram ? gramMatrix(a[key]) : a[key];
      const fb = gram ? gramMatrix(b[key]) : b[key];
      total = tf.add(total, tf.mul(featureDistance(fa, fb, criterion), weight));
    }
    return total;
  });
}

const layerWeights = z.record(z.string(), z.number().finite());

/**
 * The `features` index of each key of one layer-weights dict of a VGG: all torchvision indices
 * (`'34'`) or all BasicSR layer names (`'conv5_4'`, `'relu5_4'`, `'pool5'`: the `NAMES` of
 * BasicSR's `basicsr/archs/vgg_arch.py`, which are {@link vggLayers}' `name`s). Both kinds in one
 * dict, an index out of range or a name `type` lacks is a `ConfigError`.
 */
function vggKeyIndices(type: VGGType, option: string, keys: string[]): [string, number][] {
  const layers = vggLayers(type);
  const isIndex = (key: string) => /^\d+$/.test(key);
  const indices = keys.filter(isIndex);
  const names = keys.filter((key) => !isIndex(key));
  if (indices.length > 0 && names.length > 0) {
    const quoted = (list: string[]) => list.map((k) => `'${k}'`).join(', ');
    const asNames = indices.map((k) => `'${layers[vggIndex(type, k)].name}' for '${k}'`);
    throw new ConfigError(
      `PerceptualLoss: '${option}' mixes torchvision indices (${quoted(indices)}) and layer names (${quoted(names)}); use one kind, e.g. ${asNames.join(', ')}`,
    );
  }
  return keys.map((key) => {
    if (isIndex(key)) return [key, vggIndex(type, key)];
    const layer = layers.find((l) => l.name === key);
    if (!layer) {
      throw new ConfigError(
        `PerceptualLoss: '${option}' names layer '${key}', which ${type} does not have (its layers: ${layers[0].name} .. ${layers[layers.length - 1].name}, or indices 0..${layers.length - 1}).${didYouMean(
          key,
          layers.map((l) => l.name),
        )}`,
      );
    }
    return [key, layer.index];
  });
}

function perceptualOptions() {
  return lossOptions(
    { loss_name: 'loss_perceptual' },
    {
      layer_weights: layerWeights,
      layer_weights_style: layerWeights.nullable().default(null),
      vgg_type: z.enum(['vgg16', 'vgg19']).default('vgg19'),
      use_input_norm: z.boolean().default(true),
      perceptual_weight: z.number().finite().default(1),
      style_weight: z.number().finite().default(1),
      norm_img: z.boolean().default(true),
      range_norm: z.boolean().nullable().default(null),
      pretrained: z.string().default('torchvision://vgg19'),
      criterion: z.enum(PERCEPTUAL_CRITERIA).default('l1'),
      input_range: inputRangeOption,
    },
  );
}

/** The config of `PerceptualLoss` (MMagic's keys, and BasicSR's `range_norm`). */
export type PerceptualLossOptions = z.input<ReturnType<typeof perceptualOptions>>;

/**
 * `PerceptualLoss` (MMagic; BasicSR's `PerceptualLoss` configs port too): perceptual and style
 * (Gram) distances of VGG features.
 *
 * ```
 * if norm_img: x, gt ← (x + 1)/2, (gt + 1)/2
 * if use_input_norm: x, gt ← (x − mean)/std               (ImageNet statistics)
 * F, G = vgg(x), vgg(detach(gt))
 * percep = perceptual_weight · Σ_k crit(F_k, G_k) · layer_weights[k]          (null if weight ≤ 0)
 * style  = style_weight · Σ_k crit(gram(F_k), gram(G_k)) · layer_weights_style[k] (null if ≤ 0)
 * crit(a, b) = mean|a − b| (l1), mean (a − b)² (mse, l2), ‖a − b‖_F = √Σ(a − b)² (fro)
 * ```
 *
 * `layer_weights_style` defaults to `layer_weights`. Layer keys of the VGG are torchvision
 * indices of `features` (`'34'` is conv5_4 of vgg19, `'35'` relu5_4) or BasicSR's layer names
 * (`'conv5_4'`, `'relu5_4'`, `'pool5'`; vgg16 has conv1_1 … conv5_3), one kind per dict; with a
 * network of your own, any keys it returns. Config: `layer_weights` (required),
 * `layer_weights_style` null, `vgg_type` `'vgg19'`, `use_input_norm` true, `perceptual_weight` 1,
 * `style_weight` 1, `norm_img` true, `pretrained` `'torchvision://vgg19'`, `criterion` `'l1'`
 * (`l1|mse|l2|fro`). x and gt are N×H×W×3; both parts are scalars.
 *
 * BasicSR's keys (`basicsr/losses/basic_loss.py`), where MMagic's meaning and defaults win:
 * `range_norm` is BasicSR's name for `norm_img` (given alone it sets it; both given and different
 * is a `ConfigError`; BasicSR's default is false, MMagic's true). `criterion` `'fro'` is
 * BasicSR's `torch.norm(F_k − G_k, p='fro')`, the Frobenius norm over the whole N×h×w×C batch
 * tensor (of the N×C×C Gram matrices for style), with a zero gradient where they are equal as
 * PyTorch's; `'l2'` is BasicSR's name for `'mse'`. BasicSR's `style_weight` default is 0 and it
 * has no `layer_weights_style` (style uses `layer_weights`, as here when it is null). Both return
 * `None` for a part whose weight is ≤ 0 (`if weight > 0`), as here: no difference there.
 *
 * genloss additions: `loss_weight` (1) multiplies both parts; `input_range` is checked on both
 * images (default: the range MMagic assumes, [−1, 1] with `norm_img`, else [0, 1] with
 * `use_input_norm`, else no check); the network is pluggable.
 * Unlike MMagic, `pretrained` is honoured: the weights come from the file you load (no download):
 * `loss.loadWeights(bytes)` in any environment, or `loadPerceptualWeights(loss)` from
 * `genloss/node` which reads `pretrained` as a path. A `FeatureFn` may replace the VGG.
 */
export class PerceptualLoss extends NetworkLoss<ReturnType<typeof perceptualOptions>, FeatureFn> {
  static override readonly lossType = 'PerceptualLoss';
  static override readonly options = perceptualOptions();

  /**
   * @param cfg MMagic's config keys (and BasicSR's `range_norm`, `criterion` `'l2'`/`'fro'`,
   *   layer names).
   * @param network the VGG (a `VGGFeatures`) or any feature function; else call `loadWeights`.
   */
  constructor(cfg: PerceptualLossOptions, network?: VGGFeatures | FeatureFn) {
    super(cfg);
    const { vgg_type, pretrained, range_norm } = this.cfg;
    if (range_norm !== null) {
      if (cfg.norm_img !== undefined && cfg.norm_img !== range_norm) {
        throw new ConfigError(
          `PerceptualLoss: 'range_norm' (BasicSR's name for 'norm_img') is ${range_norm} but 'norm_img' is ${cfg.norm_img}; give one of them, or both equal`,
        );
      }
      // The loss reads `norm_img` only; the parsed config shows the value in force.
      this.cfg.norm_img = range_norm;
    }
    // MMagic's `PerceptualVGG` assertion, on the weights the loss is to load: a network passed
    // here replaces them.
    if (!network && pretrained.startsWith('torchvision://') && !pretrained.includes(vgg_type)) {
      throw new ConfigError(
        `PerceptualLoss: 'pretrained' ${pretrained} does not match vgg_type '${vgg_type}'`,
      );
    }
    // With a network of the user's own, the layer keys are whatever it returns.
    if (!network || network instanceof VGGFeatures) this.vggTaps();
    if (network) this.setNetwork(network);
  }

  /** The layer keys the loss reads (perceptual and style). */
  get layers(): string[] {
    const keys = new Set(Object.keys(this.cfg.layer_weights));
    for (const k of Object.keys(this.cfg.layer_weights_style ?? {})) keys.add(k);
    return [...keys];
  }

  /** The VGG `features` index of each layer key ({@link vggKeyIndices} per dict). */
  private vggTaps(): Map<string, number> {
    const { vgg_type, layer_weights, layer_weights_style } = this.cfg;
    return new Map([
      ...vggKeyIndices(vgg_type, 'layer_weights', Object.keys(layer_weights)),
      ...vggKeyIndices(vgg_type, 'layer_weights_style', Object.keys(layer_weights_style ?? {})),
    ]);
  }

  /**
   * The range MMagic's `PerceptualLoss` assumes: [−1, 1] with `norm_img` (which maps it to
   * [0, 1]), else [0, 1] with `use_input_norm` (ImageNet statistics are for [0, 1]), else none.
   */
  protected override get assumedRange(): InputRange {
    const { norm_img, use_input_norm } = this.cfg;
    return norm_img ? [-1, 1] : use_input_norm ? [0, 1] : 'any';
  }

  /**
   * Uses `network` (not owned: the caller disposes a `VGGFeatures` it passes). A `VGGFeatures`
   * returns its taps under the config's layer keys (indices or BasicSR names).
   */
  setNetwork(network: VGGFeatures | FeatureFn): void {
    if (!(network instanceof VGGFeatures)) {
      this.useNetwork(network);
      return;
    }
    const taps = [...this.vggTaps()];
    const run = network.extractor([...new Set(taps.map(([, index]) => String(index)))]);
    this.useNetwork((x) => {
      const out = run(x);
      return Object.fromEntries(taps.map(([key, index]) => [key, out[String(index)]]));
    });
  }

  /**
   * Loads torchvision `vgg16`/`vgg19` weights (a safetensors file's bytes, or a `TensorSource`)
   * for `vgg_type`, keeping only the layers up to the deepest one used. The loss owns them.
   */
  loadWeights(
    weights: ArrayBuffer | ArrayBufferView | TensorSource,
    source = this.cfg.pretrained,
  ): void {
    const upTo = Math.max(...this.vggTaps().values());
    const vgg = VGGFeatures.load(this.cfg.vgg_type, weightsSource(weights, source), { upTo });
    this.setNetwork(vgg);
    this.own(vgg);
  }

  /**
   * @param x the prediction, N×H×W×3 in `inputRange`.
   * @param gt the target, same shape (no gradient flows into it).
   * @returns `[percep, style]`, scalars, each null when its weight is ≤ 0.
   */
  forward(x: tf.Tensor, gt: tf.Tensor): [tf.Tensor | null, tf.Tensor | null] {
    const owner = 'PerceptualLoss';
    const [px, pg, net] = this.checkImages(
      ['x', x],
      ['gt', gt],
      () =>
        `${owner}: no VGG weights loaded (MMagic would download ${this.cfg.pretrained}); call loss.loadWeights(bytes), loadPerceptualWeights(loss) from genloss/node, or pass a network`,
    );
    const { perceptual_weight, style_weight, criterion, layer_weights } = this.cfg;
    const styleWeights = this.cfg.layer_weights_style ?? layer_weights;
    const parts = tf.tidy(() => {
      const prep = (t: tf.Tensor) => {
        let y = this.cfg.norm_img ? tf.div(tf.add(t, 1), 2) : t;
        if (this.cfg.use_input_norm) {
          y = tf.div(tf.sub(y, tf.tensor1d([...IMAGENET_MEAN])), tf.tensor1d([...IMAGENET_STD]));
        }
        return y;
      };
      const fx = net(prep(px));
      const fg = net(prep(stopGradient(pg)));
      // A term: `weight · loss_weight ·` its feature distance, null when `weight` ≤ 0.
      const term = (weight: number, layers: Record<string, number>, gram: boolean) =>
        weight > 0
          ? tf.mul(
              weightedFeatureDistance(fx, fg, layers, criterion, gram, owner),
              weight * this.lossWeight,
            )
          : null;
      const percep = term(perceptual_weight, layer_weights, false);
      const style = term(style_weight, styleWeights, true);
      return { percep, style } as Record<string, tf.Tensor>;
    });
    return [parts.percep ?? null, parts.style ?? null];
  }
}
