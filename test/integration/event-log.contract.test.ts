/**
 * The EventLog / Bus contract: one suite, run against the memory and the
 * Redis implementations (runtime/events). Redis-only cases at the end cover
 * what memory cannot have: connection loss and cross-process delivery.
 *
 * Every Redis key and channel used here carries a prefix unique to this run,
 * so parallel test files sharing the throwaway Redis never collide.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBus, MemoryEventLog } from '../../runtime/events/memory.js';
import { RedisBus, RedisEventLog, connectionName, type EventsLogger } from '../../runtime/events/redis.js';
import { compareIds, type Bus, type EventLog, type LogEntry } from '../../runtime/events/types.js';
import { describeWith, serviceUrl } from '../support/services.js';

const RUN = randomBytes(4).toString('hex');
const PREFIX = `conclave-test-${RUN}:`;

let keyCounter = 0;
/** A key (or channel) no other test uses. */
function newKey(label: string): string {
  keyCounter += 1;
  return `${label}-${RUN}-${keyCounter}`;
}

/** Connection warnings are expected when tests kill connections; errors are printed. */
const quietLogger: EventsLogger = {
  warn: () => undefined,
  error: (details, message) => console.error(message, details),
};

interface Factory {
  log(options?: { maxLen?: number }): EventLog;
  bus(): Bus;
}

type Item = LogEntry | { reset: true };

interface Follower {
  /** Items received so far (grows while following). */
  items: Item[];
  /** Resolves with the items once `count` arrived, the follower was aborted, or it timed out. */
  done: Promise<Item[]>;
  controller: AbortController;
}

/** Follows `key` until `count` items arrived (or `timeoutMs`), then stops. */
function startFollower(log: EventLog, key: string, after: string | null, count: number, timeoutMs = 20_000): Follower {
  const controller = new AbortController();
  const items: Item[] = [];
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const done = (async () => {
    try {
      if (count === 0) return items;
      for await (const item of log.follow(key, { after, signal: controller.signal })) {
        items.push(item);
        if (items.length >= count) break;
      }
      return items;
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  })();
  return { items, done, controller };
}

function events(from: number, count: number): { n: number }[] {
  return Array.from({ length: count }, (_, i) => ({ n: from + i }));
}

function range(from: number, toInclusive: number): number[] {
  return Array.from({ length: toInclusive - from + 1 }, (_, i) => from + i);
}

/** The `n` of each entry; a reset marker shows as 'reset'. */
function numbers(items: Item[]): (number | 'reset')[] {
  return items.map((item) => ('reset' in item ? 'reset' : (item.event.n as number)));
}

function expectStrictlyIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    expect(compareIds(ids[i - 1]!, ids[i]!), `${ids[i - 1]} < ${ids[i]}`).toBeLessThan(0);
  }
}

function entryIds(items: Item[]): string[] {
  return items.flatMap((item) => ('reset' in item ? [] : [item.id]));
}

