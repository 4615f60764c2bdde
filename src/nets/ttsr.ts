import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { ConfigError, ShapeError } from '../core/errors.ts';
import { parseOptions } from '../core/options.ts';
import { checkTensor } from '../core/validate.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { maxPool2d } from '../ops/pooling.ts';
import { resizeBicubic } from '../ops/resize.ts';
import { conv2d, l2Normalize } from './layers.ts';
import { WeightReader } from './weights.ts';

/**
 * The networks of MMagic's TTSR (reference-based super-resolution, mmagic/models/editors/ttsr/):
 * the learnable texture extractor `LTE`, the `SearchTransformer` and the generator `TTSRNet`, in
 * NHWC. The two trained ones are `tf.LayersModel`s whose weights carry PyTorch's state-dict names
 * (`sfe.conv_first.weight`, `slice2.5.bias`; convolutions HWIO), so that checkpoints and the
 * trainer treat them as any network.
 */

type Params = Record<string, tf.Tensor>;
type Shape = (number | null)[];

/** One weight of a network written with plain ops: its PyTorch name, its shape and its init. */
interface ParamSpec {
  name: string;
  shape: number[];
  init: ReturnType<typeof tf.initializers.zeros>;
}

/**
 * A layer that owns the weights `specs` and runs `forward` on them: a network written with plain
 * ops (PyTorch's padding, pixel shuffle, bicubic resizes) as one Keras layer.
 */
class PlainOpsLayer extends tf.layers.Layer {
  static readonly className = 'GenlossPlainOps';
  private params: tf.LayerVariable[] = [];

  constructor(
    name: string,
    private readonly specs: ParamSpec[],
    private readonly run: (p: Params, inputs: tf.Tensor[]) => tf.Tensor[],
    private readonly shapes: (inputs: Shape[]) => Shape[],
  ) {
    super({ name });
  }

  override build(): void {
    this.params = this.specs.map((s) => this.addWeight(s.name, s.shape, 'float32', s.init));
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const inputs = (Array.isArray(inputShape[0]) ? inputShape : [inputShape]) as Shape[];
    return this.shapes(inputs);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return this.runWith(Array.isArray(inputs) ? inputs : [inputs], (w) => w);
  }

  /** The forward pass on `inputs` with each weight passed through `weight` first. */
  runWith(inputs: tf.Tensor[], weight: (w: tf.Tensor) => tf.Tensor): tf.Tensor[] {
    const p = Object.fromEntries(this.specs.map((s, i) => [s.name, weight(this.params[i].read())]));
    return this.run(p, inputs);
  }
}

/**
 * Runs a network of this file on `x` with its current weights detached: gradients reach `x`,
 * none reach the weights (MMagic's TTSR `extractor_copy`, a copy of the extractor reloaded every
 * step with `requires_grad` false). Returns the network's outputs.
 */
export function applyWithFrozenWeights(model: tf.LayersModel, x: tf.Tensor): tf.Tensor[] {
  const layer = model.layers.find((l): l is PlainOpsLayer => l instanceof PlainOpsLayer);
  if (layer === undefined) {
    throw new ConfigError(
      `applyWithFrozenWeights: '${model.name}' is not a TTSR network (nets/ttsr.ts)`,
    );
  }
  return tf.tidy(() => layer.runWith([x], stopGradient));
}

/** A `tf.LayersModel` of a {@link PlainOpsLayer}: its inputs (per-sample shapes) and outputs. */
function plainModel(
  name: string,
  inputShapes: Shape[],
  specs: ParamSpec[],
  run: (p: Params, inputs: tf.Tensor[]) => tf.Tensor[],
  shapes: (inputs: Shape[]) => Shape[],
): tf.LayersModel {
  const inputs = inputShapes.map((shape) => tf.input({ shape }));
  const layer = new PlainOpsLayer(name, specs, run, shapes);
  const out = layer.apply(inputs.length === 1 ? inputs[0] : inputs) as
    | tf.SymbolicTensor
    | tf.SymbolicTensor[];
  return tf.model({ inputs, outputs: out, name });
}

