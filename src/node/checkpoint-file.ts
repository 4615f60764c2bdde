import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { WeightsError } from '../core/errors.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../train/checkpoint.ts';
import type { Trainer } from '../train/trainer.ts';

/**
 * Writes the trainer's state to `path` atomically: to a temporary file beside it, then renamed
 * over it, so that an interrupted write never replaces a good checkpoint with a broken one.
 */
export async function saveCheckpoint(
  trainer: Trainer,
  path: string,
  digest: string,
): Promise<void> {
  const state = await trainer.getState();
  const bytes = (() => {
    try {
      return encodeCheckpoint(state, digest);
    } finally {
      for (const t of Object.values(state.tensors)) t.dispose();
    }
  })();
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  await writeFile(temp, bytes);
  await rename(temp, path);
}

/** Restores the trainer from a checkpoint file, refusing corrupt or mismatched ones. */
export async function loadCheckpoint(
  trainer: Trainer,
  path: string,
  digest: string,
): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new WeightsError(`${path}: cannot read checkpoint (${(err as Error).message})`);
  }
  const state = decodeCheckpoint(bytes, path, digest, trainer.stateShapes());
  try {
    await trainer.setState(state);
  } finally {
    for (const t of Object.values(state.tensors)) t.dispose();
  }
}
