/**
 * Async subagents and the mailbox, human in the loop (approvals, ask_user,
 * client-side tools), MCP tools through the agent, and the OpenAI-compatible
 * endpoint driven by the official `openai` client.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fakeMcpStdioCommand, startFakeMcpHttp } from '../fakes/mcp-server.js';
import { startFakeOpenAI, type FakeOpenAI, type RecordedRequest } from '../fakes/openai.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { openSse, readSse, sessionEvents, textOf } from '../support/sse.js';

let rt: TestRuntime;
let fake: FakeOpenAI;

const lastUserText = (req: RecordedRequest): string => {
  const users = req.body.messages.filter((m: { role: string }) => m.role === 'user');
  return String(users.at(-1)?.content ?? '');
};
const isTool = (req: RecordedRequest) => req.body.messages.at(-1)?.role === 'tool';

beforeAll(async () => {
  fake = await startFakeOpenAI();
  rt = await startTestRuntime({
    env: { OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: 'x', CONCLAVE_PROVIDER_RETRIES: '0' },
  });
  const presets = [
    { id: 'worker', name: 'Worker', model: 'openai:worker-model', description: 'Researches one topic' },
    {
      id: 'boss',
      name: 'Boss',
      model: 'openai:boss-model',
      subagents: [{ name: 'researcher', preset_id: 'worker', description: 'looks one topic up' }],
    },
    {
      id: 'careful',
      name: 'Careful',
      model: 'openai:careful-model',
      tools: [{ type: 'builtin', name: 'current_time', requires_approval: true }, 'ask_user'],
    },
  ];
  for (const body of presets) expect((await rt.api('POST', '/api/presets', { body })).status).toBe(201);
});

afterAll(async () => {
  await rt?.close();
  await fake?.close();
});

beforeEach(() => {
  fake.reset();
});

async function newConversation(presetId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await rt.api('POST', '/api/conversations', { body: { preset_id: presetId, ...extra } });
  return res.body.id;
}

/** Waits until the conversation has a session matching `predicate`, and returns it. */
async function waitForSession(conversationId: string, predicate: (s: any) => boolean, timeoutMs = 15_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const list = await rt.api('GET', `/api/conversations/${conversationId}/sessions?limit=200`);
    const found = list.body.items.find(predicate);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out waiting for a session');
}

/** Boss spawns three researchers, ends its turn, and summarises their results when continued. */
function scriptFanOut(worker: (topic: string) => object) {
  fake.onRequest((req) => {
    if (req.body.model === 'worker-model') return worker(lastUserText(req));
    if (lastUserText(req).startsWith('Results from your background agents')) {
      return { text: `Summary of ${(lastUserText(req).match(/result for \w+/g) ?? []).join(', ')}` };
    }
    if (isTool(req)) return { text: 'I asked three researchers; results will follow.' };
    return {
      toolCalls: ['alpha', 'beta', 'gamma'].map((topic) => ({
        name: 'spawn_agent',
        arguments: JSON.stringify({ name: 'researcher', instruction: `Research ${topic}` }),
      })),
    };
  });
}

