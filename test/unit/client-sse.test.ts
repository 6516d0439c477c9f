/**
 * The SSE follower (shared/client/sse.ts) against a small node:http SSE
 * server written here (not the runtime): parsing, heartbeats, resuming with
 * Last-Event-ID across dropped connections, session streams ending at their
 * terminal event, stream_reset, and which HTTP errors are retried.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConclaveClient } from '../../shared/client/index.js';
import { ConclaveApiError } from '../../shared/client/errors.js';
import { followEvents, type EventItem, type FollowOptions } from '../../shared/client/sse.js';

// ------------------------------------------------------------------ a tiny SSE server

const TOKEN = 'test-token';
const BASE_MS = 1_700_000_000_000;

interface LogEvent {
  id: string;
  event: Record<string, unknown>;
}

/** `count` events of one session; the last one is RUN_FINISHED when `terminal`. */
function makeLog(count: number, options: { sessionId?: string; terminal?: boolean } = {}): LogEvent[] {
  const sessionId = options.sessionId ?? 'sess-1';
  return Array.from({ length: count }, (_, i) => ({
    id: `${BASE_MS + i}-0`,
    event: {
      type: options.terminal && i === count - 1 ? 'RUN_FINISHED' : i === 0 ? 'RUN_STARTED' : 'TEXT_MESSAGE_CONTENT',
      conversationId: 'conv-1',
      sessionId,
      seq: i,
      timestamp: BASE_MS + i,
      delta: `part ${i} ✓ 😀`,
    },
  }));
}

const frame = (entry: LogEvent) => `id: ${entry.id}\ndata: ${JSON.stringify(entry.event)}\n\n`;
const resetFrame = () =>
  `data: ${JSON.stringify({ type: 'CUSTOM', name: 'stream_reset', value: { reason: 'expired' }, timestamp: Date.now() })}\n\n`;

/** Index of the first entry after the cursor. */
function startIndex(log: LogEvent[], cursor: string | null): number {
  if (cursor === null) return 0;
  const index = log.findIndex((entry) => entry.id === cursor);
  return index === -1 ? 0 : index + 1;
}

interface Connection {
  lastEventId: string | null;
  headers: IncomingMessage['headers'];
}

type Handler = (req: IncomingMessage, res: ServerResponse, connection: Connection, index: number) => void | Promise<void>;

const servers: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startServer(handler: Handler) {
  const connections: Connection[] = [];
  const server = createServer((req, res) => {
    const header = req.headers['last-event-id'];
    const connection = { lastEventId: typeof header === 'string' ? header : null, headers: req.headers };
    connections.push(connection);
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'invalid_token', message: 'the token is not valid' } }));
      return;
    }
    void handler(req, res, connection, connections.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  servers.push({ close });
  return { url, connections };
}

function openStream(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.write(': connected\n\n');
}

