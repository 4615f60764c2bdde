import * as tf from '@tensorflow/tfjs';
import { checkTensor } from '../core/validate.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { maxPool2d } from '../ops/pooling.ts';
import { conv2d } from './layers.ts';
import { expectWeights, LoadedNet, WeightReader } from './weights.ts';

/** One layer of `LightCNN(3).features`: a MaxFeature conv or a 2×2 ceil-mode max-pool. */
interface LightCNNLayer {
  index: number;
  kind: 'mfm' | 'pool';
  /** MaxFeature: output channels (the conv has twice as many), kernel, padding. */
  out?: number;
  kernel?: number;
  padding?: number;
}

/** MMagic's `LightCNN(3).features` (DIC), by `features` index. */
export const LIGHTCNN_LAYERS: readonly LightCNNLayer[] = [
  { index: 0, kind: 'mfm', out: 48, kernel: 5, padding: 2 },
  { index: 1, kind: 'pool' },
  { index: 2, kind: 'mfm', out: 48, kernel: 1, padding: 0 },
  { index: 3, kind: 'mfm', out: 96, kernel: 3, padding: 1 },
  { index: 4, kind: 'pool' },
  { index: 5, kind: 'mfm', out: 96, kernel: 1, padding: 0 },
  { index: 6, kind: 'mfm', out: 192, kernel: 3, padding: 1 },
  { index: 7, kind: 'pool' },
  { index: 8, kind: 'mfm', out: 192, kernel: 1, padding: 0 },
  { index: 9, kind: 'mfm', out: 128, kernel: 3, padding: 1 },
  { index: 10, kind: 'mfm', out: 128, kernel: 1, padding: 0 },
  { index: 11, kind: 'mfm', out: 128, kernel: 3, padding: 1 },
  { index: 12, kind: 'pool' },
];

/**
 * The elementwise max of the two channel halves of x (LightCNN's Max-Feature-Map): N×H×W×2C →
 * N×H×W×C. Written as `max` over a stacked axis, whose gradient is itself differentiable.
 */
export function maxFeatureMap(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [a, b] = tf.split(x, 2, -1);
    return tf.max(tf.stack([a, b]), 0);
  });
}

/**
 * LightCNN-9's feature stack as used by MMagic's `LightCNNFeatureLoss` (DIC), NHWC:
 * MaxFeature blocks (a conv to 2·C channels, then the max of the two halves) and 2×2 max-pools
 * in ceil mode. An H×W input gives N×ceil(H/16)×ceil(W/16)×128.
 *
 * Weights: the state dict of MMagic's `LightCNN(3)` (`features.{0,2,3,5,6,8,9,10,11}.filter.weight`
 * OIHW and `.bias`; a `module.` prefix is accepted), converted to safetensors (docs/weights.md).
 * Widths are read from the file (so a LightCNN-shaped network with fewer channels loads too) and
 * checked: kernel sizes, the input width of each conv, and an even number of conv outputs.
 */
export class LightCNNFeatures extends LoadedNet {
  private readonly convs = new Map<number, { w: tf.Tensor; b: tf.Tensor }>();

  private constructor(src: TensorSource) {
    super();
    const prefix =
      !src.has('features.0.filter.weight') && src.has('module.features.0.filter.weight')
        ? 'module.features.'
        : 'features.';
    const reader = new WeightReader('LightCNN', src, prefix);
    let inChannels = 3;
    try {
      for (const layer of LIGHTCNN_LAYERS) {
        if (layer.kind !== 'mfm') continue;
        const k = layer.kernel!;
        const name = `${layer.index}.filter`;
        const [twice] = reader.values(`${name}.weight`, [null, inChannels, k, k]).shape;
        expectWeights(
          twice % 2 === 0,
          'LightCNN',
          `weight '${prefix}${name}.weight' must have an even number of output channels (two halves of a MaxFeature), got ${twice}`,
        );
        const w = reader.conv(`${name}.weight`, [twice, inChannels, k, k]);
        const b = reader.tensor(`${name}.bias`, [twice]);
        this.convs.set(layer.index, { w, b });
        inChannels = twice / 2;
      }
    } catch (err) {
      tf.dispose(reader.tensors);
      throw err;
    }
    this.own(reader);
  }

  /** Builds the network from a state dict, validating every weight (`WeightsError`). */
  static load(src: TensorSource): LightCNNFeatures {
    return new LightCNNFeatures(src);
  }

  /**
   * @param x N×H×W×3.
   * @returns N×ceil(H/16)×ceil(W/16)×C (C = 128 for the real network).
   */
  run(x: tf.Tensor): tf.Tensor4D {
    let h = checkTensor('LightCNN', 'x', x, 4) as tf.Tensor4D;
    return tf.tidy(() => {
      for (const layer of LIGHTCNN_LAYERS) {
        if (layer.kind === 'pool') {
          h = maxPool2d(h, 2, 2, true);
        } else {
          const { w, b } = this.convs.get(layer.index)!;
          h = maxFeatureMap(conv2d(h, w, b, 1, layer.padding!)) as tf.Tensor4D;
        }
      }
      return h;
    });
  }
}
