import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import YAML from 'yaml';
import { z } from 'zod';
import { chooseBackend } from '../../src/core/backend.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { parseOptions } from '../../src/core/options.ts';
import { styleGAN2LossConfig } from '../../src/models/gan-with-customized-loss.ts';
import { inpaintorOptions } from '../../src/models/inpaintor.ts';
import { mattorOptions } from '../../src/models/matting.ts';
import { optimizerOptions } from '../../src/models/optimizers.ts';
import { restorerOptions } from '../../src/models/restorer.ts';
import { importCustom, loadTrainConfig } from '../../src/node/train-config.ts';
import { NET_TYPES, netOptions } from '../../src/train/architectures.ts';
import { ganTrainModelOptions, MODEL_KINDS, trainConfigOptions } from '../../src/train/config.ts';
import { degradationOptions, maskOptions } from '../../src/train/paired-data.ts';

const repoRoot = new URL('../..', import.meta.url).pathname;
const fixture = YAML.parse(
  readFileSync(new URL('../fixtures/tiny-train.yaml', import.meta.url), 'utf8'),
) as Record<string, Record<string, unknown>>;

/** A fresh folder `root` with a `cfg/` folder for config files inside it. */
function workspace(): { root: string; cfgDir: string } {
  const root = mkdtempSync(join(tmpdir(), 'genloss-train-config-'));
  const cfgDir = join(root, 'cfg');
  mkdirSync(cfgDir);
  return { root, cfgDir };
}

/** Writes the tiny training config, changed by `edit`, to `dir/config.yaml`; returns its path. */
function writeConfig(dir: string, edit: (cfg: Record<string, Record<string, unknown>>) => void) {
  const cfg = structuredClone(fixture);
  edit(cfg);
  const path = join(dir, 'config.yaml');
  writeFileSync(path, YAML.stringify(cfg));
  return path;
}

/** A module that leaves `marker` behind if it ever runs. */
function markerModule(path: string, marker: string): string {
  writeFileSync(
    path,
    `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\n`,
  );
  return path;
}

