/**
 * Redis EventLog and Bus: the shared implementation for multi-process setups.
 *
 * Owns: the Redis stream layout (one stream per key under `keyPrefix`, one
 * field `e` holding the event JSON), reset detection, and the ONE multiplexed
 * reader per RedisEventLog that serves every live follower of every key.
 * Redis >= 7.0 is recommended (XINFO STREAM `entries-added`); on 6.2 reset
 * detection is more conservative (see cursorLost).
 *
 * Connections per RedisEventLog: `commands` (auto-pipelined, everything but the
 * blocking read) and `reader` (only XREAD BLOCK, plus CLIENT ID after each
 * connect). RedisBus has a publisher and a dedicated subscriber connection.
 *
 * How a follower avoids gaps and duplicates:
 *  1. Catch-up: XRANGE pages from its own cursor until a short page.
 *  2. Join: in the same tick as that last page, it registers with the reader.
 *     The reader guarantees every follower of a key receives every entry after
 *     `watch.lastId` (it updates lastId and pushes in one synchronous step).
 *     If the reader is already past the follower's cursor, the follower reads
 *     the missing range (cursor, lastId] with XRANGE before going live.
 *  3. Live: entries from the follower's queue, skipping ids <= its cursor.
 * Each follower has an unbounded queue: a slow consumer costs memory, never
 * loses events.
 */
import { Redis, type RedisOptions } from 'ioredis';
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

/** The subset of a pino logger used here. */
export interface EventsLogger {
  warn(details: object, message?: string): void;
  error(details: object, message?: string): void;
}

export interface RedisEventsOptions {
  /** Prepended to every stream key and bus channel (default 'conclave:'). */
  keyPrefix?: string;
  /** Approximate most entries kept per key (XADD MAXLEN ~; default 100,000). */
  maxLen?: number;
  logger?: EventsLogger;
}

const consoleLogger: EventsLogger = {
  warn: (details, message) => console.warn(message ?? '', details),
  error: (details, message) => console.error(message ?? '', details),
};

/** XRANGE page size for catch-up reads. */
const PAGE = 500;
/** Most entries per key in one XREAD reply. */
const READ_COUNT = 500;
/**
 * XREAD BLOCK time. New keys wake the reader at once through CLIENT UNBLOCK;
 * this bound only limits how long a missed wake-up could delay a new key.
 */
const BLOCK_MS = 5_000;
const HEALTH_TIMEOUT_MS = 1_000;
const RETRY_DELAY_MS = 100;

type FollowItem = LogEntry | { reset: true };

/** Keys with live followers, as seen by the reader. */
interface Watch {
  /** The reader's position in this key: every follower gets every entry after it. */
  lastId: string;
  followers: Set<FollowerQueue>;
  /** Set after the reader reconnects: check the next batch for a trimmed gap. */
  recheck: boolean;
}

export class RedisEventLog implements EventLog {
  readonly kind = 'redis' as const;
  private readonly prefix: string;
  private readonly maxLen: number;
  private readonly logger: EventsLogger;
  private readonly commands: Redis;
  private readonly reader: Redis;

  private readonly watched = new Map<string, Watch>();
  /** Bumped whenever a key joins the XREAD set. */
  private keyGeneration = 0;
  /** The XREAD in flight: its number and the key generation it covers. */
  private inFlight: { call: number; generation: number } | null = null;
  private callCounter = 0;
  /** The XREAD call already woken by CLIENT UNBLOCK (avoid waking it twice). */
  private unblockedCall = -1;
  private waking = false;
  /** CLIENT ID of the reader connection; null while it is (re)connecting. */
  private readerClientId: number | null = null;
  private readerConnectedBefore = false;
  /** Resolves the reader loop's idle wait (no keys followed). */
  private idleWake: (() => void) | null = null;
  private readonly loopDone: Promise<void>;
  private closed = false;
  /** Resolves when close() starts, so the loop never waits on a dead connection. */
  private readonly closing: Promise<void>;
  private signalClosing: () => void = () => undefined;

