import { z } from 'zod';
import { ganModelOptions } from '../models/gan-with-customized-loss.ts';
import { optimizerOptions } from '../models/optimizers.ts';
import { netOptions } from './architectures.ts';

/** The embedded procedural dataset: coloured shapes (see `shapesDataset`). */
export const shapesDataOptions = z.strictObject({
  type: z.literal('shapes'),
  num_images: z.int().min(1).default(2048),
  size: z.int().min(8).default(32),
  seed: z.int().default(0),
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
});

/**
 * A training config (`genloss train`): the GAN model with MMagic's loss keys, the data, and the
 * schedule. Paths in it are relative to the config file.
 */
export const trainConfigOptions = z.strictObject({
  custom_imports: z.array(z.string()).default([]),
  backend: z.enum(['tensorflow', 'wasm', 'cpu', 'webgl']).optional(),
  model: ganModelOptions.omit({ seed: true }).extend({
    generator: netOptions,
    discriminator: netOptions,
    optimizers: z.strictObject({ generator: optimizerOptions, discriminator: optimizerOptions }),
  }),
  data: z.discriminatedUnion('type', [shapesDataOptions, folderDataOptions]),
  train: z.strictObject({
    iters: z.int().min(1),
    batch_size: z.int().min(1).default(32),
    seed: z.int().default(0),
    log_interval: z.int().min(1).default(10),
    sample_interval: z.int().min(1).default(100),
    checkpoint_interval: z.int().min(1).default(500),
    num_samples: z.int().min(1).default(64),
  }),
});

/** A validated training config. */
export type TrainConfig = z.output<typeof trainConfigOptions>;
