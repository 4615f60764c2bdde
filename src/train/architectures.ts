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
  /**
   * PGGAN's minibatch standard deviation at 4×4 (StyleGAN2's `mbstd_group_size`): 0 (default)
   * for none.
   */
  mbstd_group_size: z.int().min(0).default(0),
  seed: z.int().default(0),
});

/**
 * PGGAN's minibatch standard-deviation layer, as StyleGAN2-ADA's `MinibatchStdLayer` with one
 * channel: the batch N×H×W×C is split into groups of g = the largest divisor of N not above
 * `groupSize` (sample n in group member n mod N/g, as StyleGAN's `reshape(G, -1, …)`), each
 * feature's standard deviation over a group's g samples, `sqrt(var + 1e-8)` (biased variance), is
 * averaged over H, W and C, and that one value per group member is appended to each of its
 * samples as a constant channel: N×H×W×(C + 1). It lets the discriminator see the batch's
 * diversity (the remedy for a generator giving every sample the same colour).
 */
export class MinibatchStdDev extends tf.layers.Layer {
  static readonly className = 'GenlossMinibatchStdDev';
  private readonly groupSize: number;

  constructor(config: { groupSize: number; name?: string }) {
    super({ name: config.name });
    this.groupSize = config.groupSize;
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    const [n, h, w, c] = inputShape as number[];
    return [n, h, w, c + 1];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const [n, h, w, c] = x.shape;
      let g = Math.min(this.groupSize, n);
      while (n % g !== 0) g--;
      const grouped = x.reshape([g, n / g, h, w, c]);
      const centred = grouped.sub(grouped.mean(0, true));
      const std = centred.square().mean(0).add(1e-8).sqrt();
      const perMember = std.mean([1, 2, 3]).reshape([1, n / g, 1, 1, 1]);
      const channel = perMember.tile([g, 1, h, w, 1]).reshape([n, h, w, 1]);
      return tf.concat([x, channel], 3);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), groupSize: this.groupSize };
  }
}
tf.serialization.registerClass(MinibatchStdDev);

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
 * (channels doubling) down to 4×4, then a dense layer to one score. With `mbstd_group_size` > 0,
 * StyleGAN2's epilogue before the dense layer: {@link MinibatchStdDev} and a 3×3 conv (same
 * channels) with leaky ReLU 0.2.
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
  if (o.mbstd_group_size > 0) {
    layers.push(
      new MinibatchStdDev({ groupSize: o.mbstd_group_size }),
      tf.layers.conv2d({
        filters: o.base_channels << (blocks - 1),
        kernelSize: 3,
        padding: 'same',
        kernelInitializer: init(o.seed + blocks),
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

/**
 * Options of `MSRResNet` (MMagic's keys): `in_channels`, `out_channels`, `mid_channels` (64),
 * `num_blocks` (16), `upscale_factor` (4; genloss also allows 1, for denoising, deblurring,
 * inpainting and matting).
 */
export const msrResNetOptions = z.strictObject({
  type: z.literal('MSRResNet'),
  in_channels: z.int().min(1).default(3),
  out_channels: z.int().min(1).default(3),
  mid_channels: z.int().min(1).default(64),
  num_blocks: z.int().min(0).default(16),
  upscale_factor: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)]).default(4),
  seed: z.int().default(0),
});

/**
 * MMagic's `MSRResNet` (SRResNet without batch norm) as a `tf.LayersModel` on any H×W:
 * `conv_first` 3×3 + leaky ReLU 0.1, `num_blocks` residual blocks (conv 3×3, ReLU, conv 3×3, plus
 * the identity), the upsampling (×2 and ×3: once; ×4: twice ×2), each step followed by leaky
 * ReLU 0.1, `conv_hr` 3×3 + leaky ReLU 0.1, `conv_last` 3×3, plus the input upsampled bilinearly
 * (when `in_channels` = `out_channels`). Every conv starts as MMagic's `default_init_weights`
 * with scale 0.1: Kaiming-normal (fan-in) weights ×0.1, zero biases. Input
 * N×h×w×`in_channels` → N×(h·s)×(w·s)×`out_channels`.
 *
 * Differences from MMagic: an upsampling step is nearest-neighbour ×s then a 3×3 conv (ESRGAN's
 * `RRDBNet` upsampling) instead of `PixelShufflePack`'s conv then pixel shuffle, because TF.js has
 * no gradient for `depthToSpace`; `upscale_factor` 1 has no upsampling; the input skip is left out
 * when the channel counts differ (inpainting, matting).
 */
export function msrResNet(cfg: z.input<typeof msrResNetOptions>): tf.LayersModel {
  const o = parseOptions('MSRResNet', msrResNetOptions, cfg);
  let seed = o.seed;
  // MMagic's `default_init_weights(..., 0.1)`: Kaiming-normal weights scaled by 0.1 (variance
  // ×0.01), so that the residual blocks start near the identity.
  const conv = (filters: number) =>
    tf.layers.conv2d({
      filters,
      kernelSize: 3,
      padding: 'same',
      kernelInitializer: tf.initializers.varianceScaling({
        scale: 2 * 0.1 ** 2,
        mode: 'fanIn',
        distribution: 'normal',
        seed: seed++,
      }),
    });
  const lrelu = () => tf.layers.leakyReLU({ alpha: 0.1 });
  const input = tf.input({ shape: [null, null, o.in_channels] });
  let h = lrelu().apply(conv(o.mid_channels).apply(input)) as tf.SymbolicTensor;
  for (let b = 0; b < o.num_blocks; b++) {
    const r = conv(o.mid_channels).apply(
      tf.layers.reLU().apply(conv(o.mid_channels).apply(h)),
    ) as tf.SymbolicTensor;
    h = tf.layers.add().apply([h, r]) as tf.SymbolicTensor;
  }
  const steps = o.upscale_factor === 4 ? [2, 2] : o.upscale_factor === 1 ? [] : [o.upscale_factor];
  for (const s of steps) {
    h = tf.layers.upSampling2d({ size: [s, s] }).apply(h) as tf.SymbolicTensor;
    h = lrelu().apply(conv(o.mid_channels).apply(h)) as tf.SymbolicTensor;
  }
  h = lrelu().apply(conv(o.mid_channels).apply(h)) as tf.SymbolicTensor;
  let out = conv(o.out_channels).apply(h) as tf.SymbolicTensor;
  if (o.in_channels === o.out_channels) {
    const skip =
      o.upscale_factor === 1
        ? input
        : (tf.layers
            .upSampling2d({ size: [o.upscale_factor, o.upscale_factor], interpolation: 'bilinear' })
            .apply(input) as tf.SymbolicTensor);
    out = tf.layers.add().apply([out, skip]) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: out });
}

