/**
 * Serves the web UI (runtime/web, built into runtime/web/dist) at `/` when
 * CONCLAVE_WEB_UI is true: static files, and index.html for every other GET
 * that wants HTML (client-side routes such as /c/<id>), so a reload or a
 * shared link works. It never answers under /api or /v1: those stay the API's,
 * including its JSON 404s.
 *
 * Caching: files under /assets/ have content hashes in their names and are
 * cached for a year (immutable); index.html and the other files are
 * revalidated on every load (no-cache), so a new build is picked up at once.
 * dist/ is read from disk on each request, so a rebuild needs no restart.
 *
 * The build is made by `npm install` / `npm start` (runtime/web/build.ts).
 * Without one, `/` answers 503 with a page that says how to build it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';

export const WEB_DIST = fileURLToPath(new URL('../web/dist', import.meta.url));

const API_PREFIX = /^\/(api|v1)(\/|$)/;
const ONE_YEAR = 'public, max-age=31536000, immutable';
const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  // The sign-in link carries ?token=…; never send it to another site.
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
};

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conclave</title><body style="font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem">
<h1>The web UI is not built</h1><p>The API is running at <code>/api</code>. Build the UI with <code>npm run build:web</code>
(<code>npm install</code> and <code>npm start</code> do it for you when the build tools are installed), then reload.</p></body></html>`;

export function webUi(options: { enabled: boolean; distDir?: string }): express.RequestHandler {
  const router = express.Router();
  if (!options.enabled) return router;
  const dist = options.distDir ?? WEB_DIST;
  const index = join(dist, 'index.html');

  const isUiRequest = (req: Request) => (req.method === 'GET' || req.method === 'HEAD') && !API_PREFIX.test(req.path);

  router.use((req: Request, res: Response, next: NextFunction) => {
    if (!isUiRequest(req)) return next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    next();
  });

  const serveStatic = express.static(dist, {
    index: false,
    dotfiles: 'ignore',
    fallthrough: true,
    setHeaders(res, path) {
      res.setHeader('Cache-Control', path.startsWith(join(dist, 'assets')) ? ONE_YEAR : 'no-cache');
    },
  });
  router.use((req: Request, res: Response, next: NextFunction) => (isUiRequest(req) ? serveStatic(req, res, next) : next()));

  // SPA fallback: client routes get index.html. Paths that look like files (an
  // extension in the last segment) and non-HTML requests fall through to a 404.
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (!isUiRequest(req) || /\.[a-z0-9]+$/i.test(req.path) || !req.accepts('html')) return next();
    if (!existsSync(index)) {
      res.status(503).setHeader('Cache-Control', 'no-cache').type('html').send(NOT_BUILT);
      return;
    }
    res.sendFile(index, { headers: { 'Cache-Control': 'no-cache' }, dotfiles: 'deny' }, (error) => {
      if (error && !res.headersSent) next(error);
    });
  });
  return router;
}
