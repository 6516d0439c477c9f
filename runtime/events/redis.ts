/**
 * Redis EventLog and Bus: the shared implementation for multi-process setups.
 *
 * Owns: the Redis stream layout (one stream per key under `keyPrefix`, one
 * field `e` holding the event JSON), reset detection, and the ONE live reader
 * per RedisEventLog that serves every follower of every key.
 * Redis >= 7.0 is recommended (XINFO STREAM `entries-added`); on 6.2 reset
 * detection is more conservative (see cursorLost).
 *
 * Appending: a Lua script adds each batch's events (XADD), cancels retention
 * (PERSIST) and publishes the batch on the key's live channel, together with
 * the id of the entry that preceded it, all atomically. The appends made
 * during one turn of the event loop, whatever their keys, go out as one
 * script call (see sendAppends). The streams of one call must live on one
 * Redis server: the log does not support Redis Cluster.
 *
 * Following is push-based: the reader connection SUBSCRIBEs to the live
 * channel of every followed key; no command is sent per event. Because each
 * published batch names its predecessor, the reader knows when it has missed
 * something (a message lost while reconnecting, entries appended before its
 * SUBSCRIBE took effect) and then reads the gap from the stream with XRANGE.
 * A batch appended by this process reaches its followers here from the
 * script's reply (which names the predecessor too), a moment before its
 * pub/sub message, which is then skipped after reading its first two lines.
 *
 * Connections per RedisEventLog: `commands` (auto-pipelined) and `reader`
 * (SUBSCRIBE only). RedisBus has a publisher and a subscriber connection.
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
const HEALTH_TIMEOUT_MS = 1_000;
const RETRY_DELAY_MS = 100;
/** Id of "before the first entry": a stream that is empty or does not exist. */
const START = '0-0';

/**
 * Appends to one or more streams in one call. KEYS: the streams. ARGV[1]:
 * MAXLEN; then, for each key in order, its live channel, its number of
 * events n, and the events' JSON (n values). Returns, per key, `[prev, id,
 * id, …]`: the id of the entry before its batch (0-0 for a new stream), then
 * the new ids. Publishes on each key's channel
 * `prev \n last \n id \n json \n id \n json …`, where last is the batch's
 * last id. JSON text never contains a raw newline, so the message splits on
 * '\n'. A key may appear twice; its second batch then follows its first.
 */
const APPEND_SCRIPT = `
local replies = {}
local a = 2
for k = 1, #KEYS do
  local channel = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  local last = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)
  local prev = last[1] and last[1][1] or '0-0'
  local ids = { prev }
  local entries = {}
  for i = a, a + n - 1 do
    local id = redis.call('XADD', KEYS[k], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i])
    ids[#ids + 1] = id
    entries[#entries + 1] = id
    entries[#entries + 1] = ARGV[i]
  end
  a = a + n
  redis.call('PERSIST', KEYS[k])
  redis.call('PUBLISH', channel, prev .. '\\n' .. ids[#ids] .. '\\n' .. table.concat(entries, '\\n'))
  replies[k] = ids
end
return replies
`;

/** Most appends sent in one script call (each call blocks Redis while it runs). */
const APPENDS_PER_CALL = 128;

type AppendCommand = (keyCount: number, ...keysThenArgs: (string | number)[]) => Promise<string[][]>;

interface QueuedAppend {
  key: string;
  events: LogEvent[];
  json: string[];
  resolve: (ids: string[]) => void;
  reject: (error: unknown) => void;
}

const NEWLINE = 0x0a;

type FollowItem = LogEntry | { reset: true };

/** A followed key, as seen by the reader. */
interface Watch {
  redisKey: string;
  /** The reader's position in this key: every follower gets every entry after it. */
  lastId: string;
  followers: Set<FollowerQueue>;
  /** True while the reader reads a gap from the stream; live messages wait in `held`. */
  syncing: boolean;
  held: Buffer[];
}

export class RedisEventLog implements EventLog {
  readonly kind = 'redis' as const;
  private readonly prefix: string;
  private readonly maxLen: number;
  private readonly logger: EventsLogger;
  private readonly commands: Redis;
  private readonly appendBatch: AppendCommand;
  private readonly reader: Redis;

