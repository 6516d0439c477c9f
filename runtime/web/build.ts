/**
 * Builds the web UI when its build is missing or stale, so `npm install &&
 * npm start` serves it with no separate step (the `prepare` and `prestart`
 * hooks run this; so does the browser test suite).
 *
 * Stale means: the hash of the UI's inputs (runtime/web sources, the shared
 * client and protocol it bundles, and the dependency ranges in package.json)
 * differs from the one stored in dist/.build-hash by the last build. Checking
 * costs a few milliseconds; a build about two seconds. A build goes to a
 * temporary folder and then replaces dist/, so a running server never sees a
 * half-written build.
 *
 *   tsx runtime/web/build.ts            build if stale
 *   tsx runtime/web/build.ts --force    build anyway
 *   tsx runtime/web/build.ts --check    exit 1 when stale, build nothing
 *   --soft                              report a failure but exit 0 (install hooks)
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const webRoot = dirname(fileURLToPath(import.meta.url));
export const distDir = join(webRoot, 'dist');
const repoRoot = join(webRoot, '..', '..');
const HASH_FILE = '.build-hash';

/** Files whose content decides the build. */
function inputFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(path);
    }
  };
  for (const dir of ['src', 'public']) walk(join(webRoot, dir));
  for (const dir of ['shared/client', 'shared/protocol']) walk(join(repoRoot, dir));
  files.push(join(webRoot, 'index.html'), join(webRoot, 'vite.config.ts'));
  return files.sort();
}

/** The hash of everything the build depends on. */
export function inputHash(): string {
  const hash = createHash('sha256');
  for (const file of inputFiles()) {
    if (!existsSync(file)) continue;
    hash.update(relative(repoRoot, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
  hash.update(JSON.stringify([pkg.dependencies, pkg.devDependencies]));
  return hash.digest('hex');
}

/** Whether dist/ holds a build of the current sources. */
export function isFresh(hash = inputHash()): boolean {
  try {
    return readFileSync(join(distDir, HASH_FILE), 'utf8').trim() === hash && statSync(join(distDir, 'index.html')).isFile();
  } catch {
    return false;
  }
}

export interface EnsureResult {
  built: boolean;
  ms: number;
}

/** Builds dist/ unless it is fresh (or `force`). Throws when the build fails. */
export async function ensureWebBuild(options: { force?: boolean; quiet?: boolean } = {}): Promise<EnsureResult> {
  const started = Date.now();
  const hash = inputHash();
  if (!options.force && isFresh(hash)) return { built: false, ms: Date.now() - started };

  const { build } = await import('vite');
  const temp = join(webRoot, `.dist-tmp-${process.pid}-${Date.now()}`);
  try {
    await build({
      configFile: join(webRoot, 'vite.config.ts'),
      logLevel: options.quiet ? 'error' : 'warn',
      build: { outDir: temp, emptyOutDir: true },
    });
    writeFileSync(join(temp, HASH_FILE), `${hash}\n`);
    const old = `${distDir}.old-${process.pid}-${Date.now()}`;
    if (existsSync(distDir)) renameSync(distDir, old);
    renameSync(temp, distDir);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
  return { built: true, ms: Date.now() - started };
}

async function main(args: string[]): Promise<number> {
  const soft = args.includes('--soft');
  if (args.includes('--check')) {
    const fresh = isFresh();
    console.log(fresh ? 'web UI: build is up to date' : 'web UI: build is missing or stale');
    return fresh ? 0 : 1;
  }
  const force = args.includes('--force');
  if (!force && isFresh()) return 0; // the common case: nothing to do, and vite is never loaded
  try {
    await import('vite');
  } catch {
    // A production install (npm ci --omit=dev) has no build tools: serve whatever dist/ holds.
    console.warn('web UI: vite is not installed (production install?); skipping the build');
    return 0;
  }
  try {
    const result = await ensureWebBuild({ force });
    if (result.built) console.log(`web UI: built runtime/web/dist in ${(result.ms / 1000).toFixed(1)} s`);
    return 0;
  } catch (error) {
    console.error(`web UI: the build failed: ${error instanceof Error ? error.message : String(error)}`);
    if (soft) {
      console.error('web UI: continuing without it; the API works, / shows a notice (npm run build:web to retry)');
      return 0;
    }
    return 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
