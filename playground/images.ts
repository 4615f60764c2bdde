/**
 * Images the user drops onto the playground (or picks with its file input), for a run to train on
 * instead of the embedded shapes: PNG/JPEG files decoded by the browser, their centre squares
 * scaled as `genloss train` scales an image folder's images (`resizeImage`: `data.size`² RGB in
 * [−1, 1], the shapes dataset's range and layout).
 */
import type { RawImage } from '../src/io/images.ts';
import { resizeImage } from '../src/io/images.ts';
import { ArrayDataset } from '../src/train/datasets.ts';

/** The MIME types read; a file without one is judged by its extension. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg']);

/**
 * A file's centre square (side: its shorter side) as RGBA bytes, decoded by the browser as the
 * file stores it (no colour-space conversion, alpha not premultiplied). Throws a message naming
 * what is wrong (not a PNG/JPEG, undecodable).
 */
async function centreSquare(file: File): Promise<RawImage> {
  const known = file.type ? IMAGE_TYPES.has(file.type) : /\.(png|jpe?g)$/i.test(file.name);
  if (!known) throw new Error(`not a PNG or JPEG image (${file.type || 'no type'})`);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
    });
  } catch (error) {
    throw new Error(`cannot be decoded (${(error as Error).message})`);
  }
  try {
    const side = Math.min(bitmap.width, bitmap.height);
    const context = new OffscreenCanvas(side, side).getContext('2d');
    if (!context) throw new Error('no 2D canvas to decode into');
    const x = Math.floor((bitmap.width - side) / 2);
    const y = Math.floor((bitmap.height - side) / 2);
    context.drawImage(bitmap, x, y, side, side, 0, 0, side, side);
    const { data } = context.getImageData(0, 0, side, side);
    return { width: side, height: side, data: new Uint8Array(data.buffer) };
  } finally {
    bitmap.close();
  }
}

/** What reading dropped files gave: the usable images as a dataset, and a line per bad file. */
export interface DroppedImages {
  /** The usable images, in the order given, at the size asked; null when none is usable. */
  dataset: ArrayDataset | null;
  /** `<file name>: <what is wrong>`, one per file that cannot be used. */
  problems: string[];
}

/**
 * Reads `files` as `size`×`size` images: each one's centre square, scaled by `resizeImage`. A
 * file that is not a PNG/JPEG or cannot be decoded is left out with a line in `problems`.
 */
export async function readDroppedImages(
  files: readonly File[],
  size: number,
): Promise<DroppedImages> {
  const per = size * size * 3;
  const pixels = new Float32Array(files.length * per);
  const problems: string[] = [];
  let count = 0;
  for (const file of files) {
    try {
      pixels.set(resizeImage(await centreSquare(file), size), count * per);
      count++;
    } catch (error) {
      problems.push(`${file.name}: ${(error as Error).message}`);
    }
  }
  const dataset =
    count === 0
      ? null
      : new ArrayDataset(
          `dropped(${count} images, ${size}²)`,
          pixels.subarray(0, count * per),
          count,
          [size, size, 3],
        );
  return { dataset, problems };
}
