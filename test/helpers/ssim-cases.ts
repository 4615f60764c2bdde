/**
 * The cases of test/reference/ssim.json (generate_ssim.py, piq's SSIM and MS-SSIM) and their
 * check, without Node built-ins: the Node suite (test/losses/ssim.test.ts) and the browser suite
 * (test/browser/) both run them.
 */
import * as tf from '@tensorflow/tfjs';
import { LOSSES } from '../../src/index.ts';
import { assertClose } from './close.ts';

/** An image of test/reference/generate_ssim.py (`image`): the same integer hashes and float64. */
export interface ImageSpec {
  seed: number;
  data_range: number;
  kind: 'base' | 'noisy' | 'invert';
  of_seed?: number;
  amp?: number;
  flat?: [number, number, number];
}

/** A case of ssim.json: images made from their specs, the loss, and (sampled) gradients. */
export interface SsimCase {
  id: string;
  type: 'SSIMLoss' | 'MultiScaleSSIMLoss';
  config: Record<string, unknown>;
  shape: number[];
  x: ImageSpec;
  y: ImageSpec;
  output_shape: number[];
  output: number[];
  cotangent?: number[];
  grads: Record<'x' | 'y', { values: number[]; abs_sum: number; index?: number[] }>;
}

/** generate_ssim.py's `hash_unit`: a value in [0, 1) from exact integer arithmetic. */
function hashUnit(n: number, h: number, w: number, c: number, seed: number): number {
  const k = (n * 7 + c * 3 + seed * 11) % 1009;
  const v = (h * 131 + w * 197 + k * 4099) % 65521;
  return ((v * v) % 65521) / 65521;
}

/** generate_ssim.py's `image`, NHWC float32. */
export function proceduralImage(shape: number[], spec: ImageSpec): tf.Tensor4D {
  const [N, H, W, C] = shape;
  const out = new Float32Array(N * H * W * C);
  let i = 0;
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        for (let c = 0; c < C; c++) {
          const ramp = (h + w) / (H + W);
          const noise = hashUnit(n, h, w, c, spec.seed);
          let v: number;
          if (spec.kind === 'base') v = 0.5 * ramp + 0.5 * noise;
          else {
            const other = 0.5 * ramp + 0.5 * hashUnit(n, h, w, c, spec.of_seed as number);
            v =
              spec.kind === 'invert'
                ? 1 - other
                : Math.min(Math.max(other + (noise - 0.5) * (spec.amp as number), 0), 1);
          }
          if (spec.flat && h < spec.flat[0] && w < spec.flat[1]) v = spec.flat[2];
          out[i++] = Math.fround(v * spec.data_range);
        }
      }
    }
  }
  return tf.tensor4d(out, shape as [number, number, number, number]);
}

/** Within 1e-5 + 5e-4·|want| (`assertClose`), each entry named in the message. */
function assertNear(got: ArrayLike<number>, want: number[], what: string): void {
  assertClose(tf.tensor1d(Array.from(got)), want, { what });
}

/**
 * Checks an ssim.json case: the output's shape and values, and the gradients w.r.t. both images
 * (of the output, or of `Σ output·cotangent`) at the sampled entries and as `Σ|∂/∂·|`.
 */
export function checkSsimCase(c: SsimCase): void {
  tf.tidy(() => {
    const x = proceduralImage(c.shape, c.x);
    const y = proceduralImage(c.shape, c.y);
    const m = LOSSES.build({ type: c.type, ...c.config } as never) as unknown as {
      forward(a: tf.Tensor, b: tf.Tensor): tf.Tensor;
    };
    const out = m.forward(x, y);
    if (out.shape.join('×') !== c.output_shape.join('×')) {
      throw new Error(`${c.id}: output shape ${out.shape}, expected ${c.output_shape}`);
    }
    assertNear(out.dataSync(), c.output, `${c.id}: output`);
    const cot = c.cotangent ? tf.tensor1d(c.cotangent) : null;
    const [gx, gy] = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
      const o = m.forward(a, b);
      return cot ? tf.sum(tf.mul(o, cot)) : o;
    })([x, y]);
    for (const [name, g] of [
      ['x', gx],
      ['y', gy],
    ] as const) {
      const flat = g.dataSync();
      const want = c.grads[name];
      const got = want.index ? want.index.map((k) => flat[k]) : Array.from(flat);
      assertNear(got, want.values, `${c.id}: d/d${name}`);
      let absSum = 0;
      for (const v of flat) absSum += Math.abs(v);
      assertNear([absSum], [want.abs_sum], `${c.id}: Σ|d/d${name}|`);
    }
  });
}
