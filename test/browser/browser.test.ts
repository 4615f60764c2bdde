/**
 * genloss in headless Chromium (`@sparticuz/chromium`, installed from the npm registry with
 * `npm ci`; `CHROMIUM_PATH` names another binary, and Debian's `/usr/bin/chromium` is tried when
 * that one cannot start), driven by `puppeteer-core`. test/browser/page.ts is bundled with
 * esbuild and served with the wasm files and test/reference/ by a local server that sets the
 * COOP/COEP headers, in Chromium started without `--single-process` (so the page is cross-origin
 * isolated and the wasm backend runs TF.js's threaded SIMD binary with a thread per logical core,
 * which the suite asserts). On the `wasm` and `webgl` backends the page runs the PyTorch reference
 * cases of the loss families, `checkSecondOrder` on every case of test/autodiff/cases.ts and on a
 * small conv discriminator, the penalties (GP, R1, path length) against the `cpu` backend, and
 * training steps of the demo GAN; after each, `tf.memory().numTensors` is where it was. Where no
 * Chromium starts, the suite is skipped with one line saying why.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'puppeteer-core';
import { parse } from 'yaml';
import { launchChromium } from '../../scripts/chromium.ts';
import { type IsolatedServer, serveIsolated } from '../../scripts/isolated-server.ts';
import { CASES } from '../autodiff/cases.ts';
import type { Outcome, PageApi } from './page.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const referenceDir = join(root, 'test/reference');
const wasmDir = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');

/**
 * The reference files the page checks, each as the Node suite does (test/helpers/*-cases.ts;
 * format in test/reference/README.md); of perceptual.json, the PerceptualLoss cases.
 */
const REFERENCE_FILES = [
  'pixelwise.json',
  'composition.json',
  'gradient.json',
  'robust.json',
  'focal_frequency.json',
  'lpips_dists.json',
  'ssim.json',
  'gan.json',
  'relativistic.json',
  'basicsr.json',
  'perceptual/perceptual.json',
  'penalties.json',
  'penalties_peers.json',
  'adv.json',
] as const;

/** Reference files with fused kernels on wasm: also checked through the op chains there. */
const FUSED_FILES = new Set(['pixelwise.json', 'composition.json', 'gradient.json']);

/**
 * Reference files left out on WebGL, with why: SwiftShader (Chromium's software WebGL) runs
 * convolutions at about 0.3 GMAC/s and compiles a shader per op and shape.
 */
const WEBGL_SKIPS: Record<string, string> = {
  'focal_frequency.json': "TF.js's webgl backend has no Where (select) for rank 5",
  'lpips_dists.json': 'its 14 cases did not end within 8 minutes on SwiftShader',
};

/** `GENLOSS_BROWSER_WEBGL=all`: run on WebGL what the suite leaves out there for time. */
const WEBGL_ALL = process.env.GENLOSS_BROWSER_WEBGL === 'all';

/**
 * Reference files that pass on WebGL but take long there (SwiftShader compiles a shader per op
 * and shape; times measured in this suite on 2 cores), run with `GENLOSS_BROWSER_WEBGL=all`.
 */
const WEBGL_SLOW: Record<string, string> = {
  'ssim.json': '442 s on SwiftShader (GENLOSS_BROWSER_WEBGL=all runs it)',
  'gan.json': '44 s on SwiftShader (GENLOSS_BROWSER_WEBGL=all runs it)',
  'basicsr.json': '43 s on SwiftShader (GENLOSS_BROWSER_WEBGL=all runs it)',
  'perceptual/perceptual.json': '203 s on SwiftShader (GENLOSS_BROWSER_WEBGL=all runs it)',
  'penalties.json': '151 s on SwiftShader (GENLOSS_BROWSER_WEBGL=all runs it)',
  'penalties_peers.json': '50 s on SwiftShader (GENLOSS_BROWSER_WEBGL=all runs it)',
};

/**
 * The kernel cases of test/autodiff/cases.ts that `checkSecondOrder` runs on WebGL (all 21 with
 * `GENLOSS_BROWSER_WEBGL=all`): one of each gradient that once failed to compile there.
 */
const WEBGL_KERNEL_CASES = ['avgPool 3x3 s2 same', 'maxPool 3x3 s1 same', 'stridedSlice strided'];

/** Worst relative error of `checkSecondOrder` allowed on a kernel (as test/autodiff/kernels.test.ts). */
const SECOND_ORDER_TOLERANCE = 2e-3;

/**
 * The same for the conv discriminator (step 1e-3, 6 entries per input): measured 6.5e-4 on cpu and
 * 1.0e-2 on wasm, whose float32 rounding the finite differences amplify (1.5e-2 with a 5e-4
 * step); a wrong or missing gradient gives 1e-1 or more.
 */
const NETWORK_TOLERANCE = 3e-2;

/** Calls the page's API (test/browser/page.ts) by name with JSON arguments. */
function call<K extends keyof PageApi>(
  page: Page,
  name: K,
  ...args: Parameters<PageApi[K]>
): Promise<Awaited<ReturnType<PageApi[K]>>> {
  return page.evaluate(
    (n, a) =>
      (
        globalThis as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>
      ).genlossPage[n](...a),
    name as string,
    args as unknown[],
  ) as Promise<Awaited<ReturnType<PageApi[K]>>>;
}

