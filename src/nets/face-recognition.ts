import * as tf from '@tensorflow/tfjs';
import { checkTensor } from '../core/validate.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { avgPool2d, maxPool2d } from '../ops/pooling.ts';
import { LoadedNet, WeightReader } from './weights.ts';

/** The mean RGB that face-api subtracts (in 0..255) before dividing by 255. */
export const DLIB_FACE_MEAN_RGB = [122.782, 117.001, 104.298] as const;

/** The input size of the dlib face-recognition ResNet. */
export const DLIB_FACE_SIZE = 150;

interface ConvScale {
  filters: tf.Tensor;
  bias: tf.Tensor;
  scale: tf.Tensor;
  shift: tf.Tensor;
}

/** Residual blocks in order: name and whether it downsamples. */
const BLOCKS: [string, boolean][] = [
  ['conv32_1', false],
  ['conv32_2', false],
  ['conv32_3', false],
  ['conv64_down', true],
  ['conv64_1', false],
  ['conv64_2', false],
  ['conv64_3', false],
  ['conv128_down', true],
  ['conv128_1', false],
  ['conv128_2', false],
  ['conv256_down', true],
  ['conv256_1', false],
  ['conv256_2', false],
  ['conv256_down_out', true],
];

const WIDTH: Record<string, number> = { '32': 32, '64': 64, '128': 128, '256': 256 };

/**
 * The dlib face-recognition ResNet (`dlib_face_recognition_resnet_model_v1`, public domain) as
 * ported by face-api (`FaceRecognitionNet`): a 150×150 RGB face chip → a 128-d identity
 * descriptor, whose Euclidean distance is below ≈ 0.6 for the same person. It is a dlib
 * metric-learning embedding, **not ArcFace**; genloss offers it because its weights ship in the
 * `@vladmandic/face-api` npm package, so it works offline.
 *
 * Written with plain ops so that its gradients (of any order) are those of TF.js's own kernels:
 * a 7×7/2 conv, 3×3/2 max-pool, 14 residual blocks (conv-scale-ReLU, conv-scale; the
 * downsampling ones add a 2×2 average pool of the input, zero-padded in channels and size),
 * global average, and a 256→128 matrix. Bit-compatible with face-api's forward pass.
 *
 * Weights: face-api's `face_recognition_model-weights_manifest.json` + `.bin` read with
 * `TfjsWeights` (or `loadFaceApiRecognitionNet()` from `genloss/node`).
 */
export class DlibFaceRecognitionNet extends LoadedNet {
  private readonly layers = new Map<string, ConvScale>();
  private readonly fc: tf.Tensor;

  private constructor(src: TensorSource) {
    super();
    const reader = new WeightReader('DlibFaceRecognitionNet', src);
    const convScale = (name: string, k: number, cin: number, cout: number): ConvScale => ({
      filters: reader.tensor(`${name}/conv/filters`, [k, k, cin, cout]),
      bias: reader.tensor(`${name}/conv/bias`, [cout]),
      scale: reader.tensor(`${name}/scale/weights`, [cout]),
      shift: reader.tensor(`${name}/scale/biases`, [cout]),
    });
    try {
      this.layers.set('conv32_down', convScale('conv32_down', 7, 3, 32));
      let cin = 32;
      for (const [name, down] of BLOCKS) {
        const cout = WIDTH[name.slice(4).split('_')[0]];
        this.layers.set(`${name}/conv1`, convScale(`${name}/conv1`, 3, down ? cin : cout, cout));
        this.layers.set(`${name}/conv2`, convScale(`${name}/conv2`, 3, cout, cout));
        cin = cout;
      }
      this.fc = reader.tensor('fc', [256, 128]);
    } catch (err) {
      tf.dispose(reader.tensors);
      throw err;
    }
    this.own(reader);
  }

  /** Builds the network from face-api's weights (a `TfjsWeights`), checking every shape. */
  static load(src: TensorSource): DlibFaceRecognitionNet {
    return new DlibFaceRecognitionNet(src);
  }

  private conv(x: tf.Tensor4D, name: string, stride: 1 | 2, relu: boolean): tf.Tensor4D {
    const p = this.layers.get(name)!;
    const y = tf.conv2d(x, p.filters as tf.Tensor4D, stride, stride === 2 ? 'valid' : 'same');
    const out = tf.add(tf.mul(tf.add(y, p.bias), p.scale), p.shift) as tf.Tensor4D;
    return relu ? tf.relu(out) : out;
  }

  private block(x: tf.Tensor4D, name: string, down: boolean): tf.Tensor4D {
    let out = this.conv(x, `${name}/conv1`, down ? 2 : 1, true);
    out = this.conv(out, `${name}/conv2`, 1, false);
    if (!down) return tf.relu(tf.add(out, x)) as tf.Tensor4D;
    let pooled: tf.Tensor4D = avgPool2d(x, 2, 2);
    const [n, ph, pw, pc] = pooled.shape;
    const [, oh, ow, oc] = out.shape;
    if (ph !== oh || pw !== ow) {
      // face-api appends a zero row and a zero column to the conv branch.
      out = tf.pad(out, [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ]);
    }
    if (pc !== oc) pooled = tf.concat([pooled, tf.zeros([n, ph, pw, pc])], 3);
    return tf.relu(tf.add(pooled, out)) as tf.Tensor4D;
  }

  /**
   * The raw descriptor.
   *
   * @param x N×150×150×3, RGB in 0..255 (face-api's `toBatchTensor(150)` output).
   * @returns N×128 (not normalised; face-api's `computeFaceDescriptor`).
   */
  embed(x: tf.Tensor): tf.Tensor2D {
    const input = checkTensor('DlibFaceRecognitionNet', 'x', x, 4);
    return tf.tidy(() => {
      const normalized = tf.div(
        tf.sub(input, tf.tensor1d([...DLIB_FACE_MEAN_RGB])),
        255,
      ) as tf.Tensor4D;
      let out = this.conv(normalized, 'conv32_down', 2, true);
      out = maxPool2d(out, 3, 2, false);
      for (const [name, down] of BLOCKS) out = this.block(out, name, down);
      return tf.matMul(tf.mean(out, [1, 2]) as tf.Tensor2D, this.fc as tf.Tensor2D);
    });
  }
}