describe('async subagents and the mailbox', () => {
  it('fans out to three subagents and fans in to exactly one continuation with all results', async () => {
    scriptFanOut((topic) => ({ text: `result for ${topic.split(' ')[1]}`, chunkDelayMs: 300 }));
    const id = await newConversation('boss');
    const stream = await openSse(`${rt.url}/api/conversations/${id}/events`, rt.token);
    const reading = readSse(stream, (item) => item.event.type === 'RUN_FINISHED' && item.event.result?.final_message?.startsWith('Summary'));
    const run = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'Research three topics' } });
    expect(run.status).toBe(202);
    const parentEvents = await sessionEvents(rt.url, rt.token, run.body.session_id);
    expect(textOf(parentEvents)).toBe('I asked three researchers; results will follow.');
    const spawned = parentEvents.filter((e) => e.event.type === 'TOOL_CALL_RESULT').map((e) => JSON.parse(e.event.content));
    expect(spawned.map((s) => s.status)).toEqual(['running', 'running', 'running']);

    const events = await reading;
    const subagentStarts = events.filter((e) => e.event.type === 'SUBAGENT_STARTED');
    expect(subagentStarts).toHaveLength(3);
    expect(events.filter((e) => e.event.type === 'SUBAGENT_FINISHED')).toHaveLength(3);
    for (const start of subagentStarts) expect(start.event.subagentRunId).toBe(start.event.sessionId);

    const sessions = (await rt.api('GET', `/api/conversations/${id}/sessions`)).body.items;
    const subagents = sessions.filter((s: any) => s.type === 'async_subagent');
    expect(subagents.map((s: any) => s.status)).toEqual(['completed', 'completed', 'completed']);
    expect(new Set(subagents.map((s: any) => s.spawned_by))).toEqual(new Set([run.body.session_id]));
    const continuations = sessions.filter((s: any) => s.type === 'agent' && s.id !== run.body.session_id);
    expect(continuations).toHaveLength(1);
    for (const topic of ['alpha', 'beta', 'gamma']) expect(continuations[0].input).toContain(`result for ${topic}`);
    expect(continuations[0].final_message).toMatch(/^Summary of result for \w+, result for \w+, result for \w+$/);

    const mailbox = (await rt.api('GET', `/api/conversations/${id}/mailbox`)).body.items;
    expect(mailbox).toHaveLength(3);
    expect(new Set(mailbox.map((m: any) => m.delivered_to))).toEqual(new Set([continuations[0].id]));
    expect((await rt.api('POST', `/api/conversations/${id}/fire`)).body.error.code).toBe('mailbox_empty');
  });

  it('tells the parent when a subagent fails', async () => {
    fake.onRequest((req) => {
      if (req.body.model === 'worker-model') return { fault: { kind: 'server_error', message: 'upstream exploded' } };
      const last = lastUserText(req);
      if (last.startsWith('Results from your background agents')) return { text: 'The researcher failed; I will try another way.' };
      if (isTool(req)) return { text: 'Waiting.' };
      return { toolCalls: [{ name: 'spawn_agent', arguments: JSON.stringify({ name: 'researcher', instruction: 'Research delta' }) }] };
    });
    const id = await newConversation('boss');
    await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'go' } });
    const continuation = await waitForSession(id, (s) => s.type === 'agent' && String(s.input).startsWith('Results from') && s.status === 'completed');
    expect(continuation.input).toContain('researcher (failed)');
    expect(continuation.input).toMatch(/provider_error/);
    expect(continuation.final_message).toBe('The researcher failed; I will try another way.');
    const mailbox = (await rt.api('GET', `/api/conversations/${id}/mailbox`)).body.items;
    expect(mailbox).toEqual([expect.objectContaining({ kind: 'subagent_failed', subagent_name: 'researcher', delivered_to: continuation.id })]);
  });

  it('holds results while auto_fire is off, then fires them once on request', async () => {
    scriptFanOut((topic) => ({ text: `result for ${topic.split(' ')[1]}`, chunkDelayMs: 300 }));
    const id = await newConversation('boss', { auto_fire: false });
    await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'go' } });
    const deadline = Date.now() + 10_000;
    let pending: any[] = [];
    while (Date.now() < deadline && pending.length < 3) {
      pending = (await rt.api('GET', `/api/conversations/${id}/mailbox?pending_only=true`)).body.items;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(pending).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 200));
    const fires = await Promise.all(Array.from({ length: 10 }, () => rt.api('POST', `/api/conversations/${id}/fire`)));
    const statuses = fires.map((f) => f.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.every((s) => [202, 409, 422].includes(s))).toBe(true);
    const fired = fires.find((f) => f.status === 202)!;
    const events = await sessionEvents(rt.url, rt.token, fired.body.session_id);
    expect(textOf(events)).toMatch(/^Summary of/);
  });
});

