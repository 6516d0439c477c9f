/**
 * Runs end to end through the HTTP API, with the real `openai` and
 * `@anthropic-ai/sdk` clients against the fake provider servers: streaming,
 * tool calls, thinking, the busy policies, interrupt, steer, faults with
 * retries and fallbacks, turns, fork and export.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { openSse, readSse, sessionEvents, textOf } from '../support/sse.js';

let rt: TestRuntime;
let openai: FakeOpenAI;
let anthropic: FakeAnthropic;

beforeAll(async () => {
  openai = await startFakeOpenAI();
  anthropic = await startFakeAnthropic();
  rt = await startTestRuntime({
    env: {
      OPENAI_BASE_URL: openai.baseURL,
      OPENAI_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: anthropic.baseURL,
      ANTHROPIC_API_KEY: 'sk-ant-test',
    },
    engine: { retryBaseDelayMs: 20 },
  });
  await rt.api('POST', '/api/presets', {
    body: { id: 'gpt', name: 'GPT', model: 'openai:gpt-test', system_prompt: 'You are terse. Today is {{date}}.', tools: ['current_time'] },
  });
  await rt.api('POST', '/api/presets', {
    body: { id: 'claude', name: 'Claude', model: 'anthropic:claude-test', tools: ['current_time'] },
  });
  await rt.api('POST', '/api/presets', {
    body: { id: 'fallback', name: 'With fallback', model: { name: 'openai:primary', fallbacks: ['openai:backup'] } },
  });
});

afterAll(async () => {
  await rt?.close();
  await openai?.close();
  await anthropic?.close();
});

beforeEach(() => {
  openai.reset();
  anthropic.reset();
});

async function conversation(presetId: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await rt.api('POST', '/api/conversations', { body: { preset_id: presetId, ...body } });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function send(conversationId: string, input: unknown, onBusy = 'reject') {
  return rt.api('POST', `/api/conversations/${conversationId}/messages`, { body: { input, on_busy: onBusy } });
}

describe('a run', () => {
  it('answers 202 once the stream exists, streams AG-UI events, and commits turns', async () => {
    openai.script({ text: ['Hel', 'lo ', 'there'], usage: { promptTokens: 12, completionTokens: 3 } });
    const id = await conversation('gpt');
    const accepted = await send(id, 'Say hello');
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ conversation_id: id, status: 'running', events_url: `/api/sessions/${accepted.body.session_id}/events` });

    const events = await sessionEvents(rt.url, rt.token, accepted.body.session_id);
    const types = events.map((e) => e.event.type);
    expect(types[0]).toBe('RUN_STARTED');
    expect(types.at(-1)).toBe('RUN_FINISHED');
    expect(types).toContain('TEXT_MESSAGE_START');
    expect(textOf(events)).toBe('Hello there');
    // Envelope on every event; seq counts from 0 without gaps.
    expect(events.map((e) => e.event.seq)).toEqual(events.map((_, i) => i));
    for (const e of events) expect(e.event).toMatchObject({ conversationId: id, sessionId: accepted.body.session_id });
    const usage = events.find((e) => e.event.name === 'usage')!.event.value;
    expect(usage['openai:gpt-test']).toMatchObject({ input_tokens: 12, output_tokens: 3, requests: 1 });

    // The system prompt template was rendered and sent.
    const sent = openai.chatRequests()[0]!.body;
    expect(sent.messages[0]).toEqual({ role: 'system', content: `You are terse. Today is ${new Date().toISOString().slice(0, 10)}.` });
    expect(sent.messages.at(-1)).toEqual({ role: 'user', content: 'Say hello' });

    const turns = await rt.api('GET', `/api/conversations/${id}/turns`);
    expect(turns.body.items).toHaveLength(1);
    expect(turns.body.items[0]).toMatchObject({ status: 'completed', final_message: 'Hello there', input: 'Say hello' });
    expect(turns.body.items[0].display).toContainEqual(expect.objectContaining({ type: 'TEXT_MESSAGE_CHUNK', delta: 'Hello there' }));
    const conv = await rt.api('GET', `/api/conversations/${id}`);
    expect(conv.body.title).toBe('Say hello');
    expect(conv.body.usage['openai:gpt-test'].input_tokens).toBe(12);
  });

  it('continues with the history of earlier turns', async () => {
    openai.script([{ text: 'first answer' }, { text: 'second answer' }]);
    const id = await conversation('gpt');
    const first = await send(id, 'one');
    await sessionEvents(rt.url, rt.token, first.body.session_id);
    const second = await send(id, 'two');
    await sessionEvents(rt.url, rt.token, second.body.session_id);
    const messages = openai.chatRequests()[1]!.body.messages.slice(1);
    expect(messages).toEqual([
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: 'two' },
    ]);
  });

  it("adds each session's usage to the conversation's totals, per model", async () => {
    openai.script([
      { text: 'first', usage: { promptTokens: 12, completionTokens: 3 } },
      { text: 'second', usage: { promptTokens: 20, completionTokens: 5 } },
    ]);
    const id = await conversation('gpt');
    const costs: number[] = [];
    for (const input of ['one', 'two']) {
      const accepted = await send(id, input);
      const events = await sessionEvents(rt.url, rt.token, accepted.body.session_id);
      costs.push(events.find((e) => e.event.name === 'usage')!.event.value['openai:gpt-test'].cost_usd);
    }
    const conv = await rt.api('GET', `/api/conversations/${id}`);
    expect(conv.body.usage).toEqual({
      'openai:gpt-test': {
        input_tokens: 32,
        output_tokens: 8,
        cached_tokens: 0,
        reasoning_tokens: 0,
        requests: 2,
        cost_usd: Math.round((costs[0]! + costs[1]!) * 1e6) / 1e6,
      },
    });
  });

  it('streams the run itself when the client asks for text/event-stream', async () => {
    openai.script({ text: ['a', 'b', 'c'] });
    const id = await conversation('gpt');
    const response = await fetch(`${rt.url}/api/conversations/${id}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.token}`, accept: 'text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'go' }),
    });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = await readSse(response);
    expect(events[0]!.event.type).toBe('RUN_STARTED');
    expect(events.at(-1)!.event.type).toBe('RUN_FINISHED');
    expect(textOf(events)).toBe('abc');
  });

  it('runs a tool-call round trip through the openai client', async () => {
    openai.script([{ toolCalls: [{ id: 'call_1', name: 'current_time', arguments: ['{', '}'] }] }, { text: 'It is now.' }]);
    const id = await conversation('gpt');
    const run = await send(id, 'What time is it?');
    const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
    const types = events.map((e) => e.event.type);
    expect(types).toEqual(expect.arrayContaining(['TOOL_CALL_START', 'TOOL_CALL_ARGS', 'TOOL_CALL_END', 'TOOL_CALL_RESULT']));
    const result = events.find((e) => e.event.type === 'TOOL_CALL_RESULT')!.event;
    expect(result).toMatchObject({ toolCallId: 'call_1', status: 'complete' });
    expect(Date.parse(result.content)).not.toBeNaN();
    const second = openai.chatRequests()[1]!.body.messages;
    expect(second.at(-2)).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'call_1', function: { name: 'current_time' } }] });
    expect(second.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'call_1', content: result.content });
    expect(textOf(events)).toBe('It is now.');
  });

  it('runs a tool call and a thinking block through the anthropic client', async () => {
    anthropic.script([
      {
        blocks: [
          { type: 'thinking', thinking: ['Let me ', 'check.'], signature: 'sig-1' },
          { type: 'tool_use', id: 'toolu_1', name: 'current_time', input: '{}' },
        ],
      },
      { blocks: [{ type: 'text', text: ['Done', '.'] }] },
    ]);
    const id = await conversation('claude');
    const run = await send(id, 'time?');
    const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
    const reasoning = events.filter((e) => e.event.type === 'REASONING_MESSAGE_CONTENT').map((e) => e.event.delta).join('');
    expect(reasoning).toBe('Let me check.');
    expect(events.map((e) => e.event.type)).toContain('TOOL_CALL_RESULT');
    expect(textOf(events)).toBe('Done.');
    // The thinking block went back with its signature, followed by the tool result.
    const second = anthropic.messageRequests()[1]!.body.messages;
    expect(second.at(-2).content[0]).toMatchObject({ type: 'thinking', thinking: 'Let me check.', signature: 'sig-1' });
    expect(second.at(-1).content[0]).toMatchObject({ type: 'tool_result', tool_use_id: 'toolu_1' });
    const turns = await rt.api('GET', `/api/conversations/${id}/turns`);
    expect(turns.body.items[0].display.map((c: { type: string }) => c.type)).toEqual(
      expect.arrayContaining(['REASONING_MESSAGE_CHUNK', 'TOOL_CALL_CHUNK', 'TOOL_CALL_RESULT', 'TEXT_MESSAGE_CHUNK']),
    );
  });
});

describe('busy policies', () => {
  it('lets exactly one of 50 simultaneous messages start, and answers 409 to the rest', async () => {
    openai.script({ fault: { kind: 'stall' } });
    const id = await conversation('gpt');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => send(id, `message ${i}`, 'reject')));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    const winner = results.find((r) => r.status === 202)!;
    for (const r of results.filter((x) => x.status === 409)) {
      expect(r.body.error).toMatchObject({ code: 'conversation_busy', details: { active_session_id: winner.body.session_id } });
    }
    await rt.api('POST', `/api/conversations/${id}/interrupt`);
    await sessionEvents(rt.url, rt.token, winner.body.session_id);
    // No orphan: the refused messages left no session behind.
    const sessions = await rt.api('GET', `/api/conversations/${id}/sessions`);
    expect(sessions.body.items).toHaveLength(1);
    expect(sessions.body.items[0].status).toBe('interrupted');
  });

  it('queues a message behind the running one and runs it next', async () => {
    openai.script([{ text: ['slow ', 'answer'], chunkDelayMs: 100 }, { text: 'queued answer' }]);
    const id = await conversation('gpt');
    const first = await send(id, 'first');
    const second = await send(id, 'second', 'queue');
    expect(second.status).toBe(202);
    expect(second.body.status).toBe('queued');
    const events = await sessionEvents(rt.url, rt.token, second.body.session_id);
    expect(textOf(events)).toBe('queued answer');
    const firstTurn = await rt.api('GET', `/api/sessions/${first.body.session_id}`);
    expect(firstTurn.body.status).toBe('completed');
    // The queued run saw the first exchange.
    expect(openai.chatRequests()[1]!.body.messages.slice(1, 3)).toEqual([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'slow answer' },
    ]);
  });

  it('interrupts the running session for on_busy=interrupt', async () => {
    openai.script([{ fault: { kind: 'stall' } }, { text: 'fresh start' }]);
    const id = await conversation('gpt');
    const first = await send(id, 'never answered');
    const second = await send(id, 'instead', 'interrupt');
    expect(second.status).toBe(202);
    const firstEvents = await sessionEvents(rt.url, rt.token, first.body.session_id);
    expect(firstEvents.at(-1)!.event).toMatchObject({ type: 'RUN_ERROR', code: 'interrupted' });
    expect(textOf(await sessionEvents(rt.url, rt.token, second.body.session_id))).toBe('fresh start');
  });
});

describe('idempotency keys', () => {
  const keyed = (path: string, body: unknown, key: string, headers: Record<string, string> = {}) =>
    rt.api('POST', path, { body, headers: { 'idempotency-key': key, ...headers } });

  it('gives a repeated message its first 202 and starts one run, even when 20 repeats race', async () => {
    openai.script({ text: 'only once' });
    const id = await conversation('gpt');
    const path = `/api/conversations/${id}/messages`;
    const first = await keyed(path, { input: 'hello', on_busy: 'queue' }, 'msg-1');
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const repeats = await Promise.all(Array.from({ length: 20 }, () => keyed(path, { input: 'hello', on_busy: 'queue' }, 'msg-1')));
    for (const repeat of repeats) {
      expect(repeat.status).toBe(202);
      expect(repeat.body).toEqual(first.body);
      expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    }
    await sessionEvents(rt.url, rt.token, first.body.session_id);
    expect((await rt.api('GET', `/api/conversations/${id}/sessions`)).body.items).toHaveLength(1);
    expect(openai.chatRequests()).toHaveLength(1);
  });

  it('lets exactly one of 20 racing first uses of a key act; the others are told it is in use or replayed', async () => {
    openai.script({ fault: { kind: 'stall' } });
    const id = await conversation('gpt');
    const results = await Promise.all(
      Array.from({ length: 20 }, () => keyed(`/api/conversations/${id}/messages`, { input: 'race', on_busy: 'queue' }, 'race-1')),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const started = results.filter((r) => r.status === 202 && r.headers.get('idempotent-replayed') === null);
    expect(started).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.error.code).toBe('idempotency_key_in_use');
    await rt.api('POST', `/api/conversations/${id}/interrupt`);
    await sessionEvents(rt.url, rt.token, started[0]!.body.session_id);
    expect((await rt.api('GET', `/api/conversations/${id}/sessions`)).body.items).toHaveLength(1);
  });

  it('refuses a key reused for another request, keeps nothing for a failed one, and checks the key', async () => {
    openai.script({ text: 'fine' });
    const id = await conversation('gpt');
    const path = `/api/conversations/${id}/messages`;
    const first = await keyed(path, { input: 'one' }, 'reuse-1');
    expect(first.status).toBe(202);
    const other = await keyed(path, { input: 'two' }, 'reuse-1');
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_reused');
    await sessionEvents(rt.url, rt.token, first.body.session_id);

    // A refused request (404: no such conversation) keeps nothing: the same key works once it can succeed.
    const missing = await keyed('/api/conversations/does-not-exist/messages', { input: 'x' }, 'failed-1');
    expect(missing.status).toBe(404);
    const created = await keyed('/api/conversations', { preset_id: 'gpt', title: 'keyed' }, 'create-1');
    expect(created.status).toBe(201);
    const again = await keyed('/api/conversations', { preset_id: 'gpt', title: 'keyed' }, 'create-1');
    expect(again.body.id).toBe(created.body.id);
    expect(again.status).toBe(201);

    // Keys belong to one user: another user's same key acts for them.
    const bob = await keyed('/api/conversations', { preset_id: 'gpt', title: 'keyed' }, 'create-1', { 'x-conclave-user': 'bob' });
    expect(bob.status).toBe(201);
    expect(bob.body.id).not.toBe(created.body.id);

    const bad = await keyed(path, { input: 'x' }, 'has spaces');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].path).toBe('headers.idempotency-key');
  });

  it('gives a repeat of a streamed message the run as JSON', async () => {
    openai.script({ text: ['stream', 'ed'] });
    const id = await conversation('gpt');
    const path = `/api/conversations/${id}/messages`;
    const streamed = await keyed(path, { input: 'stream it' }, 'sse-1', { accept: 'text/event-stream' });
    expect(streamed.status).toBe(200);
    expect(String(streamed.body)).toContain('RUN_FINISHED');
    const repeat = await keyed(path, { input: 'stream it' }, 'sse-1', { accept: 'text/event-stream' });
    expect(repeat.status).toBe(202);
    expect(repeat.body).toMatchObject({ conversation_id: id, status: 'running' });
    expect((await rt.api('GET', `/api/conversations/${id}/sessions`)).body.items.map((s: { id: string }) => s.id)).toEqual([repeat.body.session_id]);
  });
});

describe('control', () => {
  it('interrupts a stalled provider within a second, keeping partial output', async () => {
    openai.script({ fault: { kind: 'stall' } });
    const id = await conversation('gpt');
    const run = await send(id, 'think forever');
    const stream = await openSse(`${rt.url}/api/sessions/${run.body.session_id}/events`, rt.token);
    const reading = readSse(stream, (item) => item.event.type === 'RUN_ERROR' || item.event.type === 'RUN_FINISHED');
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const interrupt = await rt.api('POST', `/api/conversations/${id}/interrupt`);
    expect(interrupt.body.interrupted).toBe(1);
    const events = await reading;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(events.at(-1)!.event).toMatchObject({ type: 'RUN_ERROR', code: 'interrupted' });
    const session = await rt.api('GET', `/api/sessions/${run.body.session_id}`);
    expect(session.body.status).toBe('interrupted');
  });

  it('commits partial text when interrupted mid-answer', async () => {
    openai.script({ text: ['one ', 'two ', 'three ', 'four ', 'five'], chunkDelayMs: 150 });
    const id = await conversation('gpt');
    const run = await send(id, 'count');
    const stream = await openSse(`${rt.url}/api/sessions/${run.body.session_id}/events`, rt.token);
    const events = await readSse(stream, (item, all) => {
      if (textOf(all) === 'one two ') void rt.api('POST', `/api/sessions/${run.body.session_id}/interrupt`);
      return item.event.type === 'RUN_ERROR' || item.event.type === 'RUN_FINISHED';
    });
    expect(events.at(-1)!.event.code).toBe('interrupted');
    const types = events.map((e) => e.event.type);
    expect(types.indexOf('TEXT_MESSAGE_END')).toBeLessThan(types.indexOf('RUN_ERROR'));
    const turns = await rt.api('GET', `/api/conversations/${id}/turns`);
    expect(turns.body.items[0].display[0].delta).toMatch(/^one two/);
  });

  it('injects steering at the next model call and acknowledges it', async () => {
    openai.script([{ toolCalls: [{ name: 'current_time', arguments: '{}' }], chunkDelayMs: 300 }, { text: 'steered answer' }]);
    const id = await conversation('gpt');
    const run = await send(id, 'start');
    await new Promise((r) => setTimeout(r, 100));
    const steer = await rt.api('POST', `/api/conversations/${id}/steer`, { body: { input: 'also mention the weather' } });
    expect(steer.status).toBe(202);
    expect(steer.body).toMatchObject({ status: 'steered', session_id: run.body.session_id });
    const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
    const received = events.find((e) => e.event.name === 'steering_received');
    expect(received?.event.value).toMatchObject({ text: 'also mention the weather' });
    expect(openai.chatRequests()[1]!.body.messages.at(-1)).toEqual({ role: 'user', content: 'also mention the weather' });
  });

  it('gives a steer that arrives during the last model call one more turn', async () => {
    openai.script([{ text: ['finishing', ' now'], chunkDelayMs: 200 }, { text: 'extra turn' }]);
    const id = await conversation('gpt');
    const run = await send(id, 'go');
    await new Promise((r) => setTimeout(r, 150));
    const steer = await rt.api('POST', `/api/sessions/${run.body.session_id}/steer`, { body: { input: 'one more thing' } });
    expect(steer.status).toBe(200);
    const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
    expect(textOf(events)).toBe('finishing nowextra turn');
    expect(openai.chatRequests()).toHaveLength(2);
  });
});

describe('provider faults', () => {
  it('retries a 429 and then succeeds', async () => {
    openai.script([{ fault: { kind: 'rate_limit', retryAfterMs: 30 } }, { text: 'after the wait' }]);
    const id = await conversation('gpt');
    const run = await send(id, 'hi');
    const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
    expect(events.at(-1)!.event.type).toBe('RUN_FINISHED');
    expect(textOf(events)).toBe('after the wait');
    expect(openai.chatRequests()).toHaveLength(2);
  });

  it('falls back to the next model on a 500 and records the model that answered', async () => {
    openai.script(Array.from({ length: 3 }, () => ({ fault: { kind: 'server_error' as const } })), { model: 'primary' });
    openai.script({ text: 'from the backup' }, { model: 'backup' });
    const id = await conversation('fallback');
    const run = await send(id, 'hi');
    const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
    expect(textOf(events)).toBe('from the backup');
    const session = await rt.api('GET', `/api/sessions/${run.body.session_id}`);
    expect(session.body.model).toBe('openai:backup');
  });

  it('never falls back on a 400, and says why the run failed', async () => {
    openai.script({ fault: { kind: 'invalid_request', message: 'messages: too long' } }, { model: 'primary' });
    openai.script({ text: 'must not be used' }, { model: 'backup' });
    const id = await conversation('fallback');
    const run = await send(id, 'hi');
    const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
    const error = events.at(-1)!.event;
    expect(error).toMatchObject({ type: 'RUN_ERROR', code: 'provider_error' });
    expect(error.message).toMatch(/400|invalid/i);
    expect(openai.chatRequests().map((r) => r.body.model)).toEqual(['primary']);
    expect((await rt.api('GET', `/api/sessions/${run.body.session_id}`)).body.status).toBe('failed');
  });

  it('ends a stream dropped mid-answer with a clear RUN_ERROR', async () => {
    openai.script({ text: ['a', 'b', 'c', 'd'], fault: { kind: 'drop', afterChunks: 3 } });
    const id = await conversation('gpt');
    const run = await send(id, 'hi');
    const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
    const error = events.at(-1)!.event;
    expect(error).toMatchObject({ type: 'RUN_ERROR', code: 'provider_error' });
    expect(error.message.length).toBeGreaterThan(20);
    // What arrived before the drop was closed properly.
    const types = events.map((e) => e.event.type);
    if (types.includes('TEXT_MESSAGE_START')) expect(types).toContain('TEXT_MESSAGE_END');
  });
});

describe('history', () => {
  it('forks from a committed session into a new conversation that keeps the history', async () => {
    openai.script([{ text: 'A1' }, { text: 'A2' }, { text: 'B2' }]);
    const id = await conversation('gpt');
    const one = await send(id, 'Q1');
    await sessionEvents(rt.url, rt.token, one.body.session_id);
    const two = await send(id, 'Q2');
    await sessionEvents(rt.url, rt.token, two.body.session_id);

    const fork = await rt.api('POST', `/api/conversations/${id}/fork`, { body: { session_id: one.body.session_id, input: 'Q2 again' } });
    expect(fork.status).toBe(201);
    expect(fork.body.conversation.forked_from).toEqual({ conversation_id: id, session_id: one.body.session_id });
    await sessionEvents(rt.url, rt.token, fork.body.run.session_id);
    expect(openai.chatRequests()[2]!.body.messages.slice(1)).toEqual([
      { role: 'user', content: 'Q1' },
      { role: 'assistant', content: 'A1' },
      { role: 'user', content: 'Q2 again' },
    ]);
    const forkTurns = await rt.api('GET', `/api/conversations/${fork.body.conversation.id}/turns`);
    expect(forkTurns.body.items.map((t: { final_message: string }) => t.final_message)).toEqual(['B2', 'A1']);
    expect((await rt.api('POST', `/api/conversations/${id}/fork`, { body: { session_id: 'nope' } })).status).toBe(422);
  });

  it('exports a conversation as Markdown and JSON', async () => {
    openai.script({ text: 'The answer is 42.' });
    const id = await conversation('gpt', { title: 'Deep thought' });
    const run = await send(id, 'What is the answer?');
    await sessionEvents(rt.url, rt.token, run.body.session_id);
    const md = await fetch(`${rt.url}/api/conversations/${id}/export?format=markdown`, { headers: { authorization: `Bearer ${rt.token}` } });
    const text = await md.text();
    expect(text).toContain('# Deep thought');
    expect(text).toContain('**You:** What is the answer?');
    expect(text).toContain('The answer is 42.');
    const json = await rt.api('GET', `/api/conversations/${id}/export?format=json`);
    expect(json.body.turns[0].final_message).toBe('The answer is 42.');
  });

  it('replays a finished session and resumes a conversation stream after a cursor', async () => {
    openai.script({ text: ['x', 'y', 'z'] });
    const id = await conversation('gpt');
    const run = await send(id, 'go');
    const all = await sessionEvents(rt.url, rt.token, run.body.session_id);
    const again = await sessionEvents(rt.url, rt.token, run.body.session_id);
    expect(again.map((e) => e.id)).toEqual(all.map((e) => e.id));
    const cursor = all[2]!.id!;
    const resumed = await readSse(
      await openSse(`${rt.url}/api/conversations/${id}/events`, rt.token, { 'last-event-id': cursor }),
      (item) => item.event.type === 'RUN_FINISHED',
    );
    expect(resumed.map((e) => e.id)).toEqual(all.slice(3).map((e) => e.id));
  });
});

describe('large answers', () => {
  it('finishes and saves an answer longer than the search index can hold', async () => {
    const chunk = 'lorem ipsum dolor sit amet '.repeat(50);
    openai.script({ text: Array.from({ length: 900 }, () => chunk) });
    const id = await conversation('gpt');
    const run = await send(id, 'write a lot');
    const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
    expect(events.at(-1)!.event.type).toBe('RUN_FINISHED');
    const session = await rt.api('GET', `/api/sessions/${run.body.session_id}`);
    expect(session.body.status).toBe('completed');
    expect(session.body.final_message.length).toBe(chunk.length * 900);
  });
});

describe('search, compaction, providers', () => {
  it('finds conversations by the text of their messages, with stemming', async () => {
    openai.script({ text: 'The penguins were migrating south.' });
    const id = await conversation('gpt', { title: 'Zoo notes' });
    const run = await send(id, 'Tell me about birds');
    await sessionEvents(rt.url, rt.token, run.body.session_id);
    const byAnswer = await rt.api('GET', '/api/conversations?q=penguin%20migrate');
    expect(byAnswer.body.items.map((c: { id: string }) => c.id)).toEqual([id]);
    const byInput = await rt.api('GET', '/api/conversations?q=bird');
    expect(byInput.body.items.map((c: { id: string }) => c.id)).toContain(id);
    const none = await rt.api('GET', '/api/conversations?q=giraffe');
    expect(none.body.items.map((c: { id: string }) => c.id)).not.toContain(id);
  });

  it('summarises older turns once the prompt passes the threshold, and uses the summary after', async () => {
    await rt.api('POST', '/api/presets', {
      body: { id: 'small', name: 'Small window', model: { name: 'openai:small', settings: { context_window: 1000 } } },
    });
    openai.onRequest((req) => {
      const system = req.body.messages[0]?.content ?? '';
      if (String(system).startsWith('You compress conversations')) return { text: 'SUMMARY: the user likes tea.' };
      return { text: 'ok', usage: { promptTokens: 900, completionTokens: 10 } };
    });
    const id = await conversation('small');
    for (const text of ['I like tea', 'and biscuits']) {
      const run = await send(id, text);
      await sessionEvents(rt.url, rt.token, run.body.session_id);
    }
    const third = await send(id, 'what do I like?');
    const events = await sessionEvents(rt.url, rt.token, third.body.session_id);
    const compaction = events.find((e) => e.event.name === 'compaction');
    expect(compaction?.event.value).toMatchObject({ summarized_sessions: 1, context_window: 1000 });
    const last = openai.chatRequests().at(-1)!.body;
    expect(JSON.stringify(last.messages)).toContain('SUMMARY: the user likes tea.');
    expect(JSON.stringify(last.messages)).not.toContain('I like tea');
    expect(last.messages.slice(-3).map((m: { content: string }) => m.content)).toEqual(['and biscuits', 'ok', 'what do I like?']);
    expect(last).not.toHaveProperty('context_window');
    expect((await rt.api('GET', `/api/conversations/${id}`)).body.summary).toBe('SUMMARY: the user likes tea.');
    openai.onRequest(undefined);
  });

  it('lists providers and whether each answers', async () => {
    const res = await rt.api('GET', '/api/providers');
    const byName = Object.fromEntries(res.body.items.map((p: { name: string }) => [p.name, p]));
    expect(byName.openai).toMatchObject({ configured: true, reachable: true, base_url: openai.baseURL });
    expect(byName.anthropic).toMatchObject({ configured: true, reachable: true });
    expect(byName.deepseek).toMatchObject({ configured: false, reachable: null });
  });
});
