/**
 * In-process EventLog and Bus: the embedded default when no Redis is configured.
 *
 * Owns: the per-key entry arrays, `<ms>-<seq>` id generation, trimming to
 * `maxLen`, retention timers, waking live followers, and local pub/sub.
 * Everything lives in this process's memory and is lost when it exits.
 * Behaviour matches the Redis implementation (see
 * test/integration/event-log.contract.test.ts).
 */
import {
  compareIds,
  isEntryId,
  type Bus,
  type BusHandler,
  type EventLog,
  type FollowOptions,
  type LogEntry,
  type LogEvent,
  type ReadResult,
} from './types.js';

export interface MemoryEventLogOptions {
  /** Most entries kept per key; older ones are trimmed (default 100,000). */
  maxLen?: number;
}

/** One key's stream. */
interface Stream {
  /** Entries in id order. */
  entries: LogEntry[];
  /** Id of the newest entry trimmed away, like Redis's `max-deleted-entry-id`. */
  maxDeletedId: string | null;
  /** Pending drop scheduled by `retain`. */
  expiry: NodeJS.Timeout | null;
}

const FOLLOW_PAGE = 500;

export class MemoryEventLog implements EventLog {
  readonly kind = 'memory' as const;
  private readonly maxLen: number;
  private readonly streams = new Map<string, Stream>();
  /** Followers waiting for the next append to a key. */
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Last id handed out; ids increase across the whole instance. */
  private lastMs = 0;
  private lastSeq = 0;
  private closed = false;

  constructor(options: MemoryEventLogOptions = {}) {
    this.maxLen = options.maxLen ?? 100_000;
    if (!Number.isInteger(this.maxLen) || this.maxLen < 1) throw new Error('maxLen must be a positive integer');
  }

  async append(key: string, events: LogEvent[]): Promise<string[]> {
    this.assertOpen();
    if (events.length === 0) return [];
    let stream = this.streams.get(key);
    if (!stream) {
      stream = { entries: [], maxDeletedId: null, expiry: null };
      this.streams.set(key, stream);
    }
    this.cancelExpiry(stream);

    const ids: string[] = [];
    for (const event of events) {
      const id = this.nextId();
      // A JSON round trip gives callers the same isolation Redis does.
      const json = JSON.stringify(event);
      stream.entries.push({ id, event: JSON.parse(json) as LogEvent, json });
      ids.push(id);
    }

    const excess = stream.entries.length - this.maxLen;
    if (excess > 0) {
      const trimmed = stream.entries.splice(0, excess);
      stream.maxDeletedId = trimmed[trimmed.length - 1]!.id;
    }

    this.wakeFollowers(key);
    return ids;
  }

  async read(key: string, after: string | null, limit?: number): Promise<ReadResult> {
    this.assertOpen();
    return this.readNow(key, after, limit ?? Number.POSITIVE_INFINITY);
  }

  follow(key: string, options: FollowOptions): AsyncIterable<LogEntry | { reset: true }> {
    if (options.after !== null && !isEntryId(options.after)) throw new Error(`invalid entry id: ${options.after}`);
    return this.followEntries(key, options);
  }

  async retain(key: string, seconds: number): Promise<void> {
    this.assertOpen();
    const stream = this.streams.get(key);
    if (!stream) return;
    this.cancelExpiry(stream);
    stream.expiry = setTimeout(() => {
      if (this.streams.get(key) === stream) this.streams.delete(key);
    }, seconds * 1000);
    stream.expiry.unref();
  }

  async remove(key: string): Promise<void> {
    this.assertOpen();
    const stream = this.streams.get(key);
    if (stream) this.cancelExpiry(stream);
    this.streams.delete(key);
  }

