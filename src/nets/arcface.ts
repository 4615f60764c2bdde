import * as tf from '@tensorflow/tfjs';
import { checkTensor } from '../core/validate.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { adaptiveAvgPool2d } from '../ops/pooling.ts';
import { affine, conv2d, type FoldedNorm, l2Normalize, linear, prelu } from './layers.ts';
import { expectWeights, LoadedNet, WeightReader } from './weights.ts';

interface IRSEUnit {
  cin: number;
  depth: number;
  stride: number;
  shortcut: { w: tf.Tensor; bn: FoldedNorm } | null;
  bn0: FoldedNorm;
  conv1: tf.Tensor;
  prelu: tf.Tensor;
  conv3: tf.Tensor;
  bn4: FoldedNorm;
  fc1: tf.Tensor;
  fc2: tf.Tensor;
}

/** Folds an eval-mode BatchNorm (`key.weight/bias/running_mean/running_var`) to scale and shift. */
function batchNorm(reader: WeightReader, key: string, c: number, eps = 1e-5): FoldedNorm {
  const g = reader.values(`${key}.weight`, [c]).values;
  const b = reader.values(`${key}.bias`, [c]).values;
  const m = reader.values(`${key}.running_mean`, [c]).values;
  const v = reader.values(`${key}.running_var`, [c]).values;
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = g[i] / Math.sqrt(v[i] + eps);
    shift[i] = b[i] - m[i] * scale[i];
  }
  const s = tf.tensor1d(scale);
  const t = tf.tensor1d(shift);
  reader.tensors.push(s, t);
  return { scale: s, shift: t };
}

/**
 * The ArcFace IR-SE backbone of MMagic's `IDLossModel` (TreB1eN's `Backbone(112, 50, 'ir_se')`),
 * in eval mode, NHWC: input layer (3×3 conv, BN, PReLU), `bottleneck_IR_SE` units (BN, 3×3 conv,
 * PReLU, 3×3 conv with the unit's stride, BN, squeeze-excitation with reduction 16; shortcut a
 * strided identity or a 1×1 conv + BN), output layer (BN, flatten in PyTorch's C-major order,
 * linear, BN1d) and an L2 normalisation. A 112×112 input gives a unit-norm embedding (512-d for
 * IR-SE50).
 *
 * Weights: the IR-SE50 state dict (`input_layer.*`, `body.K.*`, `output_layer.*`) converted to
 * safetensors. The units, their widths and strides are read from the file: a unit whose depth
 * differs from the previous one starts a stage and has stride 2 (as the first unit of every
 * IR-SE50 stage), so IR-SE50's [3, 4, 14, 3] units load, and so does a smaller network of the
 * same shape. Every shape is checked (`WeightsError`).
 */
export class ArcFaceIRSE extends LoadedNet {
  private readonly stem: { conv: tf.Tensor; bn: FoldedNorm; prelu: tf.Tensor };
  private readonly units: IRSEUnit[] = [];
  private readonly out: { bn: FoldedNorm; w: tf.Tensor; b: tf.Tensor; bn1d: FoldedNorm };
  /** The embedding size (512 for IR-SE50). */
  readonly embeddingSize: number;

  private constructor(src: TensorSource) {
    super();
    const r = new WeightReader('ArcFaceIRSE', src);
    try {
      const [stem] = r.values('input_layer.0.weight', [null, 3, 3, 3]).shape;
      this.stem = {
        conv: r.conv('input_layer.0.weight', [stem, 3, 3, 3]),
        bn: batchNorm(r, 'input_layer.1', stem),
        prelu: r.tensor('input_layer.2.weight', [stem]),
      };
      let cin = stem;
      let previous = -1;
      for (let k = 0; r.has(`body.${k}.res_layer.1.weight`); k++) {
        const key = `body.${k}`;
        const [depth] = r.values(`${key}.res_layer.1.weight`, [null, cin, 3, 3]).shape;
        const stride = depth !== previous ? 2 : 1;
        const hasShortcut = r.has(`${key}.shortcut_layer.0.weight`);
        expectWeights(
          hasShortcut === (cin !== depth),
          'ArcFaceIRSE',
          `unit ${key} maps ${cin} → ${depth} channels, so it must ${cin !== depth ? '' : 'not '}have a shortcut conv '${key}.shortcut_layer.0.weight'`,
        );
        expectWeights(
          depth >= 16,
          'ArcFaceIRSE',
          `unit ${key} has ${depth} channels, fewer than the SE reduction 16`,
        );
        const red = Math.floor(depth / 16);
        this.units.push({
          cin,
          depth,
          stride,
          shortcut: hasShortcut
            ? {
                w: r.conv(`${key}.shortcut_layer.0.weight`, [depth, cin, 1, 1]),
                bn: batchNorm(r, `${key}.shortcut_layer.1`, depth),
              }
            : null,
          bn0: batchNorm(r, `${key}.res_layer.0`, cin),
          conv1: r.conv(`${key}.res_layer.1.weight`, [depth, cin, 3, 3]),
          prelu: r.tensor(`${key}.res_layer.2.weight`, [depth]),
          conv3: r.conv(`${key}.res_layer.3.weight`, [depth, depth, 3, 3]),
          bn4: batchNorm(r, `${key}.res_layer.4`, depth),
          fc1: r.conv(`${key}.res_layer.5.fc1.weight`, [red, depth, 1, 1]),
          fc2: r.conv(`${key}.res_layer.5.fc2.weight`, [depth, red, 1, 1]),
        });
        previous = depth;
        cin = depth;
      }
      expectWeights(
        this.units.length > 0,
        'ArcFaceIRSE',
        `${src.source} has no unit 'body.0.res_layer.1.weight'`,
      );
      const strides = this.units.filter((u) => u.stride === 2).length;
      expectWeights(
        strides === 4,
        'ArcFaceIRSE',
        `the body must have 4 stages (112 → 7), found ${strides} (depth changes at units ${this.units
          .map((u, i) => (u.stride === 2 ? i : -1))
          .filter((i) => i >= 0)
          .join(', ')})`,
      );
      const [embed] = r.values('output_layer.3.weight', [null, cin * 49]).shape;
      this.embeddingSize = embed;
      this.out = {
        bn: batchNorm(r, 'output_layer.0', cin),
        w: r.linear('output_layer.3.weight', [embed, cin * 49]),
        b: r.tensor('output_layer.3.bias', [embed]),
        bn1d: batchNorm(r, 'output_layer.4', embed),
      };
    } catch (err) {
      tf.dispose(r.tensors);
      throw err;
    }
    this.own(r);
  }

