/**
 * `npm run playground`: bundles the playground page (playground/main.ts, with genloss's sources)
 * with esbuild and serves it cross-origin isolated (`serveIsolated`), with TF.js's wasm files and
 * the shipped configs, on 127.0.0.1:8417 (`--port N` or `PLAYGROUND_PORT` for another port,
 * `--host H` for another interface), and prints the URL. Run from a checkout: esbuild, which
 * bundles the page, is a devDependency.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { type IsolatedServer, serveIsolated } from './isolated-server.ts';

/** The port `npm run playground` serves on unless told another. */
export const PLAYGROUND_PORT = 8417;

const root = fileURLToPath(new URL('../', import.meta.url));
const pageDir = join(root, 'playground');
const configDir = join(root, 'configs');

/** The playground's script: playground/main.ts and what it imports, as one ES module. */
export async function bundlePlayground(): Promise<string> {
  const bundled = await build({
    entryPoints: [join(pageDir, 'main.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return bundled.outputFiles[0].text;
}

/**
 * Bundles and serves the playground: the page, its script and style, TF.js's wasm files under
 * `/wasm/`, the shipped configs under `/configs/` and their names at `/configs/index.json`.
 */
export async function servePlayground(
  options: { port?: number; host?: string } = {},
): Promise<IsolatedServer> {
  const script = await bundlePlayground();
  return serveIsolated(
    {
      '/': () => readFileSync(join(pageDir, 'index.html')),
      '/style.css': () => readFileSync(join(pageDir, 'style.css')),
      '/main.js': script,
      '/wasm/': { dir: join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist') },
      '/configs/index.json': () =>
        JSON.stringify(
          readdirSync(configDir)
            .filter((f) => /\.ya?ml$/.test(f))
            .sort(),
        ),
      '/configs/': { dir: configDir },
    },
    options,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } },
  });
  const given = values.port ?? process.env.PLAYGROUND_PORT;
  const port = given === undefined ? PLAYGROUND_PORT : Number(given);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(
      `playground: --port (or PLAYGROUND_PORT) must be an integer in [0, 65535], got '${given}'`,
    );
  }
  console.log('genloss playground: bundling the page…');
  const server = await servePlayground({ port, host: values.host });
  console.log(`genloss playground: ${server.url} (Ctrl-C stops)`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error((error as Error).message);
    process.exit(1);
  });
}
