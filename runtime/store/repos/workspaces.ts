/** Workspaces: named sets of folders an agent's file tools may use. */
import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../database.js';
import { afterCursor, decodeCursor, toPage } from '../paging.js';
import { workspaces, type WorkspaceRow } from '../schema.js';

export type WorkspaceInsert = typeof workspaces.$inferInsert;
export type WorkspaceUpdate = Partial<Omit<WorkspaceInsert, 'id' | 'createdAt'>>;

export function createWorkspacesRepo(db: Db) {
  return {
    async list(query: { limit: number; cursor?: string; metadata?: Record<string, unknown> }) {
      const after = decodeCursor(query.cursor);
      const rows = await db
        .select()
        .from(workspaces)
        .where(
          and(
            query.metadata ? sql`${workspaces.metadata} @> ${JSON.stringify(query.metadata)}::jsonb` : undefined,
            afterCursor(workspaces.createdAt, workspaces.id, after),
          ),
        )
        .orderBy(desc(workspaces.createdAt), desc(workspaces.id))
        .limit(query.limit + 1);
      return toPage(rows, query.limit);
    },

    async get(id: string): Promise<WorkspaceRow | undefined> {
      return db.query.workspaces.findFirst({ where: eq(workspaces.id, id) });
    },

    async create(values: WorkspaceInsert): Promise<WorkspaceRow> {
      const [row] = await db.insert(workspaces).values(values).returning();
      return row!;
    },

    async update(id: string, values: WorkspaceUpdate): Promise<WorkspaceRow | undefined> {
      const [row] = await db
        .update(workspaces)
        .set({ ...values, updatedAt: new Date() })
        .where(eq(workspaces.id, id))
        .returning();
      return row;
    },

    async remove(id: string): Promise<boolean> {
      const rows = await db.delete(workspaces).where(eq(workspaces.id, id)).returning({ id: workspaces.id });
      return rows.length > 0;
    },
  };
}

export type WorkspacesRepo = ReturnType<typeof createWorkspacesRepo>;