describe('human in the loop', () => {
  it('pauses for approval and runs the tool once approved', async () => {
    fake.onRequest((req) => (isTool(req) ? { text: `The tool said ${req.body.messages.at(-1).content.slice(0, 4)}` } : { toolCalls: [{ id: 'call_t', name: 'current_time', arguments: '{}' }] }));
    const id = await newConversation('careful');
    const first = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'What time is it?' } });
    const events = await sessionEvents(rt.url, rt.token, first.body.session_id);
    const awaiting = events.find((e) => e.event.name === 'awaiting_user')!.event.value;
    expect(awaiting.calls).toEqual([{ tool_call_id: 'call_t', tool_name: 'current_time', arguments: '{}', kind: 'approval' }]);
    expect(events.at(-1)!.event).toMatchObject({ type: 'RUN_FINISHED', outcome: { type: 'interrupt', interrupts: [{ reason: 'tool_approval', toolCallId: 'call_t' }] } });
    expect((await rt.api('GET', `/api/sessions/${first.body.session_id}`)).body).toMatchObject({ status: 'awaiting_input', pending: { calls: [{ kind: 'approval' }] } });

    const second = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { approvals: [{ tool_call_id: 'call_t', approved: true }] } });
    expect(second.status).toBe(202);
    const after = await sessionEvents(rt.url, rt.token, second.body.session_id);
    expect(after.find((e) => e.event.type === 'TOOL_CALL_RESULT')!.event).toMatchObject({ toolCallId: 'call_t', status: 'complete' });
    expect(textOf(after)).toBe(`The tool said ${new Date().getUTCFullYear()}`);
  });

  it('returns a clear denial, and denies calls the next message leaves unanswered', async () => {
    fake.onRequest((req) => (isTool(req) ? { text: `noted: ${req.body.messages.at(-1).content}` } : { toolCalls: [{ id: 'call_d', name: 'current_time', arguments: '{}' }] }));
    const id = await newConversation('careful');
    const first = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'time?' } });
    await sessionEvents(rt.url, rt.token, first.body.session_id);
    const denied = await rt.api('POST', `/api/conversations/${id}/messages`, {
      body: { approvals: [{ tool_call_id: 'call_d', approved: false, reason: 'not now' }] },
    });
    expect(textOf(await sessionEvents(rt.url, rt.token, denied.body.session_id))).toBe('noted: Denied by the user: not now');

    fake.onRequest((req) =>
      isTool(req) || req.body.messages.at(-1)?.role === 'user' && req.body.messages.at(-2)?.role === 'tool'
        ? { text: `ok: ${req.body.messages.find((m: any) => m.role === 'tool' && m.tool_call_id === 'call_e')?.content}` }
        : { toolCalls: [{ id: 'call_e', name: 'current_time', arguments: '{}' }] },
    );
    const again = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'time again?' } });
    await sessionEvents(rt.url, rt.token, again.body.session_id);
    const ignored = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'never mind' } });
    const text = textOf(await sessionEvents(rt.url, rt.token, ignored.body.session_id));
    expect(text).toBe('ok: Denied: the next message did not approve this call, so it was not run.');
  });

  it('asks the user a question and takes the next message as the answer', async () => {
    fake.onRequest((req) =>
      isTool(req)
        ? { text: `You like ${req.body.messages.at(-1).content}.` }
        : { toolCalls: [{ id: 'call_q', name: 'ask_user', arguments: JSON.stringify({ question: 'Which colour?' }) }] },
    );
    const id = await newConversation('careful');
    const first = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'Pick a colour for me' } });
    const events = await sessionEvents(rt.url, rt.token, first.body.session_id);
    expect(events.find((e) => e.event.name === 'awaiting_user')!.event.value.questions).toEqual(['Which colour?']);
    const answer = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'blue' } });
    expect(textOf(await sessionEvents(rt.url, rt.token, answer.body.session_id))).toBe('You like blue.');
    // The answer went back as the tool result, not as a separate user message.
    const messages = fake.chatRequests().at(-1)!.body.messages;
    expect(messages.at(-1)).toEqual({ role: 'tool', tool_call_id: 'call_q', content: 'blue' });
  });

  it('ends awaiting client-side tool results and continues when the next request carries them', async () => {
    fake.onRequest((req) =>
      isTool(req)
        ? { text: `Weather in ${req.body.messages.at(-1).content}: sunny.` }
        : { toolCalls: [{ id: 'call_c', name: 'get_location', arguments: '{}' }] },
    );
    const id = await newConversation('careful');
    const first = await rt.api('POST', `/api/conversations/${id}/messages`, {
      body: { input: 'Weather here?', client_tools: [{ name: 'get_location', description: 'Where the user is' }] },
    });
    const events = await sessionEvents(rt.url, rt.token, first.body.session_id);
    expect(events.find((e) => e.event.name === 'awaiting_user')!.event.value.calls[0]).toMatchObject({ kind: 'client', tool_name: 'get_location' });
    expect(fake.chatRequests()[0]!.body.tools.map((t: any) => t.function.name)).toContain('get_location');
    const second = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { tool_results: [{ tool_call_id: 'call_c', output: 'Paris' }] } });
    expect(textOf(await sessionEvents(rt.url, rt.token, second.body.session_id))).toBe('Weather in Paris: sunny.');
  });
});

