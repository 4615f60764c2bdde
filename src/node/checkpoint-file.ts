import { readFile } from 'node:fs/promises';
import { CheckpointError } from '../core/errors.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../train/checkpoint.ts';
import type { Trainer } from '../train/trainer.ts';
import { writeFileAtomic } from './run-files.ts';

/**
 * Writes the trainer's state, with the caller's `run` record (any JSON), to each of `paths` (in
 * existing folders) atomically (a temporary file beside it, renamed over it), so that an
 * interrupted write never replaces a good checkpoint with a broken one. The state is encoded once.
 */
export async function saveCheckpoint(
  trainer: Trainer,
  paths: readonly string[],
  digest: string,
  run?: unknown,
): Promise<void> {
  const state = await trainer.getState();
  let bytes: Uint8Array;
  try {
    bytes = await encodeCheckpoint(state, digest, run);
  } finally {
    for (const t of Object.values(state.tensors)) t.dispose();
  }
  for (const path of paths) await writeFileAtomic(path, bytes);
}

/**
 * Restores the trainer from a checkpoint file, refusing an unreadable, corrupt or mismatched one
 * with a `CheckpointError` (see `decodeCheckpoint`); the trainer is untouched then. Returns the
 * `run` record stored with it.
 */
export async function loadCheckpoint(
  trainer: Trainer,
  path: string,
  digest: string,
): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new CheckpointError(`${path}: cannot read checkpoint (${(err as Error).message})`);
  }
  const { state, run } = await decodeCheckpoint(bytes, path, digest, trainer.stateLayout());
  try {
    await trainer.setState(state);
  } finally {
    for (const t of Object.values(state.tensors)) t.dispose();
  }
  return run;
}
