import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { Mulberry32 } from '../core/prng.ts';
import { gaussianBlur } from '../ops/gaussian-blur.ts';
import { ArrayDataset, shapeBackground, shapeCoverage, shapeScenes } from './datasets.ts';

/**
 * A dataset of named, aligned image fields (`img`/`gt_img`, `gt_img`/`mask`, the matting
 * fields), each an N×H×W×C float32 array; `batch` gathers the same indices from every field.
 */
export class FieldsDataset {
  readonly size: number;

  constructor(
    readonly name: string,
    readonly fields: Record<string, ArrayDataset>,
  ) {
    const sizes = new Set(Object.values(fields).map((f) => f.size));
    if (sizes.size !== 1) throw new Error(`FieldsDataset(${name}): fields of different sizes`);
    this.size = [...sizes][0];
  }

  /** The images at `indices` of every field. */
  batch(indices: readonly number[]): Record<string, tf.Tensor4D> {
    const out: Record<string, tf.Tensor4D> = {};
    for (const [key, field] of Object.entries(this.fields)) out[key] = field.batch(indices);
    return out;
  }

  /** The first `count` images as a dataset of their own, and the rest. */
  split(count: number): [FieldsDataset, FieldsDataset] {
    const part = (from: number, to: number, label: string) =>
      new FieldsDataset(
        `${this.name} ${label}`,
        Object.fromEntries(Object.entries(this.fields).map(([k, f]) => [k, f.slice(from, to)])),
      );
    return [part(0, count, `[0, ${count})`), part(count, this.size, `[${count}, ${this.size})`)];
  }
}

/** A degradation that makes a restorer's input from its target (`data.degradation`). */
export const degradationOptions = z.discriminatedUnion('type', [
  /** Area-average downsampling by `scale` (exact for the rendered shapes: a box filter). */
  z.strictObject({ type: z.literal('downsample'), scale: z.int().min(2).max(4).default(4) }),
  /** Additive Gaussian noise of std `sigma` (on the [0, 1] scale), seeded per image. */
  z.strictObject({
    type: z.literal('noise'),
    sigma: z.number().positive().max(1).default(0.1),
    seed: z.int().default(0),
  }),
  /** A Gaussian blur of std `sigma` pixels over `kernel_size` taps (genloss's `gaussianBlur`, MMagic's `GaussianBlur`: zero padding, so edges darken). */
  z.strictObject({
    type: z.literal('blur'),
    sigma: z.number().positive().default(1.5),
    kernel_size: z
      .int()
      .min(3)
      .default(7)
      .refine((k) => k % 2 === 1, 'an odd size'),
  }),
]);

/** A validated degradation. */
export type Degradation = z.output<typeof degradationOptions>;

const toUnit = (pixels: Float32Array) => pixels.map((v) => (v + 1) / 2);

/**
 * Restoration pairs from images in [−1, 1]: `gt_img` the image on [0, 1] (MMagic's restorers
 * work on [0, 1]) and `img` its degradation. All computed once, so that a batch is a lookup
 * and a resumed run sees the same inputs.
 */
export function restorationPairs(images: ArrayDataset, degradation: Degradation): FieldsDataset {
  const [h, w, c] = images.imageShape;
  const gt = toUnit(images.pixels);
  const gtField = images.withPixels(gt);
  let input: ArrayDataset;
  if (degradation.type === 'downsample') {
    const s = degradation.scale;
    const lr = tf.tidy(() =>
      tf.avgPool(tf.tensor4d(gt, [images.size, h, w, c]), s, s, 'valid').dataSync(),
    ) as Float32Array;
    input = images.withPixels(lr, [Math.floor(h / s), Math.floor(w / s), c]);
  } else if (degradation.type === 'noise') {
    const rng = new Mulberry32(degradation.seed);
    const noisy = new Float32Array(gt.length);
    for (let i = 0; i < gt.length; i += 2) {
      // Box–Muller: two normals from two uniforms.
      const u = 1 - rng.next();
      const v = rng.next();
      const m = Math.sqrt(-2 * Math.log(u)) * degradation.sigma;
      noisy[i] = gt[i] + m * Math.cos(2 * Math.PI * v);
      if (i + 1 < gt.length) noisy[i + 1] = gt[i + 1] + m * Math.sin(2 * Math.PI * v);
    }
    input = images.withPixels(noisy);
  } else {
    const { kernel_size: k, sigma } = degradation;
    const blurred = tf.tidy(() =>
      gaussianBlur(tf.tensor4d(gt, [images.size, h, w, c]), {
        kernel_size: [k, k],
        sigma: [sigma, sigma],
      }).dataSync(),
    ) as Float32Array;
    input = images.withPixels(blurred);
  }
  return new FieldsDataset(`${images.name}, ${describeDegradation(degradation)}`, {
    img: input,
    gt_img: gtField,
  });
}

function describeDegradation(d: Degradation): string {
  if (d.type === 'downsample') return `×${d.scale} area downsampling`;
  if (d.type === 'noise') return `Gaussian noise σ ${d.sigma}`;
  return `Gaussian blur σ ${d.sigma}`;
}

/** How inpainting masks are drawn (`data.masks`). */
export const maskOptions = z.strictObject({
  /** `boxes`: one axis-aligned box; `strokes`: free-form brush strokes; `mixed`: either, evenly. */
  type: z.enum(['boxes', 'strokes', 'mixed']).default('mixed'),
  /** The hole's share of the image, at most (box side, stroke length), in (0, 1). */
  max_size: z.number().gt(0).lt(1).default(0.5),
  seed: z.int().default(0),
});