describe('MCP tools through the agent', () => {
  it('calls tools of MCP servers over stdio and HTTP, and skips a broken optional server with a warning', async () => {
    const http = await startFakeMcpHttp();
    const stdio = fakeMcpStdioCommand();
    try {
      const preset = await rt.api('POST', '/api/presets', {
        body: {
          id: 'mcp-user',
          name: 'MCP user',
          model: 'openai:mcp-model',
          mcp_servers: [
            { name: 'local', transport: 'stdio', command: stdio.command, args: stdio.args },
            { name: 'remote', transport: 'streamable_http', url: http.url },
            { name: 'broken', transport: 'streamable_http', url: 'http://127.0.0.1:9/mcp', optional: true, timeout_seconds: 2 },
          ],
        },
      });
      expect(preset.status).toBe(201);
      fake.onRequest((req) => {
        const toolMessages = req.body.messages.filter((m: any) => m.role === 'tool');
        if (toolMessages.length === 2) return { text: `sums: ${toolMessages.map((m: any) => m.content).join(' and ')}` };
        return {
          toolCalls: [
            { id: 'c1', name: 'local__add', arguments: '{"a":2,"b":3}' },
            { id: 'c2', name: 'remote__add', arguments: '{"a":10,"b":20}' },
          ],
        };
      });
      const id = await newConversation('mcp-user');
      const run = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'add things' } });
      const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
      expect(textOf(events)).toBe('sums: 5 and 30');
      const warning = events.find((e) => e.event.name === 'warning');
      expect(warning?.event.value.message).toMatch(/MCP server 'broken' is unavailable and was skipped/);
      const offered = fake.chatRequests()[0]!.body.tools.map((t: any) => t.function.name);
      expect(offered).toEqual(expect.arrayContaining(['local__add', 'remote__add']));
      expect(offered.some((n: string) => n.startsWith('broken__'))).toBe(false);
    } finally {
      await http.close();
    }
  });

  it('fails the run with a clear tool_error when a required server is down', async () => {
    await rt.api('POST', '/api/presets', {
      body: {
        id: 'mcp-required',
        name: 'Needs MCP',
        model: 'openai:mcp-model',
        mcp_servers: [{ name: 'vital', transport: 'streamable_http', url: 'http://127.0.0.1:9/mcp', timeout_seconds: 2 }],
      },
    });
    const id = await newConversation('mcp-required');
    const run = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'hi' } });
    const events = await sessionEvents(rt.url, rt.token, run.body.session_id);
    expect(events.at(-1)!.event).toMatchObject({ type: 'RUN_ERROR', code: 'tool_error' });
    expect(events.at(-1)!.event.message).toMatch(/MCP server 'vital' is unavailable/);
    expect(fake.chatRequests()).toHaveLength(0);
  });
});

describe('OpenAI-compatible endpoint', () => {
  it('streams a reply from a preset to the official openai client', async () => {
    fake.onRequest(() => ({ text: ['Hello ', 'from ', 'Boss'] }));
    const client = new OpenAI({ baseURL: `${rt.url}/v1`, apiKey: rt.token });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(expect.arrayContaining(['boss', 'worker', 'careful']));

    const stream = await client.chat.completions.create({
      model: 'careful',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'Answer in three words.' },
        { role: 'user', content: 'Earlier question' },
        { role: 'assistant', content: 'Earlier answer' },
        { role: 'user', content: 'Say hello' },
      ],
    });
    let text = '';
    let usage: unknown = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Hello from Boss');
    expect(usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    const sent = fake.chatRequests()[0]!.body.messages;
    expect(sent[0].content).toContain('Answer in three words.');
    expect(sent.slice(1)).toEqual([
      { role: 'user', content: 'Earlier question' },
      { role: 'assistant', content: 'Earlier answer' },
      { role: 'user', content: 'Say hello' },
    ]);

    fake.onRequest(() => ({ text: 'Not streamed.' }));
    const whole = await client.chat.completions.create({ model: 'careful', messages: [{ role: 'user', content: 'hi' }] });
    expect(whole.choices[0]!.message.content).toBe('Not streamed.');
    await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 404 });
  });
});