/** Conv weights of kernel k, `cin` → `cout`, initialised by `kind` (see the nets' docs). */
function convSpecs(
  name: string,
  cin: number,
  cout: number,
  k: number,
  kind: 'torch' | 'residual' | 'vgg',
  seed: number,
): ParamSpec[] {
  const fanIn = k * k * cin;
  const bound = 1 / Math.sqrt(fanIn);
  const weight =
    kind === 'torch'
      ? // PyTorch's Conv2d default, kaiming_uniform(a=√5): U(±1/√fan_in).
        tf.initializers.varianceScaling({
          scale: 1 / 3,
          mode: 'fanIn',
          distribution: 'uniform',
          seed,
        })
      : kind === 'residual'
        ? // MMagic's default_init_weights(scale 0.1): Kaiming-normal (fan-in) × 0.1.
          tf.initializers.varianceScaling({
            scale: 2 * 0.1 ** 2,
            mode: 'fanIn',
            distribution: 'normal',
            seed,
          })
        : // torchvision's VGG: Kaiming-normal (fan-out, ReLU).
          tf.initializers.varianceScaling({
            scale: 2,
            mode: 'fanOut',
            distribution: 'normal',
            seed,
          });
  const bias =
    kind === 'torch'
      ? tf.initializers.randomUniform({ minval: -bound, maxval: bound, seed: seed + 100_003 })
      : tf.initializers.zeros();
  return [
    { name: `${name}.weight`, shape: [k, k, cin, cout], init: weight },
    { name: `${name}.bias`, shape: [cout], init: bias },
  ];
}

/** PyTorch's `Conv2d(k, padding k//2, stride)` with the weights `name` of `p`. */
function conv(p: Params, name: string, x: tf.Tensor, stride = 1): tf.Tensor4D {
  const w = p[`${name}.weight`];
  return conv2d(x as tf.Tensor4D, w, p[`${name}.bias`], stride, (w.shape[0] - 1) / 2);
}

/** PyTorch's `F.interpolate(x, scale_factor=s, mode='bicubic', align_corners=False)`. */
function bicubic(x: tf.Tensor, s: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  return resizeBicubic(x as tf.Tensor4D, [h * s, w * s]);
}

/**
 * PyTorch's `pixel_shuffle(x, r)` in NHWC: channel `c·r² + i·r + j` of pixel (y, x) goes to
 * channel c of pixel (y·r + i, x·r + j). Reshapes and a transpose (TF.js's `depthToSpace` orders
 * the channels otherwise and has no gradient).
 */
export function pixelShuffle(x: tf.Tensor, r: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, cr] = x.shape as number[];
    const c = cr / (r * r);
    const split = tf.reshape(x, [n, h, w, c, r, r]);
    return tf.reshape(tf.transpose(split, [0, 1, 4, 2, 5, 3]), [n, h * r, w * r, c]);
  });
}

const scaled = (s: Shape, f: number, c: number): Shape => [
  s[0],
  s[1] === null ? null : s[1] * f,
  s[2] === null ? null : s[2] * f,
  c,
];

/** Options of `LTE` (MMagic's keys; genloss adds `seed` for the random initialisation). */
export const lteOptions = z.strictObject({
  type: z.literal('LTE'),
  /** Whether the extractor trains (MMagic's `requires_grad`); false freezes it. */
  requires_grad: z.boolean().default(true),
  /** The images' range: x ∈ [0, pixel_range]. */
  pixel_range: z.number().positive().default(1),
  /**
   * The level-1 width t (genloss): levels 1, 2, 3 have t, 2t, 4t channels. 64 (default) is
   * VGG19's; a smaller t makes a cheaper extractor with the same structure (TTSRNet's
   * `texture_channels` must equal it).
   */
  texture_channels: z.int().min(1).default(64),
  seed: z.int().default(0),
});

