import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exitCodeOf } from '../../src/cli/process-errors.ts';
import { RunDirError } from '../../src/core/errors.ts';
import { removeRunFiles, ScalarLog, writeFileAtomic } from '../../src/node/run-files.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'genloss-run-files-'));

test('a file-system failure is a RunDirError naming the path (exit 6), not an internal error', async () => {
  const dir = tempDir();
  // A file where a folder should be: ENOTDIR for every write below it, for root too.
  writeFileSync(join(dir, 'samples'), '');
  const target = join(dir, 'samples', 'step_000004.png');
  const refused = (e: Error) =>
    e instanceof RunDirError && e.message.startsWith(`cannot write ${target} (ENOTDIR`);
  await assert.rejects(writeFileAtomic(target, 'png'), refused);
  await assert.rejects(writeFileAtomic(target, 'png'), (e: Error) => exitCodeOf(e) === 6);
  mkdirSync(join(dir, 'run'));
  const log = ScalarLog.create(join(dir, 'run', 'scalars.json'));
  rmSync(join(dir, 'run'), { recursive: true });
  writeFileSync(join(dir, 'run'), '');
  assert.throws(
    () => log.append({ step: 1, loss: 1 }),
    (e: Error) => e instanceof RunDirError && e.message.startsWith(`cannot append to ${log.path}`),
  );
  await removeRunFiles([join(dir, 'nothing-here.png')]);
});

test('the scalar log: appended rows read back; a torn last line is left out, another bad line refused', async () => {
  const dir = tempDir();
  const path = join(dir, 'scalars.json');
  const log = ScalarLog.create(path);
  log.append({ step: 1, loss: 0.5 });
  log.append({ step: 2, loss: 0.25 });
  assert.equal(log.bytes, readFileSync(path).length);
  writeFileSync(path, `${readFileSync(path, 'utf8')}{"step":3,"lo`);
  assert.deepEqual(await ScalarLog.read(path), [
    { step: 1, loss: 0.5 },
    { step: 2, loss: 0.25 },
  ]);
  const resumed = ScalarLog.resume(path, log.bytes, 2);
  assert.equal(readFileSync(path, 'utf8').length, resumed.bytes, 'cut back to the checkpoint');
  assert.throws(
    () => ScalarLog.resume(path, log.bytes, 1),
    /the row at byte \d+ is of step 2, after 1/,
  );
  assert.throws(() => ScalarLog.resume(path, 5, 2), /no whole row ends at byte 5/);
  assert.throws(
    () => ScalarLog.resume(path, 10_000, 2),
    /the log has \d+ bytes, the checkpoint expects at least 10000/,
  );
  writeFileSync(path, '{"step":1}\n{"step":"two"}\n{"step":3}\n');
  await assert.rejects(ScalarLog.read(path), /line 2 is not a row of genloss's scalar log/);
  assert.deepEqual(await ScalarLog.read(join(dir, 'none.json')), []);
});