  async health(): Promise<'ok' | 'error'> {
    return this.closed ? 'error' : 'ok';
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const stream of this.streams.values()) this.cancelExpiry(stream);
    this.streams.clear();
    // Wake every follower so it sees `closed` and returns.
    for (const key of [...this.waiters.keys()]) this.wakeFollowers(key);
  }

  /** Reads synchronously, so a follower can register its waiter with no gap. */
  private readNow(key: string, after: string | null, limit: number): ReadResult {
    if (after !== null && !isEntryId(after)) throw new Error(`invalid entry id: ${after}`);
    const stream = this.streams.get(key);
    if (!stream) return { entries: [], reset: after !== null };
    const reset = after !== null && stream.maxDeletedId !== null && compareIds(stream.maxDeletedId, after) > 0;
    const start = after === null ? 0 : firstIndexAfter(stream.entries, after);
    return { entries: stream.entries.slice(start, start + limit), reset };
  }

  private async *followEntries(key: string, { after, signal }: FollowOptions): AsyncGenerator<LogEntry | { reset: true }> {
    let cursor = after;
    while (!signal.aborted && !this.closed) {
      const { entries, reset } = this.readNow(key, cursor, FOLLOW_PAGE);
      if (reset) {
        // The cursor cannot be continued: say so, then go on from the oldest retained entry.
        yield { reset: true };
        cursor = null;
        continue;
      }
      if (entries.length === 0) {
        // Nothing new: wait for the next append (registered in the same tick as the read).
        await this.waitForAppend(key, signal);
        continue;
      }
      for (const entry of entries) {
        if (signal.aborted || this.closed) return;
        yield entry;
        cursor = entry.id;
      }
    }
  }

  /** Resolves at the next append to `key`, on abort, or on close. */
  private waitForAppend(key: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(key);
      if (!set) {
        set = new Set();
        this.waiters.set(key, set);
      }
      const waiters = set;
      const done = () => {
        waiters.delete(done);
        if (waiters.size === 0 && this.waiters.get(key) === waiters) this.waiters.delete(key);
        signal.removeEventListener('abort', done);
        resolve();
      };
      waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private wakeFollowers(key: string): void {
    const waiters = this.waiters.get(key);
    if (!waiters) return;
    for (const wake of [...waiters]) wake();
  }

  private nextId(): string {
    const now = Date.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.lastSeq = 0;
    } else {
      // Same millisecond (or the clock stepped back): keep the last ms, bump the sequence.
      this.lastSeq += 1;
    }
    return `${this.lastMs}-${this.lastSeq}`;
  }

  private cancelExpiry(stream: Stream): void {
    if (stream.expiry) clearTimeout(stream.expiry);
    stream.expiry = null;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('event log is closed');
  }
}

/** Index of the first entry whose id is greater than `after` (binary search). */
function firstIndexAfter(entries: LogEntry[], after: string): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareIds(entries[mid]!.id, after) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Pub/sub within one process. Delivery is asynchronous, like Redis. */
export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private readonly channels = new Map<string, Set<BusHandler>>();
  private closed = false;

  async publish(channel: string, message: LogEvent): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    const handlers = this.channels.get(channel);
    if (!handlers) return;
    const payload = JSON.stringify(message);
    // Only the handlers subscribed now receive it (at-most-once, like PUBLISH).
    for (const handler of [...handlers]) {
      queueMicrotask(() => {
        // Skip handlers that unsubscribed in the meantime.
        if (this.closed || !this.channels.get(channel)?.has(handler)) return;
        try {
          handler(JSON.parse(payload) as LogEvent);
        } catch (error) {
          console.error('bus handler failed', error);
        }
      });
    }
  }

  async subscribe(channel: string, handler: BusHandler): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('bus is closed');
    // Wrap the handler so subscribing the same function twice gives two independent subscriptions.
    const subscription: BusHandler = (message) => handler(message);
    let handlers = this.channels.get(channel);
    if (!handlers) {
      handlers = new Set();
      this.channels.set(channel, handlers);
    }
    handlers.add(subscription);
    return async () => {
      const current = this.channels.get(channel);
      current?.delete(subscription);
      if (current && current.size === 0) this.channels.delete(channel);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
  }
}