const VGG_MEAN = [0.485, 0.456, 0.406];
const VGG_STD = [0.229, 0.224, 0.225];

/**
 * The convolutions of MMagic's `LTE`: torchvision VGG19 `features` 0, 2, 5, 7 and 10 (conv1_1,
 * conv1_2, conv2_1, conv2_2, conv3_1), under MMagic's names `slice1.0`, `slice2.2`, `slice2.5`,
 * `slice3.7`, `slice3.10`; widths in units of `texture_channels` (0: the 3 colour channels).
 */
export const LTE_CONVS = [
  { name: 'slice1.0', vgg: 0, cin: 0, cout: 1 },
  { name: 'slice2.2', vgg: 2, cin: 1, cout: 1 },
  { name: 'slice2.5', vgg: 5, cin: 1, cout: 2 },
  { name: 'slice3.7', vgg: 7, cin: 2, cout: 2 },
  { name: 'slice3.10', vgg: 10, cin: 2, cout: 4 },
] as const;

/**
 * MMagic's `LTE` (learnable texture extractor) as a `tf.LayersModel`: x N×H×W×3 in
 * [0, `pixel_range`] → `[level3, level2, level1]`, N×(H/4)×(W/4)×4t, N×(H/2)×(W/2)×2t, N×H×W×t
 * (t = `texture_channels`, 64 as in MMagic), where, after ImageNet's normalisation
 * `(x − range·mean) / (range·std)`,
 *
 * ```
 * level1 = relu(conv1_1(x))
 * level2 = relu(conv2_1(maxpool2(relu(conv1_2(level1)))))
 * level3 = relu(conv3_1(maxpool2(relu(conv2_2(level2)))))
 * ```
 *
 * (VGG19's first 12 layers, 3×3 convolutions with padding 1). MMagic starts from torchvision's
 * pretrained VGG19 (`load_pretrained_vgg`); here the weights start random (torchvision's VGG
 * init: Kaiming-normal fan-out weights, zero biases, seeded by `seed`), and
 * {@link loadLteFromVgg19} copies a VGG19 state dict into them. H and W must be multiples of 4.
 */
export function lte(cfg: z.input<typeof lteOptions>): tf.LayersModel {
  const o = parseOptions('LTE', lteOptions, cfg);
  const t = o.texture_channels;
  const width = (units: number) => (units === 0 ? 3 : units * t);
  const specs = LTE_CONVS.flatMap((c, i) =>
    convSpecs(c.name, width(c.cin), width(c.cout), 3, 'vgg', o.seed + i),
  );
  const mean = VGG_MEAN.map((m) => m * o.pixel_range);
  const std = VGG_STD.map((s) => s * o.pixel_range);
  const model = plainModel(
    'LTE',
    [[null, null, 3]],
    specs,
    (p, [x]) => {
      const input = checkTensor('LTE', 'x', x, 4);
      const [, h, w, c] = input.shape;
      if (c !== 3 || h % 4 !== 0 || w % 4 !== 0) {
        throw new ShapeError(
          `LTE: 'x' must be N×H×W×3 with H and W multiples of 4, got [${input.shape.join(', ')}]`,
        );
      }
      const r = (name: string, t: tf.Tensor) => tf.relu(conv(p, name, t));
      const normed = tf.div(tf.sub(input, mean), std);
      const level1 = r('slice1.0', normed);
      const level2 = r('slice2.5', maxPool2d(r('slice2.2', level1), 2));
      const level3 = r('slice3.10', maxPool2d(r('slice3.7', level2), 2));
      return [level3, level2, level1];
    },
    ([s]) => [scaled(s, 1 / 4, 4 * t), scaled(s, 1 / 2, 2 * t), scaled(s, 1, t)].map(floorDims),
  );
  model.trainable = o.requires_grad;
  return model;
}

