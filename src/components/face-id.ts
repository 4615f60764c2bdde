import type * as tf from '@tensorflow/tfjs';
import type { z } from 'zod';
import { inputRangeOption } from '../core/input-range.ts';
import type { TensorSource } from '../io/tensor-source.ts';
import { type FaceEmbeddingFn, FaceIdLoss } from '../losses/face-id.ts';
import type { ArcFaceIRSE } from '../nets/arcface.ts';
import type { DlibFaceRecognitionNet } from '../nets/face-recognition.ts';
import { componentOptions, LossComponent } from './base.ts';

/** A face network `FaceIdLossComps` (like `FaceIdLoss`) accepts. */
export type FaceNetwork = ArcFaceIRSE | DlibFaceRecognitionNet | FaceEmbeddingFn;

function faceIdCompsOptions() {
  return componentOptions(
    { loss_name: 'loss_id' },
    { facenet: FaceIdLoss.options.shape.facenet, input_range: inputRangeOption },
  );
}

/** The config of `FaceIdLossComps`. */
export type FaceIdLossCompsOptions = z.input<ReturnType<typeof faceIdCompsOptions>>;

/**
 * `FaceIdLossComps` (MMagic): `FaceIdLoss` as a data_info component,
 * `loss_weight · (1/N) Σ_i (1 − cos(f(pred_i), f(gt_i)))` (a scalar), f(gt) detached. The math is
 * `FaceIdLoss.forward`'s (the component wraps one, `loss`).
 *
 * Arguments: `pred`, `gt` (N×H×W×3 in `input_range`), as MMagic's `net(pred, gt)`, e.g.
 * `data_info: {pred: 'fake_imgs', gt: 'real_imgs'}`. Config: `loss_weight` 1.0, `data_info`,
 * `facenet`, `input_range` and `loss_name` `'loss_id'`, as `FaceIdLoss` (so the default facenet is
 * genloss's offline dlib network, not MMagic's ArcFace). Unlike MMagic, the outputs dict may also
 * be the single positional argument.
 *
 * The network: pass it to the constructor (any `(x) => embeddings` function, or a loaded
 * `ArcFaceIRSE`/`DlibFaceRecognitionNet`), or call `setNetwork`/`loadWeights`, or
 * `loadFaceIdWeights(comps.loss)` from `genloss/node`.
 */
export class FaceIdLossComps extends LossComponent<ReturnType<typeof faceIdCompsOptions>> {
  static override readonly lossType = 'FaceIdLossComps';
  static override readonly options = faceIdCompsOptions();
  static override readonly argNames = ['pred', 'gt'];

  /** The wrapped loss (its `loss_weight` is the component's). */
  readonly loss: FaceIdLoss;

  /** @param network a loaded `ArcFaceIRSE` / `DlibFaceRecognitionNet`, or any embedding function. */
  constructor(cfg: FaceIdLossCompsOptions = {}, network?: FaceNetwork) {
    super(cfg);
    const { loss_weight, facenet, input_range } = this.cfg;
    this.loss = new FaceIdLoss({ loss_weight, facenet, input_range }, network);
  }

  /** Uses `network` (not owned); see `FaceIdLoss.setNetwork`. */
  setNetwork(network: FaceNetwork): void {
    this.loss.setNetwork(network);
  }

  /** Loads the configured facenet's weights (owned); see `FaceIdLoss.loadWeights`. */
  loadWeights(weights: ArrayBuffer | ArrayBufferView | TensorSource): void {
    this.loss.loadWeights(weights);
  }

  protected compute({ pred, gt }: Record<string, unknown>): tf.Tensor {
    return this.loss.forward(pred as tf.Tensor, gt as tf.Tensor);
  }

  /** Frees the weights the wrapped loss loaded itself. */
  override dispose(): void {
    this.loss.dispose();
  }
}
