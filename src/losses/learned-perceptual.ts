/**
 * Learned perceptual distances on torchvision's VGG16: LPIPS (Zhang et al., "The Unreasonable
 * Effectiveness of Deep Features as a Perceptual Metric", 2018; the official `lpips` package,
 * richzhang/PerceptualSimilarity `lpips/lpips.py`) and DISTS (Ding et al., "Image Quality
 * Assessment: Unifying Structure and Texture Similarity", 2020; `DISTS_pytorch/DISTS_pt.py` of
 * dingkeyan93/DISTS). Both compare the features of the same five VGG16 layers, relu1_2, relu2_2,
 * relu3_3, relu4_3 and relu5_3 (torchvision `features` indices 3, 8, 15, 22, 29), and weigh them
 * with learned weights ("heads") read from a file the user gives; nothing is downloaded
 * (docs/weights.md says where the published weights come from and how to convert them).
 *
 * piq also has classes named `LPIPS` and `DISTS`, with other preprocessing and distances; these
 * follow the official packages.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { describeValue } from '../core/describe.ts';
import { ConfigError, ShapeError, WeightsError } from '../core/errors.ts';
import { type InputRange, inputRangeOption } from '../core/input-range.ts';
import { lossOptions, type OptionsSchema, reductionOption } from '../core/options.ts';
import { reduceLoss } from '../core/reduction.ts';
import { checkOptions, checkSameShape, checkTensor, type Options } from '../core/validate.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { VGGFeatures } from '../nets/vgg.ts';
import { WeightReader } from '../nets/weights.ts';
import { NetworkLoss, weightsSource } from './network-loss.ts';
import { IMAGENET_MEAN, IMAGENET_STD } from './perceptual.ts';

/** The VGG16 layers LPIPS and DISTS compare: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3. */
export const VGG16_TAPS: readonly string[] = ['3', '8', '15', '22', '29'];

/** LPIPS's `ScalingLayer`: `(x − shift) / scale` maps [−1, 1] to ImageNet-normalised values. */
export const LPIPS_SHIFT: readonly number[] = [-0.03, -0.088, -0.188];
export const LPIPS_SCALE: readonly number[] = [0.458, 0.448, 0.45];

/** DISTS's stabilising constants of S1 (`c1`) and S2 (`c2`). */
const DISTS_C1 = 1e-6;
const DISTS_C2 = 1e-6;

/** The VGG16 features LPIPS and DISTS compare: image N×H×W×3 → the five taps, N×h_k×w_k×C_k. */
export type VGG16TapsFn = (x: tf.Tensor) => tf.Tensor[];

/** What {@link lpips} runs: the VGG16 taps and, for the learned metric, the five heads. */
export interface LPIPSNetwork {
  /** VGG16 with max-pools (torchvision's), run on the scaled images. */
  features: VGG16TapsFn;
  /**
   * The heads `lin0`…`lin4`: each the weight of a bias-free 1×1 convolution from C_k channels
   * to 1, any shape holding C_k values (the official state dict's `lin{k}.model.1.weight` is
   * [1, C_k, 1, 1]). `null` when only the plain channel sum is used (`lpips: false`).
   */
  heads: readonly tf.Tensor[] | null;
}

/** What {@link dists} runs: VGG16 with L2 pooling and the learned weights α and β. */
export interface DISTSNetwork {
  /** VGG16 whose max-pools are DISTS's L2 pooling, run on ImageNet-normalised images. */
  features: VGG16TapsFn;
  /** α, the weights of the structure terms S1: 3 + ΣC_k values (official [1, 1475, 1, 1]). */
  alpha: tf.Tensor;
  /** β, the weights of the texture terms S2: as many values as α. */
  beta: tf.Tensor;
}

/** Options of {@link lpips}: the official `LPIPS` constructor's and `forward`'s switches. */
export interface LpipsOptions {
  /** Weigh the channels with the learned heads (`true`) or sum them (`false`). Default true. */
  lpips?: boolean;
  /** Return the distance map (each layer's map upsampled bilinearly) instead of its mean. Default false. */
  spatial?: boolean;
  /** The images are in [0, 1] and are mapped to [−1, 1] first (`2x − 1`). Default false. */
  normalize?: boolean;
}