  constructor(url: string, options: RedisEventsOptions = {}) {
    this.prefix = options.keyPrefix ?? 'conclave:';
    this.maxLen = options.maxLen ?? 100_000;
    this.logger = options.logger ?? consoleLogger;
    if (!Number.isInteger(this.maxLen) || this.maxLen < 1) throw new Error('maxLen must be a positive integer');

    this.commands = new Redis(url, { enableAutoPipelining: true, connectionName: connectionName(this.prefix, 'events') });
    this.commands.on('error', (error: Error) => this.logger.warn({ err: error }, 'event log redis connection error'));

    const readerOptions: RedisOptions = {
      connectionName: connectionName(this.prefix, 'events-reader'),
      // Never give up on the pending XREAD: after a reconnect ioredis re-sends
      // it with the same explicit ids, so nothing is skipped.
      maxRetriesPerRequest: null,
    };
    this.reader = new Redis(url, readerOptions);
    this.reader.on('error', (error: Error) => this.logger.warn({ err: error }, 'event log reader connection error'));
    this.reader.on('close', () => {
      this.readerClientId = null;
    });
    this.reader.on('ready', () => this.onReaderReady());

    this.closing = new Promise((resolve) => {
      this.signalClosing = resolve;
    });
    this.loopDone = this.readLoop();
  }

  async append(key: string, events: LogEvent[]): Promise<string[]> {
    this.assertOpen();
    if (events.length === 0) return [];
    const redisKey = this.key(key);
    const pipeline = this.commands.pipeline();
    for (const event of events) {
      pipeline.xadd(redisKey, 'MAXLEN', '~', this.maxLen, '*', 'e', JSON.stringify(event));
    }
    pipeline.persist(redisKey); // an append cancels retention
    const results = (await pipeline.exec()) ?? [];
    const ids: string[] = [];
    for (const [error, id] of results.slice(0, events.length)) {
      if (error) throw error;
      ids.push(String(id));
    }
    return ids;
  }

  async read(key: string, after: string | null, limit?: number): Promise<ReadResult> {
    this.assertOpen();
    return this.readKey(this.key(key), after, limit);
  }

  follow(key: string, options: FollowOptions): AsyncIterable<LogEntry | { reset: true }> {
    if (options.after !== null && !isEntryId(options.after)) throw new Error(`invalid entry id: ${options.after}`);
    return this.followKey(this.key(key), options);
  }

  async retain(key: string, seconds: number): Promise<void> {
    this.assertOpen();
    // PEXPIRE rather than EXPIRE: fractional seconds behave as in the memory log.
    await this.commands.pexpire(this.key(key), Math.max(0, Math.round(seconds * 1000)));
  }

  async remove(key: string): Promise<void> {
    this.assertOpen();
    await this.commands.del(this.key(key));
  }