function eventLogContract(name: string, factory: Factory): void {
  describe(`${name} event log contract`, () => {
    const opened: { close(): Promise<void> }[] = [];
    const openLog = (options?: { maxLen?: number }) => {
      const log = factory.log(options);
      opened.push(log);
      return log;
    };
    const openBus = () => {
      const bus = factory.bus();
      opened.push(bus);
      return bus;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((item) => item.close()));
    });

    it('reports health ok', async () => {
      const log = openLog();
      expect(log.kind).toBe(name);
      expect(await log.health()).toBe('ok');
    });

    it('keeps batches in order with strictly increasing ids', async () => {
      const log = openLog();
      const key = newKey('order');
      const other = newKey('order-other');
      const ids: string[] = [];
      for (let batch = 0; batch < 3; batch++) {
        const batchIds = await log.append(key, events(batch * 4, 4));
        expect(batchIds).toHaveLength(4);
        ids.push(...batchIds);
        await log.append(other, events(100, 1)); // another key in between must not interfere
      }
      expect(await log.append(key, [])).toEqual([]);
      expectStrictlyIncreasing(ids);

      const all = await log.read(key, null);
      expect(all.reset).toBe(false);
      expect(all.entries.map((e) => e.id)).toEqual(ids);
      expect(numbers(all.entries)).toEqual(range(0, 11));

      const limited = await log.read(key, null, 5);
      expect(numbers(limited.entries)).toEqual(range(0, 4));
    });

    it('gives each entry the JSON text it stored, equal to its event', async () => {
      const log = openLog();
      const key = newKey('json');
      await log.append(key, [{ n: 0, text: 'line one\nline two', nested: { quote: '"' } }]);
      const [entry] = (await log.read(key, null)).entries;
      expect(entry?.json).toBeTypeOf('string');
      expect(JSON.parse(entry!.json!)).toEqual(entry!.event);
      expect(entry!.event).toEqual({ n: 0, text: 'line one\nline two', nested: { quote: '"' } });
    });

    it('resumes strictly after a given id', async () => {
      const log = openLog();
      const key = newKey('resume');
      const ids = await log.append(key, events(0, 10));
      for (const k of [0, 4, 8]) {
        const result = await log.read(key, ids[k]!);
        expect(result.reset).toBe(false);
        expect(numbers(result.entries)).toEqual(range(k + 1, 9));
      }
      const atEnd = await log.read(key, ids[9]!);
      expect(atEnd).toEqual({ entries: [], reset: false });
      await expect(log.read(key, 'not-an-id')).rejects.toThrow(/invalid entry id/);
    });

    it('wakes a waiting follower promptly when an event is appended', async () => {
      const log = openLog();
      const key = newKey('wake');
      const follower = startFollower(log, key, null, 1);
      await sleep(150); // the follower is now idle, waiting
      expect(follower.items).toHaveLength(0);
      const started = Date.now();
      await log.append(key, [{ n: 1 }]);
      const items = await follower.done;
      expect(Date.now() - started).toBeLessThan(500);
      expect(numbers(items)).toEqual([1]);
    });

    it('wakes a follower of a new key while others are already waiting', async () => {
      const log = openLog();
      const idle = startFollower(log, newKey('idle'), null, 1);
      await sleep(150); // the log now waits on the idle key only
      const key = newKey('joined');
      const joined = startFollower(log, key, null, 1);
      await sleep(100);
      const started = Date.now();
      await log.append(key, [{ n: 7 }]);
      const items = await joined.done;
      expect(Date.now() - started).toBeLessThan(500);
      expect(numbers(items)).toEqual([7]);
      idle.controller.abort();
      expect(await idle.done).toEqual([]);
    });

    it('follows from a cursor through history into live events without gaps or duplicates', async () => {
      const log = openLog();
      const key = newKey('catchup');
      const history = await log.append(key, events(0, 50));
      const writer = (async () => {
        for (let n = 50; n < 250; n += 5) {
          await log.append(key, events(n, 5));
          await sleep(1);
        }
      })();
      const follower = startFollower(log, key, history[24]!, 225);
      const [items] = await Promise.all([follower.done, writer]);
      expect(numbers(items)).toEqual(range(25, 249));
      expectStrictlyIncreasing(entryIds(items));
    });

    it('lets followers join a busy, already-followed key at any time without gaps or duplicates', async () => {
      const log = openLog();
      const key = newKey('busy');
      const total = 1000;
      const first = startFollower(log, key, null, total);
      const late: Follower[] = [];
      const writer = (async () => {
        for (let n = 0; n < total; n += 2) {
          const ids = await log.append(key, events(n, 2));
          // Every 10 events another follower joins, from a cursor a little behind.
          if (n % 10 === 0 && n > 0) late.push(startFollower(log, key, ids[0]!, total - n - 1));
          if (n % 10 === 0) await sleep(1);
        }
      })();
      await writer;
      expect(numbers(await first.done)).toEqual(range(0, total - 1));
      const lateResults = await Promise.all(late.map((f) => f.done));
      expect(lateResults.length).toBe(99);
      for (const items of lateResults) {
        const from = numbers(items)[0] as number;
        expect(numbers(items)).toEqual(range(from, total - 1));
        expectStrictlyIncreasing(entryIds(items));
      }
    });

    it('serves 1,000 keys followed at once without losing or duplicating events', { timeout: 90_000 }, async () => {
      const log = openLog();
      const keys = Array.from({ length: 1000 }, () => newKey('many'));
      const followers = keys.map((key) => startFollower(log, key, null, 20, 60_000));
      await sleep(100);
      // 20 events per key, written as four interleaved rounds of batches of 5.
      for (let round = 0; round < 4; round++) {
        await Promise.all(keys.map((key) => log.append(key, events(round * 5, 5))));
      }
      const results = await Promise.all(followers.map((f) => f.done));
      const wrong = results.filter((items) => numbers(items).join() !== range(0, 19).join());
      expect(wrong.length, `followers with a wrong sequence, e.g. ${JSON.stringify(wrong[0])}`).toBe(0);
      for (const items of results) expectStrictlyIncreasing(entryIds(items));
    });

    it('keeps each key in order when appends to many keys, several to one, are issued together', async () => {
      const log = openLog();
      const keys = Array.from({ length: 300 }, () => newKey('together'));
      const followers = keys.map((key) => startFollower(log, key, null, 9));
      await sleep(100);
      // Three appends per key, all issued in one tick, interleaved across keys.
      const appends: Promise<string[]>[][] = keys.map(() => []);
      for (let round = 0; round < 3; round++) {
        keys.forEach((key, k) => appends[k]!.push(log.append(key, events(round * 3, 3))));
      }
      for (const perKey of appends) expectStrictlyIncreasing((await Promise.all(perKey)).flat());
      const results = await Promise.all(followers.map((f) => f.done));
      const wrong = results.filter((items) => numbers(items).join() !== range(0, 8).join());
      expect(wrong.length, `followers with a wrong sequence, e.g. ${JSON.stringify(wrong[0])}`).toBe(0);
      const stored = await log.read(keys[0]!, null);
      expect(numbers(stored.entries)).toEqual(range(0, 8));
    });

    it('drops a retained key after the retention time; an append cancels it', async () => {
      const log = openLog();
      const dropped = newKey('retain');
      const kept = newKey('retain-kept');
      const droppedIds = await log.append(dropped, events(0, 3));
      await log.append(kept, events(0, 1));
      await log.retain(dropped, 1);
      await log.retain(kept, 1);
      await log.append(kept, events(1, 1)); // cancels the expiry

      await sleep(500);
      expect((await log.read(dropped, null)).entries).toHaveLength(3); // not dropped early

      await sleep(1000);
      expect(await log.read(dropped, null)).toEqual({ entries: [], reset: false });
      expect(await log.read(dropped, droppedIds[0]!)).toEqual({ entries: [], reset: true });
      expect(numbers((await log.read(kept, null)).entries)).toEqual([0, 1]);
    });

    it('removes a key at once', async () => {
      const log = openLog();
      const key = newKey('remove');
      const ids = await log.append(key, events(0, 2));
      await log.remove(key);
      expect(await log.read(key, null)).toEqual({ entries: [], reset: false });
      expect((await log.read(key, ids[0]!)).reset).toBe(true);
    });

    it('reports reset for a cursor older than the trimmed range', async () => {
      const log = openLog({ maxLen: 10 });
      const key = newKey('trim');
      const ids: string[] = [];
      for (let n = 0; n < 300; n += 50) ids.push(...(await log.append(key, events(n, 50))));

      const retained = (await log.read(key, null)).entries;
      expect(retained.length).toBeGreaterThanOrEqual(10);
      expect(retained.length).toBeLessThan(300);
      const oldest = retained[0]!.event.n as number;
      expect(numbers(retained)).toEqual(range(oldest, 299));

      const stale = await log.read(key, ids[0]!);
      expect(stale.reset).toBe(true);
      const fresh = await log.read(key, ids[298]!);
      expect(fresh).toEqual({ entries: [expect.objectContaining({ id: ids[299], event: { n: 299 } })], reset: false });

      // A follower from the stale cursor is told first, then gets the retained entries.
      const follower = await startFollower(log, key, ids[0]!, 1 + retained.length).done;
      expect(numbers(follower)).toEqual(['reset', ...range(oldest, 299)]);
      // A follower from a retained cursor is not.
      const recent = await startFollower(log, key, ids[295]!, 4).done;
      expect(numbers(recent)).toEqual([296, 297, 298, 299]);
    });

    it('ends the iteration promptly when the signal aborts', async () => {
      const log = openLog();
      const key = newKey('abort');
      await log.append(key, events(0, 2));
      const follower = startFollower(log, key, null, 100);
      await vi.waitFor(() => expect(follower.items).toHaveLength(2));
      await sleep(100); // now waiting for live events
      const started = Date.now();
      follower.controller.abort();
      const items = await follower.done;
      expect(Date.now() - started).toBeLessThan(200);
      expect(numbers(items)).toEqual([0, 1]);
      await log.append(key, events(2, 1));
      await sleep(50);
      expect(follower.items).toHaveLength(2); // nothing after abort
    });

    it('ends followers on close', async () => {
      const log = openLog();
      const follower = startFollower(log, newKey('close'), null, 1);
      await sleep(100);
      const started = Date.now();
      await log.close();
      expect(await follower.done).toEqual([]);
      expect(Date.now() - started).toBeLessThan(500);
      await expect(log.append(newKey('closed'), events(0, 1))).rejects.toThrow(/closed/);
    });

    it('bus delivers to the subscribers of that channel only, until they unsubscribe', async () => {
      const bus = openBus();
      const channelA = newKey('chan-a');
      const channelB = newKey('chan-b');
      const gotA: unknown[] = [];
      const gotA2: unknown[] = [];
      const gotB: unknown[] = [];
      const unsubscribeA = await bus.subscribe(channelA, (m) => gotA.push(m));
      await bus.subscribe(channelA, (m) => gotA2.push(m));
      await bus.subscribe(channelB, (m) => gotB.push(m));

      await bus.publish(channelA, { x: 1 });
      await vi.waitFor(() => expect(gotA).toEqual([{ x: 1 }]));
      await vi.waitFor(() => expect(gotA2).toEqual([{ x: 1 }]));

      await unsubscribeA();
      await bus.publish(channelA, { x: 2 });
      await bus.publish(channelB, { y: 1 });
      // B's message was published last, so once it arrives A's would have too.
      await vi.waitFor(() => expect(gotB).toEqual([{ y: 1 }]));
      await vi.waitFor(() => expect(gotA2).toEqual([{ x: 1 }, { x: 2 }]));
      expect(gotA).toEqual([{ x: 1 }]);
    });
  });
}