/**
 * Options of `MultiScaleDiscriminator` (pix2pixHD's `MultiscaleDiscriminator` keys, snake_case):
 * `in_channels` (3), `base_channels` (`ndf`, 64), `num_layers` (`n_layers`, 3), `num_D` (2).
 */
export const multiScaleDiscriminatorOptions = z.strictObject({
  type: z.literal('MultiScaleDiscriminator'),
  in_channels: z.int().min(1).default(3),
  base_channels: z.int().min(1).default(64),
  num_layers: z.int().min(1).default(3),
  num_D: z.int().min(1).default(2),
  seed: z.int().default(0),
});

/**
 * pix2pixHD's multi-scale PatchGAN discriminator with intermediate features, as a
 * `tf.LayersModel` on any H×W: `num_D` discriminators, the k-th on the image average-pooled k
 * times (3×3, stride 2, padding not counted). Each is `num_layers` 4×4 stride-2 convs (channels
 * `base_channels`·2ᵏ, at most 512) and one 4×4 stride-1 conv, each with leaky ReLU 0.2, then a
 * 4×4 conv to one channel: a patch map. Outputs, scale by scale from full resolution, each
 * block's features and then the patch map (`num_layers` + 2 tensors a scale), as BasicSR's
 * `GANFeatLoss` and `MultiScaleGANLoss` take them. No normalisation layers, so that gradient
 * penalties see a per-sample function; 'same' padding instead of pix2pixHD's padding 2.
 */
export function multiScaleDiscriminator(
  cfg: z.input<typeof multiScaleDiscriminatorOptions>,
): tf.LayersModel {
  const o = parseOptions('MultiScaleDiscriminator', multiScaleDiscriminatorOptions, cfg);
  const input = tf.input({ shape: [null, null, o.in_channels] });
  const outputs: tf.SymbolicTensor[] = [];
  let x = input;
  let seed = o.seed;
  for (let d = 0; d < o.num_D; d++) {
    if (d > 0) {
      x = tf.layers
        .averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' })
        .apply(x) as tf.SymbolicTensor;
    }
    let h = x;
    for (let k = 0; k <= o.num_layers; k++) {
      h = tf.layers
        .conv2d({
          filters: Math.min(512, o.base_channels << k),
          kernelSize: 4,
          strides: k < o.num_layers ? 2 : 1,
          padding: 'same',
          kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: seed++ }),
        })
        .apply(h) as tf.SymbolicTensor;
      h = tf.layers.leakyReLU({ alpha: 0.2 }).apply(h) as tf.SymbolicTensor;
      outputs.push(h);
    }
    outputs.push(
      tf.layers
        .conv2d({
          filters: 1,
          kernelSize: 4,
          padding: 'same',
          kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: seed++ }),
        })
        .apply(h) as tf.SymbolicTensor,
    );
  }
  return tf.model({ inputs: input, outputs });
}

/** How many scales a network's outputs are split into: `num_D` of a multi-scale discriminator, else 1. */
export function netScales(cfg: { type: string; num_D?: number }): number {
  return cfg.type === 'MultiScaleDiscriminator' ? (cfg.num_D ?? 2) : 1;
}

const NET_BUILDERS: Record<string, (cfg: never) => tf.LayersModel> = {
  DCGANGenerator: dcganGenerator,
  DCGANDiscriminator: dcganDiscriminator,
  MSRResNet: msrResNet,
  MultiScaleDiscriminator: multiScaleDiscriminator,
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
  msrResNetOptions,
  multiScaleDiscriminatorOptions,
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