  async health(): Promise<'ok' | 'error'> {
    if (this.closed) return 'error';
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'error'>((resolve) => {
      timer = setTimeout(() => resolve('error'), HEALTH_TIMEOUT_MS);
    });
    const ping = this.commands.ping().then(
      (reply) => (reply === 'PONG' ? ('ok' as const) : ('error' as const)),
      () => 'error' as const,
    );
    try {
      return await Promise.race([ping, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watch of this.watched.values()) {
      for (const follower of watch.followers) follower.end();
    }
    this.watched.clear();
    this.idleWake?.();
    this.signalClosing();
    this.reader.disconnect();
    await this.loopDone;
    this.commands.disconnect();
  }

  // ---- reading -------------------------------------------------------------

  private key(key: string): string {
    return this.prefix + key;
  }

  private async readKey(redisKey: string, after: string | null, limit?: number): Promise<ReadResult> {
    if (after !== null && !isEntryId(after)) throw new Error(`invalid entry id: ${after}`);
    const range = ['XRANGE', redisKey, after === null ? '-' : `(${after}`, '+'];
    if (limit !== undefined) range.push('COUNT', String(limit));
    // Both commands go out in the same auto-pipelined batch. The reset check
    // runs after the XRANGE, so a trim in between can only cause a spurious
    // reset, never a missed one.
    const [raw, reset] = await Promise.all([
      this.commands.call(...(range as [string, ...string[]])),
      after === null ? Promise.resolve(false) : this.cursorLost(redisKey, after),
    ]);
    return { entries: this.parseEntries(raw), reset };
  }

  /**
   * True when a stream can no longer be continued after `after`.
   *
   * Reset rule (nothing extra is stored; one XINFO STREAM):
   *  - the key does not exist (expired or removed): reset;
   *  - `max-deleted-entry-id` > after (an XDEL removed an entry after the cursor): reset;
   *  - otherwise, if entries were trimmed (`entries-added` > `length`) and the
   *    oldest retained entry is newer than the cursor: reset. Trimming removes
   *    the oldest entries and Redis does not record the last trimmed id, so a
   *    cursor sitting exactly on the last trimmed entry is also reported as
   *    reset: conservative (a needless refetch), never a silent gap.
   *    (MAXLEN trimming does not move `max-deleted-entry-id`, hence this rule.)
   *  - an empty stream that has lost entries: reset when it ever held an id
   *    newer than the cursor (`last-generated-id`).
   * On Redis < 7.0 (no `entries-added`) every stream counts as trimmed.
   * Known limit: a cursor from a key that expired and was then re-created is
   * not detected (the new stream has lost nothing).
   */
  private async cursorLost(redisKey: string, after: string): Promise<boolean> {
    let reply: unknown;
    try {
      reply = await this.commands.call('XINFO', 'STREAM', redisKey);
    } catch (error) {
      if (error instanceof Error && /no such key/i.test(error.message)) return true;
      throw error;
    }
    const info = new Map<string, unknown>();
    const fields = Array.isArray(reply) ? reply : [];
    for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1]);

    const maxDeleted = info.get('max-deleted-entry-id');
    if (typeof maxDeleted === 'string' && compareIds(maxDeleted, after) > 0) return true;

    const length = Number(info.get('length'));
    const added = info.get('entries-added');
    const trimmed = added === undefined || Number(added) > length;
    if (!trimmed) return false;
    if (length === 0) return compareIds(String(info.get('last-generated-id')), after) > 0;
    const firstEntry = info.get('first-entry');
    const firstId = Array.isArray(firstEntry) ? String(firstEntry[0]) : null;
    return firstId !== null && compareIds(firstId, after) > 0;
  }

  /** XRANGE / XREAD entries `[[id, [field, value, ...]], ...]` to LogEntry[]. */
  private parseEntries(raw: unknown): LogEntry[] {
    if (!Array.isArray(raw)) return [];
    const entries: LogEntry[] = [];
    for (const item of raw as [string, unknown[]][]) {
      const [id, fields] = item;
      const index = fields.indexOf('e');
      try {
        entries.push({ id, event: JSON.parse(String(fields[index + 1])) as LogEvent });
      } catch (error) {
        // Only our own XADD writes these streams; a bad entry is logged, not delivered.
        this.logger.error({ err: error, id }, 'event log entry is not valid JSON');
      }
    }
    return entries;
  }

  // ---- following -----------------------------------------------------------