/**
 * Copies torchvision's VGG19 `features.{0,2,5,7,10}` (a state dict, convolutions OIHW, e.g. the
 * safetensors of docs/weights.md) into an {@link lte} network, as MMagic's `LTE` starts; every
 * weight is checked against the network's widths (`texture_channels` 64 for torchvision's), a
 * `WeightsError` naming the weight otherwise.
 */
export function loadLteFromVgg19(model: tf.LayersModel, src: TensorSource): void {
  const reader = new WeightReader('LTE', src, 'features.');
  try {
    const values = LTE_CONVS.flatMap((c, i) => {
      const [k, , cin, cout] = model.weights[2 * i].shape as number[];
      return [
        reader.conv(`${c.vgg}.weight`, [cout, cin, k, k]),
        reader.tensor(`${c.vgg}.bias`, [cout]),
      ];
    });
    model.setWeights(values);
  } finally {
    tf.dispose(reader.tensors);
  }
}

const floorDims = (s: Shape): Shape => s.map((d) => (d === null ? null : Math.floor(d)));

/** Options of `SearchTransformer` (MMagic's: none). */
export const searchTransformerOptions = z.strictObject({ type: z.literal('SearchTransformer') });

/**
 * MMagic's `F.unfold(x, 3s, padding=s, stride=s)` for x N×(H·s)×(W·s)×C: the 3s×3s patches
 * around the H×W blocks of s×s pixels, as N×H×W×(9·s²·C) (genloss's own order of a patch's
 * values, which {@link foldPatches} undoes: block row a, column b, then row and column in the
 * block, then channel). Pads, slices and transposes only.
 */
export function unfoldPatches(x: tf.Tensor, s: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, hs, ws, c] = x.shape as number[];
    const [h, w] = [hs / s, ws / s];
    const padded = tf.pad(x, [
      [0, 0],
      [s, s],
      [s, s],
      [0, 0],
    ]);
    const blocks = tf.reshape(padded, [n, h + 2, s, w + 2, s, c]);
    const parts: tf.Tensor[] = [];
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        const part = tf.slice(blocks, [0, a, 0, b, 0, 0], [n, h, s, w, s, c]);
        parts.push(tf.reshape(tf.transpose(part, [0, 1, 3, 2, 4, 5]), [n, h, w, s * s * c]));
      }
    }
    return tf.concat(parts, 3) as tf.Tensor4D;
  });
}

/**
 * MMagic's `F.fold(t, (H·s, W·s), 3s, padding=s, stride=s)` of patches in the order of
 * {@link unfoldPatches}: t N×H×W×(9·s²·C) → N×(H·s)×(W·s)×C, each patch added at its place
 * (overlaps summed, the padding cropped).
 */
export function foldPatches(t: tf.Tensor, s: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, d] = t.shape as number[];
    const c = d / (9 * s * s);
    let sum: tf.Tensor | null = null;
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        const k = a * 3 + b;
        const part = tf.reshape(tf.slice(t, [0, 0, 0, k * s * s * c], [n, h, w, s * s * c]), [
          n,
          h,
          w,
          s,
          s,
          c,
        ]);
        const placed = tf.pad(tf.transpose(part, [0, 1, 3, 2, 4, 5]), [
          [0, 0],
          [a, 2 - a],
          [0, 0],
          [b, 2 - b],
          [0, 0],
          [0, 0],
        ]);
        sum = sum === null ? placed : tf.add(sum, placed);
      }
    }
    const image = tf.reshape(sum as tf.Tensor, [n, (h + 2) * s, (w + 2) * s, c]);
    return tf.slice(image, [0, s, s, 0], [n, h * s, w * s, c]) as tf.Tensor4D;
  });
}

/** What {@link searchTransformer} returns: the soft attention and the textures of 3 levels. */
export interface TransferredTextures {
  /** N×h×w×1: each position's best relevance. */
  softAttention: tf.Tensor4D;
  /** N×h×w×C₀, N×2h×2w×C₁, N×4h×4w×C₂: the reference's values at the best positions. */
  textures: tf.Tensor4D[];
}

