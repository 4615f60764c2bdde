/**
 * Sliced Wasserstein distance over Laplacian-pyramid patches (Karras et al. 2018, "Progressive
 * Growing of GANs", §5; MMagic's `SWD` metric, mmagic/evaluation/metrics/swd.py, which follows
 * the PGGAN code's metrics/sliced_wasserstein.py): a GAN metric comparing the local image
 * structure of a set of real and a set of generated images at every scale. Lower is closer; the
 * value for two disjoint real sets is the floor a generator can hope for.
 */
import * as tf from '@tensorflow/tfjs';
import { describeValue } from '../core/describe.ts';
import { ConfigError, ShapeError } from '../core/errors.ts';
import { Mulberry32 } from '../core/prng.ts';
import { resizeNearest } from '../ops/resize.ts';
import { checkImage255 } from './images.ts';

/**
 * The random draws SWD makes, in MMagic's order: per image batch and pyramid level (finest first)
 * the patch centres' x then y (`np.random.randint` in `get_descriptors_for_minibatch`); at
 * `compute`, per level and repeat, the projection directions (`torch.randn` in
 * `sliced_wasserstein`). Pass one to reproduce given positions and directions exactly.
 */
export interface SwdRandomSource {
  /** `count` integers uniform in `[low, high)`, as `np.random.randint(low, high, size=count)`. */
  integers(count: number, low: number, high: number): ArrayLike<number>;
  /** A `rows × cols` matrix of standard normal draws, row-major, as `torch.randn(rows, cols)`. */
  normals(rows: number, cols: number): ArrayLike<number>;
}

/**
 * A reproducible {@link SwdRandomSource}: Mulberry32 from `seed` (`src/core/prng.ts`) for the
 * integers, and Box–Muller on the same stream for the normals. Two sources with one seed give
 * the same draws on every backend.
 */
export function seededSwdSource(seed: number): SwdRandomSource {
  const rng = new Mulberry32(seed);
  return {
    integers: (count, low, high) =>
      Int32Array.from({ length: count }, () => low + rng.int(high - low)),
    normals: (rows, cols) =>
      Float64Array.from(
        { length: rows * cols },
        () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()),
      ),
  };
}

/** Options of {@link SlicedWassersteinDistance}: MMagic's `image_shape` and attributes. */
export interface SwdOptions {
  /** `[C, H, W]` of every image, as MMagic's `image_shape` (C = 1 or 3). Required. */
  image_shape: readonly [number, number, number];
  /** Side of the square patches (MMagic's `nhood_size`), an odd integer ≥ 1. Default 7. */
  nhood_size?: number;
  /** Patches drawn per image and level (`nhoods_per_image`). Default 128. */
  nhoods_per_image?: number;
  /** Sets of projection directions (`dir_repeats`); the distance is their mean. Default 4. */
  dir_repeats?: number;
  /** Directions per set (`dirs_per_repeat`). Default 128. */
  dirs_per_repeat?: number;
  /**
   * MMagic's `fake_nums`: the images each set takes; a batch fed once a set holds this many is
   * skipped, as MMagic's `process` (a batch that crosses it is taken whole). Default: no limit.
   */
  fake_nums?: number;
  /** Seed of the default random source ({@link seededSwdSource}). Default 0x5eed. */
  seed?: number;
  /** Where the patch positions and directions come from; overrides `seed`. */
  random?: SwdRandomSource;
}

/** An SWD result: MMagic's per-resolution values ×10³ and their mean. */
export interface SwdResult {
  /** The pyramid levels' resolutions (image heights), finest first: 32×32 images give [32, 16]. */
  resolutions: number[];
  /** The distance ×10³ at each level, in the order of `resolutions`. */
  distances: number[];
  /** The mean of `distances` (MMagic's `avg`). */
  avg: number;
}

/**
 * MMagic's levels for images of height `h`: `h, h/2, …` while ≥ 16, at most 4 (so 16 → [16],
 * 32 → [32, 16], 64 → [64, 32, 16], 256 → [256, 128, 64, 32]). Empty below 16.
 */
export function swdResolutions(h: number): number[] {
  const out: number[] = [];
  for (let res = h; res >= 16 && out.length < 4; res = Math.floor(res / 2)) out.push(res);
  return out;
}