/** Keeps a stream open with heartbeats until the client leaves. */
function keepAlive(res: ServerResponse): void {
  const timer = setInterval(() => {
    if (!res.destroyed) res.write(': ping\n\n');
  }, 20);
  res.on('close', () => clearInterval(timer));
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Waits until what was written reached the client (destroying a socket drops unsent data). */
async function flushed(res: ServerResponse): Promise<void> {
  await new Promise((resolve) => res.write('', resolve));
  await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Collects items until `stop` says so, then aborts the stream. */
async function collect(url: string, options: Partial<FollowOptions>, stop: (items: EventItem[]) => boolean) {
  const controller = new AbortController();
  const stream = followEvents(url, { token: TOKEN, signal: controller.signal, backoff: () => 1, ...options });
  const items: EventItem[] = [];
  for await (const item of stream) {
    items.push(item);
    if (stop(items)) controller.abort();
  }
  return { items, stream };
}

// ------------------------------------------------------------------ tests

describe('followEvents', () => {
  it('parses ids and data and ignores comments', async () => {
    const log = makeLog(5);
    const { url } = await startServer(async (_req, res) => {
      openStream(res);
      res.write(': ping\n\n');
      for (const entry of log) {
        // Split each frame at an awkward place to exercise the parser.
        const text = frame(entry);
        res.write(text.slice(0, 7));
        await tick();
        res.write(`${text.slice(7)}: ping\n\n`);
      }
      keepAlive(res);
    });
    const { items, stream } = await collect(`${url}/events`, {}, (got) => got.length === log.length);
    expect(items.map((i) => i.id)).toEqual(log.map((e) => e.id));
    expect(items.map((i) => i.event)).toEqual(log.map((e) => e.event));
    expect(stream.lastEventId).toBe(log.at(-1)?.id);
  });

  it('reconnects with Last-Event-ID after the server drops the connection mid-stream', async () => {
    const log = makeLog(8);
    const { url, connections } = await startServer(async (_req, res, connection, index) => {
      openStream(res);
      const from = startIndex(log, connection.lastEventId);
      if (index === 0) {
        for (const entry of log.slice(0, 3)) res.write(frame(entry));
        res.write(frame(log[3] as LogEvent).slice(0, 20)); // half a frame, then the line goes dead
        await flushed(res);
        res.socket?.destroy();
        return;
      }
      for (const entry of log.slice(from)) res.write(frame(entry));
      keepAlive(res);
    });
    const { items } = await collect(`${url}/events`, {}, (got) => got.length === log.length);
    expect(items.map((i) => i.id)).toEqual(log.map((e) => e.id));
    expect(connections.map((c) => c.lastEventId)).toEqual([null, log[2]?.id]);
  });

  it('has no duplicates and no gaps over many random drops', async () => {
    const log = makeLog(300);
    let seed = 12345; // mulberry32, so a failure reproduces
    const random = () => {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const { url, connections } = await startServer(async (_req, res, connection) => {
      openStream(res);
      const from = startIndex(log, connection.lastEventId);
      const sendCount = Math.floor(random() * 12);
      for (const entry of log.slice(from, from + sendCount)) {
        res.write(frame(entry));
        if (random() < 0.3) res.write(': ping\n\n');
        if (random() < 0.3) await tick();
      }
      if (from + sendCount >= log.length) {
        keepAlive(res);
        return;
      }
      // Drop: sometimes mid-frame, sometimes between frames, sometimes a clean end.
      const next = log[from + sendCount] as LogEvent;
      const roll = random();
      if (roll < 0.4) res.write(frame(next).slice(0, Math.floor(random() * frame(next).length)));
      if (roll < 0.8) res.socket?.destroy();
      else res.end();
    });
    const { items, stream } = await collect(`${url}/events`, {}, (got) => got.length === log.length);
    expect(items.map((i) => i.id)).toEqual(log.map((e) => e.id));
    expect(stream.lastEventId).toBe(log.at(-1)?.id);
    expect(connections.length).toBeGreaterThan(20);
    // The cursor sent on each reconnection never goes backwards.
    const positions = connections.map((c) => startIndex(log, c.lastEventId));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it('resumes from `after` on the first request', async () => {
    const log = makeLog(6);
    const { url, connections } = await startServer((_req, res, connection) => {
      openStream(res);
      for (const entry of log.slice(startIndex(log, connection.lastEventId))) res.write(frame(entry));
      keepAlive(res);
    });
    const { items } = await collect(`${url}/events`, { after: log[2]?.id }, (got) => got.length === 3);
    expect(items.map((i) => i.id)).toEqual(log.slice(3).map((e) => e.id));
    expect(connections[0]?.lastEventId).toBe(log[2]?.id);
  });

  it('stops after the terminal event of the watched session and never reconnects', async () => {
    const log = makeLog(5, { sessionId: 'sess-9', terminal: true });
    const { url, connections } = await startServer((_req, res) => {
      openStream(res);
      for (const entry of log) res.write(frame(entry));
      keepAlive(res); // a server that does not end the stream itself
    });
    const items: EventItem[] = [];
    for await (const item of followEvents(`${url}/events`, { token: TOKEN, untilTerminalOf: 'sess-9', backoff: () => 1 })) {
      items.push(item);
    }
    expect(items.map((i) => i.event.type)).toEqual(['RUN_STARTED', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_CONTENT', 'RUN_FINISHED']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(connections.length).toBe(1);
  });

  it('reconnects a session stream that drops before its terminal event, then stops after it', async () => {
    const log = makeLog(6, { sessionId: 'sess-2', terminal: true });
    const { url, connections } = await startServer(async (_req, res, connection, index) => {
      openStream(res);
      const from = startIndex(log, connection.lastEventId);
      const to = index === 0 ? 2 : log.length;
      for (const entry of log.slice(from, to)) res.write(frame(entry));
      if (index === 0) {
        await flushed(res);
        res.socket?.destroy();
      } else {
        res.end();
      } // like the runtime: the session stream ends after the terminal event
    });
    const items: EventItem[] = [];
    for await (const item of followEvents(`${url}/events`, { token: TOKEN, untilTerminalOf: 'sess-2', backoff: () => 1 })) {
      items.push(item);
    }
    expect(items.map((i) => i.id)).toEqual(log.map((e) => e.id));
    expect(connections.map((c) => c.lastEventId)).toEqual([null, log[1]?.id]);
  });

  it('surfaces stream_reset through onReset without moving the cursor', async () => {
    const log = makeLog(4);
    const { url } = await startServer((_req, res) => {
      openStream(res);
      res.write(resetFrame());
      for (const entry of log) res.write(frame(entry));
      keepAlive(res);
    });
    const resets: unknown[] = [];
    const cursors: (string | null)[] = [];
    const controller = new AbortController();
    const stream = followEvents(`${url}/events`, {
      token: TOKEN,
      after: '1-0',
      signal: controller.signal,
      onReset: (event) => {
        resets.push(event);
      },
    });
    const items: EventItem[] = [];
    for await (const item of stream) {
      items.push(item);
      cursors.push(stream.lastEventId);
      if (items.length === 5) controller.abort();
    }
    expect(resets).toHaveLength(1);
    expect(resets[0]).toMatchObject({ type: 'CUSTOM', name: 'stream_reset' });
    expect(items[0]).toMatchObject({ id: null, event: { name: 'stream_reset' } });
    expect(cursors).toEqual(['1-0', ...log.map((e) => e.id)]);
  });

  it('ends a session stream that the server closes after a stream_reset (its events expired)', async () => {
    const { url, connections } = await startServer((_req, res) => {
      openStream(res);
      res.write(resetFrame());
      res.end();
    });
    const items: EventItem[] = [];
    for await (const item of followEvents(`${url}/events`, { token: TOKEN, untilTerminalOf: 'sess-1', backoff: () => 1 })) {
      items.push(item);
    }
    expect(items).toHaveLength(1);
    expect(connections.length).toBe(1);
  });

  it('throws ConclaveApiError on 401 without retrying', async () => {
    const { url, connections } = await startServer(() => undefined);
    const stream = followEvents(`${url}/events`, { token: 'wrong', backoff: () => 1 });
    let error: unknown;
    try {
      for await (const _ of stream) break;
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConclaveApiError);
    expect(error).toMatchObject({ status: 401, code: 'invalid_token', message: 'the token is not valid' });
    expect(connections.length).toBe(1);
  });

  it.each([400, 403, 404])('does not retry HTTP %i', async (status) => {
    const { url, connections } = await startServer((_req, res) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'nope', message: `status ${status}` } }));
    });
    await expect(collect(`${url}/events`, {}, () => true)).rejects.toMatchObject({ status, code: 'nope' });
    expect(connections.length).toBe(1);
  });

  it('retries 5xx and 429, waiting at least Retry-After', async () => {
    const log = makeLog(2);
    const { url, connections } = await startServer((_req, res, _connection, index) => {
      if (index === 0) {
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'shutting_down', message: 'later' } }));
        return;
      }
      if (index === 1) {
        res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '1' });
        res.end(JSON.stringify({ error: { code: 'rate_limited', message: 'slow down' } }));
        return;
      }
      openStream(res);
      for (const entry of log) res.write(frame(entry));
      keepAlive(res);
    });
    const delays: number[] = [];
    const started = Date.now();
    const { items } = await collect(
      `${url}/events`,
      { onReconnect: (info) => delays.push(info.delayMs) },
      (got) => got.length === log.length,
    );
    expect(items).toHaveLength(2);
    expect(connections.length).toBe(3);
    expect(delays[1]).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('gives up after maxRetries consecutive failures with the last error', async () => {
    const { url, connections } = await startServer((_req, res) => {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('boom');
    });
    await expect(collect(`${url}/events`, { maxRetries: 3 }, () => true)).rejects.toMatchObject({ status: 500, code: 'http_500' });
    expect(connections.length).toBe(4);
  });

  it('reconnects when the connection goes quiet for idleTimeoutMs', async () => {
    const log = makeLog(3);
    const { url, connections } = await startServer((_req, res, connection, index) => {
      openStream(res);
      if (index === 0) {
        res.write(frame(log[0] as LogEvent));
        return; // then silence: no heartbeats
      }
      for (const entry of log.slice(startIndex(log, connection.lastEventId))) res.write(frame(entry));
      keepAlive(res);
    });
    const { items } = await collect(`${url}/events`, { idleTimeoutMs: 150 }, (got) => got.length === log.length);
    expect(items.map((i) => i.id)).toEqual(log.map((e) => e.id));
    expect(connections.map((c) => c.lastEventId)).toEqual([null, log[0]?.id]);
  });

  it('ends quietly when the signal aborts while waiting', async () => {
    const { url } = await startServer((_req, res) => {
      openStream(res);
      keepAlive(res);
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const items: EventItem[] = [];
    for await (const item of followEvents(`${url}/events`, { token: TOKEN, signal: controller.signal })) items.push(item);
    expect(items).toEqual([]);
  });

  it('throws invalid_event for data that is not an event', async () => {
    const { url } = await startServer((_req, res) => {
      openStream(res);
      res.write('id: 1-0\ndata: not json\n\n');
      keepAlive(res);
    });
    await expect(collect(`${url}/events`, {}, () => true)).rejects.toMatchObject({ code: 'invalid_event' });
  });
});

