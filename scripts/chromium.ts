/**
 * Headless Chromium for the browser tests and the browser benchmark, driven by `puppeteer-core`:
 * `CHROMIUM_PATH` if set, else `@sparticuz/chromium` (its binary ships in the npm package, so
 * `npm ci` is all the set-up), else Debian's `/usr/bin/chromium`.
 */
import { existsSync } from 'node:fs';
import chromium from '@sparticuz/chromium';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Options of {@link launchChromium}. */
export interface LaunchOptions {
  /**
   * Leave out `--single-process` from `@sparticuz/chromium`'s flags, so that pages served with
   * COOP/COEP are cross-origin isolated (`crossOriginIsolated`; SharedArrayBuffer can be posted
   * to workers, which TF.js's threaded wasm needs): in one process, Chromium cannot give the page
   * a process of its own, and keeps `crossOriginIsolated` false whatever the headers say.
   */
  isolated?: boolean;
}

/** Starts headless Chromium from the first candidate that starts; the error lists each failure. */
export async function launchChromium({ isolated = false }: LaunchOptions = {}): Promise<Browser> {
  const args = isolated ? chromium.args.filter((a) => a !== '--single-process') : chromium.args;
  const tried: string[] = [];
  const candidates: [string, () => Promise<string>][] = [
    ['CHROMIUM_PATH', async () => process.env.CHROMIUM_PATH ?? ''],
    ['@sparticuz/chromium', () => chromium.executablePath()],
    ['/usr/bin/chromium', async () => '/usr/bin/chromium'],
  ];
  for (const [name, path] of candidates) {
    try {
      const executablePath = await path();
      if (!executablePath || !existsSync(executablePath)) continue;
      return await puppeteer.launch({
        executablePath,
        args,
        headless: true,
        protocolTimeout: 600_000,
      });
    } catch (error) {
      tried.push(`${name}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(tried.length > 0 ? tried.join('; ') : 'no Chromium binary found');
}
