import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { describeValue } from '../core/describe.ts';
import { ConfigError } from '../core/errors.ts';
import { parseOptions } from '../core/options.ts';
import { didYouMean } from '../core/suggest.ts';

/** An optimizer config, with PyTorch's names: `{type: 'Adam', lr, betas, eps}`, `SGD`, `RMSprop`. */
export const optimizerOptions = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('Adam'),
    lr: z.number().positive().default(0.001),
    betas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0.9, 0.999]),
    eps: z.number().positive().default(1e-8),
  }),
  z.strictObject({
    type: z.literal('SGD'),
    lr: z.number().positive(),
    momentum: z.number().min(0).default(0),
  }),
  z.strictObject({
    type: z.literal('RMSprop'),
    lr: z.number().positive().default(0.01),
    alpha: z.number().min(0).max(1).default(0.99),
    eps: z.number().positive().default(1e-8),
    momentum: z.number().min(0).default(0),
  }),
]);

/** The optimizer types a config can name. */
export const OPTIMIZER_TYPES = ['Adam', 'SGD', 'RMSprop'] as const;

/** A validated optimizer config. */
export type OptimizerConfig = z.output<typeof optimizerOptions>;

/**
 * Builds a TF.js optimizer from a PyTorch-style config. `lazyRatio` (StyleGAN2-ADA's correction
 * for a regulariser run every k steps, `k/(k+1)`; 1 for none) scales `lr` and raises Adam's betas
 * to that power.
 */
export function buildOptimizer(owner: string, cfg: unknown, lazyRatio = 1): tf.Optimizer {
  const type = (cfg as { type?: unknown } | null)?.type;
  if (!OPTIMIZER_TYPES.includes(type as (typeof OPTIMIZER_TYPES)[number])) {
    throw new ConfigError(
      `${owner}: 'type' must be one of ${OPTIMIZER_TYPES.join('|')}, got ${describeValue(type)}.${didYouMean(String(type), OPTIMIZER_TYPES)}`,
    );
  }
  const o = parseOptions(owner, optimizerOptions, cfg);
  const lr = o.lr * lazyRatio;
  switch (o.type) {
    case 'Adam':
      return tf.train.adam(lr, o.betas[0] ** lazyRatio, o.betas[1] ** lazyRatio, o.eps);
    case 'SGD':
      return o.momentum > 0 ? momentumOptimizer(lr, o.momentum) : tf.train.sgd(lr);
    case 'RMSprop':
      return tf.train.rmsprop(lr, o.alpha, o.momentum, o.eps);
  }
}

/**
 * `tf.train.momentum`, whose `dispose()` also frees the learning-rate scalar: TF.js 4.22's
 * `MomentumOptimizer.dispose()` never calls `SGDOptimizer.dispose()` and leaks it.
 */
function momentumOptimizer(lr: number, momentum: number): tf.Optimizer {
  const opt = tf.train.momentum(lr, momentum);
  const disposeMomentum = opt.dispose.bind(opt);
  opt.dispose = () => {
    disposeMomentum();
    tf.SGDOptimizer.prototype.dispose.call(opt);
  };
  return opt;
}
