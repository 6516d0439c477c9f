/**
 * Starts a real runtime for a test file: a throwaway data directory, port 0,
 * PGlite in memory or a fresh database on the test PostgreSQL server, and the
 * memory or Redis event log. Returns a small fetch helper that speaks JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../runtime/config/index.js';
import { startRuntime, type RuntimeHandle, type StartOptions } from '../../runtime/server.js';
import { createTestDatabase, serviceUrl } from './services.js';

export interface TestRuntimeOptions {
  database?: 'pglite' | 'postgres';
  eventLog?: 'memory' | 'redis';
  env?: Record<string, string>;
  engine?: StartOptions['engine'];
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface TestRuntime {
  url: string;
  token: string;
  handle: RuntimeHandle;
  /** JSON request with the root token unless `token` is given (null: no Authorization). */
  api<T = any>(method: string, path: string, options?: { body?: unknown; token?: string | null; headers?: Record<string, string> }): Promise<ApiResponse<T>>;
  close(): Promise<void>;
}

export async function startTestRuntime(options: TestRuntimeOptions = {}): Promise<TestRuntime> {
  const dataDir = mkdtempSync(join(tmpdir(), 'conclave-test-'));
  const env: Record<string, string> = {
    CONCLAVE_PORT: '0',
    CONCLAVE_DATA_DIR: dataDir,
    CONCLAVE_LOG_LEVEL: 'silent',
    ...options.env,
  };
  if (options.database === 'postgres') env.DATABASE_URL = await createTestDatabase();
  if (options.eventLog === 'redis') {
    const redis = serviceUrl('redis');
    if (!redis) throw new Error('redis is not available');
    env.REDIS_URL = redis;
  }
  const config = loadConfig(env, dataDir);
  const handle = await startRuntime(config, { logger: pino({ level: 'silent' }), inMemoryDatabase: options.database !== 'postgres', engine: options.engine });
  const token = handle.rootToken.token;

  return {
    url: handle.url,
    token,
    handle,
    async api(method, path, { body, token: given, headers = {} } = {}) {
      const all: Record<string, string> = { ...headers };
      if (given !== null) all.authorization ??= `Bearer ${given ?? token}`;
      if (body !== undefined) all['content-type'] = 'application/json';
      const response = await fetch(`${handle.url}${path}`, {
        method,
        headers: all,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON: the raw text is returned */
      }
      return { status: response.status, headers: response.headers, body: parsed as any };
    },
    async close() {
      await handle.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
