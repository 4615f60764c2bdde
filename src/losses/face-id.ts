import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { stopGradient } from '../autodiff/stop-gradient.ts';
import { WeightsError } from '../core/errors.ts';
import { type InputRange, inputRangeOption } from '../core/input-range.ts';
import { lossOptions } from '../core/options.ts';
import { checkTensor } from '../core/validate.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { ArcFaceIRSE, arcFaceCrop } from '../nets/arcface.ts';
import { DLIB_FACE_SIZE, DlibFaceRecognitionNet } from '../nets/face-recognition.ts';
import { l2Normalize } from '../nets/layers.ts';
import { adaptiveAvgPool2d } from '../ops/pooling.ts';
import { NetworkLoss, weightsSource } from './network-loss.ts';

/** A face-identity network: image N×H×W×3 (as given) → N×D embeddings (normalised by the loss). */
export type FaceEmbeddingFn = (x: tf.Tensor) => tf.Tensor;

const facenetOption = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('ArcFace'),
      ir_se50_weights: z.string().nullable().default(null),
    }),
    z.strictObject({ type: z.literal('DlibFaceRecognition') }),
  ])
  .default({ type: 'DlibFaceRecognition' });

function faceIdOptions() {
  return lossOptions(
    { loss_name: 'loss_id' },
    {
      data_info: z.record(z.string(), z.string()).nullable().default(null),
      facenet: facenetOption,
      input_range: inputRangeOption,
    },
  );
}

/** The config of `FaceIdLoss`. */
export type FaceIdLossOptions = z.input<ReturnType<typeof faceIdOptions>>;

/**
 * Identity loss between two batches of face embeddings (MMagic `IDLossModel.forward`):
 * `(1/N) Σ_i (1 − ⟨e_pred_i, e_gt_i⟩)` with e unit-norm, N×D each.
 */
export function faceIdDistance(embPred: tf.Tensor, embGt: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    tf.mean(tf.sub(1, tf.sum(tf.mul(l2Normalize(embPred), l2Normalize(embGt)), -1))),
  );
}

/**
 * `FaceIdLoss` (MMagic): `loss_weight · (1/N) Σ_i (1 − cos(f(pred_i), f(gt_i)))`, with f(gt)
 * detached, for images N×H×W×3 (in [−1, 1] for both built-in networks).
 *
 * `facenet` selects f:
 * - `{type: 'ArcFace', ir_se50_weights}` — MMagic's network: ArcFace IR-SE50 on MMagic's crop
 *   (pool to 256×256, crop 188×188 at (35, 32), pool to 112×112). The weights are the user's:
 *   `ir_se50_weights` names the converted safetensors file (nothing is downloaded).
 * - `{type: 'DlibFaceRecognition'}` — **the genloss default** (MMagic's default is ArcFace, which
 *   it downloads): the dlib face-recognition ResNet whose weights ship in `@vladmandic/face-api`,
 *   so it works offline. A dlib identity embedding, not ArcFace. The image is mapped to 0..255
 *   and pooled to 150×150 (adaptive average); it should be a face chip (a loosely cropped,
 *   aligned face), not an FFHQ frame. Embeddings are L2-normalised, so the loss is a cosine
 *   distance.
 *
 * Config: `loss_weight` 1.0, `data_info` null (stored, unused: the data_info-driven component
 * `FaceIdLossComps` is separate), `facenet`, `loss_name` `'loss_id'`, and `input_range` (genloss;
 * default: [−1, 1] with the dlib net, whose preprocessing maps that range to 0..255; none with
 * ArcFace or a function, which get the image as it is, as in MMagic's `IDLossModel`). Load
 * weights with `loadWeights` (or `loadFaceIdWeights` from `genloss/node`), or pass any
 * `(x) => embeddings` function.
 */
export class FaceIdLoss extends NetworkLoss<ReturnType<typeof faceIdOptions>, FaceEmbeddingFn> {
  static override readonly lossType = 'FaceIdLoss';
  static override readonly options = faceIdOptions();

  /** The range the installed network's preprocessing assumes (see {@link assumedRange}). */
  private networkRange: InputRange = 'any';

