/**
 * Image scaling shared by `genloss train`'s image-folder reader (src/node/images.ts) and the
 * playground's dropped images (playground/images.ts): decoded RGBA bytes to the `size`×`size`×3
 * values in [−1, 1] every dataset holds (the shapes dataset's range and layout). Browser-safe: no
 * Node built-ins.
 */
import * as tf from '@tensorflow/tfjs';

/** An RGBA image: `data` holds `height`×`width`×4 bytes. */
export interface RawImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * Resizes an RGBA image to `size`×`size`×3 values in [−1, 1] (area antialias when shrinking); the
 * alpha channel is dropped.
 */
export function resizeImage({ width, height, data }: RawImage, size: number): Float32Array {
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[i * 3] = data[i * 4];
    rgb[i * 3 + 1] = data[i * 4 + 1];
    rgb[i * 3 + 2] = data[i * 4 + 2];
  }
  const resized = tf.tidy(() => {
    const image = tf.tensor3d(rgb, [height, width, 3]);
    const k = Math.max(1, Math.floor(Math.min(height, width) / size));
    const smoothed = k > 1 ? tf.avgPool(image, k, k, 'valid') : image;
    return tf.sub(tf.div(tf.image.resizeBilinear(smoothed, [size, size], false, true), 127.5), 1);
  });
  const values = resized.dataSync() as Float32Array;
  resized.dispose();
  return values;
}
