/**
 * Vitest global setup: starts throwaway PostgreSQL and Redis servers on loopback
 * when their binaries exist, and hands their URLs to test files through
 * `inject('services')` (see ./services.ts).
 *
 * Outside CI a missing binary prints a notice and the tests that need it say
 * they were skipped; with REQUIRE_SERVICES=1 a missing service fails the run.
 * Servers already given through TEST_DATABASE_URL / TEST_REDIS_URL are used as
 * they are.
 */
import type { TestProject } from 'vitest/node';
import { startPostgres, startRedis, type RunningService } from './service-processes.js';

export interface ServiceUrls {
  databaseUrl: string | null;
  redisUrl: string | null;
  missing: string[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceUrls;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const required = process.env.REQUIRE_SERVICES === '1';
  const running: RunningService[] = [];
  const urls: ServiceUrls = { databaseUrl: null, redisUrl: null, missing: [] };

  if (process.env.TEST_DATABASE_URL) urls.databaseUrl = process.env.TEST_DATABASE_URL;
  else {
    const pg = await startPostgres().catch((error: Error) => error);
    if (pg instanceof Error) urls.missing.push(`postgres (${pg.message})`);
    else { running.push(pg); urls.databaseUrl = pg.url; }
  }

  if (process.env.TEST_REDIS_URL) urls.redisUrl = process.env.TEST_REDIS_URL;
  else {
    const redis = await startRedis().catch((error: Error) => error);
    if (redis instanceof Error) urls.missing.push(`redis (${redis.message})`);
    else { running.push(redis); urls.redisUrl = redis.url; }
  }

  if (urls.missing.length > 0) {
    const notice = `test services unavailable: ${urls.missing.join('; ')}`;
    if (required) {
      await Promise.all(running.map((s) => s.stop()));
      throw new Error(`${notice} — REQUIRE_SERVICES=1 makes this a failure`);
    }
    console.warn(`\n*** NOTICE: ${notice}. Tests that need them are reported as skipped. ***\n`);
  } else {
    console.log(`test services: postgres ${urls.databaseUrl}, redis ${urls.redisUrl}`);
  }

  project.provide('services', urls);
  return async () => {
    await Promise.all(running.map((s) => s.stop()));
  };
}
