/**
 * Several runtime processes sharing one PostgreSQL and one Redis: interrupt
 * and steer reach the process that runs a session, streams are served by any
 * process, and sessions of a process killed with SIGKILL end failed with a
 * terminal event once another process notices.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { spawnRuntime, type RuntimeProcess } from '../support/process.js';
import { describeWith, serviceUrl, sharedServicesEnv } from '../support/services.js';
import { openSse, readSse, sessionEvents, textOf } from '../support/sse.js';

const TOKEN = 'multiprocess-root-token-0123456789';

async function call(base: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
}

describeWith('postgres', 'runtime processes sharing PostgreSQL and Redis', () => {
  let fake: FakeOpenAI;
  let env: Record<string, string>;
  let a: RuntimeProcess;
  let b: RuntimeProcess;

  beforeAll(async () => {
    if (!serviceUrl('redis')) throw new Error('redis is required for this suite');
    fake = await startFakeOpenAI();
    env = {
      ...(await sharedServicesEnv({ token: TOKEN, modelBaseURL: fake.baseURL, dataDir: `/tmp/conclave-mp-${process.pid}` })),
      CONCLAVE_RATE_LIMIT_PER_MINUTE: '100000',
    };
    [a, b] = await Promise.all([spawnRuntime(env), spawnRuntime(env)]);
    const preset = await call(a.url, 'POST', '/api/presets', { id: 'gpt', name: 'GPT', model: 'openai:gpt-test', tools: ['current_time'] });
    expect(preset.status).toBe(201);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await fake?.close();
  });

  async function startOn(runtime: RuntimeProcess): Promise<{ conversationId: string; sessionId: string }> {
    const conversation = await call(runtime.url, 'POST', '/api/conversations', { preset_id: 'gpt' });
    const run = await call(runtime.url, 'POST', `/api/conversations/${conversation.body.id}/messages`, { input: 'go' });
    expect(run.status).toBe(202);
    return { conversationId: conversation.body.id, sessionId: run.body.session_id };
  }

  it('interrupts, through another process, a session stalled on its provider', async () => {
    fake.reset();
    fake.script({ fault: { kind: 'stall' } });
    const { conversationId, sessionId } = await startOn(a);
    // Follow the session on B while A runs it.
    const reading = readSse(await openSse(`${b.url}/api/sessions/${sessionId}/events`, TOKEN), (i) =>
      ['RUN_ERROR', 'RUN_FINISHED'].includes(i.event.type),
    );
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const interrupted = await call(b.url, 'POST', `/api/conversations/${conversationId}/interrupt`);
    expect(interrupted.body.interrupted).toBe(1);
    const events = await reading;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(events.at(-1)!.event).toMatchObject({ type: 'RUN_ERROR', code: 'interrupted' });
    expect((await call(a.url, 'GET', `/api/sessions/${sessionId}`)).body.status).toBe('interrupted');
  });

  it('steers, through another process, a session between model calls', async () => {
    fake.reset();
    fake.script([{ toolCalls: [{ name: 'current_time', arguments: '{}' }], chunkDelayMs: 300 }, { text: 'steered' }]);
    const { conversationId, sessionId } = await startOn(a);
    await new Promise((r) => setTimeout(r, 100));
    const steer = await call(b.url, 'POST', `/api/conversations/${conversationId}/steer`, { input: 'be brief' });
    expect(steer.status).toBe(202);
    expect(steer.body).toMatchObject({ status: 'steered', session_id: sessionId });
    const events = await sessionEvents(b.url, TOKEN, sessionId);
    expect(events.find((e) => e.event.name === 'steering_received')?.event.value.text).toBe('be brief');
    expect(textOf(events)).toBe('steered');
    expect(fake.chatRequests()[1]!.body.messages.at(-1)).toEqual({ role: 'user', content: 'be brief' });
  });

  it('delivers mailbox results exactly once when two processes race to fire them', async () => {
    await call(a.url, 'POST', '/api/presets', { id: 'mp-worker', name: 'Worker', model: 'openai:worker-model' });
    await call(a.url, 'POST', '/api/presets', {
      id: 'mp-boss',
      name: 'Boss',
      model: 'openai:boss-model',
      subagents: [{ name: 'researcher', preset_id: 'mp-worker' }],
    });
    fake.reset();
    fake.onRequest((req) => {
      const users = req.body.messages.filter((m: { role: string }) => m.role === 'user');
      const last = String(users.at(-1)?.content ?? '');
      // Workers answer slowly so that every result arrives after the boss's turn (not steered into it).
      if (req.body.model === 'worker-model') return { text: `result for ${last.split(' ')[1]}`, chunkDelayMs: 300 };
      if (last.startsWith('Results from')) return { text: 'summary' };
      if (req.body.messages.at(-1)?.role === 'tool') return { text: 'waiting' };
      return {
        toolCalls: ['one', 'two', 'three'].map((t) => ({ name: 'spawn_agent', arguments: JSON.stringify({ name: 'researcher', instruction: `Research ${t}` }) })),
      };
    });
    const conversation = await call(a.url, 'POST', '/api/conversations', { preset_id: 'mp-boss', auto_fire: false });
    await call(a.url, 'POST', `/api/conversations/${conversation.body.id}/messages`, { input: 'go' });
    const deadline = Date.now() + 15_000;
    let pending = 0;
    while (Date.now() < deadline && pending < 3) {
      pending = (await call(b.url, 'GET', `/api/conversations/${conversation.body.id}/mailbox?pending_only=true`)).body.items.length;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(pending).toBe(3);
    await new Promise((r) => setTimeout(r, 300));
    const fires = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(i % 2 ? a.url : b.url, 'POST', `/api/conversations/${conversation.body.id}/fire`)),
    );
    expect(fires.filter((f) => f.status === 202)).toHaveLength(1);
    expect(fires.every((f) => [202, 409, 422].includes(f.status))).toBe(true);
    const winner = fires.find((f) => f.status === 202)!;
    expect(textOf(await sessionEvents(b.url, TOKEN, winner.body.session_id))).toBe('summary');
    const mailbox = (await call(a.url, 'GET', `/api/conversations/${conversation.body.id}/mailbox`)).body.items;
    expect(mailbox.map((m: { delivered_to: string }) => m.delivered_to)).toEqual([winner.body.session_id, winner.body.session_id, winner.body.session_id]);
    const sessions = (await call(a.url, 'GET', `/api/conversations/${conversation.body.id}/sessions`)).body.items;
    expect(sessions.filter((s: { type: string }) => s.type === 'agent')).toHaveLength(2);
  });

  it('fails every session of a process killed with SIGKILL, with a terminal event each', async () => {
    fake.reset();
    fake.onRequest(() => ({ text: Array.from({ length: 400 }, (_, i) => `t${i} `), tokensPerSecond: 20 }));
    const victim = await spawnRuntime(env);
    const started = await Promise.all(Array.from({ length: 20 }, () => startOn(victim)));
    // Let them stream for a moment.
    await new Promise((r) => setTimeout(r, 700));
    await victim.stop('SIGKILL');
    const restarted = await spawnRuntime(env);
    try {
      const deadline = Date.now() + 20_000;
      let statuses: string[] = [];
      while (Date.now() < deadline) {
        statuses = await Promise.all(started.map(async (s) => (await call(restarted.url, 'GET', `/api/sessions/${s.sessionId}`)).body.status));
        if (statuses.every((s) => s === 'failed')) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(statuses).toEqual(started.map(() => 'failed'));
      for (const s of started) {
        const events = await sessionEvents(restarted.url, TOKEN, s.sessionId);
        const terminals = events.filter((e) => e.event.type === 'RUN_ERROR' || e.event.type === 'RUN_FINISHED');
        expect(terminals).toHaveLength(1);
        expect(terminals[0]!.event).toMatchObject({ type: 'RUN_ERROR', code: 'runtime_restarted' });
        expect(textOf(events).length).toBeGreaterThan(0);
      }
      // Nothing is left running, and the conversations accept new messages.
      fake.onRequest(() => ({ text: 'alive' }));
      const again = await call(restarted.url, 'POST', `/api/conversations/${started[0]!.conversationId}/messages`, { input: 'again?' });
      expect(again.status).toBe(202);
      expect(textOf(await sessionEvents(restarted.url, TOKEN, again.body.session_id))).toBe('alive');
    } finally {
      fake.onRequest(undefined);
      await restarted.stop();
    }
  });
});

describe('embedded runtime restart', () => {
  it('fails sessions left running by a killed embedded runtime as soon as it starts again', async () => {
    const fake = await startFakeOpenAI();
    const dataDir = `/tmp/conclave-restart-${process.pid}-${Date.now()}`;
    const env = { CONCLAVE_AUTH_TOKEN: TOKEN, CONCLAVE_DATA_DIR: dataDir, OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: 'x' };
    fake.onRequest(() => ({ text: Array.from({ length: 200 }, () => 'tok '), tokensPerSecond: 20 }));
    const first = await spawnRuntime(env);
    await call(first.url, 'POST', '/api/presets', { id: 'gpt', name: 'GPT', model: 'openai:gpt-test' });
    const conversation = await call(first.url, 'POST', '/api/conversations', { preset_id: 'gpt' });
    const run = await call(first.url, 'POST', `/api/conversations/${conversation.body.id}/messages`, { input: 'go' });
    await new Promise((r) => setTimeout(r, 300));
    await first.stop('SIGKILL');
    const second = await spawnRuntime(env);
    try {
      const session = await call(second.url, 'GET', `/api/sessions/${run.body.session_id}`);
      expect(session.body).toMatchObject({ status: 'failed', error: { code: 'runtime_restarted' } });
      const events = await sessionEvents(second.url, TOKEN, run.body.session_id);
      expect(events.at(-1)!.event).toMatchObject({ type: 'RUN_ERROR', code: 'runtime_restarted' });
    } finally {
      await second.stop();
      await fake.close();
    }
  });

  it('drains on SIGTERM: short sessions finish, long ones are interrupted after the timeout', async () => {
    const fake = await startFakeOpenAI();
    const dataDir = `/tmp/conclave-drain-${process.pid}-${Date.now()}`;
    const env = {
      CONCLAVE_AUTH_TOKEN: TOKEN,
      CONCLAVE_DATA_DIR: dataDir,
      OPENAI_BASE_URL: fake.baseURL,
      OPENAI_API_KEY: 'x',
      CONCLAVE_SHUTDOWN_TIMEOUT_SECONDS: '1',
    };
    fake.onRequest((req) =>
      JSON.stringify(req.body.messages).includes('short')
        ? { text: ['quick ', 'answer'], chunkDelayMs: 150 }
        : { text: Array.from({ length: 500 }, () => 'slow '), tokensPerSecond: 20 },
    );
    const runtime = await spawnRuntime(env);
    await call(runtime.url, 'POST', '/api/presets', { id: 'gpt', name: 'GPT', model: 'openai:gpt-test' });
    const ids: string[] = [];
    for (const input of ['short one', 'long one']) {
      const conversation = await call(runtime.url, 'POST', '/api/conversations', { preset_id: 'gpt' });
      const run = await call(runtime.url, 'POST', `/api/conversations/${conversation.body.id}/messages`, { input });
      ids.push(run.body.session_id);
    }
    const stopping = Date.now();
    await runtime.stop('SIGTERM');
    const stoppedAfter = Date.now() - stopping;
    expect(stoppedAfter).toBeLessThan(5000);
    const again = await spawnRuntime(env);
    try {
      const [short, long] = await Promise.all(ids.map(async (id) => (await call(again.url, 'GET', `/api/sessions/${id}`)).body));
      expect(short).toMatchObject({ status: 'completed', final_message: 'quick answer' });
      expect(long).toMatchObject({ status: 'interrupted', error: { code: 'interrupted' } });
    } finally {
      await again.stop();
      await fake.close();
    }
  });
});
