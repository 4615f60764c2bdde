import * as tf from '@tensorflow/tfjs';
import { Mulberry32 } from '../core/prng.ts';

/** A set of images the trainer samples batches from: N×H×W×C float32 in [−1, 1]. */
export interface ImageDataset {
  /** A short description for logs and reports. */
  readonly name: string;
  /** Number of images. */
  readonly size: number;
  /** [H, W, C]. */
  readonly imageShape: [number, number, number];
  /** The images at `indices`, as an N×H×W×C tensor in [−1, 1]. */
  batch(indices: readonly number[]): tf.Tensor4D;
}

/** An in-memory dataset over one Float32Array of images in [−1, 1]. */
export class ArrayDataset implements ImageDataset {
  constructor(
    readonly name: string,
    /** The images, N·H·W·C values in [−1, 1], image after image. */
    readonly pixels: Float32Array,
    readonly size: number,
    readonly imageShape: [number, number, number],
  ) {}

  /** A dataset of the same size and name over other pixels (another field of the same images). */
  withPixels(pixels: Float32Array, imageShape = this.imageShape): ArrayDataset {
    return new ArrayDataset(this.name, pixels, this.size, imageShape);
  }

  /** Images `from` (inclusive) to `to` (exclusive), sharing this dataset's memory. */
  slice(from: number, to: number): ArrayDataset {
    const per = this.imageShape[0] * this.imageShape[1] * this.imageShape[2];
    return new ArrayDataset(
      this.name,
      this.pixels.subarray(from * per, to * per),
      to - from,
      this.imageShape,
    );
  }

  batch(indices: readonly number[]): tf.Tensor4D {
    const per = this.imageShape[0] * this.imageShape[1] * this.imageShape[2];
    const out = new Float32Array(indices.length * per);
    indices.forEach((index, i) => {
      out.set(this.pixels.subarray(index * per, (index + 1) * per), i * per);
    });
    return tf.tensor4d(out, [indices.length, ...this.imageShape]);
  }
}

const SHAPE_KINDS = ['disc', 'square', 'triangle'] as const;

function inside(kind: (typeof SHAPE_KINDS)[number], dx: number, dy: number, r: number): boolean {
  switch (kind) {
    case 'disc':
      return dx * dx + dy * dy <= r * r;
    case 'square':
      return Math.abs(dx) <= r * 0.8 && Math.abs(dy) <= r * 0.8;
    case 'triangle':
      return dy <= r * 0.7 && dy >= -r && Math.abs(dx) <= (dy + r) * 0.6;
  }
}

/** One image of the shapes dataset: a shape, its placement and colour, and the background. */
export interface ShapeScene {
  kind: (typeof SHAPE_KINDS)[number];
  /** Radius, centre (pixels). */
  r: number;
  cx: number;
  cy: number;
  /** The shape's RGB colour in [0, 1]: a saturated hue. */
  colour: [number, number, number];
  /** The background's brightness at the top, fading to 0 at the bottom. */
  shade: number;
}

/** The scenes of {@link shapesDataset}: one shape per image, drawn from a seeded Mulberry32. */
export function shapeScenes(count: number, size: number, seed: number): ShapeScene[] {
  const rng = new Mulberry32(seed);
  return Array.from({ length: count }, () => {
    const kind = SHAPE_KINDS[rng.int(SHAPE_KINDS.length)];
    const r = rng.range(0.18, 0.32) * size;
    const cx = rng.range(r, size - r);
    const cy = rng.range(r, size - r);
    const hue = rng.next() * 6;
    const colour = [0, 2, 4].map((offset) => {
      const d = Math.abs(((hue + offset) % 6) - 3);
      return Math.min(1, Math.max(0, d - 1));
    }) as [number, number, number];
    const shade = rng.range(0.05, 0.2);
    return { kind, r, cx, cy, colour, shade };
  });
}

