import * as tf from '@tensorflow/tfjs';
import { SeedGenerator } from '../../src/index.ts';
import type { DiscriminatorNet, GeneratorNet } from '../../src/models/net-adapters.ts';

/** Seeded weights in [−0.5, 0.5). */
function weight(shape: number[], seed: number): tf.Variable {
  return tf.variable(tf.randomUniform(shape, -0.5, 0.5, 'float32', seed));
}

/**
 * A tiny plain-op discriminator for 8×8×3 images: conv 3×3/2 (3→4), leaky ReLU 0.2, spatial mean,
 * dense 4→1.
 */
export function tinyDiscriminator(seed = 1): DiscriminatorNet {
  const variables = [weight([3, 3, 3, 4], seed), weight([4], seed + 1), weight([4, 1], seed + 2)];
  const [k, b, w] = variables;
  return {
    variables,
    apply: (x) =>
      tf.tidy(() => {
        const h = tf.leakyRelu(
          tf.add(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 2, 'same'), b),
          0.2,
        );
        return tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, w as tf.Tensor2D);
      }),
  };
}

/**
 * A tiny plain-op generator: latents n×2×4 from a seeded generator; synthesis: flatten, dense
 * 8→48, tanh, reshape to n×4×4×3 and nearest ×2 to 8×8×3.
 */
export function tinyGenerator(seed = 10): GeneratorNet & { rng: SeedGenerator } {
  const variables = [weight([8, 48], seed), weight([48], seed + 1)];
  const [w, b] = variables;
  const rng = new SeedGenerator(seed);
  return {
    rng,
    variables,
    mapping: (n) => rng.normal([n, 2, 4]),
    synthesis: (latent) =>
      tf.tidy(() => {
        const n = latent.shape[0];
        const h = tf.tanh(tf.add(tf.matMul(tf.reshape(latent, [n, 8]), w as tf.Tensor2D), b));
        return tf.image.resizeNearestNeighbor(tf.reshape(h, [n, 4, 4, 3]) as tf.Tensor4D, [8, 8]);
      }),
  };
}

/** Values of variables, for comparing state before and after a step. */
export function valuesOf(variables: readonly tf.Variable[]): number[][] {
  return variables.map((v) => Array.from(v.dataSync()));
}