/**
 * Inpainting data from images in [−1, 1]: `gt_img` (kept in [−1, 1], MMagic's inpainting range)
 * and `mask` (N×H×W×1, 1 in the hole), one seeded mask per image: a box of side up to
 * `max_size`·size, or 1–3 brush strokes (random walks of a disc of radius size/16 over up to
 * `max_size`·size pixels each).
 */
export function inpaintingPairs(
  images: ArrayDataset,
  options: z.output<typeof maskOptions>,
): FieldsDataset {
  const [h, w] = images.imageShape;
  const rng = new Mulberry32(options.seed);
  const masks = new Float32Array(images.size * h * w);
  for (let n = 0; n < images.size; n++) {
    const mask = masks.subarray(n * h * w, (n + 1) * h * w);
    const strokes = options.type === 'strokes' || (options.type === 'mixed' && rng.next() < 0.5);
    if (strokes) drawStrokes(mask, h, w, options.max_size, rng);
    else drawBox(mask, h, w, options.max_size, rng);
  }
  return new FieldsDataset(`${images.name}, ${options.type} masks`, {
    gt_img: images,
    mask: images.withPixels(masks, [h, w, 1]),
  });
}

function drawBox(mask: Float32Array, h: number, w: number, maxSize: number, rng: Mulberry32) {
  const bh = Math.max(2, Math.round(rng.range(0.2, maxSize) * h));
  const bw = Math.max(2, Math.round(rng.range(0.2, maxSize) * w));
  const y0 = rng.int(h - bh + 1);
  const x0 = rng.int(w - bw + 1);
  for (let y = y0; y < y0 + bh; y++) mask.fill(1, y * w + x0, y * w + x0 + bw);
}

function drawStrokes(mask: Float32Array, h: number, w: number, maxSize: number, rng: Mulberry32) {
  const radius = Math.max(1, Math.min(h, w) / 16);
  const strokes = 1 + rng.int(3);
  for (let s = 0; s < strokes; s++) {
    let x = rng.range(0, w);
    let y = rng.range(0, h);
    let angle = rng.range(0, 2 * Math.PI);
    const length = rng.range(0.3, 1) * maxSize * Math.max(h, w);
    for (let t = 0; t < length; t++) {
      angle += rng.range(-0.5, 0.5);
      x = Math.min(w - 1, Math.max(0, x + Math.cos(angle)));
      y = Math.min(h - 1, Math.max(0, y + Math.sin(angle)));
      const r = Math.ceil(radius);
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          const py = Math.round(y) + dy;
          const px = Math.round(x) + dx;
          if (py >= 0 && py < h && px >= 0 && px < w && dx * dx + dy * dy <= radius * radius) {
            mask[py * w + px] = 1;
          }
        }
      }
    }
  }
}

/**
 * Matting data from the shapes scenes, needing no download, on [0, 1]: `fg` (the shape's colour
 * everywhere), `bg` (the scene's background gradient tinted by a seeded second hue), `alpha` (the
 * shape's exact coverage, 4×4 supersampled), `merged = alpha·fg + (1 − alpha)·bg`, and `trimap`
 * (N×H×W×1: 0 background, 0.5 unknown, 1 foreground; unknown where the alpha is fractional or
 * within `trimap_width` pixels of such a pixel, as matting datasets dilate the edge).
 */
export function mattingData(
  count: number,
  size: number,
  seed: number,
  trimapWidth: number,
): FieldsDataset {
  const scenes = shapeScenes(count, size, seed);
  const rng = new Mulberry32(seed + 7919);
  const hw = size * size;
  const fields = {
    merged: new Float32Array(count * hw * 3),
    fg: new Float32Array(count * hw * 3),
    bg: new Float32Array(count * hw * 3),
    alpha: new Float32Array(count * hw),
    trimap: new Float32Array(count * hw),
  };
  scenes.forEach((scene, n) => {
    const alpha = shapeCoverage(scene, size, 4);
    const tint = [rng.range(0.3, 1), rng.range(0.3, 1), rng.range(0.3, 1)];
    for (let y = 0; y < size; y++) {
      const grey = shapeBackground(scene, y, size) * 3;
      for (let x = 0; x < size; x++) {
        const p = y * size + x;
        const a = alpha[p];
        fields.alpha[n * hw + p] = a;
        for (let c = 0; c < 3; c++) {
          const i = (n * hw + p) * 3 + c;
          fields.fg[i] = scene.colour[c];
          fields.bg[i] = Math.min(1, grey * tint[c]);
          fields.merged[i] = a * fields.fg[i] + (1 - a) * fields.bg[i];
        }
      }
    }
    trimapOf(alpha, size, trimapWidth, fields.trimap.subarray(n * hw, (n + 1) * hw));
  });
  const field = (pixels: Float32Array, c: number) =>
    new ArrayDataset('matting', pixels, count, [size, size, c]);
  return new FieldsDataset(`shapes matting(${count}×${size}², seed ${seed})`, {
    merged: field(fields.merged, 3),
    fg: field(fields.fg, 3),
    bg: field(fields.bg, 3),
    alpha: field(fields.alpha, 1),
    trimap: field(fields.trimap, 1),
  });
}

function trimapOf(alpha: Float32Array, size: number, width: number, out: Float32Array): void {
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let unknown = false;
      for (let dy = -width; dy <= width && !unknown; dy++) {
        for (let dx = -width; dx <= width && !unknown; dx++) {
          const py = y + dy;
          const px = x + dx;
          if (py < 0 || py >= size || px < 0 || px >= size) continue;
          const a = alpha[py * size + px];
          unknown = a > 0 && a < 1;
        }
      }
      out[y * size + x] = unknown ? 0.5 : alpha[y * size + x] >= 0.5 ? 1 : 0;
    }
  }
}
