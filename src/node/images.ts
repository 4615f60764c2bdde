import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { ConfigError } from '../core/errors.ts';
import { ArrayDataset } from '../train/datasets.ts';

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

/** Decodes a PNG or JPEG file to an H×W×3 tensor in [0, 255]. */
function decodeImage(bytes: Buffer, path: string): tf.Tensor3D {
  const ext = extname(path).toLowerCase();
  const { width, height, data } =
    ext === '.png'
      ? PNG.sync.read(bytes)
      : jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[i * 3] = data[i * 4];
    rgb[i * 3 + 1] = data[i * 4 + 1];
    rgb[i * 3 + 2] = data[i * 4 + 2];
  }
  return tf.tensor3d(rgb, [height, width, 3]);
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/**
 * Loads every PNG/JPEG in `dir` (sorted by name), resized to `size`×`size` (bilinear, with
 * antialiasing by area when shrinking) into memory as a dataset in [−1, 1].
 */
export async function imageFolderDataset(dir: string, size: number): Promise<ArrayDataset> {
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
  const pixels = new Float32Array(files.length * per);
  for (const [i, file] of files.entries()) {
    const path = join(dir, file);
    let image: tf.Tensor3D;
    try {
      image = decodeImage(await readFile(path), path);
    } catch (err) {
      throw new ConfigError(`data.path: cannot decode ${path} (${(err as Error).message})`);
    }
    const resized = tf.tidy(() => {
      const [h, w] = image.shape;
      const k = Math.max(1, Math.floor(Math.min(h, w) / size));
      const smoothed = k > 1 ? tf.avgPool(image, k, k, 'valid') : image;
      return tf.sub(tf.div(tf.image.resizeBilinear(smoothed, [size, size], false, true), 127.5), 1);
    });
    pixels.set(resized.dataSync(), i * per);
    tf.dispose([image, resized]);
  }
  return new ArrayDataset(
    `folder(${dir}, ${files.length} images, ${size}²)`,
    pixels,
    files.length,
    [size, size, 3],
  );
}
