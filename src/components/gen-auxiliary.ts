import type * as tf from '@tensorflow/tfjs';
import type { z } from 'zod';
import { falseOnlyOption } from '../core/options.ts';
import {
  GenPathRegularizer,
  type PathGenerator,
  pathRegularizerOptionShape,
} from '../losses/path-regularizer.ts';
import type { LossScaler } from '../losses/penalties.ts';
import { componentOptions, intervalOption, LossComponent } from './base.ts';

/**
 * `GeneratorPathRegularizerComps` (MMagic): StyleGAN2's path-length regulariser as a component,
 * `loss_weight · genPathRegularizer(generator, num_batches, mean_path_length, {...})[0]`, run every
 * `interval` iterations (`null` on the others, leaving the running mean unchanged). The running
 * mean `mean_path_length` is a `tf.Variable` the component owns (`buffers()`, freed by
 * `dispose()`), overwritten after every computed call.
 *
 * Arguments: MMagic's `gen_path_regularizer` ones, `generator` (`{mapping, synthesis}`),
 * `num_batches` and the optional `loss_scaler`, then `noise` (a genloss addition: the optional
 * standard-normal draw, shaped like the images); `mean_path_length` is the module's own buffer and
 * the other keyword arguments are config keys. Config: `loss_weight` 1.0, `pl_batch_shrink` 1,
 * `decay` 0.01, `pl_batch_size` null, `interval` 1, `data_info`, `sync_mean_buffer` and
 * `use_apex_amp` (false only), `loss_name` `'loss_path_regular'`. Unlike MMagic, plain calls use
 * the module's settings and running mean too.
 */
export class GeneratorPathRegularizerComps extends LossComponent<
  ReturnType<typeof pathCompsOptions>
> {
  static override readonly lossType = 'GeneratorPathRegularizerComps';
  static override readonly options = pathCompsOptions();
  static override readonly argNames = ['generator', 'num_batches', 'loss_scaler', 'noise'];
  private readonly regularizer: GenPathRegularizer;

  constructor(cfg: z.input<ReturnType<typeof pathCompsOptions>> = {}) {
    super(cfg);
    const { pl_batch_shrink, decay, pl_batch_size, loss_weight } = this.cfg;
    this.regularizer = new GenPathRegularizer({
      pl_batch_shrink,
      decay,
      pl_batch_size,
      loss_weight,
    });
  }

  /** The running mean of the path lengths (MMagic's `mean_path_length` buffer). */
  get meanPathLength(): tf.Variable {
    return this.regularizer.meanPathLength;
  }

  protected compute(args: Record<string, unknown>): tf.Tensor {
    return this.regularizer.forward(args.generator as PathGenerator, args.num_batches as number, {
      noise: (args.noise as tf.Tensor | null | undefined) ?? null,
      loss_scaler: (args.loss_scaler as LossScaler | null | undefined) ?? null,
    });
  }

  override buffers(): tf.Variable[] {
    return this.regularizer.buffers();
  }

  override dispose(): void {
    this.regularizer.dispose();
  }
}

function pathCompsOptions() {
  return componentOptions(
    { loss_name: 'loss_path_regular' },
    {
      ...pathRegularizerOptionShape,
      sync_mean_buffer: falseOnlyOption,
      interval: intervalOption,
      use_apex_amp: falseOnlyOption,
    },
  );
}