/**
 * MMagic's `SearchTransformer.forward(img_lq, ref_lq, refs)` in NHWC: hard attention from the
 * upsampled LQ image's level-3 features `imgLq` (N×h×w×C) to the degraded reference's `refLq`
 * (N×h'×w'×C), then texture transfer from the reference's features `refs` (level i at
 * (h'·2^i)×(w'·2^i)):
 *
 * ```
 * q_p = normalize(unfold₃(imgLq)_p), k_r = normalize(unfold₃(refLq)_r)   (3×3 patches, L2 norm)
 * rel[r, p] = ⟨k_r, q_p⟩;  soft[p] = max_r rel[r, p];  best[p] = argmax_r rel[r, p]
 * textures_i = fold_i(unfold_i(refs[i])[:, best]) / 9   (patches 3·2^i, stride 2^i, padding 2^i)
 * ```
 *
 * Gradients flow, as in PyTorch, through the gathered values (to `refs`) and through the maxima
 * (to `imgLq` and `refLq`); `best` (an argmax) has none. The L2 norm is
 * `x / sqrt(‖x‖² + 1e-24)` (PyTorch: `x / max(‖x‖, 1e-12)`, equal but for ‖x‖ < 1e-12).
 */
export function searchTransformer(
  imgLq: tf.Tensor,
  refLq: tf.Tensor,
  refs: readonly tf.Tensor[],
): TransferredTextures {
  const owner = 'SearchTransformer';
  checkTensor(owner, 'img_lq', imgLq, 4);
  checkTensor(owner, 'ref_lq', refLq, 4);
  const [n, h, w, c] = imgLq.shape as number[];
  const [nr, hr, wr, cr] = refLq.shape as number[];
  if (nr !== n || cr !== c) {
    throw new ShapeError(
      `${owner}: 'ref_lq' must be ${n}×h'×w'×${c} (the batch and channels of 'img_lq' [${imgLq.shape.join(', ')}]), got [${refLq.shape.join(', ')}]`,
    );
  }
  if (!Array.isArray(refs) || refs.length !== 3) {
    throw new ShapeError(
      `${owner}: 'refs' must be the reference's 3 feature levels [level3, level2, level1]`,
    );
  }
  refs.forEach((r, i) => {
    checkTensor(owner, `refs[${i}]`, r, 4);
    const want = [n, hr * 2 ** i, wr * 2 ** i];
    if (!tf.util.arraysEqual(r.shape.slice(0, 3), want)) {
      throw new ShapeError(
        `${owner}: 'refs[${i}]' must be ${want.join('×')}×C (level ${i} of the ${hr}×${wr} 'ref_lq' features), got [${r.shape.join(', ')}]`,
      );
    }
  });
  return tf.tidy(() => {
    const patches = (x: tf.Tensor, rows: number) =>
      l2Normalize(tf.reshape(unfoldPatches(x, 1), [n, rows, 9 * c]));
    const query = patches(imgLq, h * w);
    const key = patches(refLq, hr * wr);
    const relevance = tf.matMul(key, query, false, true);
    const soft = tf.max(relevance, 1);
    // The positions are read back and made anew, off the gradient tape: an argmax has no
    // gradient, and TF.js asks one of `gather`'s indices when they derive from the weights.
    const argmax = tf.argMax(relevance, 1).dataSync();
    const best = tf.tensor1d(
      Int32Array.from(argmax, (r, i) => r + Math.floor(i / (h * w)) * hr * wr),
      'int32',
    );
    const textures = refs.map((r, i) => {
      const s = 2 ** i;
      const values = unfoldPatches(r, s);
      const d = values.shape[3];
      const picked = tf.gather(tf.reshape(values, [n * hr * wr, d]), best);
      return tf.div(foldPatches(tf.reshape(picked, [n, h, w, d]), s), 9) as tf.Tensor4D;
    });
    return { softAttention: tf.reshape(soft, [n, h, w, 1]) as tf.Tensor4D, textures };
  });
}

