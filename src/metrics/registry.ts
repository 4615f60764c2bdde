/**
 * MMagic's metric configs for the image-quality metrics: `{type: 'PSNR', crop_border: 0,
 * convert_to: null}`, `{type: 'SSIM', …}`, `{type: 'SWD', fake_nums, image_shape}`, checked with
 * zod (an error names the key, the allowed values and the closest) and built by
 * {@link buildMetric}; and the matting metrics' (`SAD`, `MattingMSE`, `GradientError`,
 * `ConnectivityError`, their schemas and classes in ./matting.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { parseOptions } from '../core/options.ts';
import { DEFAULT_SEED } from '../core/random.ts';
import type { ImageTransformOptions } from './images.ts';
import {
  ConnectivityError,
  GradientError,
  MattingMSE,
  mattingMetricConfigSchemas,
  SAD,
} from './matting.ts';
import { psnr } from './psnr.ts';
import { ssimMetric } from './ssim.ts';
import { SlicedWassersteinDistance } from './swd.ts';

/** `crop_border` and `convert_to`, MMagic's keys and defaults for `PSNR` and `SSIM`. */
const transformKeys = {
  crop_border: z.int().nonnegative().default(0),
  convert_to: z.enum(['Y', 'y']).nullable().default(null),
};

const positive = z.int().positive();

/**
 * The configs {@link buildMetric} takes. `SWD` (also `SlicedWassersteinDistance`, both MMagic
 * names) has MMagic's required `fake_nums` and `image_shape` (`[C, H, W]`) and genloss's `seed`
 * (the patch positions and projection directions; default 0x5eed). MMagic's bookkeeping keys
 * (`gt_key`, `pred_key`, `prefix`, `collect_device`, `input_order`, `sample_model`) are refused:
 * genloss takes NHWC tensors directly.
 */
export const metricConfigSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('PSNR'), ...transformKeys }),
  z.strictObject({ type: z.literal('SSIM'), ...transformKeys }),
  z.strictObject({
    type: z.enum(['SWD', 'SlicedWassersteinDistance']),
    fake_nums: positive,
    image_shape: z.tuple([positive, positive, positive]),
    seed: z.int().default(DEFAULT_SEED),
  }),
  ...mattingMetricConfigSchemas,
]);

/** A metric config as written (defaults may be left out). */
export type MetricConfig = z.input<typeof metricConfigSchema>;

/** MMagic's `PSNR` metric with its config: {@link psnr} per image pair. */
export class PSNR {
  static readonly metricType = 'PSNR';
  constructor(readonly cfg: Required<ImageTransformOptions>) {}

  /** {@link psnr}`(pred, gt, cfg)`: N values in dB (`Infinity` for identical images). */
  compute(pred: tf.Tensor, gt: tf.Tensor): number[] {
    return psnr(pred, gt, this.cfg);
  }
}

/** MMagic's `SSIM` metric with its config: {@link ssimMetric} per image pair. */
export class SSIM {
  static readonly metricType = 'SSIM';
  constructor(readonly cfg: Required<ImageTransformOptions>) {}

  /** {@link ssimMetric}`(pred, gt, cfg)`: N values. */
  compute(pred: tf.Tensor, gt: tf.Tensor): number[] {
    return ssimMetric(pred, gt, this.cfg);
  }
}

/** What {@link buildMetric} returns for each `type`. */
export interface MetricTypeMap {
  PSNR: PSNR;
  SSIM: SSIM;
  SWD: SlicedWassersteinDistance;
  SlicedWassersteinDistance: SlicedWassersteinDistance;
  SAD: SAD;
  MattingMSE: MattingMSE;
  GradientError: GradientError;
  ConnectivityError: ConnectivityError;
}

/**
 * Builds a metric from its MMagic config (a `ConfigError` naming the key otherwise):
 * `buildMetric({type: 'PSNR', crop_border: 4, convert_to: 'Y'}).compute(pred, gt)`,
 * `buildMetric({type: 'SWD', fake_nums: 64, image_shape: [3, 32, 32]})`.
 */
export function buildMetric<K extends keyof MetricTypeMap>(
  cfg: { type: K } & Record<string, unknown>,
): MetricTypeMap[K];
export function buildMetric(cfg: MetricConfig): MetricTypeMap[keyof MetricTypeMap] {
  const c = parseOptions('buildMetric', metricConfigSchema, cfg);
  switch (c.type) {
    case 'PSNR':
      return new PSNR({ crop_border: c.crop_border, convert_to: c.convert_to });
    case 'SSIM':
      return new SSIM({ crop_border: c.crop_border, convert_to: c.convert_to });
    case 'SAD':
      return new SAD({ norm_const: c.norm_const });
    case 'MattingMSE':
      return new MattingMSE({});
    case 'GradientError':
      return new GradientError({ sigma: c.sigma, norm_const: c.norm_const });
    case 'ConnectivityError':
      return new ConnectivityError({ step: c.step, norm_const: c.norm_const });
    default:
      return new SlicedWassersteinDistance({
        image_shape: c.image_shape,
        fake_nums: c.fake_nums,
        seed: c.seed,
      });
  }
}
