import * as tf from '@tensorflow/tfjs';
import { Mulberry32 } from '../core/prng.ts';
import { resizeBicubic } from '../ops/resize.ts';
import type { ArrayDataset } from './datasets.ts';
import { FieldsDataset } from './paired-data.ts';

/** The scale of reference-based super-resolution (MMagic's TTSR is ×4 only). */
export const REFERENCE_SR_SCALE = 4;

/**
 * Reference-based super-resolution data (MMagic's TTSR) from images in [−1, 1] (H and W
 * multiples of 4), every field in [−1, 1]: `gt_img` the image; `img` its ×4 area-average
 * downsampling (the box filter of the `downsample` degradation; MMagic's datasets downsample
 * bicubically); `img_lq` that upsampled ×4 bicubically (PyTorch's bicubic); `ref_img` the
 * reference — the same image mirrored left–right and rolled (circularly shifted) by a seeded
 * offset of up to a quarter of its size in each direction, so that it holds the target's
 * textures elsewhere, as a CUFED reference holds a similar scene's —; `ref_lq` the reference
 * downsampled and upsampled ×4 the same way. All computed once.
 */
export function referencePairs(images: ArrayDataset, seed: number): FieldsDataset {
  const [h, w, c] = images.imageShape;
  const s = REFERENCE_SR_SCALE;
  const rng = new Mulberry32(seed);
  const hw = h * w * c;
  const ref = new Float32Array(images.pixels.length);
  for (let n = 0; n < images.size; n++) {
    const dy = rng.int(Math.floor(h / 2) + 1) - Math.floor(h / 4);
    const dx = rng.int(Math.floor(w / 2) + 1) - Math.floor(w / 4);
    for (let y = 0; y < h; y++) {
      const sy = (((y - dy) % h) + h) % h;
      for (let x = 0; x < w; x++) {
        const sx = w - 1 - ((((x - dx) % w) + w) % w);
        const to = n * hw + (y * w + x) * c;
        const from = n * hw + (sy * w + sx) * c;
        for (let k = 0; k < c; k++) ref[to + k] = images.pixels[from + k];
      }
    }
  }
  const degrade = (pixels: Float32Array) =>
    tf.tidy(() => {
      const x = tf.tensor4d(pixels, [images.size, h, w, c]);
      const lq = tf.avgPool(x, s, s, 'valid');
      return [lq.dataSync(), resizeBicubic(lq, [h, w]).dataSync()] as Float32Array[];
    });
  const [lq, lqUp] = degrade(images.pixels);
  const [, refLqUp] = degrade(ref);
  return new FieldsDataset(`${images.name}, ×${s} reference pairs (seed ${seed})`, {
    img: images.withPixels(lq, [h / s, w / s, c]),
    img_lq: images.withPixels(lqUp),
    ref_img: images.withPixels(ref),
    ref_lq: images.withPixels(refLqUp),
    gt_img: images,
  });
}