  /** @param network a loaded `ArcFaceIRSE` / `DlibFaceRecognitionNet`, or any embedding function. */
  constructor(
    cfg: FaceIdLossOptions = {},
    network?: ArcFaceIRSE | DlibFaceRecognitionNet | FaceEmbeddingFn,
  ) {
    super(cfg);
    if (network) this.setNetwork(network);
  }

  /** [−1, 1] with the dlib net (`dlibInput` maps it to 0..255); none otherwise. */
  protected override get assumedRange(): InputRange {
    return this.networkRange;
  }

  /**
   * Uses `network` (not owned). A loaded net gets its preprocessing (ArcFace: MMagic's crop;
   * dlib: 0..255 and 150×150); a function gets the image as given.
   */
  setNetwork(network: ArcFaceIRSE | DlibFaceRecognitionNet | FaceEmbeddingFn): void {
    this.networkRange = network instanceof DlibFaceRecognitionNet ? [-1, 1] : 'any';
    if (network instanceof ArcFaceIRSE) {
      this.useNetwork((x) => network.embed(arcFaceCrop(x)));
    } else if (network instanceof DlibFaceRecognitionNet) {
      this.useNetwork((x) => network.embed(dlibInput(x)));
    } else {
      this.useNetwork(network);
    }
  }

  /**
   * Loads the weights of the configured facenet: for ArcFace a safetensors file (bytes) or a
   * `TensorSource` of the IR-SE50 state dict; for dlib the `TfjsWeights` of face-api's
   * `face_recognition_model` manifest. The loss owns them.
   */
  loadWeights(weights: ArrayBuffer | ArrayBufferView | TensorSource): void {
    const facenet = this.cfg.facenet;
    let net: ArcFaceIRSE | DlibFaceRecognitionNet;
    if (facenet.type === 'ArcFace') {
      net = ArcFaceIRSE.load(weightsSource(weights, facenet.ir_se50_weights ?? 'ArcFace weights'));
    } else if (weights instanceof ArrayBuffer || ArrayBuffer.isView(weights)) {
      throw new WeightsError(
        'FaceIdLoss: the dlib facenet loads from a TF.js weights manifest: pass TfjsWeights.parse(manifest, bin), or use loadFaceIdWeights(loss) from genloss/node',
      );
    } else {
      net = DlibFaceRecognitionNet.load(weights);
    }
    this.setNetwork(net);
    this.own(net);
  }

  /**
   * @param pred N×H×W×3 in `inputRange`.
   * @param gt same shape; no gradient flows into it.
   * @returns a scalar.
   */
  forward(pred: tf.Tensor, gt: tf.Tensor): tf.Tensor {
    const [p, g, net] = this.checkImages(['pred', pred], ['gt', gt], () => {
      const facenet = this.cfg.facenet;
      return facenet.type === 'ArcFace'
        ? `FaceIdLoss: no ArcFace weights loaded (ir_se50_weights: ${facenet.ir_se50_weights}); convert IR-SE50 to safetensors (docs/weights.md) and call loss.loadWeights(bytes) or loadFaceIdWeights(loss) from genloss/node`
        : 'FaceIdLoss: no dlib face-recognition weights loaded; call loadFaceIdWeights(loss) from genloss/node (reads them from @vladmandic/face-api) or loss.loadWeights(TfjsWeights.parse(manifest, bin))';
    });
    return this.scaled(() => faceIdDistance(net(p), stopGradient(net(stopGradient(g)))));
  }
}

/** [−1, 1] N×H×W×3 → the dlib net's input: 0..255, 150×150 (adaptive average pooling). */
export function dlibInput(x: tf.Tensor): tf.Tensor4D {
  const t = checkTensor('dlibInput', 'x', x, 4);
  return tf.tidy(() => {
    const scaled = tf.mul(tf.add(t, 1), 127.5) as tf.Tensor4D;
    const [, h, w] = scaled.shape;
    return h === DLIB_FACE_SIZE && w === DLIB_FACE_SIZE
      ? scaled
      : adaptiveAvgPool2d(scaled, [DLIB_FACE_SIZE, DLIB_FACE_SIZE]);
  });
}
