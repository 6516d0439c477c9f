/** Sessions: one agent execution each, parent-linked into a DAG per conversation. */
import { and, asc, eq } from 'drizzle-orm';
import type { Db } from '../database.js';
import { afterCursor, decodeCursor, toPage } from '../paging.js';
import { sessions, type SessionRow } from '../schema.js';

export type SessionInsert = typeof sessions.$inferInsert;

export function createSessionsRepo(db: Db) {
  return {
    async get(id: string): Promise<SessionRow | undefined> {
      return db.query.sessions.findFirst({ where: eq(sessions.id, id) });
    },

    async create(values: SessionInsert): Promise<SessionRow> {
      const [row] = await db.insert(sessions).values(values).returning();
      return row!;
    },

    /** A conversation's sessions, oldest first (the order they ran in). */
    async listByConversation(conversationId: string, query: { limit: number; cursor?: string }) {
      const rows = await db
        .select()
        .from(sessions)
        .where(
          and(
            eq(sessions.conversationId, conversationId),
            afterCursor(sessions.createdAt, sessions.id, decodeCursor(query.cursor), 'asc'),
          ),
        )
        .orderBy(asc(sessions.createdAt), asc(sessions.id))
        .limit(query.limit + 1);
      return toPage(rows, query.limit);
    },
  };
}

export type SessionsRepo = ReturnType<typeof createSessionsRepo>;