function checkBoolean(owner: string, key: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new ConfigError(`${owner}: '${key}' must be a boolean, got ${describeValue(value)}`);
  }
  return value;
}

/** Checks two N×H×W×3 images of one shape; returns them. */
function checkPair(
  owner: string,
  [nameA, a]: [string, unknown],
  [nameB, b]: [string, unknown],
): [tf.Tensor4D, tf.Tensor4D] {
  const ta = checkTensor(owner, nameA, a, 4) as tf.Tensor4D;
  const tb = checkTensor(owner, nameB, b, 4) as tf.Tensor4D;
  checkSameShape(owner, [nameA, ta], [nameB, tb]);
  if (ta.shape[3] !== 3) {
    throw new ShapeError(
      `${owner}: '${nameA}' must be an RGB image N×H×W×3, got ${ta.shape[3]} channels`,
    );
  }
  return [ta, tb];
}

/** Runs the network's taps; a `ShapeError` unless it returns five. */
function taps(owner: string, features: VGG16TapsFn, x: tf.Tensor): tf.Tensor[] {
  const out = features(x);
  if (out.length !== VGG16_TAPS.length) {
    throw new ShapeError(
      `${owner}: the feature network must return the ${VGG16_TAPS.length} VGG16 taps relu1_2…relu5_3, got ${out.length}`,
    );
  }
  return out;
}

/**
 * LPIPS's `normalize_tensor`: `f / (sqrt(Σ_c f²) + 1e-10)` over the channels. Where every channel
 * is 0 the square root is taken of 1 and discarded, so its gradient is 0, not NaN (PyTorch's is
 * NaN there, which its ReLU's backward, a select, then drops; TF.js's ReLU gradient multiplies).
 */
function unitNormalize(f: tf.Tensor): tf.Tensor {
  const sumSq = tf.sum(tf.square(f), -1, true);
  const positive = tf.greater(sumSq, 0);
  const root = tf.sqrt(tf.where(positive, sumSq, tf.onesLike(sumSq)));
  const norm = tf.where(positive, root, tf.zerosLike(sumSq));
  return tf.div(f, tf.add(norm, 1e-10));
}

/** `lpips` with the name errors carry. */
function lpipsValues(
  owner: string,
  in0: unknown,
  in1: unknown,
  network: LPIPSNetwork,
  options: LpipsOptions,
): tf.Tensor {
  const learned = checkBoolean(owner, 'lpips', options.lpips ?? true);
  const spatial = checkBoolean(owner, 'spatial', options.spatial ?? false);
  const normalize = checkBoolean(owner, 'normalize', options.normalize ?? false);
  const [a, b] = checkPair(owner, ['in0', in0], ['in1', in1]);
  const [h, w] = [a.shape[1], a.shape[2]];
  if (h < 16 || w < 16) {
    throw new ShapeError(
      `${owner}: the images must be at least 16×16 pixels (relu5_3 of VGG16 follows 4 halvings), got ${h}×${w}`,
    );
  }
  const heads = network.heads;
  if (learned && heads?.length !== VGG16_TAPS.length) {
    throw new WeightsError(
      `${owner}: lpips: true needs the ${VGG16_TAPS.length} learned heads lin0…lin4, got ${heads ? heads.length : 'none'}`,
    );
  }
  return tf.tidy(() => {
    const scaling = (x: tf.Tensor) =>
      tf.div(
        tf.sub(normalize ? tf.sub(tf.mul(x, 2), 1) : x, tf.tensor1d([...LPIPS_SHIFT])),
        tf.tensor1d([...LPIPS_SCALE]),
      );
    const f0 = taps(owner, network.features, scaling(a));
    const f1 = taps(owner, network.features, scaling(b));
    let total: tf.Tensor | null = null;
    f0.forEach((feature, k) => {
      const diff = tf.square(tf.sub(unitNormalize(feature), unitNormalize(f1[k])));
      const weighted = learned ? tf.mul(diff, tf.reshape((heads as tf.Tensor[])[k], [-1])) : diff;
      const map = tf.sum(weighted, -1, true) as tf.Tensor4D;
      const layer = spatial
        ? tf.image.resizeBilinear(map, [h, w], false, true)
        : tf.mean(map, [1, 2, 3]);
      total = total === null ? layer : tf.add(total, layer);
    });
    return total as unknown as tf.Tensor;
  });
}