  private async *followKey(redisKey: string, { after, signal }: FollowOptions): AsyncGenerator<FollowItem> {
    let cursor = after;
    let queue: FollowerQueue | null = null;
    try {
      // 1. Catch up from history until a short page.
      let gapUntil: string | null = null;
      while (queue === null) {
        const page = await this.readKey(redisKey, cursor, PAGE);
        if (signal.aborted || this.closed) return;
        if (page.reset) {
          yield { reset: true };
          cursor = null;
          continue;
        }
        const pageEnd = page.entries.at(-1)?.id ?? cursor ?? '0-0';
        if (page.entries.length < PAGE) {
          // 2. Join the live fan-out in the same tick as the last page.
          ({ queue, gapUntil } = this.join(redisKey, pageEnd));
        }
        for (const entry of page.entries) {
          yield entry;
          cursor = entry.id;
          if (signal.aborted || this.closed) return;
        }
        cursor = pageEnd;
      }
      let position: string = cursor ?? '0-0';

      // The reader was already past our cursor: read the range it skipped for us.
      while (gapUntil !== null && compareIds(gapUntil, position) > 0) {
        const raw = await this.commands.call('XRANGE', redisKey, `(${position}`, gapUntil, 'COUNT', String(PAGE));
        if (signal.aborted || this.closed) return;
        const entries = this.parseEntries(raw);
        if (entries.length === 0) break; // trimmed or removed meanwhile
        for (const entry of entries) {
          yield entry;
          position = entry.id;
          if (signal.aborted || this.closed) return;
        }
      }

      // 3. Live.
      for (;;) {
        const item = await queue.next(signal);
        if (item === null) return;
        if ('reset' in item) {
          // The reader found a trimmed gap: go on from whatever it delivers next.
          yield item;
          position = '0-0';
          continue;
        }
        if (compareIds(item.id, position) <= 0) continue; // already delivered
        yield item;
        position = item.id;
        if (signal.aborted || this.closed) return;
      }
    } catch (error) {
      // close() drops the connections under pending reads: end quietly then.
      if (this.closed || signal.aborted) return;
      throw error;
    } finally {
      if (queue) this.leave(redisKey, queue);
    }
  }

  /**
   * Registers a follower whose history ends at `cursor` with the reader.
   * `gapUntil` is set when the reader is already past the cursor.
   */
  private join(redisKey: string, cursor: string): { queue: FollowerQueue; gapUntil: string | null } {
    const queue = new FollowerQueue(cursor);
    const watch = this.watched.get(redisKey);
    if (watch) {
      watch.followers.add(queue);
      return { queue, gapUntil: compareIds(watch.lastId, cursor) > 0 ? watch.lastId : null };
    }
    this.watched.set(redisKey, { lastId: cursor, followers: new Set([queue]), recheck: false });
    this.keyGeneration += 1;
    if (this.idleWake) this.idleWake();
    else this.wakeReader();
    return { queue, gapUntil: null };
  }

  private leave(redisKey: string, queue: FollowerQueue): void {
    const watch = this.watched.get(redisKey);
    if (!watch) return;
    watch.followers.delete(queue);
    // The next XREAD leaves this key out; no need to wake the reader for that.
    if (watch.followers.size === 0) this.watched.delete(redisKey);
  }

  /** The reader loop: one XREAD BLOCK over every followed key, forever. */
  private async readLoop(): Promise<void> {
    while (!this.closed) {
      if (this.watched.size === 0) {
        await new Promise<void>((resolve) => {
          this.idleWake = resolve;
        });
        this.idleWake = null;
        continue;
      }

      const keys = [...this.watched.keys()];
      const ids = keys.map((key) => this.watched.get(key)!.lastId);
      const call = ++this.callCounter;
      this.inFlight = { call, generation: this.keyGeneration };
      let reply: unknown;
      try {
        const xread = this.reader.call('XREAD', 'COUNT', String(READ_COUNT), 'BLOCK', String(BLOCK_MS), 'STREAMS', ...keys, ...ids);
        xread.catch(() => undefined); // may reject after close(); handled below otherwise
        reply = await Promise.race([xread, this.closing]);
      } catch (error) {
        if (this.closed) break;
        this.logger.warn({ err: error }, 'event log reader: XREAD failed, retrying');
        await sleep(RETRY_DELAY_MS);
        continue;
      } finally {
        this.inFlight = null;
      }

      try {
        await this.deliver(streamsOf(reply));
      } catch (error) {
        // The reset check failed (commands connection trouble); the batch is
        // still delivered by the next XREAD since lastId did not move.
        this.logger.warn({ err: error }, 'event log reader: delivery check failed, retrying');
        await sleep(RETRY_DELAY_MS);
      }
    }
  }

