import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';

/** A tensor as the PyTorch generator writes it: NCHW for 4-D tensors. */
export interface RefTensor {
  shape: number[];
  layout: 'NCHW' | 'plain';
  data: number[];
}

/** One reference case of `test/reference/*.json` (format in test/reference/README.md). */
export interface RefCase {
  id: string;
  type: string;
  config: Record<string, unknown>;
  args: { name: string; tensor: RefTensor }[];
  output: RefTensor;
  cotangent?: RefTensor;
  grads: Record<string, RefTensor>;
}

/** Reads the cases of one reference file. */
export function loadCases(file: string): RefCase[] {
  const url = new URL(`../reference/${file}`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { cases: RefCase[] }).cases;
}

/** The tensor in genloss's layout: NCHW data is transposed to NHWC. */
export function toTensor(t: RefTensor): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.tensor(t.data, t.shape, 'float32');
    return t.layout === 'NCHW' ? tf.transpose(x, [0, 2, 3, 1]) : x;
  });
}
