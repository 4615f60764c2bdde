import type * as tf from '@tensorflow/tfjs';
import type { z } from 'zod';
import { inputRangeOption } from '../core/input-range.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { type CLIPLogitsFn, CLIPLoss } from '../losses/clip.ts';
import type { CLIPModel } from '../nets/clip.ts';
import { componentOptions, LossComponent } from './base.ts';

/** The name `CLIPLossComps.lossName()` always returns (MMagic's static `loss_name()`). */
export const CLIP_LOSS_COMPS_NAME = 'clip_loss';

function clipCompsOptions() {
  return componentOptions(
    { loss_name: CLIP_LOSS_COMPS_NAME },
    { clip_model: CLIPLoss.options.shape.clip_model, input_range: inputRangeOption },
  );
}

/** The config of `CLIPLossComps`. */
export type CLIPLossCompsOptions = z.input<ReturnType<typeof clipCompsOptions>>;

/**
 * `CLIPLossComps` (MMagic, StyleCLIP): `CLIPLoss` as a data_info component,
 * `loss_weight · (1 − logits_per_image / 100)`, N_img × N_text, **not reduced** (as MMagic;
 * `parseLosses` means it). The math is `CLIPLoss.forward`'s (the component wraps one, `loss`).
 *
 * Arguments: `image` (N_img×H×W×3 in `input_range`) and `text` (N_text×77 token ids from
 * `clipTokenize`), as MMagic's `net(image, text)`, e.g. `data_info: {image: 'fake_imgs', text:
 * 'descriptions'}`. Config: `loss_weight` 1.0, `data_info`, `clip_model`, `input_range` as
 * `CLIPLoss`, and `loss_name`.
 *
 * **`lossName()` is always `'clip_loss'`**, whatever `loss_name` says: MMagic's `loss_name()` is
 * a static method returning `'clip_loss'` (mirrored so that a ported config logs and sums the same
 * key). `loss_name` is accepted, so MMagic configs port verbatim, and unused. Unlike MMagic, the
 * outputs dict may also be the single positional argument.
 *
 * The model: pass it to the constructor (a loaded `CLIPModel` or any `(image, text) => logits`
 * function), or call `setModel`/`loadWeights`, or `loadCLIPWeights(comps.loss)` from
 * `genloss/node`.
 */
export class CLIPLossComps extends LossComponent<ReturnType<typeof clipCompsOptions>> {
  static override readonly lossType = 'CLIPLossComps';
  static override readonly options = clipCompsOptions();
  static override readonly argNames = ['image', 'text'];

  /** The wrapped loss (its `loss_weight` is the component's). */
  readonly loss: CLIPLoss;

  /** @param model a loaded `CLIPModel` or any `(image, text) => logits` function. */
  constructor(cfg: CLIPLossCompsOptions = {}, model?: CLIPModel | CLIPLogitsFn) {
    super(cfg);
    const { loss_weight, clip_model, input_range } = this.cfg;
    this.loss = new CLIPLoss({ loss_weight, clip_model, input_range }, model);
  }

  /** Always `'clip_loss'` (MMagic); the `loss_name` config key is ignored. */
  override lossName(): string {
    return CLIP_LOSS_COMPS_NAME;
  }

  /** Uses `model` (not owned); see `CLIPLoss.setModel`. */
  setModel(model: CLIPModel | CLIPLogitsFn): void {
    this.loss.setModel(model);
  }

  /** Loads CLIP from a Hugging Face `model.safetensors` (owned); see `CLIPLoss.loadWeights`. */
  loadWeights(weights: ArrayBuffer | ArrayBufferView | TensorSource): void {
    this.loss.loadWeights(weights);
  }

  protected compute({ image, text }: Record<string, unknown>): tf.Tensor {
    return this.loss.forward(image as tf.Tensor, text as tf.Tensor);
  }

  /** Frees the weights the wrapped loss loaded itself. */
  override dispose(): void {
    this.loss.dispose();
  }
}