/**
 * LPIPS (the official `lpips.LPIPS(net='vgg', version='0.1')` and its `forward`): the learned
 * perceptual distance of two images.
 *
 * ```
 * x ← 2x − 1 if normalize;  x ← (x − shift) / scale      (shift [−.030, −.088, −.188], scale [.458, .448, .450])
 * f_k = VGG16 tap k (relu1_2 … relu5_3);  f̂_k = f_k / (sqrt(Σ_c f_k²) + 1e-10)
 * d_k = (f̂_k(in0) − f̂_k(in1))²                            (per pixel and channel)
 * m_k = Σ_c w_k,c · d_k,c   (lpips: true, the head lin_k)   or   Σ_c d_k,c   (lpips: false)
 * LPIPS = Σ_k mean_hw m_k,   or with spatial: Σ_k upsample_bilinear(m_k) to H×W
 * ```
 *
 * The bilinear upsampling is PyTorch's `align_corners=False`. The result is not detached from
 * either image: gradients flow into both.
 *
 * @param in0 N×H×W×3, in [−1, 1] (in [0, 1] with `normalize`), H and W at least 16.
 * @param in1 the shape of in0.
 * @param network the VGG16 taps and the heads (the `LPIPS` class loads both from files).
 * @param options `lpips` true, `spatial` false, `normalize` false.
 * @returns N values, or N×H×W×1 with `spatial`.
 */
export function lpips(
  in0: tf.Tensor,
  in1: tf.Tensor,
  network: LPIPSNetwork,
  options?: Options<LpipsOptions>,
): tf.Tensor {
  return lpipsValues(
    'lpips',
    in0,
    in1,
    network,
    checkOptions('lpips', 4, options, 'lpips(in0, in1, network, {lpips, spatial, normalize})'),
  );
}

/** Per-image channel means, variances and covariance of one stage: N×C each. */
function stageStatistics(fx: tf.Tensor, fy: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const mx = tf.mean(fx, [1, 2], true);
  const my = tf.mean(fy, [1, 2], true);
  const cx = tf.sub(fx, mx);
  const cy = tf.sub(fy, my);
  const varX = tf.mean(tf.square(cx), [1, 2]);
  const varY = tf.mean(tf.square(cy), [1, 2]);
  // E[(x − μx)(y − μy)], equal to the official E[xy] − μxμy without its float32 cancellation.
  const cov = tf.mean(tf.mul(cx, cy), [1, 2]);
  const [ux, uy] = [tf.squeeze(mx, [1, 2]), tf.squeeze(my, [1, 2])];
  const s1 = tf.div(
    tf.add(tf.mul(tf.mul(ux, uy), 2), DISTS_C1),
    tf.add(tf.add(tf.square(ux), tf.square(uy)), DISTS_C1),
  );
  const s2 = tf.div(tf.add(tf.mul(cov, 2), DISTS_C2), tf.add(tf.add(varX, varY), DISTS_C2));
  return [s1, s2];
}

/** `dists` with the name errors carry. */
function distsValues(owner: string, x: unknown, y: unknown, network: DISTSNetwork): tf.Tensor1D {
  const [a, b] = checkPair(owner, ['x', x], ['y', y]);
  return tf.tidy(() => {
    const prep = (t: tf.Tensor) =>
      tf.div(tf.sub(t, tf.tensor1d([...IMAGENET_MEAN])), tf.tensor1d([...IMAGENET_STD]));
    const fx = [a, ...taps(owner, network.features, prep(a))];
    const fy = [b, ...taps(owner, network.features, prep(b))];
    const stats = fx.map((f, k) => stageStatistics(f, fy[k]));
    const s1 = tf.concat(
      stats.map(([s]) => s),
      1,
    );
    const s2 = tf.concat(
      stats.map(([, s]) => s),
      1,
    );
    const alpha = tf.reshape(network.alpha, [-1]);
    const beta = tf.reshape(network.beta, [-1]);
    const channels = s1.shape[1] as number;
    if (alpha.size !== channels || beta.size !== channels) {
      throw new WeightsError(
        `${owner}: alpha and beta must have one value per channel of the six stages (3 + ΣC_k = ${channels}), got ${alpha.size} and ${beta.size}`,
      );
    }
    const wSum = tf.add(tf.sum(alpha), tf.sum(beta));
    const similarity = tf.add(tf.sum(tf.mul(s1, alpha), 1), tf.sum(tf.mul(s2, beta), 1));
    return tf.sub(1, tf.div(similarity, wSum)) as tf.Tensor1D;
  });
}

