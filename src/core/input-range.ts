import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ShapeError } from './errors.ts';

/** A declared input range `[lo, hi]`, or `'any'` to switch the check off. */
export type InputRange = readonly [number, number] | 'any';

/**
 * The `input_range` option of the pretrained-feature losses (a genloss addition): the range the
 * loss expects its images in, `[lo, hi]`, or `'any'` to skip the check. Left out, each loss checks
 * the range its own preprocessing assumes, if any (`[-1, 1]` for `PerceptualLoss` with
 * `norm_img`; none for a loss that hands its images to the network as they are).
 */
export const inputRangeOption = z
  .union([z.tuple([z.number(), z.number()]), z.literal('any')])
  .optional();

/**
 * Checks that every element of the image `x` lies in `range` (with a slack of 1e-3 of its width,
 * for resampling overshoot); a `ShapeError` that names the loss, the argument, the expected and
 * the seen range otherwise. Reads back two numbers (one sync).
 */
export function checkInputRange(owner: string, arg: string, x: tf.Tensor, range: InputRange): void {
  if (range === 'any') return;
  const [lo, hi] = range;
  const [min, max] = tf.tidy(() => tf.stack([tf.min(x), tf.max(x)]).dataSync());
  const slack = 1e-3 * (hi - lo);
  if (!(min >= lo - slack && max <= hi + slack)) {
    const hint =
      max > 2 && hi <= 1
        ? ' (an image in 0..255? scale it first)'
        : min >= 0 && lo < 0
          ? ''
          : lo >= 0 && min < 0
            ? ' (an image in [-1, 1]? map it with (x + 1) / 2, or set the loss for [-1, 1] inputs)'
            : '';
    throw new ShapeError(
      `${owner}: '${arg}' must be an image in [${lo}, ${hi}], got values in [${fmt(min)}, ${fmt(max)}]${hint}; set input_range: 'any' to skip this check`,
    );
  }
}

function fmt(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v);
}
