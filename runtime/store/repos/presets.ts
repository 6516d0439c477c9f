/**
 * Presets: stored agent definitions. At most one is the default, which a
 * unique partial index enforces; setting a new default clears the old one in
 * the same transaction.
 */
import { and, desc, eq, ne, sql } from 'drizzle-orm';
import type { Db } from '../database.js';
import { presets, type PresetRow } from '../schema.js';

export type PresetInsert = typeof presets.$inferInsert;
export type PresetUpdate = Partial<Omit<PresetInsert, 'id' | 'createdAt'>>;

export function createPresetsRepo(db: Db) {
  const byId = db.select().from(presets).where(eq(presets.id, sql.placeholder('id'))).prepare('preset_by_id');

  return {
    async list(): Promise<PresetRow[]> {
      return db.select().from(presets).orderBy(desc(presets.createdAt), desc(presets.id));
    },

    async get(id: string): Promise<PresetRow | undefined> {
      const [row] = await byId.execute({ id });
      return row;
    },

    async getDefault(): Promise<PresetRow | undefined> {
      return db.query.presets.findFirst({ where: eq(presets.isDefault, true) });
    },

    async create(values: PresetInsert): Promise<PresetRow> {
      return db.transaction(async (tx) => {
        if (values.isDefault) await tx.update(presets).set({ isDefault: false }).where(eq(presets.isDefault, true));
        const [row] = await tx.insert(presets).values(values).returning();
        return row!;
      });
    },

    async update(id: string, values: PresetUpdate): Promise<PresetRow | undefined> {
      return db.transaction(async (tx) => {
        if (values.isDefault) {
          await tx
            .update(presets)
            .set({ isDefault: false })
            .where(and(eq(presets.isDefault, true), ne(presets.id, id)));
        }
        const [row] = await tx
          .update(presets)
          .set({ ...values, updatedAt: new Date() })
          .where(eq(presets.id, id))
          .returning();
        return row;
      });
    },

    async remove(id: string): Promise<boolean> {
      const rows = await db.delete(presets).where(eq(presets.id, id)).returning({ id: presets.id });
      return rows.length > 0;
    },
  };
}

export type PresetsRepo = ReturnType<typeof createPresetsRepo>;
