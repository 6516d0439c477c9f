/**
 * Idempotency keys (see docs/api.md, "Retrying safely"): `claim` decides, in
 * one statement, whether a request with a key is the first (it may act), a
 * repeat of a finished one (it gets the stored answer), a repeat of one still
 * being handled, or a different request reusing the key.
 *
 * A key lives for `ttlMs`; a claim whose request never finished (the process
 * died) can be taken over after `staleMs`.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../database.js';
import { idempotencyKeys } from '../schema.js';

export type Claim =
  | { state: 'first' }
  | { state: 'done'; status: number; body: unknown }
  | { state: 'in_progress' }
  | { state: 'other_request' };

export interface IdempotencyOptions {
  /** How long an answer is kept (default 24 h). */
  ttlMs?: number;
  /** After this long an unfinished claim may be taken over (default 60 s). */
  staleMs?: number;
}

export function createIdempotencyRepo(db: Db, options: IdempotencyOptions = {}) {
  const ttlMs = options.ttlMs ?? 24 * 60 * 60_000;
  const staleMs = options.staleMs ?? 60_000;
  const row = (userId: string, key: string) => and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key));
  /** Rows claimed more than `ms` ago, by the database's clock. */
  const olderThan = (ms: number) => sql`${idempotencyKeys.createdAt} < now() - make_interval(secs => ${ms / 1000})`;

  const claim = async (userId: string, key: string, fingerprint: string): Promise<Claim> => {
    const abandoned = sql`(${idempotencyKeys.status} is null and ${olderThan(staleMs)})`;
    // Insert, or take over an expired or abandoned row; a live row is left alone.
    const [claimed] = await db
      .insert(idempotencyKeys)
      .values({ userId, key, fingerprint })
      .onConflictDoUpdate({
        target: [idempotencyKeys.userId, idempotencyKeys.key],
        set: { fingerprint, status: null, body: null, createdAt: sql`now()` },
        setWhere: sql`${olderThan(ttlMs)} or ${abandoned}`,
      })
      .returning({ userId: idempotencyKeys.userId });
    if (claimed) return { state: 'first' };
    const existing = await db.query.idempotencyKeys.findFirst({ where: row(userId, key) });
    if (!existing) return claim(userId, key, fingerprint); // expired and removed in between
    if (existing.fingerprint !== fingerprint) return { state: 'other_request' };
    if (existing.status === null) return { state: 'in_progress' };
    return { state: 'done', status: existing.status, body: existing.body };
  };

  return {
    claim,

    /** Stores the answer of a claimed key. */
    async complete(userId: string, key: string, status: number, body: unknown): Promise<void> {
      await db.update(idempotencyKeys).set({ status, body: body ?? null }).where(row(userId, key));
    },

    /** Gives a claimed key up (the request failed): a retry may act. */
    async release(userId: string, key: string): Promise<void> {
      await db.delete(idempotencyKeys).where(and(row(userId, key), sql`${idempotencyKeys.status} is null`));
    },

    /** Drops expired keys; returns how many. */
    async purgeExpired(): Promise<number> {
      const removed = await db
        .delete(idempotencyKeys)
        .where(olderThan(ttlMs))
        .returning({ key: idempotencyKeys.key });
      return removed.length;
    },
  };
}

export type IdempotencyRepo = ReturnType<typeof createIdempotencyRepo>;
