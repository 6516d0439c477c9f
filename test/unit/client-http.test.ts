/**
 * The HTTP client (shared/client/index.ts) against a small node:http server
 * written here: what it sends (paths, queries, headers, bodies), how it reads
 * answers (schema checks), and how failures become ConclaveApiError.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConclaveApiError, ConclaveClient, parseRetryAfter } from '../../shared/client/index.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

type Reply = (seen: Seen, res: ServerResponse) => void;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function startServer(reply: Reply) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => {
      raw += chunk.toString('utf8');
    });
    req.on('end', () => {
      const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: raw ? JSON.parse(raw) : undefined };
      seen.push(entry);
      reply(entry, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { seen, client: new ConclaveClient({ baseUrl: url, token: 'secret' }) };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const NOW = '2025-01-01T00:00:00.000Z';
const conversation = {
  id: 'conv-1',
  user_id: 'discord:42',
  title: 'Hello',
  metadata: { source: 'discord' },
  status: 'active',
  preset_id: null,
  participants: [],
  mode: 'single',
  mode_settings: {},
  context: '',
  workspace_id: null,
  auto_fire: false,
  summary: null,
  usage: {},
  forked_from: null,
  created_at: NOW,
  updated_at: NOW,
};
const runAccepted = {
  conversation_id: 'conv-1',
  session_id: 'sess-1',
  run_id: 'run-1',
  status: 'running',
  events_url: '/api/sessions/sess-1/events',
  conversation_events_url: '/api/conversations/conv-1/events?after=1-0',
  cursor: '1-0',
};
const binding = {
  id: 'bind-1',
  platform: 'discord',
  key: 'guild/channel/thread',
  conversation_id: 'conv-1',
  user_id: 'gateway',
  cursor: null,
  state: {},
  metadata: {},
  created: true,
  created_at: NOW,
  updated_at: NOW,
};

async function failure(promise: Promise<unknown>): Promise<ConclaveApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConclaveApiError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe('ConclaveClient requests', () => {
  it('sends the token, the acting user and a JSON body, and parses RunAccepted', async () => {
    const { seen, client } = await startServer((_seen, res) => json(res, 202, runAccepted));
    const run = await client.withUser('discord:42').sendMessage('conv-1', { input: 'hi', on_busy: 'queue' });
    expect(run).toEqual(runAccepted);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/api/conversations/conv-1/messages',
      body: { input: 'hi', on_busy: 'queue' },
    });
    expect(seen[0]?.headers.authorization).toBe('Bearer secret');
    expect(seen[0]?.headers['x-conclave-user']).toBe('discord:42');
    expect(seen[0]?.headers['content-type']).toBe('application/json');
  });

  it('does not send X-Conclave-User unless asked to', async () => {
    const { seen, client } = await startServer((_seen, res) => json(res, 200, conversation));
    await client.getConversation('conv-1');
    expect(seen[0]?.headers['x-conclave-user']).toBeUndefined();
  });

  it('builds list queries: metadata as JSON, status, q, cursor, limit', async () => {
    const { seen, client } = await startServer((_seen, res) => json(res, 200, { items: [conversation], next_cursor: 'next' }));
    const page = await client.listConversations({ metadata: { source: 'discord' }, status: 'active', q: 'cats & dogs', cursor: 'abc', limit: 5 });
    expect(page.items[0]?.id).toBe('conv-1');
    expect(page.next_cursor).toBe('next');
    const url = new URL(seen[0]?.url ?? '', 'http://x');
    expect(url.pathname).toBe('/api/conversations');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      metadata: '{"source":"discord"}',
      status: 'active',
      q: 'cats & dogs',
      cursor: 'abc',
      limit: '5',
    });
  });

  it('maps each binding method to its route', async () => {
    const { seen, client } = await startServer((entry, res) => {
      if (entry.method === 'DELETE') {
        res.writeHead(204).end();
        return;
      }
      if (entry.method === 'GET' && entry.url.startsWith('/api/bindings?')) json(res, 200, { items: [binding], next_cursor: null });
      else json(res, entry.method === 'PUT' ? 201 : 200, binding);
    });
    const created = await client.upsertBinding({ platform: 'discord', key: 'guild/channel/thread', conversation: { title: 'T' } });
    expect(created.created).toBe(true);
    await client.listBindings({ platform: 'discord', key: 'guild/channel/thread' });
    await client.getBinding('bind-1');
    await client.patchBinding('bind-1', { cursor: '5-0', state: { message_ids: ['1'] } });
    await expect(client.deleteBinding('bind-1')).resolves.toBeUndefined();
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'PUT /api/bindings',
      'GET /api/bindings?platform=discord&key=guild%2Fchannel%2Fthread',
      'GET /api/bindings/bind-1',
      'PATCH /api/bindings/bind-1',
      'DELETE /api/bindings/bind-1',
    ]);
    expect(seen[3]?.body).toEqual({ cursor: '5-0', state: { message_ids: ['1'] } });
  });

  it('returns the health body even when the runtime answers 503 degraded', async () => {
    const health = { status: 'degraded', database: { kind: 'pglite', status: 'error' }, event_log: { kind: 'memory', status: 'ok' }, version: '0.1.0' };
    const { client } = await startServer((_seen, res) => json(res, 503, health));
    await expect(client.health()).resolves.toEqual(health);
  });

  it('reads the Markdown export as text', async () => {
    const { seen, client } = await startServer((_seen, res) => {
      res.writeHead(200, { 'Content-Type': 'text/markdown; charset=utf-8' });
      res.end('# Hello\n');
    });
    await expect(client.exportMarkdown('conv-1')).resolves.toBe('# Hello\n');
    expect(seen[0]?.url).toBe('/api/conversations/conv-1/export?format=markdown');
  });

  it('encodes ids in paths', async () => {
    const { seen, client } = await startServer((_seen, res) => json(res, 200, conversation));
    await client.getConversation('a/b?c');
    expect(seen[0]?.url).toBe('/api/conversations/a%2Fb%3Fc');
  });
});

describe('ConclaveClient errors', () => {
  it('carries status, code, message and details from the error body', async () => {
    const { client } = await startServer((_seen, res) =>
      json(res, 409, { error: { code: 'conversation_busy', message: 'busy with session s1', details: { active_session_id: 's1' } } }, { 'X-Request-Id': 'req-9' }),
    );
    const error = await failure(client.sendMessage('conv-1', { input: 'hi' }));
    expect(error).toMatchObject({
      status: 409,
      code: 'conversation_busy',
      message: 'busy with session s1',
      details: { active_session_id: 's1' },
      requestId: 'req-9',
      method: 'POST',
      retryable: false,
    });
  });

  it('reads Retry-After of a 429', async () => {
    const { client } = await startServer((_seen, res) =>
      json(res, 429, { error: { code: 'rate_limited', message: 'too many write requests; retry in 7 s', details: { retry_after: 7 } } }, { 'Retry-After': '7' }),
    );
    const error = await failure(client.createConversation());
    expect(error).toMatchObject({ status: 429, code: 'rate_limited', retryAfterMs: 7000, retryable: true });
  });

  it('names the status when the error body is not the API shape', async () => {
    const { client } = await startServer((_seen, res) => {
      res.writeHead(502, { 'Content-Type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    const error = await failure(client.listPresets());
    expect(error).toMatchObject({ status: 502, code: 'http_502', retryable: true });
    expect(error.message).toContain('bad gateway');
  });

  it('rejects a response that does not match the schema', async () => {
    const { client } = await startServer((_seen, res) => json(res, 200, { ...conversation, status: 'weird' }));
    const error = await failure(client.getConversation('conv-1'));
    expect(error).toMatchObject({ status: 200, code: 'invalid_response' });
    expect(error.message).toContain('status');
  });

  it('times out', async () => {
    const { client } = await startServer(() => undefined); // never answers
    const error = await failure(client.getConversation('conv-1', { timeoutMs: 100 }));
    expect(error).toMatchObject({ status: 0, code: 'timeout', retryable: true });
  });

  it("rethrows the caller's own abort as it is", async () => {
    const { client } = await startServer(() => undefined);
    const controller = new AbortController();
    const call = client.getConversation('conv-1', { signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await expect(call).rejects.toThrow('shutting down');
  });

  it('reports an unreachable runtime as network_error', async () => {
    const client = new ConclaveClient({ baseUrl: 'http://127.0.0.1:9', token: 'secret', timeoutMs: 5000 });
    const error = await failure(client.listPresets());
    expect(error).toMatchObject({ status: 0, code: 'network_error' });
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
  });
});
