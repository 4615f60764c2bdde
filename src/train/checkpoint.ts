import * as tf from '@tensorflow/tfjs';
import { ConfigError, WeightsError } from '../core/errors.ts';
import { parseSafetensors } from '../io/safetensors.ts';
import { encodeSafetensors } from '../io/safetensors-writer.ts';
import type { TrainState } from './trainer.ts';

/** The format tag written into every checkpoint's metadata. */
export const CHECKPOINT_FORMAT = 'genloss-checkpoint/1';

/**
 * A short digest of a training config (FNV-1a of its canonical JSON), stored in checkpoints so
 * that resuming with a different config is refused.
 */
export function configDigest(config: unknown): string {
  const canonical = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v as object)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
        )
      : Array.isArray(v)
        ? v.map(canonical)
        : v;
  let h = 0x811c9dc5;
  for (const ch of JSON.stringify(canonical(config))) {
    h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** Encodes a training state as safetensors bytes (tensors + JSON metadata). */
export function encodeCheckpoint(state: TrainState, digest: string): Uint8Array {
  return encodeSafetensors(state.tensors, {
    format: CHECKPOINT_FORMAT,
    config_digest: digest,
    state: JSON.stringify(state.meta),
  });
}

/**
 * Decodes checkpoint bytes into a training state, checking the format, the config digest, and
 * that the weights and buffers have the names and shapes of `expected` (the trainer's). Any
 * mismatch is a clear error; the caller owns the returned tensors.
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  source: string,
  digest: string,
  expected: Record<string, readonly number[]>,
): TrainState {
  const file = parseSafetensors(bytes, source);
  if (file.metadata.format !== CHECKPOINT_FORMAT) {
    throw new WeightsError(
      `${source}: not a genloss checkpoint (format ${JSON.stringify(file.metadata.format ?? null)}, expected '${CHECKPOINT_FORMAT}')`,
    );
  }
  if (file.metadata.config_digest !== digest) {
    throw new ConfigError(
      `${source}: the checkpoint was made with a different config (digest ${file.metadata.config_digest}, this config ${digest}); resume with the config it was made with`,
    );
  }
  let meta: TrainState['meta'];
  try {
    meta = JSON.parse(file.metadata.state ?? '');
  } catch {
    throw new WeightsError(`${source}: the checkpoint's state metadata is not valid JSON`);
  }
  const names = file.names();
  const missing = Object.keys(expected).filter((n) => !names.includes(n));
  // Optimizer moments exist only once a step has run; they are checked by the optimizer itself.
  const isOptimizer = (n: string) => /^optimizer\.(generator|discriminator)\./.test(n);
  const extra = names.filter((n) => !(n in expected) && !isOptimizer(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new WeightsError(
      `${source}: the checkpoint does not fit this model: missing ${missing.join(', ') || 'none'}; unexpected ${extra.join(', ') || 'none'}`,
    );
  }
  const tensors: Record<string, tf.Tensor> = {};
  for (const name of names) {
    const entry = file.entry(name);
    if (
      name in expected &&
      !tf.util.arraysEqual(entry.shape as number[], expected[name] as number[])
    ) {
      tf.dispose(Object.values(tensors));
      throw new WeightsError(
        `${source}: tensor '${name}' has shape [${entry.shape.join(', ')}], the model expects [${expected[name].join(', ')}]`,
      );
    }
    tensors[name] = file.tensor(name);
  }
  return { tensors, meta };
}