/**
 * The coverage of a scene's shape per pixel, size×size in [0, 1]: the fraction of
 * `supersample`² sample points inside the shape (1: the pixel centre, a hard edge; larger: an
 * anti-aliased edge, an exact alpha matte up to 1/supersample²).
 */
export function shapeCoverage(scene: ShapeScene, size: number, supersample = 1): Float32Array {
  const out = new Float32Array(size * size);
  const n = supersample * supersample;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let hits = 0;
      for (let sy = 0; sy < supersample; sy++) {
        for (let sx = 0; sx < supersample; sx++) {
          const px = x + (sx + 0.5) / supersample;
          const py = y + (sy + 0.5) / supersample;
          if (inside(scene.kind, px - scene.cx, py - scene.cy, scene.r)) hits++;
        }
      }
      out[y * size + x] = hits / n;
    }
  }
  return out;
}

/** The background of a scene at row y: its grey level, `shade·(1 − y/size)`. */
export function shapeBackground(scene: ShapeScene, y: number, size: number): number {
  return scene.shade * (1 - y / size);
}

/**
 * The embedded dataset, needing no download: `count` images of `size`×`size` RGB, each one
 * coloured shape (a disc, a square or a triangle, of random position, size and saturated colour)
 * on a dark background with a soft vertical gradient. Seeded: the same seed gives the same images.
 * `supersample` > 1 anti-aliases the edges (see {@link shapeCoverage}).
 */
export function shapesDataset(
  count: number,
  size: number,
  seed: number,
  supersample = 1,
): ArrayDataset {
  const pixels = new Float32Array(count * size * size * 3);
  shapeScenes(count, size, seed).forEach((scene, n) => {
    const alpha = shapeCoverage(scene, size, supersample);
    for (let y = 0; y < size; y++) {
      const bg = shapeBackground(scene, y, size);
      for (let x = 0; x < size; x++) {
        const a = alpha[y * size + x];
        const base = ((n * size + y) * size + x) * 3;
        for (let c = 0; c < 3; c++) pixels[base + c] = (a * scene.colour[c] + (1 - a) * bg) * 2 - 1;
      }
    }
  });
  return new ArrayDataset(`shapes(${count}×${size}², seed ${seed})`, pixels, count, [
    size,
    size,
    3,
  ]);
}

/**
 * Where a {@link BatchSampler} is: the generator state its current epoch was shuffled from (the
 * order is recomputed from it, so the state is O(1) whatever the dataset size), whether an epoch
 * has begun, and the position in it.
 */
export interface SamplerState {
  epoch_rng: number;
  started: boolean;
  position: number;
}

/**
 * Draws batches without replacement within an epoch, reshuffling each epoch (Fisher–Yates from a
 * seeded Mulberry32), with a state that can be saved and restored exactly.
 */
export class BatchSampler {
  private order: number[] = [];
  private position = 0;
  private epochRng: number;
  private readonly rng: Mulberry32;

  constructor(
    readonly datasetSize: number,
    readonly batchSize: number,
    seed: number,
  ) {
    this.rng = new Mulberry32(seed);
    this.epochRng = this.rng.state;
  }

  /** The next batch's indices. */
  next(): number[] {
    const out: number[] = [];
    while (out.length < this.batchSize) {
      if (this.position >= this.order.length) this.reshuffle();
      out.push(this.order[this.position++]);
    }
    return out;
  }

  private reshuffle(): void {
    this.epochRng = this.rng.state;
    this.order = Array.from({ length: this.datasetSize }, (_, i) => i);
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
    }
    this.position = 0;
  }

  /** The state to checkpoint. */
  getState(): SamplerState {
    return { epoch_rng: this.epochRng, started: this.order.length > 0, position: this.position };
  }

  /** Restores a state from `getState()` (validated by the caller: see `decodeCheckpoint`). */
  setState(state: SamplerState): void {
    this.rng.state = state.epoch_rng;
    this.order = [];
    if (state.started) this.reshuffle();
    this.epochRng = state.epoch_rng;
    this.position = state.position;
  }
}
