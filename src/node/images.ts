import { constants, type Stats } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import type * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { ConfigError, DataError, ResourceLimitError } from '../core/errors.ts';
import { type RawImage, resizeImage } from '../io/images.ts';
import { ArrayDataset } from '../train/datasets.ts';
import { MAX_TYPED_ARRAY_LENGTH } from '../train/limits.ts';
import {
  type PngHeader,
  parseJpegHeader,
  parsePngHeader,
  pngImageData,
  pngInflatedBytes,
  readPrefix,
} from './image-header.ts';

/**
 * Tiles N×H×W×C images in [−1, 1] into one RGB PNG grid (`columns` wide, 2-pixel gutters),
 * encoded with pngjs (pure JS).
 */
export function imageGridPng(images: tf.Tensor4D, columns = 8): Buffer {
  const [n, h, w, c] = images.shape;
  const rows = Math.ceil(n / columns);
  const gap = 2;
  const width = columns * (w + gap) + gap;
  const height = rows * (h + gap) + gap;
  const png = new PNG({ width, height });
  png.data.fill(255);
  const pixels = images.dataSync();
  for (let i = 0; i < n; i++) {
    const ox = gap + (i % columns) * (w + gap);
    const oy = gap + Math.floor(i / columns) * (h + gap);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((i * h + y) * w + x) * c;
        const dst = ((oy + y) * width + ox + x) * 4;
        for (let k = 0; k < 3; k++) {
          const v = pixels[src + (c === 1 ? 0 : k)];
          png.data[dst + k] = Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
        }
        png.data[dst + 3] = 255;
      }
    }
  }
  return PNG.sync.write(png);
}

/** Files over this many bytes (256 MiB) are refused before any byte is read. */
export const MAX_IMAGE_FILE_BYTES = 256 * 2 ** 20;

/** Bytes read from a file's start to find its header: a JPEG's SOFn may follow large APPn. */
const HEADER_BYTES = 2 ** 20;

/**
 * jpeg-js's memory bound for images of up to `maxPixels`: per pixel, at worst (4 components) 16
 * bytes of DCT blocks, 4 of sample lines, 4 of colour conversion and 4 of RGBA output; plus 16 MB
 * for tables and the padding of the last MCUs.
 */
const jpegMemoryMB = (maxPixels: number) => Math.ceil((maxPixels * 28) / 2 ** 20) + 16;

/** A file `imageFolderDataset` cannot use; `reason` is the message without `data.path:` and path. */
class BadFileError extends DataError {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** `data.path: <path> is <what>`. */
const badFile = (path: string, what: string) =>
  new BadFileError(`data.path: ${path} is ${what}`, what);

/** Runs `fn`; any error becomes `data.path: cannot <verb> <path> (<its message>)`. */
async function orBadFile<T>(path: string, verb: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const why = (err as Error).message;
    throw new BadFileError(`data.path: cannot ${verb} ${path} (${why})`, `cannot ${verb} (${why})`);
  }
}

/** Refuses anything but a regular file of at most `MAX_IMAGE_FILE_BYTES`. */
function checkFile(path: string, info: Stats): void {
  if (!info.isFile()) {
    const kind = info.isFIFO()
      ? 'a FIFO'
      : info.isCharacterDevice()
        ? 'a character device'
        : info.isBlockDevice()
          ? 'a block device'
          : info.isDirectory()
            ? 'a directory'
            : info.isSocket()
              ? 'a socket'
              : 'of an unknown kind';
    throw badFile(path, `${kind}, not a regular file`);
  }
  if (info.size > MAX_IMAGE_FILE_BYTES) {
    throw badFile(
      path,
      `${info.size} bytes, over the ${MAX_IMAGE_FILE_BYTES}-byte limit per image`,
    );
  }
}

/** Decodes a whole PNG file to RGBA, its inflated data bounded by the size its IHDR gives. */
function decodePng(bytes: Buffer, header: PngHeader): RawImage {
  const chunks = pngImageData(bytes);
  if (header.interlaced) {
    // pngjs inflates interlaced data without a bound; check it first.
    const limit = pngInflatedBytes(header);
    try {
      inflateSync(Buffer.concat(chunks), { maxOutputLength: limit });
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      throw new Error(`its image data inflates past the ${limit} bytes its IHDR allows`);
    }
  }
  return PNG.sync.read(bytes);
}

/**
 * Reads one PNG/JPEG file as RGBA (H×W×4 bytes) without trusting it: refuses what is not a
 * regular file (checked before opening, and again on the open handle), a file over
 * `MAX_IMAGE_FILE_BYTES`, and a header claiming over `maxPixels` pixels, before decoding.
 */
