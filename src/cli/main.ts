#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { startBackend } from '../core/backend.ts';
import { importCustom } from '../node/train-config.ts';
import '../register.ts';
import { SIGNAL_EXIT_CODES } from './interrupt.ts';
import { listLosses } from './list.ts';
import { EXIT_CODES, errorMessage, exitCodeOf, handleEscapedErrors } from './process-errors.ts';
import { checkConfig, runTraining } from './train.ts';

// As importing genloss does: register gradients, kernels and losses (src/register.ts), then start
// the backend in the background.
startBackend();

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

/** The `genloss` command line. */
export function program(): Command {
  const cli = new Command('genloss')
    .description("MMagic's loss system for GANs, on TensorFlow.js")
    .option('--verbose', 'print the stack of an unexpected error')
    .exitOverride()
    .addHelpText(
      'after',
      `
Exit codes: ${EXIT_CODES.ok} done; ${EXIT_CODES.internal} unexpected error (a bug: see --verbose); ${EXIT_CODES.usage} bad arguments;
${EXIT_CODES.config} invalid config; ${EXIT_CODES.data} unusable data file; ${EXIT_CODES.checkpoint} checkpoint or weight file missing, corrupt
or not fitting; ${EXIT_CODES.workDir} work dir holds another run, is locked or not writable; ${EXIT_CODES.nonFinite} a loss went
NaN/infinite; ${SIGNAL_EXIT_CODES.SIGINT}/${SIGNAL_EXIT_CODES.SIGTERM} stopped by SIGINT/SIGTERM (checkpoint and report written).`,
    );
  cli
    .command('train')
    .description(
      'train the model a config describes (a GAN, restorer, inpaintor or matting model); writes samples, metrics, loss plot, checkpoints, report',
    )
    .argument('<config>', 'a .yaml, .yml or .json training config')
    .option('-w, --work-dir <dir>', 'output folder (default work_dirs/<config name>)')
    .option(
      '-r, --resume [checkpoint]',
      'continue the run from a checkpoint (default <work-dir>/checkpoints/latest.ckpt)',
    )
    .addOption(
      new Option(
        '-f, --force',
        'delete the run in the work dir, if any, and start a new one',
      ).conflicts('resume'),
    )
    .option('-n, --iters <n>', 'override train.iters', positiveInt)
    .option('-b, --backend <name>', 'TF.js backend (tensorflow, wasm, cpu)')
    .action(
      async (
        config: string,
        o: {
          workDir?: string;
          resume?: string | boolean;
          force?: boolean;
          iters?: number;
          backend?: string;
        },
      ) => {
        const result = await runTraining(config, o);
        if (result.interrupted) process.exitCode = SIGNAL_EXIT_CODES[result.interrupted];
      },
    );
  cli
    .command('list')
    .description('list every registered loss with its options and defaults')
    .option('-i, --import <module...>', 'modules to import first (user losses; this runs them)')
    .option('--json', 'print JSON')
    .option('--markdown', 'print the Markdown tables of docs/custom-loss.md')
    .action(async (o: { import?: string[]; json?: boolean; markdown?: boolean }) => {
      if (o.import) {
        await importCustom(join(process.cwd(), 'genloss-list'), o.import, { key: '--import' });
      }
      process.stdout.write(`${listLosses(o.json ? 'json' : o.markdown ? 'markdown' : 'text')}\n`);
    });
  cli
    .command('check')
    .description('run everything train runs before its first step, then that step; no files')
    .argument('<config>', 'a .yaml, .yml or .json training config')
    .option('-b, --backend <name>', 'TF.js backend')
    .action(async (config: string, o: { backend?: string }) => {
      const log = await checkConfig(config, o.backend);
      process.stdout.write(`${config}: OK, one step: ${JSON.stringify(log)}\n`);
    });
  return cli;
}

/**
 * Runs the command line. An error prints one message (`genloss: <Kind>: <message>`; the stack
 * only with `--verbose`) and sets the exit code of its kind (see `EXIT_CODES`).
 */
export async function main(argv: string[] = process.argv): Promise<void> {
  const cli = program();
  try {
    await cli.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed its message (or the help) already.
      process.exitCode = error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
      return;
    }
    process.stderr.write(`${errorMessage(error, cli.opts().verbose === true)}\n`);
    process.exitCode = exitCodeOf(error);
  }
}

// Run when executed (`genloss …`, `node dist/cli/main.js`, `tsx src/cli/main.ts`), not when imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  handleEscapedErrors(() => process.argv.includes('--verbose'));
  await main();
}
