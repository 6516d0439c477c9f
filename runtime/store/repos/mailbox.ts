/**
 * The mailbox: results that finished or failed async subagents leave for the
 * conversation that spawned them. Delivery claims pending messages atomically
 * (one UPDATE), so two processes racing deliver each message exactly once.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNull } from 'drizzle-orm';
import type { Db } from '../database.js';
import { afterCursor, decodeCursor, toPage } from '../paging.js';
import { mailbox, type MailboxRow } from '../schema.js';

export function createMailboxRepo(db: Db) {
  return {
    async post(values: Omit<typeof mailbox.$inferInsert, 'id'>): Promise<MailboxRow> {
      const [row] = await db.insert(mailbox).values({ id: randomUUID(), ...values }).returning();
      return row!;
    },

    async pendingCount(conversationId: string): Promise<number> {
      const rows = await db
        .select({ id: mailbox.id })
        .from(mailbox)
        .where(and(eq(mailbox.conversationId, conversationId), isNull(mailbox.deliveredTo)));
      return rows.length;
    },

    /** Marks every pending message of a conversation delivered to a session; returns them, oldest first. */
    async claimPending(conversationId: string, sessionId: string): Promise<MailboxRow[]> {
      const rows = await db
        .update(mailbox)
        .set({ deliveredTo: sessionId, deliveredAt: new Date() })
        .where(and(eq(mailbox.conversationId, conversationId), isNull(mailbox.deliveredTo)))
        .returning();
      return rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
    },

    /** Puts claimed messages back (the session they were meant for did not take them). */
    async release(ids: string[], sessionId: string): Promise<void> {
      if (ids.length === 0) return;
      await db
        .update(mailbox)
        .set({ deliveredTo: null, deliveredAt: null })
        .where(and(inArray(mailbox.id, ids), eq(mailbox.deliveredTo, sessionId)));
    },

    async list(conversationId: string, query: { limit: number; cursor?: string; pending_only?: boolean }) {
      const rows = await db
        .select()
        .from(mailbox)
        .where(
          and(
            eq(mailbox.conversationId, conversationId),
            query.pending_only ? isNull(mailbox.deliveredTo) : undefined,
            afterCursor(mailbox.createdAt, mailbox.id, decodeCursor(query.cursor), 'asc'),
          ),
        )
        .orderBy(asc(mailbox.createdAt), asc(mailbox.id))
        .limit(query.limit + 1);
      return toPage(rows, query.limit);
    },
  };
}

export type MailboxRepo = ReturnType<typeof createMailboxRepo>;
