/**
 * The procedural images and random draws of test/reference/generate_metrics.py (`image`, `Draws`):
 * the same integer hashes and float64 arithmetic, so that a reference case stores specs, not
 * pixels, and the TypeScript metric gets the exact draws the PyTorch reference used.
 */
import * as tf from '@tensorflow/tfjs';
import type { SwdRandomSource } from '../../src/index.ts';

/** An image spec of generate_metrics.py: a ramp plus `amp`·noise, or the constant `flat`. */
export interface ImageSpec {
  seed?: number;
  amp?: number;
  flat?: number;
}

/** generate_metrics.py's `hash_unit`: a value in [0, 1) from exact integer arithmetic. */
function hashUnit(n: number, h: number, w: number, c: number, seed: number): number {
  const v = (((n * 73 + h) * 179 + w) * 283 + c * 1019 + seed * 7919) % 65521;
  return ((v * v + 12345) % 65521) / 65521;
}

/** generate_metrics.py's `image`: NHWC float32 in [0, 255]. */
export function proceduralImage(shape: number[], spec: ImageSpec): tf.Tensor4D {
  const [N, H, W, C] = shape;
  const out = new Float32Array(N * H * W * C);
  let i = 0;
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        for (let c = 0; c < C; c++) {
          const seed = spec.seed as number;
          out[i++] =
            spec.flat ??
            ((h + w + 3 * n + 5 * c + seed) % 32) * 4 +
              hashUnit(n, h, w, c, seed) * (spec.amp as number);
        }
      }
    }
  }
  return tf.tensor4d(out, shape as [number, number, number, number]);
}

/** generate_metrics.py's `Draws`: call k's i-th value from an integer hash, k counting every call. */
export function proceduralDraws(): SwdRandomSource {
  let calls = 0;
  const unit = (i: number, a: number, b: number) => {
    const v = (i * 613 + calls * 3571 + a) % 65521;
    return (v * v + b) % 65521;
  };
  return {
    integers(count, low, high) {
      const out = Int32Array.from(
        { length: count },
        (_, i) => low + (unit(i, 101, 7) % (high - low)),
      );
      calls++;
      return out;
    },
    normals(rows, cols) {
      const out = Float64Array.from(
        { length: rows * cols },
        (_, i) => (unit(i, 211, 3) / 65521) * 2 - 1,
      );
      calls++;
      return out;
    },
  };
}