/**
 * Options of `TTSRNet` (MMagic's keys; genloss adds `seed`): `in_channels`, `out_channels`,
 * `mid_channels` (64), `texture_channels` (64: the LTE's level-1 width), `num_blocks` (residual
 * blocks of the SFE and the three stages, [16, 16, 8, 4]), `res_scale` (1).
 */
export const ttsrNetOptions = z.strictObject({
  type: z.literal('TTSRNet'),
  in_channels: z.int().min(1).default(3),
  out_channels: z.int().min(1).default(3),
  mid_channels: z.int().min(2).default(64),
  texture_channels: z.int().min(1).default(64),
  num_blocks: z
    .tuple([z.int().min(0), z.int().min(0), z.int().min(0), z.int().min(0)])
    .default([16, 16, 8, 4]),
  res_scale: z.number().positive().default(1),
  clamp: z.boolean().default(true),
  seed: z.int().default(0),
});

/**
 * MMagic's `TTSRNet` as a `tf.LayersModel` with inputs `[x, soft_attention, texture0, texture1,
 * texture2]` — x N×h×w×`in_channels`, soft attention N×h×w×1, textures N×h×w×4t, N×2h×2w×2t,
 * N×4h×4w×t (t = `texture_channels`) — and output N×4h×4w×`out_channels` in [−1, 1]:
 *
 * ```
 * x1 = sfe(x)                       (conv3×3, ReLU; res blocks; conv3×3; + the first ReLU)
 * x1 = x1 + conv_first1([x1, T0])·S;  x1 = x1 + conv_last1(res_block1(x1))
 * x22 = relu(up1(x1));  x22 = x22 + conv_first2([x22, T1])·bicubic(S, ×2)
 * x21, x22 = csfi2(x1, x22), each + conv_last2_k(res_block2_k(·))
 * x33 = relu(up2(x22)); x33 = x33 + conv_first3([x33, T2])·bicubic(S, ×4)
 * x31, x32, x33 = csfi3(x21, x22, x33), each + conv_last3_k(res_block3_k(·))
 * out = clamp(merge_features(x31, x32, x33), −1, 1)
 * ```
 *
 * with MMagic's `CSFI2`, `CSFI3` and `MergeFeatures` (cross-scale feature integration: bicubic
 * ×2/×4 + conv1×1 up, stride-2 conv3×3 down, ReLU, concatenation and a conv3×3 merge), residual
 * blocks `x + res_scale·conv(relu(conv(x)))` and `PixelShufflePack` upsampling (conv3×3 to 4×
 * channels, pixel shuffle ×2). Convolutions start as PyTorch's default (U(±1/√fan_in) weights
 * and biases), the residual blocks' as MMagic's `default_init_weights` with scale 0.1 when
 * `res_scale` is 1, all seeded by `seed`.
 *
 * genloss adds `clamp` (default true, MMagic's clamp to [−1, 1]): false leaves the output
 * unclamped, so that pixels driven below −1 still get a gradient (the trainer clips images to
 * their range for samples and metrics). On mostly dark images a clamped TTSRNet trained from
 * scratch can push every pixel below −1 before it learns to depend on its input, and then gets
 * no gradient at all.
 */
