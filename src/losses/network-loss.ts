import type * as tf from '@tensorflow/tfjs';
import { WeightsError } from '../core/errors.ts';
import { checkInputRange, type InputRange } from '../core/input-range.ts';
import { LossModule } from '../core/module.ts';
import type { OptionsSchema } from '../core/options.ts';
import { checkSameShape, checkTensor } from '../core/validate.ts';
import { parseSafetensors } from '../io/safetensors.ts';
import type { TensorSource } from '../io/tensor-source.ts';

/** `weights` as a `TensorSource`: bytes are parsed as a safetensors file named `source`. */
export function weightsSource(
  weights: ArrayBuffer | ArrayBufferView | TensorSource,
  source: string,
): TensorSource {
  return weights instanceof ArrayBuffer || ArrayBuffer.isView(weights)
    ? parseSafetensors(weights, source)
    : weights;
}

/**
 * Base of the losses that run a pluggable network (`PerceptualLoss`, `LightCNNFeatureLoss`,
 * `FaceIdLoss`, `CLIPLoss`). The network is held as a function `F`. A network the caller passes
 * stays the caller's to free; one the loss loaded itself (`loadWeights`) is the loss's, freed when
 * another replaces it or on `dispose`.
 */
export abstract class NetworkLoss<S extends OptionsSchema, F> extends LossModule<S> {
  private network: F | null = null;
  private owned: { dispose(): void } | null = null;

  /**
   * The range the images must lie in: `input_range` when the config sets it, else the range the
   * loss itself assumes ({@link assumedRange}).
   */
  get inputRange(): InputRange {
    return (this.cfg as { input_range?: InputRange }).input_range ?? this.assumedRange;
  }

  /**
   * The range the loss's own preprocessing assumes. `'any'` (no check) here: a loss that hands
   * its images to the network as they are assumes none, as MMagic's `LightCNNFeatureLoss.forward`,
   * `IDLossModel.extract_feats` (ArcFace) and `CLIPLossModel.forward` do. A loss that maps pixel
   * values from a fixed range overrides it.
   */
  protected get assumedRange(): InputRange {
    return 'any';
  }

  /** Whether a network is set or loaded (`loadLossWeights` of `genloss/node` skips such a loss). */
  get hasNetwork(): boolean {
    return this.network !== null;
  }

  /** Runs `network` from now on, freeing the network the loss owned. */
  protected useNetwork(network: F): void {
    this.owned?.dispose();
    this.owned = null;
    this.network = network;
  }

  /** Makes the loss own `net`, which the last `useNetwork` installed. */
  protected own(net: { dispose(): void }): void {
    this.owned = net;
  }

  /** The network; a `WeightsError` saying `missing()` when none was set or loaded. */
  protected requireNetwork(missing: () => string): F {
    if (this.network === null) throw new WeightsError(missing());
    return this.network;
  }

  /**
   * Checks the two images of `forward` (`[name, value]` each), in this order: N×H×W×C tensors of
   * one shape, a network (`requireNetwork(missing)`), both in `inputRange` (unless it is `'any'`).
   *
   * @returns the two images and the network.
   */
  protected checkImages(
    [nameA, a]: [string, unknown],
    [nameB, b]: [string, unknown],
    missing: () => string,
  ): [tf.Tensor, tf.Tensor, F] {
    const owner = this.lossType;
    const ta = checkTensor(owner, nameA, a, 4);
    const tb = checkTensor(owner, nameB, b, 4);
    checkSameShape(owner, [nameA, ta], [nameB, tb]);
    const network = this.requireNetwork(missing);
    checkInputRange(owner, nameA, ta, this.inputRange);
    checkInputRange(owner, nameB, tb, this.inputRange);
    return [ta, tb, network];
  }

  /** Frees the weights the loss loaded itself. */
  override dispose(): void {
    this.owned?.dispose();
    this.owned = null;
    this.network = null;
  }
}