/**
 * DISTS (the official `DISTS_pytorch.DISTS` with `require_grad=True`): structure and texture
 * similarity of VGG16 features.
 *
 * ```
 * stages: F_0 = x (the image itself), F_1…F_5 = VGG16 taps of (x − mean)/std (ImageNet), whose
 *         max-pools are L2 pooling (l2Pool2d); channels [3, C_1, …, C_5] = [3, 64, 128, 256, 512, 512]
 * per stage k and channel c, over the pixels:  μ, σ², σxy
 * S1 = (2 μx μy + c1) / (μx² + μy² + c1),   S2 = (2 σxy + c2) / (σx² + σy² + c2),   c1 = c2 = 1e-6
 * DISTS = 1 − Σ_k Σ_c (α_k,c S1 + β_k,c S2) / (Σα + Σβ)
 * ```
 *
 * 0 for identical images, with finite gradients (σ² and σxy come from centred features).
 *
 * @param x N×H×W×3 in [0, 1].
 * @param y the shape of x.
 * @param network the L2-pooled VGG16 taps and α, β (the `DISTS` class loads them from files).
 * @returns N values.
 */
export function dists(x: tf.Tensor, y: tf.Tensor, network: DISTSNetwork): tf.Tensor1D {
  return distsValues('dists', x, y, network);
}

/** Bytes of a safetensors file, or a `TensorSource`. */
export type WeightsInput = ArrayBuffer | ArrayBufferView | TensorSource;

/** The keys of the files a learned VGG16 loss reads: `pretrained` (VGG16), `model_path` (heads). */
interface WeightSources {
  pretrained?: string;
  model_path?: string;
}

/**
 * Base of `LPIPS` and `DISTS`: torchvision's VGG16 (`pretrained`) up to relu5_3 and learned
 * weights (`model_path`), both loaded by {@link loadWeights}, owned and freed by the loss.
 */
export abstract class LearnedVGG16Loss<S extends OptionsSchema, F> extends NetworkLoss<S, F> {
  /** The VGG16's pooling: `'max'` (LPIPS) or `'l2'` (DISTS). */
  protected abstract readonly pool: 'max' | 'l2';

  /** Whether the loss reads the heads file (`model_path`). */
  abstract get needsHeads(): boolean;

  /** Builds the network from the taps and, when `needsHeads`, the heads file (checked). */
  protected abstract build(features: VGG16TapsFn, heads: WeightReader | null, widths: number[]): F;

  constructor(cfg: z.input<S> = {} as z.input<S>) {
    super(cfg);
    const { pretrained } = this.cfg as { pretrained: string };
    if (pretrained.startsWith('torchvision://') && pretrained !== 'torchvision://vgg16') {
      throw new ConfigError(
        `${this.lossType}: 'pretrained' ${pretrained} is not VGG16 (torchvision://vgg16 or the path of its safetensors)`,
      );
    }
  }