export function ttsrNet(cfg: z.input<typeof ttsrNetOptions>): tf.LayersModel {
  const o = parseOptions('TTSRNet', ttsrNetOptions, cfg);
  const m = o.mid_channels;
  const t = o.texture_channels;
  const specs: ParamSpec[] = [];
  let seed = o.seed;
  const add = (
    name: string,
    cin: number,
    cout: number,
    k: 1 | 3,
    kind: 'torch' | 'residual' = 'torch',
  ) => {
    specs.push(...convSpecs(name, cin, cout, k, kind, seed));
    seed += 1;
  };
  const resKind = o.res_scale === 1 ? 'residual' : 'torch';
  const blocks = (name: string, count: number) => {
    for (let b = 0; b < count; b++) {
      add(`${name}.${b}.conv1`, m, m, 3, resKind);
      add(`${name}.${b}.conv2`, m, m, 3, resKind);
    }
  };
  const [b0, b1, b2, b3] = o.num_blocks;
  add('sfe.conv_first', o.in_channels, m, 3);
  blocks('sfe.body', b0);
  add('sfe.conv_last', m, m, 3);
  add('conv_first1', 4 * t + m, m, 3);
  blocks('res_block1', b1);
  add('conv_last1', m, m, 3);
  add('up1.upsample_conv', m, 4 * m, 3);
  add('conv_first2', 2 * t + m, m, 3);
  add('csfi2.conv1to2', m, m, 1);
  add('csfi2.conv2to1', m, m, 3);
  add('csfi2.conv_merge1', 2 * m, m, 3);
  add('csfi2.conv_merge2', 2 * m, m, 3);
  blocks('res_block2_1', b2);
  blocks('res_block2_2', b2);
  add('conv_last2_1', m, m, 3);
  add('conv_last2_2', m, m, 3);
  add('up2.upsample_conv', m, 4 * m, 3);
  add('conv_first3', t + m, m, 3);
  for (const [name, k] of [
    ['conv1to2', 1],
    ['conv1to4', 1],
    ['conv2to1', 3],
    ['conv2to4', 1],
    ['conv4to1_1', 3],
    ['conv4to1_2', 3],
    ['conv4to2', 3],
  ] as const) {
    add(`csfi3.${name}`, m, m, k);
  }
  for (const name of ['conv_merge1', 'conv_merge2', 'conv_merge4'])
    add(`csfi3.${name}`, 3 * m, m, 3);
  for (const k of [1, 2, 3]) blocks(`res_block3_${k}`, b3);
  for (const k of [1, 2, 3]) add(`conv_last3_${k}`, m, m, 3);
  add('merge_features.conv1to4', m, m, 1);
  add('merge_features.conv2to4', m, m, 1);
  add('merge_features.conv_merge', 3 * m, m, 3);
  add('merge_features.conv_last1', m, Math.floor(m / 2), 3);
  add('merge_features.conv_last2', Math.floor(m / 2), o.out_channels, 1);

  const run = (p: Params, inputs: tf.Tensor[]): tf.Tensor[] => {
    const [x, soft, t0, t1, t2] = checkTtsrInputs(o, inputs);
    const c = (name: string, v: tf.Tensor, stride = 1) => conv(p, name, v, stride);
    const rc = (name: string, v: tf.Tensor, stride = 1) => tf.relu(c(name, v, stride));
    const res = (name: string, count: number, v: tf.Tensor) => {
      let h = v;
      for (let b = 0; b < count; b++) {
        const r = c(`${name}.${b}.conv2`, rc(`${name}.${b}.conv1`, h));
        h = tf.add(h, o.res_scale === 1 ? r : tf.mul(r, o.res_scale));
      }
      return h;
    };
    const cat = (...vs: tf.Tensor[]) => tf.concat(vs, 3);
    // SFE
    const first = rc('sfe.conv_first', x);
    let x1: tf.Tensor = tf.add(c('sfe.conv_last', res('sfe.body', b0, first)), first);
    // Stage 1
    x1 = tf.add(x1, tf.mul(c('conv_first1', cat(x1, t0)), soft));
    x1 = tf.add(x1, c('conv_last1', res('res_block1', b1, x1)));
    // Stage 2
    let x22: tf.Tensor = tf.relu(pixelShuffle(c('up1.upsample_conv', x1), 2));
    x22 = tf.add(x22, tf.mul(c('conv_first2', cat(x22, t1)), bicubic(soft, 2)));
    const x12 = rc('csfi2.conv1to2', bicubic(x1, 2));
    const x21to1 = rc('csfi2.conv2to1', x22, 2);
    const m21 = rc('csfi2.conv_merge1', cat(x1, x21to1));
    const m22 = rc('csfi2.conv_merge2', cat(x22, x12));
    const x21 = tf.add(x1, c('conv_last2_1', res('res_block2_1', b2, m21)));
    x22 = tf.add(x22, c('conv_last2_2', res('res_block2_2', b2, m22)));
    // Stage 3
    let x33: tf.Tensor = tf.relu(pixelShuffle(c('up2.upsample_conv', x22), 2));
    x33 = tf.add(x33, tf.mul(c('conv_first3', cat(x33, t2)), bicubic(soft, 4)));
    const s12 = rc('csfi3.conv1to2', bicubic(x21, 2));
    const s14 = rc('csfi3.conv1to4', bicubic(x21, 4));
    const s21 = rc('csfi3.conv2to1', x22, 2);
    const s24 = rc('csfi3.conv2to4', bicubic(x22, 2));
    const s41 = rc('csfi3.conv4to1_2', rc('csfi3.conv4to1_1', x33, 2), 2);
    const s42 = rc('csfi3.conv4to2', x33, 2);
    const m31 = rc('csfi3.conv_merge1', cat(x21, s21, s41));
    const m32 = rc('csfi3.conv_merge2', cat(x22, s12, s42));
    const m33 = rc('csfi3.conv_merge4', cat(x33, s14, s24));
    const x31 = tf.add(x21, c('conv_last3_1', res('res_block3_1', b3, m31)));
    const x32 = tf.add(x22, c('conv_last3_2', res('res_block3_2', b3, m32)));
    x33 = tf.add(x33, c('conv_last3_3', res('res_block3_3', b3, m33)));
    // MergeFeatures
    const f14 = rc('merge_features.conv1to4', bicubic(x31, 4));
    const f24 = rc('merge_features.conv2to4', bicubic(x32, 2));
    const merged = rc('merge_features.conv_merge', cat(x33, f14, f24));
    const out = c('merge_features.conv_last2', c('merge_features.conv_last1', merged));
    return [o.clamp ? tf.clipByValue(out, -1, 1) : out];
  };
  return plainModel(
    'TTSRNet',
    [
      [null, null, o.in_channels],
      [null, null, 1],
      [null, null, 4 * t],
      [null, null, 2 * t],
      [null, null, t],
    ],
    specs,
    run,
    ([s]) => [scaled(s, 4, o.out_channels)],
  );
}