/** Loads `path`, expecting a `ConfigError`; returns its message. */
async function configError(load: Promise<unknown>): Promise<string> {
  try {
    await load;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, got ${error}`);
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

const quiet = { log: () => {} };

describe('loadTrainConfig: an error names the key path, the choices there and the closest', () => {
  test('a typo in train: the path train.itres, a suggestion, and train’s keys (not the top level’s)', async () => {
    const { cfgDir } = workspace();
    const path = writeConfig(cfgDir, (cfg) => {
      cfg.train.itres = cfg.train.iters;
      delete cfg.train.iters;
    });
    const message = await configError(loadTrainConfig(path, quiet));
    assert.match(message, /unknown option 'train\.itres'\. Did you mean 'iters'\?/);
    assert.match(
      message,
      /Known options in 'train': iters, batch_size, seed, log_interval, sample_interval, checkpoint_interval, num_samples/,
    );
    assert.doesNotMatch(message, /custom_imports/);
  });

  test("data.type outside the discriminated union lists 'shapes'|'folder' and suggests", async () => {
    const { cfgDir } = workspace();
    const images = writeConfig(cfgDir, (cfg) => {
      cfg.data = { type: 'images' };
    });
    assert.match(
      await configError(loadTrainConfig(images, quiet)),
      /option 'data\.type' must be one of 'shapes'\|'folder', got 'images'$/,
    );
    const shape = writeConfig(cfgDir, (cfg) => {
      cfg.data = { type: 'shape' };
    });
    assert.match(await configError(loadTrainConfig(shape, quiet)), /Did you mean 'shapes'\?/);
  });

  test('a key of the folder form is checked against the folder form’s keys', async () => {
    const { cfgDir } = workspace();
    const path = writeConfig(cfgDir, (cfg) => {
      cfg.data = { type: 'folder', path: 'images', sise: 16 };
    });
    assert.match(
      await configError(loadTrainConfig(path, quiet)),
      /unknown option 'data\.sise'\. Did you mean 'size'\? Known options in 'data': type, path, size/,
    );
  });

  test('an optimizer type typo: its path, the optimizer types and the closest', async () => {
    const { cfgDir } = workspace();
    const path = writeConfig(cfgDir, (cfg) => {
      (cfg.model.optimizers as Record<string, Record<string, unknown>>).generator.type = 'Adamw';
    });
    assert.match(
      await configError(loadTrainConfig(path, quiet)),
      /option 'model\.optimizers\.generator\.type' must be one of 'Adam'\|'SGD'\|'RMSprop', got 'Adamw'\. Did you mean 'Adam'\?/,
    );
  });

  test('a network option typo is reported at load with its path; every architecture loads', async () => {
    const { cfgDir } = workspace();
    const path = writeConfig(cfgDir, (cfg) => {
      (cfg.model.generator as Record<string, unknown>).nosie_size = 8;
    });
    assert.match(
      await configError(loadTrainConfig(path, quiet)),
      /unknown option 'model\.generator\.nosie_size'\. Did you mean 'noise_size'/,
    );
    for (const type of NET_TYPES) {
      const ok = writeConfig(cfgDir, (cfg) => {
        cfg.model.discriminator = { type };
      });
      await loadTrainConfig(ok, quiet);
    }
  });

  test('an unknown backend names the key, the backends and the closest', async () => {
    const { cfgDir } = workspace();
    const path = writeConfig(cfgDir, (cfg) => {
      cfg.backend = 'wsam' as never;
    });
    assert.match(
      await configError(loadTrainConfig(path, quiet)),
      /option 'backend' must be one of 'tensorflow'\|'wasm'\|'cpu'\|'webgl', got 'wsam'\. Did you mean 'wasm'\?/,
    );
  });

  test('a backend that cannot start: the backend key, the registered backends, how to get tensorflow', async () => {
    const registered = Object.keys(tf.engine().registryFactory);
    const message = await configError(chooseBackend('wsam'));
    assert.match(message, /backend 'wsam' \(requested\) is not available; registered: .*wasm/);
    assert.match(message, /Did you mean 'wasm'\?/);
    assert.match(message, /Set the config's 'backend' key or --backend to one of them/);
    if (!registered.includes('tensorflow')) {
      assert.match(message, /npm install @tensorflow\/tfjs-node/);
      const tensorflow = await chooseBackend('tensorflow').then(
        () => null,
        (e: Error) => e,
      );
      if (tensorflow) {
        assert.ok(tensorflow instanceof ConfigError);
        assert.match(tensorflow.message, /'tensorflow' \(requested\) is not available/);
        assert.match(tensorflow.message, /npm install @tensorflow\/tfjs-node/);
      }
    }
  });

  test('a value that fits none of a union’s forms lists the forms', async () => {
    const { cfgDir } = workspace();
    const path = writeConfig(cfgDir, (cfg) => {
      cfg.model.disc_auxiliary_loss = 3 as never;
    });
    assert.match(
      await configError(loadTrainConfig(path, quiet)),
      /option 'model\.disc_auxiliary_loss' must be one of these forms: \{type, …\} \| a list of \{type, …\} \| null, got 3/,
    );
  });

  test('a loss type is checked after the imports, with its path and the closest registered', async () => {
    const { cfgDir } = workspace();
    const path = writeConfig(cfgDir, (cfg) => {
      (cfg.model.disc_auxiliary_loss as Record<string, unknown>[])[1].type = 'DiscShiftLossComp';
    });
    assert.match(
      await configError(loadTrainConfig(path, quiet)),
      /option 'model\.disc_auxiliary_loss\[1\]\.type' must be a registered loss, got 'DiscShiftLossComp'\. Did you mean 'DiscShiftLossComps'/,
    );
    const example = new URL('../../examples/custom-loss/custom-gan.yaml', import.meta.url).pathname;
    const { cfg } = await loadTrainConfig(example, quiet);
    assert.deepEqual(cfg.custom_imports, ['./my-disc-shift.ts']);
  });

  test('a good config loads with its defaults', async () => {
    const { cfgDir } = workspace();
    const { raw, cfg } = await loadTrainConfig(
      writeConfig(cfgDir, () => {}),
      quiet,
    );
    assert.deepEqual(raw, fixture);
    assert.equal(cfg.train.iters, 5);
    assert.deepEqual(cfg.custom_imports, []);
  });
});

describe('parseOptions: nested schemas', () => {
  const schema = z.strictObject({
    items: z
      .array(
        z.discriminatedUnion('kind', [
          z.strictObject({ kind: z.literal('a'), size: z.int().default(1) }),
          z.strictObject({ kind: z.literal('b'), width: z.number() }),
        ]),
      )
      .default([]),
    mode: z.enum(['fast', 'slow']).optional(),
  });

  test('an unknown key inside a list of a discriminated union: its path and its form’s keys', () => {
    assert.throws(
      () => parseOptions('Owner', schema, { items: [{ kind: 'a' }, { kind: 'b', widht: 2 }] }),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message.includes(
          "Owner: unknown option 'items[1].widht'. Did you mean 'width'? Known options in 'items[1]': kind, width",
        ),
    );
  });

  test('flat messages keep their shape', () => {
    assert.throws(
      () => parseOptions('Owner', schema, { mdoe: 'fast' }),
      (e: Error) =>
        e.message ===
        "Owner: unknown option 'mdoe'. Did you mean 'mode'? Known options: items, mode",
    );
    assert.throws(
      () => parseOptions('Owner', schema, { mode: 'fats' }),
      (e: Error) =>
        e.message ===
        "Owner: option 'mode' must be one of 'fast'|'slow', got 'fats'. Did you mean 'fast'?",
    );
  });
});

describe('custom_imports', () => {
  test('absolute paths, ../ out of the folder, links out, and URLs are refused without running', async () => {
    const { root, cfgDir } = workspace();
    const marker = join(root, 'ran');
    const outside = markerModule(join(root, 'outside.mjs'), marker);
    symlinkSync(outside, join(cfgDir, 'link.mjs'));
    const refused: [string, RegExp][] = [
      [outside, /custom_imports\[0\]: '.*outside\.mjs' is an absolute path/],
      [
        '../outside.mjs',
        /custom_imports\[0\]: '\.\.\/outside\.mjs' resolves to .*outside\.mjs, outside the config's folder/,
      ],
      ['sub/../../outside.mjs', /outside the config's folder/],
      ['./link.mjs', /custom_imports\[0\]: '\.\/link\.mjs' is a link to .*outside\.mjs/],
      [pathToFileURL(outside).href, /custom_imports\[0\]: 'file:.*' is a URL/],
      [
        `data:text/javascript,import{writeFileSync}from'node:fs';writeFileSync(${JSON.stringify(marker)},'ran')`,
        /custom_imports\[0\]: 'data:text\/javascript,.*' is a URL/,
      ],
      ['node:fs', /is a URL/],
      ['https://example.com/x.js', /is a URL/],
      ['not a package', /'not a package' is not a package name/],
    ];
    for (const [spec, want] of refused) {
      const path = writeConfig(cfgDir, (cfg) => {
        cfg.custom_imports = [spec] as never;
      });
      assert.match(await configError(loadTrainConfig(path, quiet)), want, spec);
      assert.equal(existsSync(marker), false, `${spec} ran`);
    }
  });

  test('the config is validated before any import runs', async () => {
    const { cfgDir } = workspace();
    const marker = join(cfgDir, 'ran');
    markerModule(join(cfgDir, 'losses.mjs'), marker);
    const path = writeConfig(cfgDir, (cfg) => {
      cfg.custom_imports = ['./losses.mjs'] as never;
      cfg.train.iters = 0;
    });
    assert.match(
      await configError(loadTrainConfig(path, quiet)),
      /option 'train\.iters' must be >= 1, got 0/,
    );
    assert.equal(existsSync(marker), false);
  });

  test('every name is checked before the first module runs', async () => {
    const { cfgDir } = workspace();
    const marker = join(cfgDir, 'ran');
    markerModule(join(cfgDir, 'losses.mjs'), marker);
    const message = await configError(
      importCustom(join(cfgDir, 'config.yaml'), ['./losses.mjs', './missing.mjs'], quiet),
    );
    assert.match(message, /custom_imports\[1\]: \.\/missing\.mjs not found/);
    assert.equal(existsSync(marker), false);
  });

  test('a missing file names the entry and the path looked for; a folder is not a module', async () => {
    const { cfgDir } = workspace();
    const config = join(cfgDir, 'config.yaml');
    assert.equal(
      await configError(importCustom(config, ['./x.js'], quiet)),
      `custom_imports[0]: ./x.js not found (looked for ${join(cfgDir, 'x.js')})`,
    );
    mkdirSync(join(cfgDir, 'dir.js'));
    assert.match(
      await configError(importCustom(config, ['dir.js'], quiet)),
      /custom_imports\[0\]: dir\.js is not a regular file/,
    );
    assert.match(
      await configError(importCustom(config, [3], quiet)),
      /custom_imports\[0\] must be a string, got 3/,
    );
  });

  test('a module that throws is wrapped with its index, its name and its message', async () => {
    const { cfgDir } = workspace();
    writeFileSync(join(cfgDir, 'ok.mjs'), 'export {};\n');
    writeFileSync(join(cfgDir, 'bad.mjs'), "throw new RangeError('boom');\n");
    await assert.rejects(
      importCustom(join(cfgDir, 'config.yaml'), ['./ok.mjs', './bad.mjs'], quiet),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message === 'custom_imports[1] (./bad.mjs): the module threw: RangeError: boom' &&
        e.cause instanceof RangeError,
    );
  });

  test('files in the folder tree and package names are imported, each announced first', async () => {
    const { cfgDir } = workspace();
    const marker = join(cfgDir, 'ran');
    mkdirSync(join(cfgDir, 'sub'));
    markerModule(join(cfgDir, 'sub', 'losses.mjs'), marker);
    const lines: string[] = [];
    await importCustom(join(cfgDir, 'config.yaml'), ['sub/losses.mjs', 'yaml'], {
      log: (line) => lines.push(line),
    });
    assert.equal(existsSync(marker), true);
    assert.deepEqual(lines, [
      'genloss: importing custom_imports[0] sub/losses.mjs (runs code from the config)',
      'genloss: importing custom_imports[1] yaml (runs code from the config)',
    ]);
    assert.match(
      await configError(
        importCustom(join(cfgDir, 'config.yaml'), ['genloss-no-such-package/x'], quiet),
      ),
      /custom_imports\[0\]: cannot find package 'genloss-no-such-package\/x' .*npm install genloss-no-such-package$/,
    );
    assert.match(
      await configError(
        importCustom(join(cfgDir, 'config.yaml'), ['/abs.js'], { ...quiet, key: '--import' }),
      ),
      /^--import\[0\]: '\/abs\.js' is an absolute path/,
    );
  });

  test('a module that never finishes loading times out instead of exiting 13 silently', () => {
    // An unsettled top-level await is process-wide: run it in a child process.
    const { cfgDir } = workspace();
    writeFileSync(join(cfgDir, 'hang.mjs'), 'await new Promise(() => {});\n');
    const script = join(cfgDir, 'run.mts');
    writeFileSync(
      script,
      [
        `import { importCustom } from ${JSON.stringify(join(repoRoot, 'src/node/train-config.ts'))};`,
        'try {',
        `  await importCustom(${JSON.stringify(join(cfgDir, 'config.yaml'))}, ['./hang.mjs'], { timeoutMs: 200 });`,
        '} catch (e) {',
        "  process.stderr.write(e.name + ': ' + e.message + '\\n');",
        '  process.exitCode = 1;',
        '}',
      ].join('\n'),
    );
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(child.status, 1, child.stderr);
    assert.equal(
      child.stderr,
      'genloss: importing custom_imports[0] ./hang.mjs (runs code from the config)\n' +
        'ConfigError: custom_imports[0] (./hang.mjs) did not finish loading within 0.2 s (a top-level await that never settles?)\n',
    );
  });
});

describe('docs/config.md', () => {
  const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');

  test('documents every key of every section, from the schemas', () => {
    const { data, train } = trainConfigOptions.shape;
    const kinds = [ganTrainModelOptions, restorerOptions, inpaintorOptions, mattorOptions] as const;
    const sections: Record<string, string[]> = {
      top: Object.keys(trainConfigOptions.shape),
      model: kinds.flatMap((o) => Object.keys(o.shape)),
      model_types: Object.keys(MODEL_KINDS),
      nets: netOptions.options.flatMap((o) => Object.keys(o.shape)),
      net_types: NET_TYPES,
      degradation: degradationOptions.options.flatMap((o) => [
        ...Object.keys(o.shape),
        o.shape.type.value,
      ]),
      masks: Object.keys(maskOptions.shape),
      loss_config: Object.keys(styleGAN2LossConfig.shape),
      optimizers: optimizerOptions.options.flatMap((o) => [
        ...Object.keys(o.shape),
        o.shape.type.value,
      ]),
      data: data.options.flatMap((o) => [...Object.keys(o.shape), o.shape.type.value]),
      train: Object.keys(train.shape),
    };
    for (const [section, keys] of Object.entries(sections)) {
      for (const key of keys) assert.ok(doc.includes(`\`${key}\``), `${section}: ${key}`);
    }
  });

  test('its example config is valid', async () => {
    const { cfgDir } = workspace();
    const example = YAML.parse(doc.match(/```yaml\n([\s\S]*?)```/)?.[1] ?? '');
    delete example.custom_imports;
    const path = join(cfgDir, 'example.yaml');
    writeFileSync(path, YAML.stringify(example));
    await loadTrainConfig(path, quiet);
  });
});