  /**
   * Loads torchvision's VGG16 (`features.N.*`, only the layers up to relu5_3 are read) and, when
   * `needsHeads`, the heads: each a safetensors file's bytes or a `TensorSource`. Every weight is
   * checked (a `WeightsError` naming the file and the weight); the loss owns them.
   *
   * @param sources the names of the two files in errors (default: `pretrained`, `model_path`).
   */
  loadWeights(
    backbone: WeightsInput,
    heads?: WeightsInput | null,
    sources: WeightSources = {},
  ): void {
    const cfg = this.cfg as { pretrained: string; model_path: string | null };
    const src = weightsSource(backbone, sources.pretrained ?? cfg.pretrained);
    const vgg = VGGFeatures.load('vgg16', src, { upTo: 29, pool: this.pool });
    let reader: WeightReader | null = null;
    try {
      // The taps' widths: the output counts of the convolutions before them, as loaded.
      const convs = new WeightReader('VGGFeatures(vgg16)', src, 'features.');
      const widths = VGG16_TAPS.map((t) => convs.values(`${Number(t) - 1}.bias`, [null]).shape[0]);
      if (this.needsHeads) {
        if (heads === null || heads === undefined) {
          throw new WeightsError(
            `${this.lossType}: no heads weights given (model_path: ${cfg.model_path ?? 'null'}); pass them as the second argument of loadWeights`,
          );
        }
        const name = sources.model_path ?? cfg.model_path ?? `${this.lossType} heads`;
        reader = new WeightReader(this.lossType, weightsSource(heads, name));
      }
      const features: VGG16TapsFn = (x) => {
        const out = vgg.run(x, VGG16_TAPS);
        return VGG16_TAPS.map((t) => out[t]);
      };
      this.useNetwork(this.build(features, reader, widths));
    } catch (err) {
      vgg.dispose();
      tf.dispose(reader?.tensors ?? []);
      throw err;
    }
    const owned = reader?.tensors ?? [];
    this.own({
      dispose: () => {
        vgg.dispose();
        tf.dispose(owned);
      },
    });
  }
}

/** How to load the weights, for the error of a loss that has none. */
const loadHint = (type: string) =>
  `call loss.loadWeights(vgg16Bytes, headsBytes) or load${type}Weights(loss) from genloss/node (docs/weights.md)`;

function lpipsOptions() {
  return lossOptions(
    { loss_name: 'loss_lpips' },
    {
      net: z.string().default('vgg'),
      lpips: z.boolean().default(true),
      spatial: z.boolean().default(false),
      normalize: z.boolean().default(false),
      model_path: z.string().min(1).nullable().default(null),
      pretrained: z.string().min(1).default('torchvision://vgg16'),
      reduction: reductionOption.default('mean'),
      input_range: inputRangeOption,
    },
  );
}

/** The config of `LPIPS`. */
export type LPIPSOptions = z.input<ReturnType<typeof lpipsOptions>>;

/**
 * `LPIPS` (the official `lpips.LPIPS`): `loss_weight · reduce(lpips(in0, in1))` ({@link lpips}).
 *
 * Config, the official constructor's keys: `net` `'vgg'` (the only network here; the official
 * default is `'alex'`, and `'alex'`/`'squeeze'` are a `ConfigError`), `lpips` true, `spatial`
 * false, `model_path` null (the heads' safetensors: `lin{k}.model.1.weight`, [1, C_k, 1, 1],
 * converted from `lpips/weights/v0.1/vgg.pth`, docs/weights.md; needed with `lpips: true`), and
 * `forward`'s `normalize` false (inputs in [0, 1] instead of [−1, 1]). genloss's: `pretrained`
 * `'torchvision://vgg16'` (the VGG16's safetensors path, as `PerceptualLoss`'s; the official
 * `pretrained` is a boolean for loading the heads), `reduction` `'mean'` (over the images, or
 * every pixel with `spatial`; `'none'` gives N values, or N×H×W×1), `loss_weight` 1.0,
 * `loss_name` `'loss_lpips'`, `input_range` (default [−1, 1], [0, 1] with `normalize`).
 * Weights: `loss.loadWeights(vgg16, heads)` or `loadLPIPSWeights(loss)` from `genloss/node`.
 */
export class LPIPS extends LearnedVGG16Loss<ReturnType<typeof lpipsOptions>, LPIPSNetwork> {
  static override readonly lossType = 'LPIPS';
  static override readonly options = lpipsOptions();
  protected override readonly pool = 'max';

  constructor(cfg: LPIPSOptions = {}) {
    super(cfg);
    if (this.cfg.net !== 'vgg') {
      throw new ConfigError(
        `LPIPS: net '${this.cfg.net}' is not available: genloss has LPIPS on VGG16 only (net: 'vgg'); the official package's 'alex' and 'squeeze' need networks genloss does not have`,
      );
    }
  }