async function readImage(path: string, maxPixels: number): Promise<RawImage> {
  checkFile(path, await orBadFile(path, 'read', () => stat(path)));
  const handle = await orBadFile(path, 'read', () =>
    open(path, constants.O_RDONLY | constants.O_NONBLOCK),
  );
  try {
    const info = await orBadFile(path, 'read', () => handle.stat());
    checkFile(path, info);
    const head = await orBadFile(path, 'read', () =>
      readPrefix(handle, Math.min(info.size, HEADER_BYTES)),
    );
    const png = extname(path).toLowerCase() === '.png';
    const header = await orBadFile(path, 'decode', () =>
      png ? parsePngHeader(head) : parseJpegHeader(head),
    );
    const { width, height } = header;
    if (width * height > maxPixels) {
      throw badFile(
        path,
        `${width}×${height} = ${width * height} pixels, over data.max_pixels ${maxPixels}`,
      );
    }
    const bytes =
      info.size <= HEADER_BYTES
        ? head
        : await orBadFile(path, 'read', () => readPrefix(handle, info.size));
    return await orBadFile(path, 'decode', () =>
      header.format === 'png'
        ? decodePng(bytes, header)
        : jpeg.decode(bytes, {
            useTArray: true,
            formatAsRGBA: true,
            maxResolutionInMP: maxPixels / 1e6,
            maxMemoryUsageInMB: jpegMemoryMB(maxPixels),
          }),
    );
  } finally {
    await handle.close();
  }
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** Options of `imageFolderDataset`. */
export interface ImageFolderOptions {
  /** Most pixels (width×height) one image's header may claim: `data.max_pixels`, default 4096². */
  maxPixels?: number;
  /** Skip bad files (one `onSkip` call each) instead of throwing: `data.skip_bad_files`. */
  skipBadFiles?: boolean;
  /** Most bytes the dataset (N×size×size×3 float32) may take; default 2 GiB. */
  maxBytes?: number;
  /** Told of each skipped file; default writes `genloss: skipping <path>: <reason>` to stderr. */
  onSkip?: (path: string, reason: string) => void;
}

/**
 * Loads every PNG/JPEG in `dir` (sorted by name), resized to `size`×`size` (bilinear, with
 * antialiasing by area when shrinking) into memory as a dataset of N×`size`×`size`×3 values in
 * [−1, 1]. Each file is checked before it is decoded: a regular file (never opened when it is a
 * FIFO or a device), at most `MAX_IMAGE_FILE_BYTES`, its header's width×height at most
 * `maxPixels`. Bad files are a `DataError` naming each (after every file was checked), or with
 * `skipBadFiles` an `onSkip` call each.
 * Throws `ConfigError` when the folder cannot be read or holds no (usable) image, and
 * `ResourceLimitError` when N images of `size`² would take over `maxBytes` or be more values than
 * one Float32Array holds.
 */
export async function imageFolderDataset(
  dir: string,
  size: number,
  {
    maxPixels = 16_777_216,
    skipBadFiles = false,
    maxBytes = 2 * 2 ** 30,
    onSkip = (path, reason) => process.stderr.write(`genloss: skipping ${path}: ${reason}\n`),
  }: ImageFolderOptions = {},
): Promise<ArrayDataset> {
  let files: string[];
  try {
    files = (await readdir(dir))
      .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
      .sort();
  } catch (err) {
    throw new ConfigError(`data.path: cannot read folder ${dir} (${(err as Error).message})`);
  }
  if (files.length === 0) {
    throw new ConfigError(`data.path: ${dir} has no .png, .jpg or .jpeg images`);
  }
  const per = size * size * 3;
  const bytes = files.length * per * Float32Array.BYTES_PER_ELEMENT;
  if (bytes > maxBytes) {
    throw new ResourceLimitError(
      `data.size: ${files.length} images of ${size}×${size}×3 float32 take ${bytes} bytes, ` +
        `over the limit of ${maxBytes}; lower data.size or use fewer images`,
    );
  }
  if (files.length * per > MAX_TYPED_ARRAY_LENGTH) {
    throw new ResourceLimitError(
      `data.size: ${files.length} images of ${size}×${size}×3 are ${files.length * per} values, ` +
        `over the ${MAX_TYPED_ARRAY_LENGTH} one Float32Array can hold; lower data.size or use fewer images`,
    );
  }
  const pixels = new Float32Array(files.length * per);
  const bad: BadFileError[] = [];
  let count = 0;
  for (const file of files) {
    const path = join(dir, file);
    let image: RawImage;
    try {
      image = await readImage(path, maxPixels);
    } catch (err) {
      if (!(err instanceof BadFileError)) throw err;
      if (skipBadFiles) onSkip(path, err.reason);
      else bad.push(err);
      continue;
    }
    pixels.set(resizeImage(image, size), count * per);
    count++;
  }
  if (bad.length === 1) throw bad[0];
  if (bad.length > 1) {
    throw new DataError(
      `data.path: ${bad.length} of the ${files.length} images of ${dir} cannot be used (data.skip_bad_files: true skips them):\n${bad.map((e) => `  ${e.message}`).join('\n')}`,
    );
  }
  if (count === 0) {
    throw new ConfigError(`data.path: ${dir} has no usable image (all ${files.length} skipped)`);
  }
  return new ArrayDataset(
    `folder(${dir}, ${count} images, ${size}²)`,
    pixels.subarray(0, count * per),
    count,
    [size, size, 3],
  );
}
