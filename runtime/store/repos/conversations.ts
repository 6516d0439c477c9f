/**
 * Conversations and who may see them. A conversation belongs to one user;
 * a service principal (the gateway) also reaches the conversations bound to
 * its platform places. Anyone else gets "not found", never "forbidden", so
 * existence does not leak.
 */
import { and, desc, eq, ilike, or, sql, type SQL } from 'drizzle-orm';
import type { PgPreparedQuery, PreparedQueryConfig } from 'drizzle-orm/pg-core';
import type { Db } from '../database.js';
import { afterCursor, decodeCursor, toPage } from '../paging.js';
import { bindings, conversations, sessions, type ConversationRow, type ConversationStatus } from '../schema.js';

export type ConversationInsert = typeof conversations.$inferInsert;
export type ConversationUpdate = Partial<Omit<ConversationInsert, 'id' | 'userId' | 'createdAt'>>;

/** Who is asking: the owner id, and the service user id when a service acts. */
export interface Viewer {
  userId: string;
  serviceUserId: string | null;
}

export interface ConversationListQuery {
  limit: number;
  cursor?: string;
  metadata?: Record<string, unknown>;
  status?: ConversationStatus;
  q?: string;
}

/**
 * Prepares a read that checks the viewer may see the conversation, in two
 * forms: for owners (`conversations.user_id` is the viewer) and for services,
 * who also see the conversations bound to their platform places. `build`
 * gets the visibility condition (over the placeholders `userId` and
 * `serviceUserId`) and a name suffix; the result runs the form the viewer
 * needs, so an owner's query carries no binding lookup.
 */
export function preparedForViewer<Result>(build: (visible: SQL, form: 'owner' | 'service') => PgPreparedQuery<PreparedQueryConfig & { execute: Result }>) {
  const owned = eq(conversations.userId, sql.placeholder('userId'));
  const owner = build(owned, 'owner');
  const service = build(
    or(
      owned,
      sql`exists (select 1 from ${bindings} where ${bindings.conversationId} = ${conversations.id}
          and ${bindings.userId} = ${sql.placeholder('serviceUserId')})`,
    )!,
    'service',
  );
  return (viewer: Viewer, params: Record<string, unknown>): Promise<Result> =>
    viewer.serviceUserId
      ? service.execute({ ...params, userId: viewer.userId, serviceUserId: viewer.serviceUserId })
      : owner.execute({ ...params, userId: viewer.userId });
}

/** Escapes LIKE wildcards so a search for `50%` means the text `50%`. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * A conversation matches a search when its title contains the text, or any of
 * its sessions' input or output matches it as full-text (English stemming).
 */
function matches(q: string) {
  return or(
    ilike(conversations.title, likePattern(q)),
    sql`exists (select 1 from ${sessions} where ${sessions.conversationId} = ${conversations.id}
        and to_tsvector('english', coalesce(${sessions.searchText}, '')) @@ websearch_to_tsquery('english', ${q}))`,
  );
}

export function createConversationsRepo(db: Db) {
  const visibleById = preparedForViewer((visible, form) =>
    db
      .select()
      .from(conversations)
      .where(and(eq(conversations.id, sql.placeholder('id')), visible))
      .prepare(`conversation_visible_${form}`),
  );
  const titleById = db
    .update(conversations)
    .set({ title: sql`${sql.placeholder('title')}`, updatedAt: sql`${sql.placeholder('now')}::timestamptz` })
    .where(eq(conversations.id, sql.placeholder('id')))
    .prepare('conversation_set_title');

  return {
    async create(values: ConversationInsert): Promise<ConversationRow> {
      const [row] = await db.insert(conversations).values(values).returning();
      return row!;
    },

    /** The conversation when the viewer may see it; undefined otherwise. */
    async getVisible(id: string, viewer: Viewer): Promise<ConversationRow | undefined> {
      const [row] = await visibleById(viewer, { id });
      return row;
    },

    /** Lists the user's own conversations, newest first. */
    async list(userId: string, query: ConversationListQuery) {
      const rows = await db
        .select()
        .from(conversations)
        .where(
          and(
            eq(conversations.userId, userId),
            query.status ? eq(conversations.status, query.status) : undefined,
            query.metadata ? sql`${conversations.metadata} @> ${JSON.stringify(query.metadata)}::jsonb` : undefined,
            query.q ? matches(query.q) : undefined,
            afterCursor(conversations.createdAt, conversations.id, decodeCursor(query.cursor)),
          ),
        )
        .orderBy(desc(conversations.createdAt), desc(conversations.id))
        .limit(query.limit + 1);
      return toPage(rows, query.limit);
    },

    async update(id: string, values: ConversationUpdate): Promise<ConversationRow | undefined> {
      const [row] = await db
        .update(conversations)
        .set({ ...values, updatedAt: new Date() })
        .where(eq(conversations.id, id))
        .returning();
      return row;
    },

    /** Names a conversation (a first message names an untitled one). */
    async setTitle(id: string, title: string): Promise<void> {
      await titleById.execute({ id, title, now: new Date().toISOString() });
    },

    async remove(id: string): Promise<boolean> {
      const rows = await db.delete(conversations).where(eq(conversations.id, id)).returning({ id: conversations.id });
      return rows.length > 0;
    },
  };
}

export type ConversationsRepo = ReturnType<typeof createConversationsRepo>;