/** Asserts that every check of `o` passed and that it left no tensor behind. */
function assertOutcome(o: Outcome, what: string): void {
  assert.deepEqual(o.failures, [], `${what}: failures`);
  assert.equal(o.passed, o.total, `${what}: passed`);
  assert.equal(o.leaked, 0, `${what}: tensors left in the page (tf.memory().numTensors)`);
}

/** The demo GAN's config (configs/demo.yaml) made small: 8×8 images, few channels, R1 every 2. */
function smallDemoConfig(steps: number) {
  const demo = parse(readFileSync(join(root, 'configs/demo.yaml'), 'utf8'));
  const { model } = demo;
  return {
    ...demo,
    model: {
      ...model,
      generator: { ...model.generator, noise_size: 8, out_size: 8, base_channels: 8 },
      discriminator: { ...model.discriminator, in_size: 8, base_channels: 4 },
      disc_auxiliary_loss: model.disc_auxiliary_loss.map((l: { type: string }) =>
        l.type === 'R1GradientPenaltyComps' ? { ...l, interval: 2 } : l,
      ),
    },
    data: { ...demo.data, num_images: 16, size: 8 },
    train: { ...demo.train, iters: steps, batch_size: 4, num_samples: 4 },
  };
}

const started = await (async () => {
  try {
    return await launchChromium({ isolated: true });
  } catch (error) {
    return error as Error;
  }
})();

if (started instanceof Error) {
  test(`browser suite: skipped, no Chromium could start (${started.message})`, { skip: true });
} else {
  await browserSuite(started);
}

async function browserSuite(browser: Browser): Promise<void> {
  let page: Page;
  let server: IsolatedServer;
  const errors: string[] = [];

  before(async () => {
    const bundled = await build({
      entryPoints: [join(root, 'test/browser/page.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    server = await serveIsolated({
      '/': '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>',
      '/page.js': bundled.outputFiles[0].text,
      '/wasm/': { dir: wasmDir },
      '/reference/': { dir: referenceDir },
    });
    page = await browser.newPage();
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(server.url);
    await page.waitForFunction(() => 'genlossPage' in globalThis);
  });

  after(async () => {
    await browser.close();
    await server?.close();
  });

  test('the page loads without errors, cross-origin isolated', async () => {
    assert.deepEqual(errors, []);
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true);
  });

  for (const backend of ['wasm', 'webgl']) {
    describe(`in Chromium on ${backend}`, () => {
      before(async () => {
        assert.equal(await call(page, 'useBackend', backend), backend);
      });

      if (backend === 'wasm') {
        test("wasm: the page runs TF.js's threaded SIMD binary on every logical core", async () => {
          // scripts/page-wasm.ts lifts TF.js's cap of hardwareConcurrency / 2 threads.
          const info = await call(page, 'wasmInfo');
          console.log(`wasm in the page: ${JSON.stringify(info)}`);
          assert.equal(info.multithreadSupport, true);
          assert.equal(info.simdSupport, true);
          assert.deepEqual(info.binaries, ['tfjs-backend-wasm-threaded-simd.wasm']);
          assert.equal(info.threads, Math.min(info.hardwareConcurrency, 8));
        });
      }

      for (const file of REFERENCE_FILES) {
        const why =
          backend === 'webgl'
            ? (WEBGL_SKIPS[file] ?? (WEBGL_ALL ? undefined : WEBGL_SLOW[file]))
            : undefined;
        if (why) {
          test(`${backend}: ${file} skipped: ${why}`, { skip: true });
          continue;
        }
        const chains = [false, ...(backend === 'wasm' && FUSED_FILES.has(file) ? [true] : [])];
        for (const opChains of chains) {
          const how = opChains ? ', op chains (fused kernels unregistered)' : '';
          test(`${backend}: ${file}: every case within tolerance${how}`, async () => {
            const o = await call(page, 'referenceFile', file, { opChains });
            console.log(`${backend}: ${file}${how}: ${o.passed}/${o.total} checks passed`);
            assertOutcome(o, file);
          });
        }
      }

      const someKernels = backend === 'webgl' && !WEBGL_ALL;
      const kernels = someKernels
        ? `the kernel cases ${WEBGL_KERNEL_CASES.join(', ')}`
        : 'every kernel case';
      test(`${backend}: checkSecondOrder on ${kernels} and a conv discriminator with leaky ReLU`, async () => {
        // The discriminator runs the kernels a gradient penalty differentiates (conv, its two
        // gradients, leaky ReLU, mean, matMul).
        const skip = someKernels
          ? CASES.map((c) => c.name).filter((name) => !WEBGL_KERNEL_CASES.includes(name))
          : [];
        const o = await call(page, 'secondOrder', SECOND_ORDER_TOLERANCE, NETWORK_TOLERANCE, skip);
        const worst = Object.entries(o.measured).sort((a, b) => b[1] - a[1])[0];
        console.log(
          `${backend}: worst second-order error ${worst[1].toExponential(1)} (${worst[0]})`,
        );
        assertOutcome(o, 'checkSecondOrder');
      });

      test(`${backend}: GP, R1 and path length with their weight gradients match the cpu backend`, async () => {
        assertOutcome(await call(page, 'penalties'), 'penalties');
      });

      const steps = backend === 'webgl' ? 2 : 4;
      test(`${backend}: ${steps} training steps of the demo GAN (configs/demo.yaml, 8×8), finite losses`, async () => {
        const o = await call(page, 'train', smallDemoConfig(steps), steps, 8);
        assertOutcome(o, 'demo GAN');
      });
    });
  }
}