  /** Builds the network from an IR-SE state dict, checking every weight. */
  static load(src: TensorSource): ArcFaceIRSE {
    return new ArcFaceIRSE(src);
  }

  /**
   * @param x N×112×112×3, an aligned face in [−1, 1].
   * @returns N×D unit-norm embeddings.
   */
  embed(x: tf.Tensor): tf.Tensor2D {
    const input = checkTensor('ArcFaceIRSE', 'x', x, 4) as tf.Tensor4D;
    return tf.tidy(() => {
      let h = prelu(
        affine(conv2d(input, this.stem.conv, null, 1, 1), this.stem.bn),
        this.stem.prelu,
      ) as tf.Tensor4D;
      for (const u of this.units) {
        const short = u.shortcut
          ? (affine(conv2d(h, u.shortcut.w, null, u.stride), u.shortcut.bn) as tf.Tensor4D)
          : u.stride === 1
            ? h
            : subsample(h, u.stride);
        let res = affine(h, u.bn0) as tf.Tensor4D;
        res = conv2d(res, u.conv1, null, 1, 1);
        res = prelu(res, u.prelu) as tf.Tensor4D;
        res = conv2d(res, u.conv3, null, u.stride, 1);
        res = affine(res, u.bn4) as tf.Tensor4D;
        const squeeze = tf.mean(res, [1, 2], true) as tf.Tensor4D;
        const excite = tf.sigmoid(conv2d(tf.relu(conv2d(squeeze, u.fc1, null)), u.fc2, null));
        h = tf.add(tf.mul(res, excite), short) as tf.Tensor4D;
      }
      h = affine(h, this.out.bn) as tf.Tensor4D;
      const [n] = h.shape;
      // PyTorch flattens C×H×W.
      const flat = tf.reshape(tf.transpose(h, [0, 3, 1, 2]), [n, -1]);
      const e = affine(linear(flat, this.out.w, this.out.b), this.out.bn1d);
      return l2Normalize(e) as tf.Tensor2D;
    });
  }
}

/** `x[:, ::s, ::s]` (PyTorch's `MaxPool2d(1, s)`), with slices and reshapes only. */
function subsample(x: tf.Tensor4D, s: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const oh = Math.ceil(h / s);
  const ow = Math.ceil(w / s);
  const padded = tf.pad(x, [
    [0, 0],
    [0, oh * s - h],
    [0, ow * s - w],
    [0, 0],
  ]);
  const grouped = tf.reshape(padded, [n, oh, s, ow, s, c]);
  return tf.reshape(tf.slice(grouped, [0, 0, 0, 0, 0, 0], [n, oh, 1, ow, 1, c]), [n, oh, ow, c]);
}

/**
 * MMagic's `IDLossModel.extract_feats` before the network: an N×H×W×C image in [−1, 1] is
 * pooled to 256×256 (`AdaptiveAvgPool2d`, skipped when H is 256 — only H is checked, as in
 * MMagic), cropped to rows 35..222 and columns 32..219 (188×188, the face of an FFHQ-aligned
 * image), and pooled to 112×112 with uneven windows.
 */
export function arcFaceCrop(x: tf.Tensor): tf.Tensor4D {
  const t = checkTensor('arcFaceCrop', 'x', x, 4);
  return tf.tidy(() => {
    const full = t.shape[1] === 256 ? (t as tf.Tensor4D) : adaptiveAvgPool2d(t, [256, 256]);
    const [n, , w, c] = full.shape;
    // PyTorch's slice 32:220 clips to the width (MMagic checks only H).
    const width = Math.max(Math.min(220, w) - 32, 1);
    const crop = tf.slice(full, [0, 35, Math.min(32, w - 1), 0], [n, 188, width, c]);
    return adaptiveAvgPool2d(crop, [112, 112]);
  });
}
