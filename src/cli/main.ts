#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { startBackend } from '../core/backend.ts';
import { GenlossError } from '../core/errors.ts';
import { loadConfigFile } from '../node/config.ts';
import '../register.ts';
import { listLosses } from './list.ts';
import { checkConfig, importCustom, runTraining } from './train.ts';

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
  const cli = new Command('genloss').description("MMagic's loss system for GANs, on TensorFlow.js");
  cli
    .command('train')
    .description('train the GAN a config describes; writes samples, loss plot, checkpoints, report')
    .argument('<config>', 'a .yaml, .yml or .json training config')
    .option('-w, --work-dir <dir>', 'output folder (default work_dirs/<config name>)')
    .option(
      '-r, --resume [checkpoint]',
      'continue from a checkpoint (default <work-dir>/checkpoints/latest.ckpt)',
    )
    .option('-n, --iters <n>', 'override train.iters', positiveInt)
    .option('-b, --backend <name>', 'TF.js backend (tensorflow, wasm, cpu)')
    .action(
      async (
        config: string,
        o: { workDir?: string; resume?: string | boolean; iters?: number; backend?: string },
      ) => {
        await runTraining(config, o);
      },
    );
  cli
    .command('list')
    .description('list every registered loss with its options and defaults')
    .argument('[config]', 'a config whose custom_imports are imported first (user losses)')
    .option('-i, --import <module...>', 'modules to import first (user losses)')
    .option('--json', 'print JSON')
    .option('--markdown', 'print the Markdown tables of docs/custom-loss.md')
    .action(
      async (
        config: string | undefined,
        o: { import?: string[]; json?: boolean; markdown?: boolean },
      ) => {
        if (config) await importCustomOf(config);
        if (o.import) await importCustom(`${process.cwd()}/cli`, o.import);
        process.stdout.write(`${listLosses(o.json ? 'json' : o.markdown ? 'markdown' : 'text')}\n`);
      },
    );
  cli
    .command('check')
    .description('validate a config and run one training step')
    .argument('<config>', 'a .yaml, .yml or .json training config')
    .option('-b, --backend <name>', 'TF.js backend')
    .action(async (config: string, o: { backend?: string }) => {
      const log = await checkConfig(config, o.backend);
      process.stdout.write(`${config}: OK, one step: ${JSON.stringify(log)}\n`);
    });
  return cli;
}

/** Imports a config's custom_imports without validating the rest (for `genloss list`). */
async function importCustomOf(config: string): Promise<void> {
  const raw = (await loadConfigFile(config)) as { custom_imports?: unknown };
  await importCustom(config, Array.isArray(raw?.custom_imports) ? raw.custom_imports : []);
}

/** Runs the command line; genloss errors print their message and exit 1, without a stack. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    if (error instanceof GenlossError) {
      process.stderr.write(`genloss: ${error.name}: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}

// Run when executed (`genloss …`, `node dist/cli/main.js`, `tsx src/cli/main.ts`), not when imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url))
  await main();
