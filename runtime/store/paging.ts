/**
 * Keyset cursors for list endpoints: a cursor names the last row of a page by
 * (created_at, id), encoded as opaque base64url so clients never parse it.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { InvalidInputError } from './errors.js';

export interface CursorPosition {
  createdAt: Date;
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(`${position.createdAt.toISOString()}|${position.id}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): CursorPosition | null {
  if (!cursor) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const [iso, id] = text.split('|');
  const createdAt = new Date(iso ?? '');
  if (!id || Number.isNaN(createdAt.getTime())) {
    throw new InvalidInputError('query.cursor', 'is not a cursor returned by this API');
  }
  return { createdAt, id };
}

/** Splits a `limit + 1` result into a page and the next cursor. */
export function toPage<T extends { createdAt: Date; id: string }>(rows: T[], limit: number) {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

/**
 * The SQL condition "row comes after the cursor" for lists ordered by
 * (created_at, id), newest first by default. Timestamps are compared at
 * millisecond precision, the precision the cursor carries.
 */
export function afterCursor(
  createdAt: AnyPgColumn,
  id: AnyPgColumn,
  position: CursorPosition | null,
  order: 'desc' | 'asc' = 'desc',
): SQL | undefined {
  if (!position) return undefined;
  const at = sql`date_trunc('milliseconds', ${createdAt})`;
  const iso = position.createdAt.toISOString();
  const beyond = order === 'desc' ? sql.raw('<') : sql.raw('>');
  return sql`(${at} ${beyond} ${iso}::timestamptz or (${at} = ${iso}::timestamptz and ${id} ${beyond} ${position.id}))`;
}
