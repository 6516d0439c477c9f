/**
 * Bindings: the gateway's record that a platform place (a Discord thread, a
 * Slack channel...) is a given conversation, with the renderer's cursor.
 * `upsert` is race-free: the unique (platform, key) index decides, so two
 * requests racing for a new place get one binding and one conversation.
 */
import { randomUUID } from 'node:crypto';
import { and, desc, eq } from 'drizzle-orm';
import type { Db } from '../database.js';
import { afterCursor, decodeCursor, toPage } from '../paging.js';
import { bindings, conversations, type BindingRow } from '../schema.js';
import type { ConversationInsert } from './conversations.js';

export type Platform = BindingRow['platform'];
export type BindingUpdate = Partial<Pick<BindingRow, 'cursor' | 'state' | 'metadata' | 'conversationId'>>;

class LostRace extends Error {}

export function createBindingsRepo(db: Db) {
  const findByKey = (platform: Platform, key: string) =>
    db.query.bindings.findFirst({ where: and(eq(bindings.platform, platform), eq(bindings.key, key)) });

  return {
    findByKey,

    async get(id: string): Promise<BindingRow | undefined> {
      return db.query.bindings.findFirst({ where: eq(bindings.id, id) });
    },

    /**
     * Returns the binding of a place, creating it and its conversation when
     * the place is new. `created` tells which happened.
     */
    async upsert(input: {
      platform: Platform;
      key: string;
      serviceUserId: string;
      metadata: Record<string, unknown>;
      conversation: ConversationInsert;
    }): Promise<{ binding: BindingRow; created: boolean }> {
      const existing = await findByKey(input.platform, input.key);
      if (existing) return { binding: existing, created: false };
      try {
        const binding = await db.transaction(async (tx) => {
          await tx.insert(conversations).values(input.conversation);
          const [row] = await tx
            .insert(bindings)
            .values({
              id: randomUUID(),
              platform: input.platform,
              key: input.key,
              conversationId: input.conversation.id!,
              userId: input.serviceUserId,
              metadata: input.metadata,
            })
            .onConflictDoNothing()
            .returning();
          // Another request bound the place first: undo our conversation.
          if (!row) throw new LostRace();
          return row;
        });
        return { binding, created: true };
      } catch (error) {
        if (!(error instanceof LostRace)) throw error;
        const winner = await findByKey(input.platform, input.key);
        if (!winner) throw new Error('binding vanished after a lost race');
        return { binding: winner, created: false };
      }
    },

    async list(
      serviceUserId: string | null,
      query: { limit: number; cursor?: string; platform?: Platform; key?: string; conversation_id?: string },
    ) {
      const rows = await db
        .select()
        .from(bindings)
        .where(
          and(
            serviceUserId ? eq(bindings.userId, serviceUserId) : undefined,
            query.platform ? eq(bindings.platform, query.platform) : undefined,
            query.key ? eq(bindings.key, query.key) : undefined,
            query.conversation_id ? eq(bindings.conversationId, query.conversation_id) : undefined,
            afterCursor(bindings.createdAt, bindings.id, decodeCursor(query.cursor)),
          ),
        )
        .orderBy(desc(bindings.createdAt), desc(bindings.id))
        .limit(query.limit + 1);
      return toPage(rows, query.limit);
    },

    async update(id: string, values: BindingUpdate): Promise<BindingRow | undefined> {
      const [row] = await db
        .update(bindings)
        .set({ ...values, updatedAt: new Date() })
        .where(eq(bindings.id, id))
        .returning();
      return row;
    },

    async remove(id: string): Promise<boolean> {
      const rows = await db.delete(bindings).where(eq(bindings.id, id)).returning({ id: bindings.id });
      return rows.length > 0;
    },
  };
}

export type BindingsRepo = ReturnType<typeof createBindingsRepo>;