/** Checks TTSRNet's inputs against each other and its options; a `ShapeError` naming the input. */
function checkTtsrInputs(o: z.output<typeof ttsrNetOptions>, inputs: tf.Tensor[]): tf.Tensor[] {
  const owner = 'TTSRNet';
  const names = ['x', 'soft_attention', 'textures[0]', 'textures[1]', 'textures[2]'];
  if (inputs.length !== 5) {
    throw new ShapeError(
      `${owner}: takes [x, soft_attention, textures[0..2]], got ${inputs.length} inputs`,
    );
  }
  for (const [i, v] of inputs.entries()) checkTensor(owner, names[i], v, 4);
  const [n, h, w] = inputs[0].shape as number[];
  const t = o.texture_channels;
  const want = [
    [n, h, w, o.in_channels],
    [n, h, w, 1],
    [n, h, w, 4 * t],
    [n, 2 * h, 2 * w, 2 * t],
    [n, 4 * h, 4 * w, t],
  ];
  inputs.forEach((v, i) => {
    if (!tf.util.arraysEqual(v.shape, want[i])) {
      throw new ShapeError(
        `${owner}: '${names[i]}' must be [${want[i].join(', ')}] (x is [${inputs[0].shape.join(', ')}], texture_channels ${t}), got [${v.shape.join(', ')}]`,
      );
    }
  });
  return inputs;
}