  /** Fans one XREAD reply out to the followers of each key. */
  private async deliver(reply: [string, unknown][]): Promise<void> {
    for (const [redisKey, raw] of reply) {
      const watch = this.watched.get(redisKey);
      if (!watch) continue; // nobody follows this key any more
      const before = watch.lastId;
      const entries = this.parseEntries(raw).filter((entry) => compareIds(entry.id, before) > 0);
      if (entries.length === 0) continue;

      // A full batch means the reader is behind (or it just reconnected):
      // trimming may have outrun it, so check for a gap before delivering.
      const full = Array.isArray(raw) && raw.length >= READ_COUNT;
      if (full || watch.recheck) {
        const lost = await this.cursorLost(redisKey, before);
        watch.recheck = false;
        if (lost) for (const follower of watch.followers) follower.pushReset();
      }

      // Move lastId and push in one synchronous step (see the file header).
      watch.lastId = entries[entries.length - 1]!.id;
      for (const follower of watch.followers) {
        for (const entry of entries) follower.push(entry);
      }
    }
  }

  // ---- waking the reader ---------------------------------------------------

  private onReaderReady(): void {
    // A reconnect gives the reader a new client id; fetch it first thing
    // (this goes out before ioredis re-sends the pending XREAD).
    this.reader.client('ID').then(
      (id) => {
        this.readerClientId = id;
        if (this.readerIsStale()) this.wakeReader();
      },
      (error: unknown) => this.logger.warn({ err: error }, 'event log reader: CLIENT ID failed'),
    );
    if (this.readerConnectedBefore) {
      for (const watch of this.watched.values()) watch.recheck = true;
    }
    this.readerConnectedBefore = true;
  }

  /** True while the in-flight XREAD lacks a key that was added since, and was not woken yet. */
  private readerIsStale(): boolean {
    const inFlight = this.inFlight;
    return inFlight !== null && inFlight.generation < this.keyGeneration && this.unblockedCall !== inFlight.call;
  }

  /** Wakes the blocked XREAD (CLIENT UNBLOCK from the commands connection) so it picks up new keys. */
  private wakeReader(): void {
    if (this.waking || this.closed) return;
    this.waking = true;
    void this.unblockReader().finally(() => {
      this.waking = false;
      if (this.readerIsStale()) this.wakeReader();
    });
  }

  private async unblockReader(): Promise<void> {
    while (this.readerIsStale() && !this.closed) {
      const id = this.readerClientId;
      const call = this.inFlight?.call ?? -1;
      if (id !== null) {
        try {
          const unblocked = await this.commands.call('CLIENT', 'UNBLOCK', String(id));
          if (unblocked === 1) {
            this.unblockedCall = call;
            return;
          }
        } catch (error) {
          this.logger.warn({ err: error }, 'event log: CLIENT UNBLOCK failed');
        }
      }
      // Not blocked yet (the XREAD is still on its way) or reconnecting: try again shortly.
      await sleep(10);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('event log is closed');
  }
}

/**
 * One live follower's queue: the reader pushes, the follower pulls.
 * Unbounded by design: it never drops an event.
 */
class FollowerQueue {
  private items: FollowItem[] = [];
  private head = 0;
  private wakeUp: (() => void) | null = null;
  private ended = false;

  /** @param lastQueuedId entries at or before this id are ignored (already delivered). */
  constructor(private lastQueuedId: string | null) {}

  push(entry: LogEntry): void {
    if (this.lastQueuedId !== null && compareIds(entry.id, this.lastQueuedId) <= 0) return;
    this.items.push(entry);
    this.lastQueuedId = entry.id;
    this.notify();
  }

