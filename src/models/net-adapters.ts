import * as tf from '@tensorflow/tfjs';
import { describeValue } from '../core/describe.ts';
import { ConfigError } from '../core/errors.ts';
import { defaultGenerator, type SeedGenerator } from '../core/random.ts';
import type { PathGenerator } from '../losses/path-regularizer.ts';

/** A discriminator as the GAN model uses it: a function of an N×H×W×C batch, and its weights. */
export interface DiscriminatorNet {
  /** Predictions for a batch (any shape: a score per sample, a patch map…). */
  apply(x: tf.Tensor): tf.Tensor;
  /** The trainable variables. */
  readonly variables: tf.Variable[];
}

/**
 * A generator as the GAN model uses it: split at its latent (see `PathGenerator`), with its
 * weights. `mapping(n)` samples n latents; `synthesis(latent)` renders N×H×W×C images.
 */
export interface GeneratorNet extends PathGenerator {
  readonly variables: tf.Variable[];
}

function layersVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** A `tf.LayersModel` (x → predictions) as a discriminator, run in training mode. */
export function discriminatorFromLayers(model: tf.LayersModel): DiscriminatorNet {
  return {
    apply: (x) => model.apply(x, { training: true }) as tf.Tensor,
    get variables() {
      return layersVariables(model);
    },
  };
}

/**
 * A `tf.LayersModel` (z → images, input shape [null, d]) as a generator: `mapping(n)` draws
 * z ~ N(0, I) of shape n×d from `rng`, `synthesis(z)` runs the model in training mode.
 */
export function generatorFromLayers(
  model: tf.LayersModel,
  rng: SeedGenerator = defaultGenerator,
): GeneratorNet {
  const shape = model.inputs[0].shape;
  if (shape.length !== 2 || typeof shape[1] !== 'number') {
    throw new ConfigError(
      `generatorFromLayers: the model's input must be a latent vector [null, d], got [${shape.join(', ')}]`,
    );
  }
  const dim = shape[1];
  return {
    mapping: (n) => rng.normal([n, dim]),
    synthesis: (z) => model.apply(z, { training: true }) as tf.Tensor,
    get variables() {
      return layersVariables(model);
    },
  };
}

function isLayersModel(value: unknown): value is tf.LayersModel {
  return value instanceof tf.LayersModel;
}

/** A discriminator from a `tf.LayersModel` or a `DiscriminatorNet`; `ConfigError` otherwise. */
export function toDiscriminator(owner: string, value: unknown): DiscriminatorNet {
  if (isLayersModel(value)) return discriminatorFromLayers(value);
  const d = value as Partial<DiscriminatorNet> | null;
  if (d && typeof d.apply === 'function' && Array.isArray(d.variables))
    return d as DiscriminatorNet;
  throw new ConfigError(
    `${owner}: 'discriminator' must be a tf.LayersModel or {apply(x), variables}, got ${describeValue(value)}`,
  );
}

/** A generator from a `tf.LayersModel` or a `GeneratorNet`; `ConfigError` otherwise. */
export function toGenerator(owner: string, value: unknown, rng?: SeedGenerator): GeneratorNet {
  if (isLayersModel(value)) return generatorFromLayers(value, rng);
  const g = value as Partial<GeneratorNet> | null;
  if (
    g &&
    typeof g.mapping === 'function' &&
    typeof g.synthesis === 'function' &&
    Array.isArray(g.variables)
  ) {
    return g as GeneratorNet;
  }
  throw new ConfigError(
    `${owner}: 'generator' must be a tf.LayersModel or {mapping(n), synthesis(latent), variables}, got ${describeValue(value)}`,
  );
}