describe('ConclaveClient event helpers', () => {
  it('sessionEvents sends the token, X-Conclave-User and the cursor, and stops at the terminal event', async () => {
    const log = makeLog(3, { sessionId: 'sess-7', terminal: true });
    const { url, connections } = await startServer((req, res, connection) => {
      expect(req.url).toBe('/api/sessions/sess-7/events');
      openStream(res);
      for (const entry of log.slice(startIndex(log, connection.lastEventId))) res.write(frame(entry));
      keepAlive(res);
    });
    const client = new ConclaveClient({ baseUrl: `${url}/`, token: TOKEN }).withUser('discord:42');
    const items: EventItem[] = [];
    for await (const item of client.sessionEvents('sess-7', { after: log[0]?.id })) items.push(item);
    expect(items.map((i) => i.id)).toEqual(log.slice(1).map((e) => e.id));
    expect(connections[0]?.headers['x-conclave-user']).toBe('discord:42');
    expect(connections[0]?.lastEventId).toBe(log[0]?.id);
  });

  it('conversationEvents follows /api/conversations/:id/events', async () => {
    const log = makeLog(2);
    const paths: string[] = [];
    const { url } = await startServer((req, res) => {
      paths.push(req.url ?? '');
      openStream(res);
      for (const entry of log) res.write(frame(entry));
      keepAlive(res);
    });
    const controller = new AbortController();
    const client = new ConclaveClient({ baseUrl: url, token: TOKEN });
    const items: EventItem[] = [];
    for await (const item of client.conversationEvents('conv-1', { signal: controller.signal })) {
      items.push(item);
      if (items.length === 2) controller.abort();
    }
    expect(paths).toEqual(['/api/conversations/conv-1/events']);
    expect(items).toHaveLength(2);
  });
});