  pushReset(): void {
    this.items.push({ reset: true });
    this.lastQueuedId = null;
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  /** The next item, or null once ended or aborted. */
  async next(signal: AbortSignal): Promise<FollowItem | null> {
    for (;;) {
      if (this.ended || signal.aborted) return null;
      if (this.head < this.items.length) {
        const item = this.items[this.head]!;
        this.head += 1;
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        return item;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          this.wakeUp = null;
          resolve();
        };
        this.wakeUp = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  private notify(): void {
    this.wakeUp?.();
  }
}

/** Pub/sub over Redis PUBLISH/SUBSCRIBE; messages are JSON. */
export class RedisBus implements Bus {
  readonly kind = 'redis' as const;
  private readonly prefix: string;
  private readonly logger: EventsLogger;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  /** Handlers per full channel name. */
  private readonly handlers = new Map<string, Set<BusHandler>>();
  private closed = false;

  constructor(url: string, options: Omit<RedisEventsOptions, 'maxLen'> = {}) {
    this.prefix = options.keyPrefix ?? 'conclave:';
    this.logger = options.logger ?? consoleLogger;
    this.publisher = new Redis(url, { enableAutoPipelining: true, connectionName: connectionName(this.prefix, 'bus') });
    this.subscriber = new Redis(url, { connectionName: connectionName(this.prefix, 'bus-subscriber') });
    this.publisher.on('error', (error: Error) => this.logger.warn({ err: error }, 'bus redis connection error'));
    this.subscriber.on('error', (error: Error) => this.logger.warn({ err: error }, 'bus subscriber connection error'));
    this.subscriber.on('message', (channel: string, payload: string) => this.dispatch(channel, payload));
  }

  async publish(channel: string, message: LogEvent): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    await this.publisher.publish(this.prefix + channel, JSON.stringify(message));
  }

  async subscribe(channel: string, handler: BusHandler): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('bus is closed');
    const name = this.prefix + channel;
    const subscription: BusHandler = (message) => handler(message);
    let handlers = this.handlers.get(name);
    if (!handlers) {
      handlers = new Set();
      this.handlers.set(name, handlers);
    }
    handlers.add(subscription);
    // Commands on one connection run in order, so this SUBSCRIBE cannot be
    // overtaken by an earlier UNSUBSCRIBE of the same channel.
    if (handlers.size === 1) await this.subscriber.subscribe(name);
    return async () => {
      const current = this.handlers.get(name);
      if (!current || !current.delete(subscription)) return;
      if (current.size === 0) {
        this.handlers.delete(name);
        if (!this.closed) await this.subscriber.unsubscribe(name);
      }
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handlers.clear();
    this.subscriber.disconnect();
    this.publisher.disconnect();
  }

  private dispatch(channel: string, payload: string): void {
    const handlers = this.handlers.get(channel);
    if (!handlers) return;
    let message: LogEvent;
    try {
      message = JSON.parse(payload) as LogEvent;
    } catch (error) {
      this.logger.error({ err: error, channel }, 'bus message is not valid JSON');
      return;
    }
    for (const handler of [...handlers]) {
      try {
        handler(message);
      } catch (error) {
        this.logger.error({ err: error, channel }, 'bus handler failed');
      }
    }
  }
}

/**
 * XREAD's reply as `[key, entries]` pairs. RESP2 (and ioredis's own xread())
 * gives nested pairs; `call()` over RESP3 gives the map flattened as
 * `[key1, entries1, key2, entries2, ...]`. Null (timeout/unblock) gives [].
 */
function streamsOf(reply: unknown): [string, unknown][] {
  if (!Array.isArray(reply)) return [];
  if (reply.length > 0 && !Array.isArray(reply[0])) {
    const pairs: [string, unknown][] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) pairs.push([String(reply[i]), reply[i + 1]]);
    return pairs;
  }
  return reply as [string, unknown][];
}

/**
 * CLIENT SETNAME value for our connections, e.g. `conclave:events-reader`,
 * so CLIENT LIST shows which application and role each connection has.
 */
export function connectionName(prefix: string, role: string): string {
  return `${prefix}${role}`.replace(/[^\w:.-]/g, '_');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
