/**
 * What the reference tests of generate_gan.py and generate_model.py share: the layer-list
 * interpreter of their discriminators, a loss scaler, and a check that records the worst error
 * against PyTorch, without Node built-ins (the browser suite, test/browser/, bundles them too).
 */
import * as tf from '@tensorflow/tfjs';
import type { LossScaler } from '../../src/index.ts';
import { assertClose, REF_ATOL, REF_RTOL } from './close.ts';
import { type RefTensor, toTensor } from './reference-cases.ts';

/** One layer of a generate_gan.py network. */
export interface Layer {
  op: string;
  w?: string;
  b?: string | null;
  stride?: number;
  pad?: number;
  slope?: number;
  k?: number;
  mode?: 'bilinear' | 'nearest';
  size?: [number, number];
  align_corners?: boolean;
  shape?: number[];
}

/** A network's parameters by name. */
export type Params = Record<string, tf.Tensor>;

/** A generate_gan.py network: its layers and its parameters as written. */
export interface RefNet {
  layers: Layer[];
  params: Record<string, RefTensor>;
}

/** The layer lists of generate_gan.py, in TF.js ops (NHWC; weights HWIO, H×W×C×1, in×out). */
export function runLayers(layers: Layer[], p: Params, input: tf.Tensor): tf.Tensor {
  let x = input;
  for (const l of layers) {
    const pad = l.pad ? l.pad : 'valid';
    switch (l.op) {
      case 'conv':
        x = tf.conv2d(x as tf.Tensor4D, p[l.w!] as tf.Tensor4D, l.stride ?? 1, pad);
        if (l.b) x = tf.add(x, p[l.b]);
        break;
      case 'depthwise':
        x = tf.depthwiseConv2d(x as tf.Tensor4D, p[l.w!] as tf.Tensor4D, l.stride ?? 1, pad);
        if (l.b) x = tf.add(x, p[l.b]);
        break;
      case 'leaky_relu':
        x = tf.leakyRelu(x, l.slope);
        break;
      case 'tanh':
        x = tf.tanh(x);
        break;
      case 'sigmoid':
        x = tf.sigmoid(x);
        break;
      case 'avg_pool':
        x = tf.avgPool(x as tf.Tensor4D, l.k!, l.k!, 'valid');
        break;
      case 'max_pool':
        x = tf.maxPool(x as tf.Tensor4D, l.k!, l.k!, 'valid');
        break;
      case 'resize':
        x =
          l.mode === 'nearest'
            ? tf.image.resizeNearestNeighbor(x as tf.Tensor4D, l.size!, false, false)
            : tf.image.resizeBilinear(x as tf.Tensor4D, l.size!, l.align_corners, !l.align_corners);
        break;
      case 'flatten':
        x = tf.reshape(x, [x.shape[0]!, -1]);
        break;
      case 'mean_hw':
        x = tf.mean(x, [1, 2]);
        break;
      case 'linear':
        x = tf.matMul(x as tf.Tensor2D, p[l.w!] as tf.Tensor2D);
        if (l.b) x = tf.add(x, p[l.b]);
        break;
      case 'reshape':
        x = tf.reshape(x, [x.shape[0]!, ...l.shape!]);
        break;
      default:
        throw new Error(`unknown layer op ${l.op}`);
    }
  }
  return x;
}

/** A loss scaler multiplying by `s` (generate_gan.py's `loss_scale`), or null without one. */
export function lossScaler(s: number | undefined): LossScaler | null {
  return s === undefined ? null : { scale: (t) => tf.mul(t, s), getScale: () => s };
}

/**
 * `assertClose` against PyTorch values that also records the worst
 * |got − want| / (1e-5 + 5e-4·|want|) over every check, and where it was, for a final "within
 * tolerance" test.
 */
export class WorstError {
  ratio = 0;
  where = '';

  /** Checks `actual` against `want` (see `assertClose`), recording the worst ratio. */
  check(actual: tf.Tensor | number, want: RefTensor | number, what: string): void {
    const expected = typeof want === 'number' ? want : toTensor(want);
    const a = typeof actual === 'number' ? [actual] : actual.dataSync();
    const e = typeof expected === 'number' ? [expected] : expected.dataSync();
    for (let i = 0; i < e.length; i++) {
      const ratio = Math.abs(a[i] - e[i]) / (REF_ATOL + REF_RTOL * Math.abs(e[i]));
      if (ratio > this.ratio) {
        this.ratio = ratio;
        this.where = what;
      }
    }
    assertClose(actual, expected, { what });
    if (typeof expected !== 'number') expected.dispose();
  }

  /** Prints the worst ratio and where (for the record) and asserts it is at most 1. */
  assertWithinTolerance(backend: string): void {
    console.log(
      `${backend}: worst |got − want| / (1e-5 + 5e-4·|want|) = ${this.ratio.toExponential(2)} (${this.where})`,
    );
    if (!(this.ratio <= 1))
      throw new Error(`worst error ${this.ratio} × tolerance (${this.where})`);
  }
}