eventLogContract('memory', {
  log: (options) => new MemoryEventLog(options),
  bus: () => new MemoryBus(),
});

describeWith('redis', 'redis', () => {
  const url = () => serviceUrl('redis') ?? '';
  const factory: Factory = {
    log: (options) => new RedisEventLog(url(), { keyPrefix: PREFIX, maxLen: options?.maxLen, logger: quietLogger }),
    bus: () => new RedisBus(url(), { keyPrefix: PREFIX, logger: quietLogger }),
  };

  eventLogContract('redis', factory);

  describe('redis only', () => {
    const opened: { close(): Promise<void> }[] = [];
    let admin: Redis | null = null;
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((item) => item.close()));
      admin?.disconnect();
      admin = null;
    });

    /** Client ids of this run's connections whose name ends with `role` (all of them when omitted). */
    async function ourClients(connection: Redis, role?: string): Promise<string[]> {
      const list = String(await connection.call('CLIENT', 'LIST'));
      const ids: string[] = [];
      for (const line of list.split('\n')) {
        const name = /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '';
        const id = /(?:^| )id=(\d+)/.exec(line)?.[1];
        if (!id || !name.startsWith(connectionName(PREFIX, ''))) continue;
        if (role === undefined || name === connectionName(PREFIX, role)) ids.push(id);
      }
      return ids;
    }

    it('keeps followers going without loss when connections are killed', { timeout: 60_000 }, async () => {
      const log = factory.log();
      opened.push(log);
      const killer = new Redis(url());
      admin = killer;
      const keys = Array.from({ length: 5 }, () => newKey('kill'));
      const followers = keys.map((key) => startFollower(log, key, null, 40, 45_000));
      const writeRound = (round: number) => Promise.all(keys.map((key) => log.append(key, events(round * 10, 10))));

      await writeRound(0);
      await vi.waitFor(() => followers.forEach((f) => expect(f.items).toHaveLength(10)), { timeout: 5000 });

      // Kill every connection of this run (as CLIENT KILL TYPE normal would,
      // but without disturbing other test files sharing the server).
      const all = await ourClients(killer);
      expect(all.length).toBeGreaterThanOrEqual(2);
      for (const id of all) await killer.call('CLIENT', 'KILL', 'ID', id);
      await writeRound(1);
      await vi.waitFor(() => followers.forEach((f) => expect(f.items).toHaveLength(20)), { timeout: 10_000 });

      // Kill only the reader; another process writes while it is away. This
      // log's own appends reach its followers from the append's reply, so
      // only another writer's entries prove the reader came back and caught up.
      let readerIds: string[] = [];
      await vi.waitFor(async () => {
        readerIds = await ourClients(killer, 'events-reader');
        expect(readerIds).toHaveLength(1);
      });
      await killer.call('CLIENT', 'KILL', 'ID', readerIds[0]!);
      const other = factory.log();
      opened.push(other);
      await Promise.all(keys.map((key) => other.append(key, events(20, 10))));
      await Promise.all(keys.map((key) => other.append(key, events(30, 10))));
      await vi.waitFor(async () => expect(await ourClients(killer, 'events-reader')).not.toContain(readerIds[0]));

      const results = await Promise.all(followers.map((f) => f.done));
      for (const items of results) {
        expect(numbers(items)).toEqual(range(0, 39));
        expectStrictlyIncreasing(entryIds(items));
      }
      // The reader's new connection delivers live: another process's append to a new key arrives at once.
      const key = newKey('after-kill');
      const late = startFollower(log, key, null, 1);
      await sleep(100);
      const started = Date.now();
      await other.append(key, events(0, 1));
      expect(numbers(await late.done)).toEqual([0]);
      expect(Date.now() - started).toBeLessThan(500);
    });

    it('reads entries that were never announced live from the stream, in order', async () => {
      const log = factory.log();
      opened.push(log);
      const writer = new Redis(url());
      admin = writer;
      const key = newKey('unannounced');
      const follower = startFollower(log, key, null, 6);
      await log.append(key, events(0, 2));
      await vi.waitFor(() => expect(follower.items).toHaveLength(2));
      // Entries added behind the log's back carry no live announcement; the
      // next announced batch names them as its predecessors, so the reader
      // notices the gap and reads it before delivering the batch.
      for (const n of [2, 3]) await writer.xadd(PREFIX + key, '*', 'e', JSON.stringify({ n }));
      await log.append(key, events(4, 2));
      const items = await follower.done;
      expect(numbers(items)).toEqual(range(0, 5));
      expectStrictlyIncreasing(entryIds(items));
    });

    it('gives followers on two processes every entry of a key both append to, once and in order', async () => {
      // Each log delivers its own appends from the script's reply and the
      // other's from pub/sub; interleaved, neither may skip, repeat or reorder.
      const logs = [factory.log(), factory.log()];
      opened.push(...logs);
      const key = newKey('two-writers');
      const total = 2 * 300;
      const followers = logs.map((log) => startFollower(log, key, null, total, 30_000));
      await sleep(100);
      await Promise.all(
        logs.map(async (log, writer) => {
          for (let i = 0; i < total / 2; i++) {
            await log.append(key, [{ n: i, writer }]);
            if (i % 7 === writer) await sleep(0);
          }
        }),
      );
      for (const items of await Promise.all(followers.map((f) => f.done))) {
        expect(items).toHaveLength(total);
        expectStrictlyIncreasing(entryIds(items));
        for (const writer of [0, 1]) {
          const own = items.flatMap((item) => ('reset' in item || item.event.writer !== writer ? [] : [item.event.n]));
          expect(own).toEqual(range(0, total / 2 - 1));
        }
      }
    });

    it('delivers bus messages between separate connections', async () => {
      const publisher = factory.bus();
      const subscriber = factory.bus();
      opened.push(publisher, subscriber);
      const channel = newKey('cross');
      const got: unknown[] = [];
      await subscriber.subscribe(channel, (m) => got.push(m));
      await publisher.publish(channel, { hello: 'world' });
      await vi.waitFor(() => expect(got).toEqual([{ hello: 'world' }]));
    });

    it('reports health error quickly when Redis is unreachable', async () => {
      const log = new RedisEventLog('redis://127.0.0.1:1', { keyPrefix: PREFIX, logger: quietLogger });
      opened.push(log);
      const started = Date.now();
      expect(await log.health()).toBe('error');
      expect(Date.now() - started).toBeLessThan(2000);
    });
  });
});
