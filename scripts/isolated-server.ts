/**
 * A small static HTTP server whose every response carries the COOP/COEP headers
 * (`Cross-Origin-Opener-Policy: same-origin`, `Cross-Origin-Embedder-Policy: require-corp`), so
 * the page it serves is cross-origin isolated and TF.js's threaded SIMD wasm can run there. Used
 * by the browser tests, the browser benchmark and `npm run playground`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.yaml': 'text/yaml; charset=utf-8',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
};

/**
 * What a path serves: a string or bytes (an exact path, e.g. `'/'` or `'/page.js'`), a function
 * returning them (called per request), or `{dir}` (a path prefix ending in `/`, mapped onto the
 * files of a folder; nothing outside it is served).
 */
export type Route = string | Uint8Array | (() => string | Uint8Array) | { dir: string };

/** A running server and its base URL (`http://127.0.0.1:<port>/`). */
export interface IsolatedServer {
  server: Server;
  url: string;
  /** Stops listening. */
  close(): Promise<void>;
}

function resolve(routes: Record<string, Route>, path: string): string | Uint8Array | null {
  const exact = routes[path];
  if (exact !== undefined && !(typeof exact === 'object' && 'dir' in exact)) {
    return typeof exact === 'function' ? exact() : exact;
  }
  for (const [prefix, route] of Object.entries(routes)) {
    if (!prefix.endsWith('/') || !path.startsWith(prefix)) continue;
    if (typeof route !== 'object' || !('dir' in route)) continue;
    const full = normalize(join(route.dir, path.slice(prefix.length)));
    if (full.startsWith(normalize(route.dir)) && existsSync(full) && statSync(full).isFile()) {
      return readFileSync(full);
    }
  }
  return null;
}

/**
 * Serves `routes` cross-origin isolated on `host:port` (port 0: any free port). The content type
 * follows the path's extension (`text/html` for a path without one).
 */
export async function serveIsolated(
  routes: Record<string, Route>,
  { port = 0, host = '127.0.0.1' }: { port?: number; host?: string } = {},
): Promise<IsolatedServer> {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    let body: string | Uint8Array | null;
    try {
      body = resolve(routes, path);
    } catch (error) {
      response.writeHead(500, { 'Content-Type': 'text/plain' });
      response.end(String((error as Error).message));
      return;
    }
    response.writeHead(body === null ? 404 : 200, {
      'Content-Type': CONTENT_TYPES[extname(path) || '.html'] ?? 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    });
    response.end(body ?? 'not found');
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, done);
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host}:${address.port}/`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
