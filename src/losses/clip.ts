import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ShapeError } from '../core/errors.ts';
import { checkInputRange, inputRangeOption } from '../core/input-range.ts';
import { lossOptions } from '../core/options.ts';
import { checkTensor } from '../core/validate.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { CLIPModel } from '../nets/clip.ts';
import {
  avgPoolResample,
  composeResample,
  nearestResample,
  resampleSeparable,
} from '../ops/resize.ts';
import { NetworkLoss, weightsSource } from './network-loss.ts';

/** A CLIP similarity: images N_img×H×W×3 and token ids N_text×77 → logits N_img×N_text (100·cos). */
export type CLIPLogitsFn = (image: tf.Tensor, text: tf.Tensor) => tf.Tensor;

const clipModelOption = z
  .strictObject({
    in_size: z.number().int().positive().default(1024),
    scale_factor: z.number().int().positive().default(7),
    pool_size: z.number().int().positive().default(224),
    clip_type: z.literal('ViT-B/32').default('ViT-B/32'),
    weights: z.string().nullable().default(null),
    vision_heads: z.number().int().positive().default(12),
    text_heads: z.number().int().positive().default(8),
  })
  .default({
    in_size: 1024,
    scale_factor: 7,
    pool_size: 224,
    clip_type: 'ViT-B/32',
    weights: null,
    vision_heads: 12,
    text_heads: 8,
  });

function clipOptions() {
  return lossOptions(
    { loss_name: 'loss_clip' },
    {
      data_info: z.record(z.string(), z.string()).nullable().default(null),
      clip_model: clipModelOption,
      input_range: inputRangeOption,
    },
  );
}

/** The config of `CLIPLoss`. */
export type CLIPLossOptions = z.input<ReturnType<typeof clipOptions>>;

/**
 * MMagic's `CLIPLossModel` image preprocessing: nearest upsampling by `scaleFactor`, then
 * `AvgPool2d(scaleFactor·inSize // poolSize)`, as one linear operator per axis. No CLIP mean/std.
 *
 * @param image N×H×W×C. @returns N×H'×W'×C (224×224 for a 1024×1024 image and the defaults).
 */
export function clipPool(
  image: tf.Tensor,
  inSize = 1024,
  scaleFactor = 7,
  poolSize = 224,
): tf.Tensor4D {
  const t = checkTensor('clipPool', 'image', image, 4);
  const kernel = Math.floor((scaleFactor * inSize) / poolSize);
  const axis = (size: number) =>
    composeResample(
      avgPoolResample(size * scaleFactor, kernel),
      nearestResample(size, size * scaleFactor),
    );
  return resampleSeparable(t, axis(t.shape[1] as number), axis(t.shape[2] as number), 'clipPool');
}

/**
 * `CLIPLoss` (MMagic, StyleCLIP): `loss_weight · (1 − logits_per_image / 100)`, the CLIP
 * dissimilarity of every image to every text, **not reduced** (N_img × N_text; MMagic's shape,
 * which `parseLosses` means).
 *
 * The image is pooled as MMagic does (`clipPool`: nearest ×`scale_factor`, then average pooling
 * with kernel `scale_factor·in_size // pool_size`; no CLIP mean/std), then CLIP ViT-B/32 gives
 * `logits_per_image = exp(logit_scale) · cos(image, text)` (100·cos). `text` is N_text×77 token
 * ids from `clipTokenize` (MMagic's `clip.tokenize`).
 *
 * Config: `loss_weight` 1.0, `data_info` null (stored, unused; `CLIPLossComps` is separate),
 * `clip_model` {`in_size` 1024, `scale_factor` 7, `pool_size` 224, `clip_type` 'ViT-B/32'},
 * `loss_name` 'loss_clip'. genloss additions: `clip_model.weights` (path of the Hugging Face
 * `model.safetensors`; MMagic downloads OpenAI's weights), `clip_model.vision_heads`/`text_heads`
 * (12/8, not stored in the weights), `input_range` (checked when set; by default no range is, as
 * MMagic's `CLIPLossModel.forward` pools the image and hands it to CLIP as it is), and a pluggable
 * model.
 */
export class CLIPLoss extends NetworkLoss<ReturnType<typeof clipOptions>, CLIPLogitsFn> {
  static override readonly lossType = 'CLIPLoss';
  static override readonly options = clipOptions();

  private imageSize: number | null = null;

  /** @param model a loaded `CLIPModel` or any `(image, text) => logits` function. */
  constructor(cfg: CLIPLossOptions = {}, model?: CLIPModel | CLIPLogitsFn) {
    super(cfg);
    if (model) this.setModel(model);
  }

  /** Uses `model` (not owned by the loss). */
  setModel(model: CLIPModel | CLIPLogitsFn): void {
    this.useNetwork(model instanceof CLIPModel ? (i, t) => model.logitsPerImage(i, t) : model);
    this.imageSize = model instanceof CLIPModel ? model.imageSize : null;
  }

  /** Loads CLIP from a Hugging Face `model.safetensors` (bytes or a `TensorSource`); the loss owns it. */
  loadWeights(weights: ArrayBuffer | ArrayBufferView | TensorSource): void {
    const cfg = this.cfg.clip_model;
    const model = CLIPModel.load(weightsSource(weights, cfg.weights ?? 'CLIP model.safetensors'), {
      visionHeads: cfg.vision_heads,
      textHeads: cfg.text_heads,
    });
    this.setModel(model);
    this.own(model);
  }

  /**
   * @param image N_img×H×W×3 in `inputRange` (H = W = `in_size` for MMagic's pooling to 224).
   * @param text N_text×77 token ids (int32).
   * @returns N_img×N_text.
   */
  forward(image: tf.Tensor, text: tf.Tensor): tf.Tensor {
    const owner = 'CLIPLoss';
    const img = checkTensor(owner, 'image', image, 4);
    if (!(text instanceof tf.Tensor) || text.rank !== 2) {
      throw new ShapeError(
        `${owner}: 'text' must be an N_text×77 tensor of token ids (clipTokenize), got ${text instanceof tf.Tensor ? `shape [${text.shape.join(', ')}]` : typeof text}`,
      );
    }
    const model = this.requireNetwork(
      () =>
        `${owner}: no CLIP weights loaded (MMagic downloads ${this.cfg.clip_model.clip_type}); pass a Hugging Face model.safetensors to loss.loadWeights(bytes), or use loadCLIPWeights(loss, path) from genloss/node`,
    );
    checkInputRange(owner, 'image', img, this.inputRange);
    const { in_size, scale_factor, pool_size } = this.cfg.clip_model;
    if (this.imageSize !== null) {
      const kernel = Math.floor((scale_factor * in_size) / pool_size);
      const [h, w] = [img.shape[1] as number, img.shape[2] as number].map(
        (d) => Math.floor((d * scale_factor - kernel) / kernel) + 1,
      );
      if (h !== this.imageSize || w !== this.imageSize) {
        throw new ShapeError(
          `${owner}: 'image' of ${img.shape[1]}×${img.shape[2]} pools to ${h}×${w} (in_size ${in_size}, scale_factor ${scale_factor}, pool_size ${pool_size}) but CLIP takes ${this.imageSize}×${this.imageSize}: set clip_model.in_size to the image size`,
        );
      }
    }
    return this.scaled(() =>
      tf.sub(1, tf.div(model(clipPool(img, in_size, scale_factor, pool_size), text), 100)),
    );
  }
}
