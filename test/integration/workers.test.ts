/**
 * CONCLAVE_WORKERS: `conclave runtime` as one primary and two worker processes
 * on one port, sharing PostgreSQL and Redis. Every worker serves requests, a
 * run started through one worker streams to a client of the other, a worker
 * that dies is replaced, and SIGTERM drains and stops them all. Without
 * PostgreSQL and Redis the setting is refused at start.
 *
 * Which worker served a request is read from its request log line (pino puts
 * the pid on every line; 2xx requests are logged at debug). Each request opens
 * its own connection, so the primary's round robin spreads them over workers.
 */
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../runtime/config/index.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { runtimeWorkerPids, spawnRuntime, type RuntimeProcess } from '../support/process.js';
import { describeWith, serviceUrl, sharedServicesEnv } from '../support/services.js';
import { readSse, sessionEvents, textOf } from '../support/sse.js';
import { isTerminal } from '../../shared/protocol/events.js';

const TOKEN = 'workers-root-token-0123456789';
const BANNER = 'Conclave is running at';

/** One request on a connection of its own, tagged with `requestId`. */
function requestOnNewConnection(base: string, method: string, path: string, requestId: string, body?: unknown): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${base}${path}`, {
      method,
      agent: false,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'x-request-id': requestId },
    });
    request.once('response', resolve);
    request.once('error', reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function call(base: string, method: string, path: string, requestId: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await requestOnNewConnection(base, method, path, requestId, body);
  let text = '';
  for await (const chunk of response) text += chunk;
  return { status: response.statusCode!, body: text ? JSON.parse(text) : undefined };
}

/** The pid that logged each of `requestIds`, once all of them have been logged. */
async function servingPids(runtime: RuntimeProcess, requestIds: string[]): Promise<Map<string, number>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids = new Map<string, number>();
    for (const line of runtime.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { pid?: number; req?: { id?: string } };
        if (entry.req?.id && entry.pid) pids.set(entry.req.id, entry.pid);
      } catch {
        /* a line still being written */
      }
    }
    if (requestIds.every((id) => pids.has(id))) return new Map(requestIds.map((id) => [id, pids.get(id)!]));
    if (Date.now() > deadline) throw new Error(`no request log line for ${requestIds.filter((id) => !pids.has(id)).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describeWith('postgres', 'CONCLAVE_WORKERS=2: runtime workers sharing one port', () => {
  let fake: FakeOpenAI;
  let databaseUrl: string;
  let runtime: RuntimeProcess;
  let workers: number[];
  const tokens = Array.from({ length: 20 }, (_, i) => `t${i} `);
  const longTokens = Array.from({ length: 80 }, (_, i) => `l${i} `);

  beforeAll(async () => {
    if (!serviceUrl('redis')) throw new Error('redis is required for this suite');
    fake = await startFakeOpenAI();
    // `long` runs outlast a worker's replacement (about 3 s); every other run takes under a second.
    fake.onRequest((request) =>
      JSON.stringify(request.body.messages).includes('long') ? { text: longTokens, chunkDelayMs: 100 } : { text: tokens, chunkDelayMs: 40 },
    );
    const env = await sharedServicesEnv({ token: TOKEN, modelBaseURL: fake.baseURL, dataDir: `/tmp/conclave-workers-${process.pid}` });
    databaseUrl = env.DATABASE_URL!;
    runtime = await spawnRuntime({ ...env, CONCLAVE_WORKERS: '2', CONCLAVE_LOG_LEVEL: 'debug' });
    // The primary prints the banner once every worker listens.
    await waitFor('the banner', () => runtime.output().includes(BANNER));
    workers = runtimeWorkerPids(runtime.pid);
    const preset = await call(runtime.url, 'POST', '/api/presets', 'preset', { id: 'gpt', name: 'GPT', model: 'openai:gpt-test' });
    expect(preset.status).toBe(201);
  });

  afterAll(async () => {
    await runtime?.stop('SIGKILL');
    for (const pid of workers ?? []) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    await fake?.close();
  });

  it('runs two workers under one primary, which prints the banner once', () => {
    expect(workers).toHaveLength(2);
    expect(runtime.output().split(BANNER)).toHaveLength(2);
  });

  it('serves requests from every worker', async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `list-${i}`);
    for (const id of ids) expect((await call(runtime.url, 'GET', '/api/presets', id)).status).toBe(200);
    const pids = await servingPids(runtime, ids);
    expect(new Set(pids.values())).toEqual(new Set(workers));
  });

  it('streams a run started through one worker to an SSE client of the other', async () => {
    const pairs: { post: string; stream: string }[] = [];
    for (let i = 0; i < 4; i++) {
      const conversation = await call(runtime.url, 'POST', '/api/conversations', `conversation-${i}`, { preset_id: 'gpt' });
      const pair = { post: `post-${i}`, stream: `stream-${i}` };
      const run = await call(runtime.url, 'POST', `/api/conversations/${conversation.body.id}/messages`, pair.post, { input: 'go' });
      expect(run.status).toBe(202);
      const response = await requestOnNewConnection(runtime.url, 'GET', `/api/sessions/${run.body.session_id}/events`, pair.stream);
      expect(response.statusCode).toBe(200);
      const events = await readSse(new Response(Readable.toWeb(response) as ReadableStream), (item) => isTerminal(item.event));
      expect(textOf(events)).toBe(tokens.join(''));
      expect(events.at(-1)!.event.type).toBe('RUN_FINISHED');
      pairs.push(pair);
    }
    const pids = await servingPids(runtime, pairs.flatMap((p) => [p.post, p.stream]));
    expect(pairs.filter((p) => pids.get(p.post) !== pids.get(p.stream)).length).toBeGreaterThan(0);
  });

  it("replaces a worker that dies; its sessions fail, and the new worker leaves its sibling's running ones alone", async () => {
    const [victim, survivor] = workers as [number, number];
    // Two long runs on each worker: four posts in a row alternate between them.
    const conversations: string[] = [];
    for (let i = 0; i < 4; i++) {
      conversations.push((await call(runtime.url, 'POST', '/api/conversations', `long-conversation-${i}`, { preset_id: 'gpt' })).body.id);
    }
    const runs: { post: string; sessionId: string }[] = [];
    for (const [i, conversationId] of conversations.entries()) {
      const post = `long-post-${i}`;
      const run = await call(runtime.url, 'POST', `/api/conversations/${conversationId}/messages`, post, { input: 'long' });
      expect(run.status).toBe(202);
      runs.push({ post, sessionId: run.body.session_id });
    }
    const ranOn = await servingPids(runtime, runs.map((r) => r.post));
    expect(new Set(ranOn.values())).toEqual(new Set(workers));
    process.kill(victim, 'SIGKILL');
    await waitFor('a new worker', () => {
      const now = runtimeWorkerPids(runtime.pid);
      return now.length === 2 && !now.includes(victim);
    });
    workers = runtimeWorkerPids(runtime.pid);
    expect(workers).toContain(survivor);
    expect(runtime.output().includes('runtime worker exited; starting a new one')).toBe(true);
    // Once the new worker listens, both serve again.
    await waitFor('the replacement to listen', () => runtime.output().includes('runtime worker replaced'));
    const ids = Array.from({ length: 6 }, (_, i) => `after-${i}`);
    for (const id of ids) expect((await call(runtime.url, 'GET', '/api/presets', id)).status).toBe(200);
    expect(new Set((await servingPids(runtime, ids)).values())).toEqual(new Set(workers));
    for (const run of runs) {
      const events = await sessionEvents(runtime.url, TOKEN, run.sessionId);
      if (ranOn.get(run.post) === victim) {
        expect(events.at(-1)!.event).toMatchObject({ type: 'RUN_ERROR', code: 'runtime_restarted' });
      } else {
        expect(events.at(-1)!.event.type).toBe('RUN_FINISHED');
        expect(textOf(events)).toBe(longTokens.join(''));
      }
    }
  });

  it('drains running sessions and stops every process on SIGTERM', async () => {
    const conversation = await call(runtime.url, 'POST', '/api/conversations', 'last-conversation', { preset_id: 'gpt' });
    const run = await call(runtime.url, 'POST', `/api/conversations/${conversation.body.id}/messages`, 'last-post', { input: 'go' });
    expect(run.status).toBe(202);
    await new Promise((r) => setTimeout(r, 200));
    await runtime.stop('SIGTERM');
    expect(runtime.child.exitCode).toBe(0);
    for (const pid of workers) expect(isRunning(pid)).toBe(false);
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query('select status from sessions where id = $1', [run.body.session_id]);
      expect(rows[0]?.status).toBe('completed');
    } finally {
      await client.end();
    }
  });
});

describe('CONCLAVE_WORKERS without PostgreSQL and Redis', () => {
  it('refuses to start, naming the missing settings', async () => {
    const start = spawnRuntime({
      CONCLAVE_WORKERS: '2',
      CONCLAVE_AUTH_TOKEN: TOKEN,
      DATABASE_URL: '',
      REDIS_URL: '',
      CONCLAVE_DATA_DIR: `/tmp/conclave-workers-refused-${process.pid}`,
    });
    await expect(start).rejects.toThrow(/CONCLAVE_WORKERS: 2 worker processes need DATABASE_URL \(PostgreSQL\)/);
    await expect(start).rejects.toThrow(/CONCLAVE_WORKERS: 2 worker processes need REDIS_URL/);
  });

  it('reads auto as one worker per CPU and refuses zero', () => {
    expect(loadConfig({ CONCLAVE_WORKERS: 'auto' }, '/nonexistent').CONCLAVE_WORKERS).toBe(availableParallelism());
    expect(loadConfig({}, '/nonexistent').CONCLAVE_WORKERS).toBe(1);
    expect(() => loadConfig({ CONCLAVE_WORKERS: '0' }, '/nonexistent')).toThrow(/CONCLAVE_WORKERS: must be at least 1/);
  });
});
