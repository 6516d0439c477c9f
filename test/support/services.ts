/**
 * Access to the throwaway servers started by the global setup.
 *
 * `describeWith('redis', ...)` runs a block only when that service exists; when
 * it does not (outside CI) the block is reported as skipped with the reason in
 * its name, so a missing service is always visible in the test report.
 * Under REQUIRE_SERVICES=1 the global setup has already failed the run.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, inject } from 'vitest';

export type ServiceName = 'postgres' | 'redis';

export function serviceUrl(name: ServiceName): string | null {
  const services = inject('services');
  return name === 'postgres' ? services.databaseUrl : services.redisUrl;
}

export function describeWith(name: ServiceName, title: string, body: () => void): void {
  if (serviceUrl(name)) describe(title, body);
  else describe.skip(`${title} [SKIPPED: ${name} not available on this machine]`, body);
}

/** Creates a fresh, empty database on the test PostgreSQL server and returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const base = serviceUrl('postgres');
  if (!base) throw new Error('postgres is not available');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * The environment of runtime processes that share a fresh PostgreSQL database
 * and the test Redis, with the root token `token`, answering with the fake
 * OpenAI server at `modelBaseURL`, and beating their heartbeat every second.
 */
export async function sharedServicesEnv(options: { token: string; modelBaseURL: string; dataDir: string }): Promise<Record<string, string>> {
  const redis = serviceUrl('redis');
  if (!redis) throw new Error('redis is not available');
  return {
    CONCLAVE_AUTH_TOKEN: options.token,
    DATABASE_URL: await createTestDatabase(),
    REDIS_URL: redis,
    OPENAI_BASE_URL: options.modelBaseURL,
    OPENAI_API_KEY: 'sk-test',
    CONCLAVE_SESSION_HEARTBEAT_SECONDS: '1',
    CONCLAVE_DATA_DIR: options.dataDir,
  };
}
