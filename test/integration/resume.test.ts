/**
 * Resuming SSE: a client that drops its connection at random points at least
 * 100 times during a long run, reconnecting with Last-Event-ID each time,
 * reassembles exactly the text the model produced — no duplicate, no gap —
 * on the memory event log and on Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { describeWith } from '../support/services.js';
import { readSse, type SseItem } from '../support/sse.js';

/** A small deterministic generator so failures can be replayed. */
function seeded(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function resumeSuite(eventLog: 'memory' | 'redis') {
  let fake: FakeOpenAI;
  let rt: TestRuntime;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    rt = await startTestRuntime({ eventLog, env: { OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: 'x' } });
    await rt.api('POST', '/api/presets', { body: { id: 'gpt', name: 'GPT', model: 'openai:gpt-test' } });
  });
  afterAll(async () => {
    await rt?.close();
    await fake?.close();
  });

  it('reassembles identical text across 100+ random disconnects', async () => {
    const random = seeded(eventLog === 'memory' ? 7 : 11);
    const tokens = Array.from({ length: 3000 }, (_, i) => `w${i}${i % 17 === 0 ? '\n' : ' '}`);
    fake.script({ text: tokens, tokensPerSecond: 1000 });
    const conversation = await rt.api('POST', '/api/conversations', { body: { preset_id: 'gpt' } });
    const run = await rt.api('POST', `/api/conversations/${conversation.body.id}/messages`, { body: { input: 'long answer please' } });
    expect(run.status).toBe(202);

    const received: SseItem[] = [];
    let cursor: string | null = null;
    let drops = 0;
    let finished = false;
    while (!finished) {
      const budget = 1 + Math.floor(random() * 12);
      const controller = new AbortController();
      const response = await fetch(`${rt.url}/api/sessions/${run.body.session_id}/events`, {
        headers: { authorization: `Bearer ${rt.token}`, ...(cursor ? { 'last-event-id': cursor } : {}) },
        signal: controller.signal,
      });
      let taken = 0;
      const items = await readSse(response, (item) => {
        taken++;
        return taken >= budget || item.event.type === 'RUN_FINISHED';
      }).catch(() => [] as SseItem[]);
      controller.abort();
      for (const item of items.slice(0, budget)) {
        received.push(item);
        if (item.id) cursor = item.id;
        if (item.event.type === 'RUN_FINISHED' || item.event.type === 'RUN_ERROR') finished = true;
      }
      if (!finished) drops++;
    }

    expect(drops).toBeGreaterThanOrEqual(100);
    const ids = received.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(received.map((r) => r.event.seq)).toEqual(received.map((_, i) => i));
    const text = received
      .filter((r) => r.event.type === 'TEXT_MESSAGE_CONTENT')
      .map((r) => r.event.delta)
      .join('');
    expect(text).toBe(tokens.join(''));
    expect(received.at(-1)!.event.type).toBe('RUN_FINISHED');
  }, 60_000);
}

describe('resume on the memory event log', () => resumeSuite('memory'));
describeWith('redis', 'resume on the Redis event log', () => resumeSuite('redis'));
