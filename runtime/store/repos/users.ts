/**
 * Users and their API keys. Keys look like `cnk_<id>_<secret>`; only a
 * SHA-256 hash is stored, and checks compare hashes in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Db } from '../database.js';
import { apiKeys, users, type ApiKeyRow, type UserRow } from '../schema.js';

export const ROOT_USER_ID = 'admin';

const KEY_PATTERN = /^cnk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function hashSecret(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant-time equality of two secrets of any length. */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(hashSecret(a), hashSecret(b));
}

export interface KeyCheck {
  key: ApiKeyRow;
  user: UserRow;
}

export function createUsersRepo(db: Db) {
  return {
    async get(id: string): Promise<UserRow | undefined> {
      return db.query.users.findFirst({ where: eq(users.id, id) });
    },

    /** Returns the user, creating it (not an administrator unless asked) when missing. */
    async ensure(id: string, options: { displayName?: string; isAdmin?: boolean } = {}): Promise<UserRow> {
      await db
        .insert(users)
        .values({ id, displayName: options.displayName ?? id, isAdmin: options.isAdmin ?? false })
        .onConflictDoNothing();
      const user = await this.get(id);
      if (!user) throw new Error(`user ${id} could not be created`);
      return user;
    },

    async createKey(input: {
      userId: string;
      name: string;
      scope: 'user' | 'service';
      expiresAt: Date | null;
    }): Promise<{ row: ApiKeyRow; key: string }> {
      const id = randomBytes(8).toString('hex');
      const key = `cnk_${id}_${randomBytes(32).toString('base64url')}`;
      const [row] = await db
        .insert(apiKeys)
        .values({
          id,
          userId: input.userId,
          name: input.name,
          keyHash: hashSecret(key).toString('hex'),
          keyPrefix: key.slice(0, 12),
          scope: input.scope,
          expiresAt: input.expiresAt,
        })
        .returning();
      return { row: row!, key };
    },

    /** The key and its user when `presented` is a valid, live key; otherwise null. */
    async checkKey(presented: string): Promise<KeyCheck | null> {
      const match = KEY_PATTERN.exec(presented);
      if (!match) return null;
      const key = await db.query.apiKeys.findFirst({ where: eq(apiKeys.id, match[1]!) });
      if (!key) return null;
      const expected = Buffer.from(key.keyHash, 'hex');
      if (expected.length !== 32 || !timingSafeEqual(expected, hashSecret(presented))) return null;
      if (key.revokedAt || (key.expiresAt && key.expiresAt.getTime() <= Date.now())) return null;
      const user = await this.get(key.userId);
      if (!user || !user.isActive) return null;
      return { key, user };
    },

    async touchKey(id: string): Promise<void> {
      await db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, id));
    },

    async listKeys(userId: string | null): Promise<ApiKeyRow[]> {
      return db
        .select()
        .from(apiKeys)
        .where(userId ? eq(apiKeys.userId, userId) : undefined)
        .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id));
    },

    async getKey(id: string): Promise<ApiKeyRow | undefined> {
      return db.query.apiKeys.findFirst({ where: eq(apiKeys.id, id) });
    },

    /** Revokes a live key; returns the row, or undefined when there is no such live key. */
    async revokeKey(id: string): Promise<ApiKeyRow | undefined> {
      const [row] = await db
        .update(apiKeys)
        .set({ revokedAt: new Date(), updatedAt: new Date() })
        .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
        .returning();
      return row;
    },
  };
}

export type UsersRepo = ReturnType<typeof createUsersRepo>;
