import { z } from 'zod';
import { CheckpointError } from '../core/errors.ts';

const count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * One part of a run: what one `genloss train` invocation did between its start (or resume) and
 * its last checkpoint. Parts are listed in the report, so that a resumed run shows its whole
 * history: steps `start_step`→`end_step`, wall time, backend, how the part ended, and the wall
 * time of each phase (`D step`, `regularisers`, `G step`, `sampling`, `metrics`, `I/O`; see
 * `PhaseTimer`), which the report sums over the parts (absent from checkpoints written before
 * phases were timed).
 */
export const runPartSchema = z.strictObject({
  started_at: z.string(),
  start_step: count,
  end_step: count,
  seconds: z.number().min(0).finite(),
  backend: z.string(),
  ended: z.enum(['running', 'finished', 'SIGINT', 'SIGTERM']),
  phase_seconds: z.record(z.string(), z.number().min(0).finite()).default({}),
});

/** A part of a run (see {@link runPartSchema}). */
export type RunPart = z.output<typeof runPartSchema>;

/**
 * What the CLI keeps in each checkpoint beside the trainer's state: the scalar log's length at
 * the checkpoint, the sums of the log interval in progress (so that its logged mean comes out the
 * same after a resume), and the run's parts so far.
 */
export const runRecordSchema = z.strictObject({
  scalars_bytes: count,
  window: z.strictObject({ sums: z.record(z.string(), z.tuple([z.number(), count])) }),
  parts: z.array(runPartSchema),
});

/** The CLI's record of a run (see {@link runRecordSchema}). */
export type RunRecord = z.output<typeof runRecordSchema>;

/** Validates the run record read from a checkpoint, naming the field that is wrong. */
export function parseRunRecord(source: string, value: unknown): RunRecord {
  const result = runRecordSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new CheckpointError(
    `${source}: field 'run.${issue.path.map(String).join('.')}' of the checkpoint is invalid (${issue.message}); it was not written by genloss train`,
  );
}
