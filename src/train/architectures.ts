import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { describeValue } from '../core/describe.ts';
import { ConfigError } from '../core/errors.ts';
import { parseOptions } from '../core/options.ts';
import { didYouMean } from '../core/suggest.ts';

const pow2 = z
  .int()
  .min(8)
  .refine((v) => (v & (v - 1)) === 0, 'a power of two');

/** Options of `DCGANGenerator`: z (`noise_size`) → `out_size`² × `out_channels` in [−1, 1]. */
export const dcganGeneratorOptions = z.strictObject({
  type: z.literal('DCGANGenerator'),
  noise_size: z.int().min(1).default(64),
  out_size: pow2.default(32),
  out_channels: z.int().min(1).default(3),
  base_channels: z.int().min(1).default(64),
  seed: z.int().default(0),
});

/** Options of `DCGANDiscriminator`: `in_size`² × `in_channels` → one score per image. */
export const dcganDiscriminatorOptions = z.strictObject({
  type: z.literal('DCGANDiscriminator'),
  in_size: pow2.default(32),
  in_channels: z.int().min(1).default(3),
  base_channels: z.int().min(1).default(32),
  seed: z.int().default(0),
});

const init = (seed: number) => tf.initializers.heNormal({ seed });

/**
 * A DCGAN-style generator as a `tf.LayersModel`: dense to 4×4×C, then per doubling an
 * upsampling ×2 and a 3×3 conv with leaky ReLU 0.2 (channels halving), then a 3×3 conv to the
 * output channels and tanh. No batch norm, so that gradient penalties see a per-sample function.
 */
export function dcganGenerator(cfg: z.input<typeof dcganGeneratorOptions>): tf.LayersModel {
  const o = parseOptions('DCGANGenerator', dcganGeneratorOptions, cfg);
  const blocks = Math.log2(o.out_size / 4);
  const layers: tf.layers.Layer[] = [
    tf.layers.dense({
      inputShape: [o.noise_size],
      units: 4 * 4 * o.base_channels,
      kernelInitializer: init(o.seed),
    }),
    tf.layers.reshape({ targetShape: [4, 4, o.base_channels] }),
    tf.layers.leakyReLU({ alpha: 0.2 }),
  ];
  for (let b = 0; b < blocks; b++) {
    layers.push(
      tf.layers.upSampling2d({ size: [2, 2] }),
      tf.layers.conv2d({
        filters: Math.max(8, o.base_channels >> (b + 1)),
        kernelSize: 3,
        padding: 'same',
        kernelInitializer: init(o.seed + b + 1),
      }),
      tf.layers.leakyReLU({ alpha: 0.2 }),
    );
  }
  layers.push(
    tf.layers.conv2d({
      filters: o.out_channels,
      kernelSize: 3,
      padding: 'same',
      activation: 'tanh',
      kernelInitializer: tf.initializers.glorotUniform({ seed: o.seed + 99 }),
    }),
  );
  return tf.sequential({ layers });
}

/**
 * A DCGAN-style discriminator as a `tf.LayersModel`: 4×4 stride-2 convs with leaky ReLU 0.2
 * (channels doubling) down to 4×4, then a dense layer to one score.
 */
export function dcganDiscriminator(cfg: z.input<typeof dcganDiscriminatorOptions>): tf.LayersModel {
  const o = parseOptions('DCGANDiscriminator', dcganDiscriminatorOptions, cfg);
  const blocks = Math.log2(o.in_size / 4);
  const layers: tf.layers.Layer[] = [];
  for (let b = 0; b < blocks; b++) {
    layers.push(
      tf.layers.conv2d({
        ...(b === 0 ? { inputShape: [o.in_size, o.in_size, o.in_channels] } : {}),
        filters: o.base_channels << b,
        kernelSize: 4,
        strides: 2,
        padding: 'same',
        kernelInitializer: init(o.seed + b),
      }),
      tf.layers.leakyReLU({ alpha: 0.2 }),
    );
  }
  layers.push(
    tf.layers.flatten(),
    tf.layers.dense({
      units: 1,
      kernelInitializer: tf.initializers.glorotUniform({ seed: o.seed + 99 }),
    }),
  );
  return tf.sequential({ layers });
}

const NET_BUILDERS: Record<string, (cfg: never) => tf.LayersModel> = {
  DCGANGenerator: dcganGenerator,
  DCGANDiscriminator: dcganDiscriminator,
};

/** The network types a training config can name. */
export const NET_TYPES = Object.keys(NET_BUILDERS);

/**
 * The options of every network type a training config can name, by `type` (so that a typo in a
 * network's keys is reported when the config is read, with its path).
 */
export const netOptions = z.discriminatedUnion('type', [
  dcganGeneratorOptions,
  dcganDiscriminatorOptions,
]);

/** Builds a registered network from `{type, ...options}`. */
export function buildNet(owner: string, cfg: unknown): tf.LayersModel {
  const type = (cfg as { type?: unknown } | null)?.type;
  const builder = typeof type === 'string' ? NET_BUILDERS[type] : undefined;
  if (!builder) {
    throw new ConfigError(
      `${owner}: network 'type' must be one of ${NET_TYPES.join('|')}, got ${describeValue(type)}.${didYouMean(String(type), NET_TYPES)}`,
    );
  }
  return builder(cfg as never);
}