  /** Appends waiting for this turn of the event loop to end (see sendAppends). */
  private appendQueue: QueuedAppend[] = [];
  /** Followed keys by live channel name. */
  private readonly watched = new Map<string, Watch>();
  private readerConnectedBefore = false;
  private closed = false;

  constructor(url: string, options: RedisEventsOptions = {}) {
    this.prefix = options.keyPrefix ?? 'conclave:';
    this.maxLen = options.maxLen ?? 100_000;
    this.logger = options.logger ?? consoleLogger;
    if (!Number.isInteger(this.maxLen) || this.maxLen < 1) throw new Error('maxLen must be a positive integer');

    this.commands = new Redis(url, { enableAutoPipelining: true, connectionName: connectionName(this.prefix, 'events') });
    this.commands.on('error', (error: Error) => this.logger.warn({ err: error }, 'event log redis connection error'));
    // No numberOfKeys: each call says how many streams it appends to.
    this.commands.defineCommand('conclaveAppend', { lua: APPEND_SCRIPT });
    const commands = this.commands as unknown as { conclaveAppend: AppendCommand };
    this.appendBatch = commands.conclaveAppend.bind(this.commands);

    const readerOptions: RedisOptions = {
      connectionName: connectionName(this.prefix, 'events-reader'),
      // Re-subscribed by onReaderReady, which then reads what was missed.
      autoResubscribe: false,
      maxRetriesPerRequest: null,
    };
    this.reader = new Redis(url, readerOptions);
    this.reader.on('error', (error: Error) => this.logger.warn({ err: error }, 'event log reader connection error'));
    this.reader.on('ready', () => this.onReaderReady());
    // Buffers, not strings: a batch this process appended itself is recognised
    // from its first line and skipped without decoding the rest.
    this.reader.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onLive(channel.toString(), message));
  }

  async append(key: string, events: LogEvent[]): Promise<string[]> {
    this.assertOpen();
    if (events.length === 0) return [];
    const json = events.map((event) => JSON.stringify(event));
    return new Promise<string[]>((resolve, reject) => {
      this.appendQueue.push({ key, events, json, resolve, reject });
      if (this.appendQueue.length === 1) setImmediate(() => this.sendAppends());
    });
  }

  /**
   * Sends every append queued during this turn of the event loop, in one
   * script call per APPENDS_PER_CALL appends whatever their keys: the appends
   * of sessions whose tokens arrived together cost one command and one
   * socket write, not one each. setImmediate runs right after the I/O
   * callbacks that queued them, so this adds no waiting beyond that turn.
   * A failed call fails every append in it.
   */
  private sendAppends(): void {
    const queued = this.appendQueue;
    this.appendQueue = [];
    for (let start = 0; start < queued.length; start += APPENDS_PER_CALL) {
      const appends = queued.slice(start, start + APPENDS_PER_CALL);
      const keys: string[] = [];
      const args: (string | number)[] = [this.maxLen];
      for (const append of appends) {
        keys.push(this.key(append.key));
        args.push(this.channel(append.key), append.json.length, ...append.json);
      }
      this.appendBatch(keys.length, ...keys, ...args).then(
        (replies) => {
          appends.forEach((append, i) => {
            const reply = replies[i]!;
            const ids = reply.slice(1).map(String);
            this.deliverOwn(append, String(reply[0]), ids);
            append.resolve(ids);
          });
        },
        (error: unknown) => {
          for (const append of appends) append.reject(error);
        },
      );
    }
  }

  /**
   * Hands a batch this process appended to its own followers as soon as Redis
   * confirms it, without waiting for (and decoding) its pub/sub message. Only
   * when the batch directly follows what the followers already have: if an
   * entry in between has not reached this process yet, the live message (or a
   * gap read) delivers the batch in order instead.
   */
  private deliverOwn(append: QueuedAppend, prev: string, ids: string[]): void {
    const watch = this.watched.get(this.channel(append.key));
    if (!watch || watch.syncing || compareIds(prev, watch.lastId) > 0) return;
    this.deliver(
      watch,
      ids.map((id, i) => ({ id, event: append.events[i]!, json: append.json[i]! })),
    );
  }

  async read(key: string, after: string | null, limit?: number): Promise<ReadResult> {
    this.assertOpen();
    return this.readKey(this.key(key), after, limit);
  }

  follow(key: string, options: FollowOptions): AsyncIterable<LogEntry | { reset: true }> {
    if (options.after !== null && !isEntryId(options.after)) throw new Error(`invalid entry id: ${options.after}`);
    return this.followKey(key, options);
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
    this.reader.disconnect();
    this.commands.disconnect();
  }

  // ---- reading -------------------------------------------------------------

  private key(key: string): string {
    return this.prefix + key;
  }

  /** The pub/sub channel a key's appends are announced on. */
  private channel(key: string): string {
    return `${this.prefix}live:${key}`;
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

  /** XRANGE entries `[[id, [field, value, ...]], ...]` to LogEntry[]. */
  private parseEntries(raw: unknown): LogEntry[] {
    if (!Array.isArray(raw)) return [];
    const entries: LogEntry[] = [];
    for (const item of raw as [string, unknown[]][]) {
      const [id, fields] = item;
      const entry = this.parseEntry(id, String(fields[fields.indexOf('e') + 1]));
      if (entry) entries.push(entry);
    }
    return entries;
  }

  private parseEntry(id: string, json: string): LogEntry | null {
    try {
      return { id, event: JSON.parse(json) as LogEvent, json };
    } catch (error) {
      // Only our own script writes these streams; a bad entry is logged, not delivered.
      this.logger.error({ err: error, id }, 'event log entry is not valid JSON');
      return null;
    }
  }

  // ---- following -----------------------------------------------------------

  private async *followKey(key: string, { after, signal }: FollowOptions): AsyncGenerator<FollowItem> {
    const redisKey = this.key(key);
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
        const pageEnd = page.entries.at(-1)?.id ?? cursor ?? START;
        if (page.entries.length < PAGE) {
          // 2. Join the live fan-out in the same tick as the last page.
          ({ queue, gapUntil } = this.join(key, pageEnd));
        }
        for (const entry of page.entries) {
          yield entry;
          cursor = entry.id;
          if (signal.aborted || this.closed) return;
        }
        cursor = pageEnd;
      }
      let position: string = cursor ?? START;

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
          position = START;
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
      if (queue) this.leave(key, queue);
    }
  }

  /**
   * Registers a follower whose history ends at `cursor` with the reader.
   * `gapUntil` is set when the reader is already past the cursor.
   */
  private join(key: string, cursor: string): { queue: FollowerQueue; gapUntil: string | null } {
    const queue = new FollowerQueue(cursor);
    const channel = this.channel(key);
    const watch = this.watched.get(channel);
    if (watch) {
      watch.followers.add(queue);
      return { queue, gapUntil: compareIds(watch.lastId, cursor) > 0 ? watch.lastId : null };
    }
    // Live messages wait until the subscription is active and the stream has
    // been read once more: entries appended before SUBSCRIBE took effect are
    // only in the stream.
    const created: Watch = { redisKey: this.key(key), lastId: cursor, followers: new Set([queue]), syncing: true, held: [] };
    this.watched.set(channel, created);
    this.reader.subscribe(channel).then(
      () => void this.sync(channel, created, true),
      (error: unknown) => this.logger.warn({ err: error }, 'event log reader: SUBSCRIBE failed; retried on reconnect'),
    );
    return { queue, gapUntil: null };
  }

  private leave(key: string, queue: FollowerQueue): void {
    const channel = this.channel(key);
    const watch = this.watched.get(channel);
    if (!watch) return;
    watch.followers.delete(queue);
    if (watch.followers.size > 0) return;
    this.watched.delete(channel);
    if (!this.closed) this.reader.unsubscribe(channel).catch(() => undefined);
  }

  /** A batch published by an append (see APPEND_SCRIPT for the format). */
  private onLive(channel: string, message: Buffer): void {
    const watch = this.watched.get(channel);
    if (!watch) return; // nobody here follows this key any more
    if (watch.syncing) {
      watch.held.push(message);
      return;
    }
    const prevEnd = message.indexOf(NEWLINE);
    const lastEnd = message.indexOf(NEWLINE, prevEnd + 1);
    if (prevEnd < 0 || lastEnd < 0) return this.logger.error({ channel }, 'event log: malformed live message');
    // Ids are ASCII: read them without decoding the whole message.
    if (compareIds(message.toString('latin1', prevEnd + 1, lastEnd), watch.lastId) <= 0) return; // delivered already (our own append)
    if (compareIds(message.toString('latin1', 0, prevEnd), watch.lastId) > 0) {
      // Something between our position and this batch never reached us: read it all from the stream.
      watch.held.push(message);
      void this.sync(channel, watch);
      return;
    }
    const lines = message.toString('utf8', lastEnd + 1).split('\n');
    const entries: LogEntry[] = [];
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const entry = this.parseEntry(lines[i]!, lines[i + 1]!);
      if (entry) entries.push(entry);
    }
    this.deliver(watch, entries);
  }

  /**
   * Reads a watch's stream from its position to the end, delivering as it
   * goes, then replays the live messages held meanwhile. Retries while Redis
   * is unreachable; stops when the key is no longer followed.
   */
  private async sync(channel: string, watch: Watch, alreadySyncing = false): Promise<void> {
    if (watch.syncing && !alreadySyncing) return; // the running sync replays what arrives meanwhile
    watch.syncing = true;
    const current = () => !this.closed && this.watched.get(channel) === watch;
    while (current()) {
      try {
        const page = await this.readKey(watch.redisKey, watch.lastId === START ? null : watch.lastId, PAGE);
        if (!current()) return;
        if (page.reset) {
          // Trimmed past our position: followers start again from the oldest retained entry.
          for (const follower of watch.followers) follower.pushReset();
          watch.lastId = START;
          continue;
        }
        this.deliver(watch, page.entries);
        if (page.entries.length < PAGE) break;
      } catch (error) {
        this.logger.warn({ err: error }, 'event log reader: catch-up read failed, retrying');
        await sleep(RETRY_DELAY_MS);
      }
    }
    watch.syncing = false;
    const held = watch.held;
    watch.held = [];
    for (const message of held) this.onLive(channel, message);
  }

  /** Hands entries after the watch's position to its followers (one synchronous step). */
  private deliver(watch: Watch, entries: LogEntry[]): void {
    for (const entry of entries) {
      if (compareIds(entry.id, watch.lastId) <= 0) continue;
      watch.lastId = entry.id;
      for (const follower of watch.followers) follower.push(entry);
    }
  }

  /** After a reconnect: subscribe again, then read whatever was appended while away. */
  private onReaderReady(): void {
    if (!this.readerConnectedBefore) {
      this.readerConnectedBefore = true;
      return;
    }
    const channels = [...this.watched.keys()];
    if (channels.length === 0) return;
    for (const watch of this.watched.values()) watch.syncing = true;
    this.reader.subscribe(...channels).then(
      () => {
        for (const channel of channels) {
          const watch = this.watched.get(channel);
          if (watch) void this.sync(channel, watch, true);
        }
      },
      (error: unknown) => this.logger.warn({ err: error }, 'event log reader: SUBSCRIBE after reconnect failed'),
    );
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
  private abortSignal: AbortSignal | null = null;
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
        if (this.head === this.items.length) {
          // Drained: drop the delivered entries now rather than holding them.
          this.items.length = 0;
          this.head = 0;
        } else if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        return item;
      }
      if (this.abortSignal !== signal) {
        // One listener per signal for the queue's whole life, not one per wait.
        this.abortSignal = signal;
        signal.addEventListener('abort', () => this.notify(), { once: true });
      }
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
      });
    }
  }

  private notify(): void {
    const wakeUp = this.wakeUp;
    this.wakeUp = null;
    wakeUp?.();
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
 * CLIENT SETNAME value for our connections, e.g. `conclave:events-reader`,
 * so CLIENT LIST shows which application and role each connection has.
 */
export function connectionName(prefix: string, role: string): string {
  return `${prefix}${role}`.replace(/[^\w:.-]/g, '_');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