  /** With `lpips: true` the heads file is read; `lpips: false` sums the channels. */
  override get needsHeads(): boolean {
    return this.cfg.lpips;
  }

  protected override build(
    features: VGG16TapsFn,
    heads: WeightReader | null,
    widths: number[],
  ): LPIPSNetwork {
    return {
      features,
      heads: heads && widths.map((c, k) => heads.tensor(`lin${k}.model.1.weight`, [1, c, 1, 1])),
    };
  }

  /** [0, 1] with `normalize`, else [−1, 1]. */
  protected override get assumedRange(): InputRange {
    return this.cfg.normalize ? [0, 1] : [-1, 1];
  }

  /**
   * @param in0 N×H×W×3 in `inputRange`, H and W at least 16.
   * @param in1 the shape of in0.
   * @returns a scalar, or N values (N×H×W×1 with `spatial`) for `'none'`.
   */
  forward(in0: tf.Tensor, in1: tf.Tensor): tf.Tensor {
    const [a, b, network] = this.checkImages(
      ['in0', in0],
      ['in1', in1],
      () => `LPIPS: no weights loaded; ${loadHint('LPIPS')}`,
    );
    return this.scaled(() =>
      reduceLoss(lpipsValues(this.lossType, a, b, network, this.cfg), this.cfg.reduction),
    );
  }
}

function distsOptions() {
  return lossOptions(
    { loss_name: 'loss_dists' },
    {
      model_path: z.string().min(1).nullable().default(null),
      pretrained: z.string().min(1).default('torchvision://vgg16'),
      reduction: reductionOption.default('mean'),
      input_range: inputRangeOption,
    },
  );
}

/** The config of `DISTS`. */
export type DISTSOptions = z.input<ReturnType<typeof distsOptions>>;

/**
 * `DISTS` (`DISTS_pytorch.DISTS`, called with `require_grad=True`):
 * `loss_weight · reduce(dists(x, y))` ({@link dists}).
 *
 * Config: `model_path` null (the safetensors of `alpha` and `beta`, [1, 1475, 1, 1] each,
 * converted from `DISTS_pytorch/weights.pt`, docs/weights.md; the official `load_weights: true`
 * reads that file), `pretrained` `'torchvision://vgg16'` (the VGG16's safetensors path),
 * `reduction` `'mean'` (the official `batch_average`; `'none'` gives N values), `loss_weight`
 * 1.0, `loss_name` `'loss_dists'`, `input_range` (default [0, 1]). Weights:
 * `loss.loadWeights(vgg16, alphaBeta)` or `loadDISTSWeights(loss)` from `genloss/node`.
 */
export class DISTS extends LearnedVGG16Loss<ReturnType<typeof distsOptions>, DISTSNetwork> {
  static override readonly lossType = 'DISTS';
  static override readonly options = distsOptions();
  protected override readonly pool = 'l2';

  /** Always: α and β are the metric. */
  override get needsHeads(): boolean {
    return true;
  }

  protected override build(
    features: VGG16TapsFn,
    heads: WeightReader | null,
    widths: number[],
  ): DISTSNetwork {
    const size = 3 + widths.reduce((s, c) => s + c, 0);
    const reader = heads as WeightReader;
    return {
      features,
      alpha: reader.tensor('alpha', [1, size, 1, 1]),
      beta: reader.tensor('beta', [1, size, 1, 1]),
    };
  }

  /** [0, 1]: the official code applies the ImageNet mean and std of [0, 1] images. */
  protected override get assumedRange(): InputRange {
    return [0, 1];
  }

  /**
   * @param x N×H×W×3 in `inputRange`.
   * @param y the shape of x.
   * @returns a scalar, or N values for `'none'`.
   */
  forward(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
    const [a, b, network] = this.checkImages(
      ['x', x],
      ['y', y],
      () => `DISTS: no weights loaded; ${loadHint('DISTS')}`,
    );
    return this.scaled(() =>
      reduceLoss(distsValues(this.lossType, a, b, network), this.cfg.reduction),
    );
  }
}
