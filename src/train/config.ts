import { z } from 'zod';
import { ganModelOptions } from '../models/gan-with-customized-loss.ts';
import { inpaintorOptions } from '../models/inpaintor.ts';
import { mattorOptions } from '../models/matting.ts';
import { optimizerOptions } from '../models/optimizers.ts';
import { restorerOptions } from '../models/restorer.ts';
import { ttsrOptions } from '../models/ttsr.ts';
import { lteOptions, searchTransformerOptions, ttsrNetOptions } from '../nets/ttsr.ts';
import { netOptions } from './architectures.ts';
import { degradationOptions, maskOptions } from './paired-data.ts';

/**
 * Keys of `data` that the image-to-image model kinds read: the held-out split and how each kind's
 * inputs are made from the images.
 */
const pairedDataKeys = {
  /** Images held out of training, for the metrics and the sample grid (the first ones). */
  val_images: z.int().min(1).default(64),
  /** A restorer's input from its target (required by BaseEditModel, SRGAN, ESRGAN; TTSR: downsample ×4). */
  degradation: degradationOptions.optional(),
  /** The inpainting masks (OneStageInpaintor). */
  masks: maskOptions.optional(),
};

/** The embedded procedural dataset: coloured shapes (see `shapesDataset`). */
export const shapesDataOptions = z.strictObject({
  type: z.literal('shapes'),
  num_images: z.int().min(1).default(2048),
  size: z.int().min(8).default(32),
  seed: z.int().default(0),
  /** Matting's unknown band: pixels within this distance of a fractional alpha (DIM). */
  trimap_width: z.int().min(0).default(2),
  ...pairedDataKeys,
});

/** A folder of PNG/JPEG images, resized to `size`² (Node only). */
export const folderDataOptions = z.strictObject({
  type: z.literal('folder'),
  path: z.string().min(1),
  size: z.int().min(8).default(32),
  /** Largest width×height one image may claim in its header; larger files are refused unread. */
  max_pixels: z.int().min(1).default(16_777_216),
  /** Skip unusable files, one warning each, instead of failing; none usable is still an error. */
  skip_bad_files: z.boolean().default(false),
  ...pairedDataKeys,
});

/** The GAN model kind (`type` may be left out: it is the default). */
export const ganTrainModelOptions = ganModelOptions.omit({ seed: true }).extend({
  type: z.literal('GANWithCustomizedLoss').default('GANWithCustomizedLoss'),
  /**
   * A text prompt, tokenized by CLIP's tokenizer into the outputs key `text` of both phases (1×77
   * ids), for a `CLIPLossComps` with `data_info: {image: fake_imgs, text: text}`: CLIP-guided
   * generation. Null (default): no `text` output.
   */
  text_prompt: z.string().min(1).nullable().default(null),
  /**
   * mmengine's `ExponentialMovingAverage` of the generator's weights, which the samples and the
   * SWD then use: every `interval` steps `ema ← (1 − momentum)·ema + momentum·weights`. Null
   * (default): no average.
   */
  ema_config: z
    .strictObject({
      momentum: z.number().gt(0).max(1).default(0.0002),
      interval: z.int().min(1).default(1),
    })
    .nullable()
    .default(null),
  generator: netOptions,
  discriminator: netOptions,
  optimizers: z.strictObject({ generator: optimizerOptions, discriminator: optimizerOptions }),
});

const imageToImageNets = {
  generator: netOptions,
  /** The discriminator of a model with a GAN loss; null (default) for none. */
  discriminator: netOptions.nullable().default(null),
  optimizers: z.strictObject({
    generator: optimizerOptions,
    discriminator: optimizerOptions.optional(),
  }),
};

/** The model kinds `genloss train` trains, by `model.type`. */
export const trainModelOptions = z.discriminatedUnion('type', [
  ganTrainModelOptions,
  restorerOptions.extend(imageToImageNets),
  inpaintorOptions.extend(imageToImageNets),
  mattorOptions.extend(imageToImageNets),
  ttsrOptions.extend({
    generator: ttsrNetOptions,
    extractor: lteOptions,
    transformer: searchTransformerOptions,
    discriminator: imageToImageNets.discriminator,
    optimizers: z.strictObject({
      generator: optimizerOptions,
      extractor: optimizerOptions,
      discriminator: optimizerOptions.optional(),
    }),
  }),
]);

/** `model.type` values and the kind of model each trains. */
export const MODEL_KINDS = {
  GANWithCustomizedLoss: 'gan',
  BaseEditModel: 'restoration',
  SRGAN: 'restoration',
  ESRGAN: 'restoration',
  OneStageInpaintor: 'inpainting',
  DIM: 'matting',
  TTSR: 'reference_sr',
} as const;

/**
 * A training config (`genloss train`): the model (a GAN, a restorer, an inpaintor, a matting
 * model or TTSR, by `model.type`) with MMagic's loss keys, the data, and the schedule. Paths in it are
 * relative to the config file.
 */
export const trainConfigOptions = z.strictObject({
  custom_imports: z.array(z.string()).default([]),
  backend: z.enum(['tensorflow', 'wasm', 'cpu', 'webgl']).optional(),
  model: trainModelOptions,
  data: z.discriminatedUnion('type', [shapesDataOptions, folderDataOptions]),
  train: z.strictObject({
    iters: z.int().min(1),
    batch_size: z.int().min(1).default(32),
    seed: z.int().default(0),
    log_interval: z.int().min(1).default(10),
    sample_interval: z.int().min(1).default(100),
    checkpoint_interval: z.int().min(1).default(500),
    /** Samples rendered at each `sample_interval` (a GAN's fixed latents; held-out images otherwise). */
    num_samples: z.int().min(1).default(64),
    /**
     * A GAN's SWD images at each `sample_interval` (as many generated as real); 0 for no SWD. The
     * image-to-image kinds score every held-out image (`data.val_images`) instead.
     */
    num_metric_images: z.int().min(0).default(256),
  }),
});

/** A validated training config. */
export type TrainConfig = z.output<typeof trainConfigOptions>;
/** The validated model part of a training config. */
export type TrainModelConfig = TrainConfig['model'];
