/** Sessions: one agent execution each, parent-linked into a DAG per conversation. */
import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Db } from '../database.js';
import { afterCursor, decodeCursor, toPage } from '../paging.js';
import { COMMITTED_STATUSES, conversations, sessions, type ConversationRow, type SessionRow } from '../schema.js';
import { preparedForViewer, type Viewer } from './conversations.js';

/** Sessions shown as turns: everything but queued ones. */
const NOT_QUEUED = ne(sessions.status, 'queued');

export type SessionInsert = typeof sessions.$inferInsert;

export function createSessionsRepo(db: Db) {
  const visibleById = preparedForViewer((visible, form) =>
    db
      .select({ session: sessions })
      .from(sessions)
      .innerJoin(conversations, eq(conversations.id, sessions.conversationId))
      .where(and(eq(sessions.id, sql.placeholder('id')), visible))
      .prepare(`session_visible_${form}`),
  );

  return {
    async get(id: string): Promise<SessionRow | undefined> {
      return db.query.sessions.findFirst({ where: eq(sessions.id, id) });
    },

    /** The session when the viewer may see its conversation; undefined otherwise. */
    async getVisible(id: string, viewer: Viewer): Promise<SessionRow | undefined> {
      const [row] = await visibleById(viewer, { id });
      return row?.session;
    },

    async create(values: SessionInsert): Promise<SessionRow> {
      const [row] = await db.insert(sessions).values(values).returning();
      return row!;
    },

    /** A conversation's sessions, oldest first (the order they ran in), or newest first with `order: 'desc'`. */
    async listByConversation(conversationId: string, query: { limit: number; cursor?: string; order?: 'asc' | 'desc' }) {
      const order = query.order ?? 'asc';
      const by = order === 'asc' ? asc : desc;
      const rows = await db
        .select()
        .from(sessions)
        .where(
          and(
            eq(sessions.conversationId, conversationId),
            afterCursor(sessions.createdAt, sessions.id, decodeCursor(query.cursor), order),
          ),
        )
        .orderBy(by(sessions.createdAt), by(sessions.id))
        .limit(query.limit + 1);
      return toPage(rows, query.limit);
    },

    /** Turns (display history), newest first. */
    async turns(conversationId: string, query: { limit: number; cursor?: string }) {
      const rows = await db
        .select()
        .from(sessions)
        .where(
          and(
            eq(sessions.conversationId, conversationId),
            NOT_QUEUED,
            afterCursor(sessions.createdAt, sessions.id, decodeCursor(query.cursor)),
          ),
        )
        .orderBy(desc(sessions.createdAt), desc(sessions.id))
        .limit(query.limit + 1);
      return toPage(rows, query.limit);
    },

    /** Every turn, oldest first (exports). */
    async allTurns(conversationId: string): Promise<SessionRow[]> {
      return db
        .select()
        .from(sessions)
        .where(and(eq(sessions.conversationId, conversationId), NOT_QUEUED))
        .orderBy(asc(sessions.createdAt), asc(sessions.id));
    },

    /**
     * Copies a conversation up to a committed session (default: the latest)
     * into a new conversation: the session chain is copied, so the fork owns
     * its history and outlives the source. Undefined when there is no such
     * fork point.
     */
    async fork(input: {
      source: ConversationRow;
      fromSessionId: string | null;
      newConversationId: string;
      userId: string;
      title: string;
    }): Promise<ConversationRow | undefined> {
      const all = await db
        .select()
        .from(sessions)
        .where(and(eq(sessions.conversationId, input.source.id), inArray(sessions.status, COMMITTED_STATUSES)))
        .orderBy(asc(sessions.createdAt), asc(sessions.id));
      const mains = all.filter((s) => s.type === 'agent');
      const point = input.fromSessionId ? all.find((s) => s.id === input.fromSessionId) : mains[mains.length - 1];
      if (!point) return undefined;
      const byId = new Map(all.map((s) => [s.id, s]));
      const chain: SessionRow[] = [];
      for (let at: SessionRow | undefined = point; at; at = at.parentSessionId ? byId.get(at.parentSessionId) : undefined) {
        chain.unshift(at);
      }
      const { id: _id, createdAt: _c, updatedAt: _u, ...fields } = input.source;
      return db.transaction(async (tx) => {
        const [conversation] = await tx
          .insert(conversations)
          .values({
            ...fields,
            id: input.newConversationId,
            userId: input.userId,
            title: input.title,
            usage: {},
            summary: null,
            summaryThroughSessionId: null,
            forkedFrom: { conversation_id: input.source.id, session_id: point.id },
          })
          .returning();
        const newIds = new Map(chain.map((s) => [s.id, randomUUID()]));
        for (const session of chain) {
          const { id, updatedAt: _su, ...rest } = session;
          await tx.insert(sessions).values({
            ...rest,
            id: newIds.get(id)!,
            conversationId: conversation!.id,
            parentSessionId: session.parentSessionId ? newIds.get(session.parentSessionId) ?? null : null,
            runnerId: null,
          });
        }
        return conversation!;
      });
    },
  };
}

export type SessionsRepo = ReturnType<typeof createSessionsRepo>;
