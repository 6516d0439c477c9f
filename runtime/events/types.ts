/**
 * The event-log and bus seams (DESIGN.md §3).
 *
 * An EventLog holds one append-only stream per key (one key per conversation).
 * Entry ids have the Redis stream id form `<ms>-<seq>` in every implementation,
 * so they can be used as SSE ids and compared the same way everywhere.
 *
 * A Bus carries small control and notification messages between processes
 * (pub/sub; at-most-once, only to processes subscribed at publish time).
 *
 * Implementations: memory (single process, the embedded default) and redis.
 * Both pass test/integration/event-log.contract.test.ts.
 */

/** A JSON-serialisable event as stored in the log. */
export type LogEvent = Record<string, unknown>;

export interface LogEntry {
  /** Stream entry id, `<ms>-<seq>`; strictly increasing within a key. */
  id: string;
  event: LogEvent;
  /** The event's JSON text as stored, when the log has it (saves re-serialising). */
  json?: string;
}

export interface ReadResult {
  entries: LogEntry[];
  /**
   * True when `after` was given but the log can no longer continue from it:
   * the key has expired, or entries after the cursor have been trimmed away.
   * Callers tell the client to refetch history (the `stream_reset` event).
   */
  reset: boolean;
}

export interface FollowOptions {
  /** Deliver entries strictly after this id; null means from the first retained entry. */
  after: string | null;
  /** Stops the follow; the iterator then returns. */
  signal: AbortSignal;
}

export interface EventLog {
  readonly kind: 'memory' | 'redis';

  /**
   * Appends events to a key in order, as one batch (one round trip for Redis).
   * Returns the new entry ids, one per event. Appending to a key clears any
   * pending expiry set by `retain`.
   */
  append(key: string, events: LogEvent[]): Promise<string[]>;

  /** Entries strictly after `after` (null: from the start), up to `limit`. */
  read(key: string, after: string | null, limit?: number): Promise<ReadResult>;

  /**
   * Follows a key live: yields every entry after `options.after` in order, then
   * waits for new ones until the signal aborts. A process serves every
   * follower of every key through one multiplexed reader.
   * If the cursor cannot be continued (see ReadResult.reset) the first item
   * yielded is `{ reset: true }` and following continues from the oldest
   * retained entry.
   * Entries are shared by every follower (and, for Redis, with the appender):
   * read them, never change them.
   */
  follow(key: string, options: FollowOptions): AsyncIterable<LogEntry | { reset: true }>;

  /**
   * Keeps a key for `seconds` more, then drops it (retention after a session
   * ends). A later append cancels the expiry.
   */
  retain(key: string, seconds: number): Promise<void>;

  /** Removes a key now (conversation deleted). */
  remove(key: string): Promise<void>;

  /** 'ok' when the log can serve requests. */
  health(): Promise<'ok' | 'error'>;

  close(): Promise<void>;
}

export type BusHandler = (message: LogEvent) => void;

export interface Bus {
  readonly kind: 'memory' | 'redis';
  publish(channel: string, message: LogEvent): Promise<void>;
  /** Resolves once the subscription is active; the returned function unsubscribes. */
  subscribe(channel: string, handler: BusHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Compares two `<ms>-<seq>` ids: negative when a < b. Exact for 64-bit parts, without BigInt. */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  const aDash = a.indexOf('-');
  const bDash = b.indexOf('-');
  if (aDash < 0 || bDash < 0) return compareIds(aDash < 0 ? `${a}-0` : a, bDash < 0 ? `${b}-0` : b);
  const ms = compareDigits(a, 0, aDash, b, 0, bDash);
  if (ms !== 0) return ms;
  return compareDigits(a, aDash + 1, a.length, b, bDash + 1, b.length);
}

/** Compares the non-negative integers written in a[aStart, aEnd) and b[bStart, bEnd). */
function compareDigits(a: string, aStart: number, aEnd: number, b: string, bStart: number, bEnd: number): number {
  while (aEnd - aStart > 1 && a.charCodeAt(aStart) === 48) aStart += 1; // leading zeros
  while (bEnd - bStart > 1 && b.charCodeAt(bStart) === 48) bStart += 1;
  const length = aEnd - aStart - (bEnd - bStart);
  if (length !== 0) return length < 0 ? -1 : 1;
  for (let i = 0; i < aEnd - aStart; i += 1) {
    const diff = a.charCodeAt(aStart + i) - b.charCodeAt(bStart + i);
    if (diff !== 0) return diff < 0 ? -1 : 1;
  }
  return 0;
}

const ENTRY_ID = /^\d{1,20}-\d{1,20}$/;

/** True for a well-formed stream entry id (used to validate client cursors). */
export function isEntryId(value: string): boolean {
  return ENTRY_ID.test(value);
}

/**
 * An id just before `id` (which need not exist in the log): reading "after"
 * it starts exactly at `id`. Used to hand out a cursor for a session's first
 * event.
 */
export function previousId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  if (BigInt(seq) > 0n) return `${ms}-${BigInt(seq) - 1n}`;
  return BigInt(ms) > 0n ? `${BigInt(ms) - 1n}-18446744073709551615` : '0-0';
}
