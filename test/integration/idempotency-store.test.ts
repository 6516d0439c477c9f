/**
 * The idempotency-key repository (runtime/store/repos/idempotency.ts) on both
 * databases: one claim wins a race, answers are replayed, other requests and
 * unfinished claims are told apart, failed claims are released, and expired
 * or abandoned keys are taken over.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../runtime/store/database.js';
import { createIdempotencyRepo } from '../../runtime/store/repos/idempotency.js';
import { idempotencyKeys } from '../../runtime/store/schema.js';
import { createTestDatabase, describeWith } from '../support/services.js';

function idempotencyContract(name: string, open: () => Promise<Database>): void {
  describe(`idempotency keys on ${name}`, () => {
    let database: Database;
    beforeAll(async () => {
      database = await open();
      await database.migrate();
    });
    afterAll(async () => {
      await database?.close();
    });

    it('lets one of 20 racing claims act, then replays its answer to the same request only', async () => {
      const repo = createIdempotencyRepo(database.db);
      const claims = await Promise.all(Array.from({ length: 20 }, () => repo.claim('alice', 'k1', 'fp-a')));
      expect(claims.filter((c) => c.state === 'first')).toHaveLength(1);
      expect(claims.filter((c) => c.state === 'in_progress')).toHaveLength(19);
      await repo.complete('alice', 'k1', 202, { session_id: 's1' });
      expect(await repo.claim('alice', 'k1', 'fp-a')).toEqual({ state: 'done', status: 202, body: { session_id: 's1' } });
      expect(await repo.claim('alice', 'k1', 'fp-b')).toEqual({ state: 'other_request' });
      // Keys are per user.
      expect(await repo.claim('bob', 'k1', 'fp-b')).toEqual({ state: 'first' });
    });

    it('frees a released claim, and never releases an answered one', async () => {
      const repo = createIdempotencyRepo(database.db);
      expect((await repo.claim('alice', 'k2', 'fp')).state).toBe('first');
      await repo.release('alice', 'k2');
      expect((await repo.claim('alice', 'k2', 'fp')).state).toBe('first');
      await repo.complete('alice', 'k2', 201, { id: 'c1' });
      await repo.release('alice', 'k2');
      expect(await repo.claim('alice', 'k2', 'fp')).toMatchObject({ state: 'done', status: 201 });
    });

    it('takes over an abandoned claim and an expired answer, and purges expired keys', async () => {
      const repo = createIdempotencyRepo(database.db, { ttlMs: 3_000, staleMs: 1_000 });
      expect((await repo.claim('carol', 'abandoned', 'fp')).state).toBe('first');
      expect((await repo.claim('carol', 'answered', 'fp')).state).toBe('first');
      await repo.complete('carol', 'answered', 202, { n: 1 });
      expect((await repo.claim('carol', 'abandoned', 'fp')).state).toBe('in_progress');
      await sleep(1_200);
      // Unfinished for longer than staleMs: its process is presumed gone.
      expect((await repo.claim('carol', 'abandoned', 'other-fp')).state).toBe('first');
      expect((await repo.claim('carol', 'answered', 'fp')).state).toBe('done');
      await sleep(2_000);
      // Older than ttlMs: the key is free again.
      expect((await repo.claim('carol', 'answered', 'fp')).state).toBe('first');
      // Purging drops only keys older than ttlMs: both of carol's were (re)claimed just now.
      const carols = async () => (await database.db.query.idempotencyKeys.findMany({ where: eq(idempotencyKeys.userId, 'carol') })).length;
      await repo.purgeExpired();
      expect(await carols()).toBe(2);
      await sleep(3_200);
      expect(await repo.purgeExpired()).toBeGreaterThanOrEqual(2);
      expect(await carols()).toBe(0);
    });
  });
}

idempotencyContract('PGlite', () => openDatabase({ dataDir: null }));
describeWith('postgres', 'postgres', () => {
  idempotencyContract('PostgreSQL', async () => openDatabase({ url: await createTestDatabase(), poolSize: 20 }));
});