/** The 5×5 binomial kernel `[1, 4, 6, 4, 1]ᵀ[1, 4, 6, 4, 1] / 256` (`get_gaussian_kernel`). */
const BINOMIAL = [1, 4, 6, 4, 1].flatMap((a) => [1, 4, 6, 4, 1].map((b) => (a * b) / 256));

/** Per-channel 5×5 binomial filtering, zero padding 2 (`get_pyramid_layer`'s conv2d). */
function binomialFilter(x: tf.Tensor4D, stride: 1 | 2): tf.Tensor4D {
  const c = x.shape[3];
  const kernel = tf.tile(tf.tensor4d(BINOMIAL, [5, 5, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
  const padded = tf.pad(x, [
    [0, 0],
    [2, 2],
    [2, 2],
    [0, 0],
  ]);
  return tf.depthwiseConv2d(padded, kernel, stride, 'valid');
}

/**
 * MMagic's `laplacian_pyramid` of N×H×W×3 images: Gaussian levels `G₀ = x`,
 * `G_{i+1} = blur(G_i)` at stride 2; `L_i = G_i − blur(up(G_{i+1}))` with `up` PyTorch's nearest
 * ×2; the last level is the coarsest Gaussian level. Call inside `tf.tidy`.
 */
export function laplacianPyramid(x: tf.Tensor4D, levels: number): tf.Tensor4D[] {
  const gaussians = [x];
  for (let i = 1; i < levels; i++) gaussians.push(binomialFilter(gaussians[i - 1], 2));
  return gaussians.map((g, i) => {
    if (i === levels - 1) return g;
    const coarse = gaussians[i + 1];
    const up = resizeNearest(coarse, [2 * coarse.shape[1], 2 * coarse.shape[2]]);
    return tf.sub(g, binomialFilter(up, 1)) as tf.Tensor4D;
  });
}

/**
 * The SWD accumulator (MMagic `SlicedWassersteinDistance`, registered as `SWD`): feed batches of
 * real and generated images with {@link addReal} and {@link addFake} (only the patches are kept,
 * `nhoods_per_image · C·k²` floats per image and level), then {@link compute}.
 *
 * Per batch (MMagic's `process`): images in `[0, 255]` are mapped to `[−1, 1]` by
 * `(x − 127.5) / 127.5`, a grey image is repeated to 3 channels, and each Laplacian level
 * ({@link laplacianPyramid}, one per {@link swdResolutions}) gives `nhoods_per_image` patches of
 * k×k×3 per image, centred at uniform `x ∈ [k//2, w − k//2)`, `y ∈ [k//2, h − k//2)`, each
 * flattened `(c, dx, dy)` as MMagic's index arithmetic. No channel swap: the images are
 * taken in the order given.
 *
 * `compute` (MMagic's `compute_metrics`), per level: the real and the fake descriptors are each
 * normalised per channel by their own mean and standard deviation (unbiased, over every patch and
 * position; `finalize_descriptors`); then, `dir_repeats` times, `dirs_per_repeat` directions `d`
 * (standard normal, each of unit length) project both sets, each projection is sorted, and the
 * distance is `mean |sort(A·d) − sort(B·d)|` over the patches and directions; the level's value is
 * the mean over the repeats, times 10³; `avg` is the mean over the levels.
 *
 * Differences from MMagic: values are not rounded to 4 decimals (MMagic rounds its result dict);
 * a channel whose descriptors are all equal (a constant image set) is divided by 1, not by its
 * standard deviation 0, so the result is finite where MMagic's is NaN; projections run in float32.
 */
export class SlicedWassersteinDistance {
  /** MMagic's registry name. */
  static readonly metricType = 'SWD';
  /** The pyramid levels' resolutions, finest first ({@link swdResolutions}). */
  readonly resolutions: number[];
  readonly imageShape: readonly [number, number, number];
  readonly nhoodSize: number;
  readonly nhoodsPerImage: number;
  readonly dirRepeats: number;
  readonly dirsPerRepeat: number;
  /** MMagic's `fake_nums`, or `null` for no limit. */
  readonly fakeNums: number | null;
  private readonly random: SwdRandomSource;
  private real: Float32Array[][] = [];
  private fake: Float32Array[][] = [];
  private counts = { real: 0, fake: 0 };

  constructor(options: SwdOptions) {
    const owner = 'SlicedWassersteinDistance';
    const {
      image_shape,
      nhood_size = 7,
      nhoods_per_image = 128,
      dir_repeats = 4,
      dirs_per_repeat = 128,
      fake_nums,
      seed = 0x5eed,
    } = options ?? ({} as SwdOptions);
    const count = (key: string, v: unknown, odd = false): number => {
      if (!Number.isInteger(v) || (v as number) < 1 || (odd && (v as number) % 2 !== 1)) {
        throw new ConfigError(
          `${owner}: '${key}' must be a${odd ? 'n odd' : ''} positive integer, got ${describeValue(v)}`,
        );
      }
      return v as number;
    };
    const shown = JSON.stringify(image_shape) ?? String(image_shape);
    if (
      !Array.isArray(image_shape) ||
      image_shape.length !== 3 ||
      !image_shape.every((v) => Number.isInteger(v) && v > 0) ||
      (image_shape[0] !== 1 && image_shape[0] !== 3)
    ) {
      throw new ConfigError(
        `${owner}: 'image_shape' must be [C, H, W] with C 1 or 3 (MMagic's CHW order), got ${shown}`,
      );
    }
    this.nhoodSize = count('nhood_size', nhood_size, true);
    this.nhoodsPerImage = count('nhoods_per_image', nhoods_per_image);
    this.dirRepeats = count('dir_repeats', dir_repeats);
    this.dirsPerRepeat = count('dirs_per_repeat', dirs_per_repeat);
    this.fakeNums = fake_nums === undefined ? null : count('fake_nums', fake_nums);
    if (!Number.isInteger(seed)) {
      throw new ConfigError(`${owner}: 'seed' must be an integer, got ${describeValue(seed)}`);
    }
    const [, h, w] = image_shape;
    this.resolutions = swdResolutions(h);
    if (this.resolutions.length === 0) {
      throw new ConfigError(
        `${owner}: 'image_shape' ${shown}: H must be at least 16 (MMagic's smallest level)`,
      );
    }
    const scale = 2 ** (this.resolutions.length - 1);
    if (h % scale !== 0 || w % scale !== 0 || Math.min(h, w) / scale < this.nhoodSize) {
      throw new ConfigError(
        `${owner}: 'image_shape' ${shown}: H and W must be divisible by ${scale} (levels ${this.resolutions.join(', ')}) and the coarsest level's H and W (÷ ${scale}) at least nhood_size ${this.nhoodSize}`,
      );
    }
    this.imageShape = [image_shape[0], h, w];
    this.random = options?.random ?? seededSwdSource(seed);
    this.reset();
  }

  /** How many real and fake images have been fed since the last {@link reset}. */
  get numImages(): { real: number; fake: number } {
    return { ...this.counts };
  }

  /** Forgets every fed image (the random source goes on). */
  reset(): void {
    this.real = this.resolutions.map(() => []);
    this.fake = this.resolutions.map(() => []);
    this.counts = { real: 0, fake: 0 };
  }

  /**
   * Feeds real images: N×H×W×C float32 in `[0, 255]`, `[C, H, W]` = `image_shape`. Returns false
   * (and draws nothing) when the set already holds `fake_nums` images.
   */
  addReal(images: tf.Tensor): boolean {
    return this.add('real', 'addReal', images);
  }

  /** Feeds generated images, as {@link addReal}. */
  addFake(images: tf.Tensor): boolean {
    return this.add('fake', 'addFake', images);
  }

  private add(kind: 'real' | 'fake', method: string, images: unknown): boolean {
    const owner = `SlicedWassersteinDistance.${method}`;
    const x = checkImage255(owner, 'images', images);
    const [c, h, w] = this.imageShape;
    if (x.shape[1] !== h || x.shape[2] !== w || x.shape[3] !== c) {
      throw new ShapeError(
        `${owner}: 'images' must be N×${h}×${w}×${c} (image_shape [${c}, ${h}, ${w}]), got ${describeValue(x)}`,
      );
    }
    if (this.fakeNums !== null && this.counts[kind] >= this.fakeNums) return false;
    const levels = tf.tidy(() => {
      let t = tf.div(tf.sub(x, 127.5), 127.5) as tf.Tensor4D;
      if (c === 1) t = tf.tile(t, [1, 1, 1, 3]);
      return laplacianPyramid(t, this.resolutions.length);
    });
    const store = kind === 'real' ? this.real : this.fake;
    try {
      levels.forEach((level, i) => {
        store[i].push(this.descriptors(level));
      });
    } finally {
      tf.dispose(levels);
    }
    this.counts[kind] += x.shape[0];
    return true;
  }

  /**
   * `get_descriptors_for_minibatch`: N·nhoods patches of one level, each ordered `(c, dx, dy)`
   * (MMagic's `np.ogrid[0:N, 0:3, -H:H+1, -H:H+1]` names the third axis x and the fourth y, so a
   * descriptor holds its patch transposed; it matters only for given directions).
   */
  private descriptors(level: tf.Tensor4D): Float32Array {
    const [n, h, w] = level.shape;
    const data = level.dataSync();
    const k = this.nhoodSize;
    const half = (k - 1) / 2;
    const count = n * this.nhoodsPerImage;
    const xs = this.random.integers(count, half, w - half);
    const ys = this.random.integers(count, half, h - half);
    const size = 3 * k * k;
    const out = new Float32Array(count * size);
    for (let p = 0; p < count; p++) {
      const image = Math.floor(p / this.nhoodsPerImage);
      let o = p * size;
      for (let ch = 0; ch < 3; ch++) {
        for (let dx = -half; dx <= half; dx++) {
          const column = image * h * w + xs[p] + dx;
          for (let dy = -half; dy <= half; dy++)
            out[o++] = data[(column + (ys[p] + dy) * w) * 3 + ch];
        }
      }
    }
    return out;
  }

  /**
   * The distance between the fed real and fake images ({@link SwdResult}). Both sets must hold
   * the same number of images (MMagic asserts equal descriptor shapes), at least one each.
   */
  compute(): SwdResult {
    const { real, fake } = this.counts;
    if (real === 0 || real !== fake) {
      throw new ShapeError(
        `SlicedWassersteinDistance.compute: the real and fake sets must hold the same number of images, at least 1, got ${real} real and ${fake} fake`,
      );
    }
    const k2 = this.nhoodSize ** 2;
    const distances = this.resolutions.map(
      (_, i) => 1e3 * this.sliced(normalised(this.real[i], k2), normalised(this.fake[i], k2)),
    );
    const avg = distances.reduce((a, b) => a + b, 0) / distances.length;
    return { resolutions: [...this.resolutions], distances, avg };
  }

  /** `sliced_wasserstein`: the mean over `dir_repeats` of the mean sorted-projection distance. */
  private sliced(a: Float32Array, b: Float32Array): number {
    const dims = 3 * this.nhoodSize ** 2;
    const rows = a.length / dims;
    const cols = this.dirsPerRepeat;
    let total = 0;
    for (let r = 0; r < this.dirRepeats; r++) {
      const dirs = unitColumns(this.random.normals(dims, cols), dims, cols);
      const d = tf.tensor2d(dirs, [dims, cols]);
      // Read back outside tf.tidy, which would walk a returned typed array element by element.
      const project = (m: Float32Array) => {
        const p = tf.tidy(() => tf.transpose(tf.matMul(tf.tensor2d(m, [rows, dims]), d)));
        const values = p.dataSync() as Float32Array;
        p.dispose();
        return values;
      };
      const [pa, pb] = [project(a), project(b)];
      d.dispose();
      let sum = 0;
      const sorter = new Float32Sorter(rows);
      for (let j = 0; j < cols; j++) {
        const sa = sorter.sort(pa.subarray(j * rows, (j + 1) * rows));
        const sb = sorter.sort(pb.subarray(j * rows, (j + 1) * rows));
        for (let i = 0; i < rows; i++) sum += Math.abs(sa[i] - sb[i]);
      }
      total += sum / (rows * cols);
    }
    return total / this.dirRepeats;
  }
}

/**
 * Sorts float32 arrays ascending in place, the order of `Float32Array.prototype.sort` (−0 before
 * +0; no NaN expected), as an LSD radix sort of the IEEE-754 bits in three 11-bit passes: the
 * sign bit flipped for positives and all bits for negatives makes the unsigned order the numeric
 * one. V8's typed-array sort takes 10–30 ms for the 16 384 projections of one direction, and SWD
 * sorts 2 048 of them; this takes about a tenth of a millisecond.
 */
export class Float32Sorter {
  private readonly keys: Uint32Array;
  private readonly other: Uint32Array;
  private readonly counts = new Uint32Array(3 * 2048);

  /** @param capacity the largest array length `sort` takes. */
  constructor(capacity: number) {
    this.keys = new Uint32Array(capacity);
    this.other = new Uint32Array(capacity);
  }

  /** Sorts `values` (length ≤ capacity) in place and returns it. */
  sort(values: Float32Array): Float32Array {
    const n = values.length;
    const bits = new Uint32Array(values.buffer, values.byteOffset, n);
    let src = this.keys;
    let dst = this.other;
    const counts = this.counts;
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const b = bits[i];
      const key = (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
      src[i] = key;
      counts[key & 2047]++;
      counts[2048 + ((key >>> 11) & 2047)]++;
      counts[4096 + (key >>> 22)]++;
    }
    for (let pass = 0; pass < 3; pass++) {
      const base = pass * 2048;
      let total = 0;
      for (let d = 0; d < 2048; d++) {
        const c = counts[base + d];
        counts[base + d] = total;
        total += c;
      }
      const shift = pass * 11;
      for (let i = 0; i < n; i++) {
        const key = src[i];
        dst[counts[base + ((key >>> shift) & 2047)]++] = key;
      }
      [src, dst] = [dst, src];
    }
    for (let i = 0; i < n; i++) {
      const key = src[i];
      bits[i] = key & 0x80000000 ? key & 0x7fffffff : ~key;
    }
    return values;
  }
}

/** `d / ‖d‖` per column of a row-major `rows × cols` matrix, as float32. */
function unitColumns(d: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let j = 0; j < cols; j++) {
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += d[i * cols + j] ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < rows; i++) out[i * cols + j] = d[i * cols + j] / norm;
  }
  return out;
}

/**
 * `finalize_descriptors`: the chunks joined (descriptors of `3·k²` values, channel-major) and
 * each channel shifted by its mean and divided by its unbiased standard deviation (1 where that is
 * 0), both over every descriptor and position of that channel. Float64 sums.
 */
function normalised(chunks: Float32Array[], k2: number): Float32Array {
  const all = new Float32Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  const count = all.length / (3 * k2);
  for (let ch = 0; ch < 3; ch++) {
    let sum = 0;
    for (let p = 0; p < count; p++) {
      const o = (p * 3 + ch) * k2;
      for (let i = 0; i < k2; i++) sum += all[o + i];
    }
    const n = count * k2;
    const mean = sum / n;
    let squares = 0;
    for (let p = 0; p < count; p++) {
      const o = (p * 3 + ch) * k2;
      for (let i = 0; i < k2; i++) squares += (all[o + i] - mean) ** 2;
    }
    const std = Math.sqrt(squares / (n - 1)) || 1;
    for (let p = 0; p < count; p++) {
      const o = (p * 3 + ch) * k2;
      for (let i = 0; i < k2; i++) all[o + i] = (all[o + i] - mean) / std;
    }
  }
  return all;
}

/**
 * SWD of two image sets in one call ({@link SlicedWassersteinDistance} fed `real` then `fake`).
 *
 * @param real N×H×W×C float32 in `[0, 255]` (C = 1 or 3; H ≥ 16).
 * @param fake the shape of `real`.
 * @param options `nhood_size` 7, `nhoods_per_image` 128, `dir_repeats` 4, `dirs_per_repeat` 128,
 *   `seed` or `random` ({@link SwdOptions}); `image_shape` comes from `real`.
 * @returns the per-level distances ×10³ and their mean.
 */
export function slicedWassersteinDistance(
  real: tf.Tensor,
  fake: tf.Tensor,
  options: Omit<SwdOptions, 'image_shape'> = {},
): SwdResult {
  const x = checkImage255('slicedWassersteinDistance', 'real', real);
  const metric = new SlicedWassersteinDistance({
    ...options,
    image_shape: [x.shape[3], x.shape[1], x.shape[2]],
  });
  metric.addReal(x);
  metric.addFake(fake);
  return metric.compute();
}
