import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { ConfigError } from '../core/errors.ts';
import { inputRangeOption } from '../core/input-range.ts';
import { lossOptions } from '../core/options.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { LightCNNFeatures } from '../nets/lightcnn.ts';
import { NetworkLoss, weightsSource } from './network-loss.ts';
import { FEATURE_CRITERIA, featureDistance } from './perceptual.ts';

/** A feature network for the feature losses: image N×H×W×3 → features (any shape). */
export type ImageFeatureFn = (x: tf.Tensor) => tf.Tensor;

function lightCNNOptions() {
  return lossOptions(
    { loss_name: 'loss_feature' },
    {
      pretrained: z.string().min(1).optional(),
      criterion: z.enum(FEATURE_CRITERIA).default('l1'),
      input_range: inputRangeOption,
    },
  );
}

/** The config of `LightCNNFeatureLoss`. */
export type LightCNNFeatureLossOptions = z.input<ReturnType<typeof lightCNNOptions>>;

/**
 * `LightCNNFeatureLoss` (MMagic, DIC): `loss_weight · crit(F(pred), detach(F(gt)))` with F the
 * LightCNN-9 feature stack, crit mean |·| (`'l1'`) or mean (·)² (`'mse'`).
 *
 * Config: `pretrained` (where the converted LightCNN weights are; MMagic loads it with
 * `load_checkpoint`, genloss reads a safetensors file: `loss.loadWeights(bytes)` or
 * `loadLightCNNWeights(loss)` from `genloss/node`; required unless a network is passed),
 * `loss_weight` 1.0, `criterion` `'l1'`. genloss additions: `input_range` (checked when set; by
 * default no range is, as MMagic feeds the images to LightCNN as they are), a pluggable network,
 * and a clear `WeightsError` instead of MMagic's silently random weights when none are loaded.
 */
export class LightCNNFeatureLoss extends NetworkLoss<
  ReturnType<typeof lightCNNOptions>,
  ImageFeatureFn
> {
  static override readonly lossType = 'LightCNNFeatureLoss';
  static override readonly options = lightCNNOptions();

  /**
   * @param cfg MMagic's config keys; `pretrained` may be left out when `network` is given.
   * @param network a loaded `LightCNNFeatures` or any `(x) => features` function.
   */
  constructor(cfg: LightCNNFeatureLossOptions, network?: LightCNNFeatures | ImageFeatureFn) {
    super(cfg);
    if (network) {
      this.setNetwork(network);
    } else if (this.cfg.pretrained === undefined) {
      throw new ConfigError(
        "LightCNNFeatureLoss: option 'pretrained' must be a string, got undefined (the path of the LightCNN weights; leave it out only when passing a network)",
      );
    }
  }

  /** Uses `network` (not owned by the loss). */
  setNetwork(network: LightCNNFeatures | ImageFeatureFn): void {
    this.useNetwork(network instanceof LightCNNFeatures ? (x) => network.run(x) : network);
  }

  /** Loads LightCNN weights (safetensors bytes or a `TensorSource`); the loss owns them. */
  loadWeights(
    weights: ArrayBuffer | ArrayBufferView | TensorSource,
    source = this.cfg.pretrained ?? 'LightCNN weights',
  ): void {
    const net = LightCNNFeatures.load(weightsSource(weights, source));
    this.setNetwork(net);
    this.own(net);
  }

  /**
   * @param pred N×H×W×3 in `inputRange`.
   * @param gt same shape; no gradient flows into it.
   * @returns a scalar.
   */
  forward(pred: tf.Tensor, gt: tf.Tensor): tf.Tensor {
    const [p, g, net] = this.checkImages(
      ['pred', pred],
      ['gt', gt],
      () =>
        `LightCNNFeatureLoss: no LightCNN weights loaded (pretrained: ${this.cfg.pretrained ?? 'not set'}); call loss.loadWeights(bytes) or loadLightCNNWeights(loss) from genloss/node`,
    );
    return this.scaled(() =>
      featureDistance(net(p), stopGradient(net(stopGradient(g))), this.cfg.criterion),
    );
  }
}
