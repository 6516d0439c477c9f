/**
 * The provider contract: one suite, run against both adapters with the real
 * SDK clients talking to local fakes (OpenAI adapter ↔ fake OpenAI server,
 * Anthropic adapter ↔ fake Anthropic server).
 *
 * Each adapter gets a Harness that scripts its fake in neutral terms ("answer
 * with these text chunks", "ask for these tools") and knows what its wire
 * format must look like; the tests themselves are shared. Adapter-specific
 * details follow the shared suite.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAnthropicProvider } from '../../runtime/providers/anthropic.js';
import { createOpenAIProvider } from '../../runtime/providers/openai.js';
import {
  type ChatMessage,
  type ContentPart,
  type Provider,
  ProviderError,
  type StreamPart,
  type StreamRequest,
  type TokenUsage,
  type ToolDefinition,
} from '../../runtime/providers/types.js';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic.js';
import { type FakeOpenAI, type Fault, type RecordedRequest, startFakeOpenAI } from '../fakes/openai.js';

// ---------------------------------------------------------------- harnesses

interface ScriptedCall {
  id: string;
  name: string;
  argumentChunks: string[];
}

interface Harness {
  name: string;
  start(): Promise<void>;
  close(): Promise<void>;
  provider(): Provider;
  /** The chat requests the fake received, in order. */
  requests(): RecordedRequest[];
  reset(): void;

  scriptText(chunks: string[], options?: { chunkDelayMs?: number }): void;
  scriptToolCalls(calls: ScriptedCall[]): void;
  /** Reasoning chunks, then text; `signature` is what the fake signs the thinking with (when the API has one). */
  scriptReasoning(reasoning: string[], text: string[]): { signature: string | undefined };
  /** Scripts a usage report and returns what the adapter must map it to. */
  scriptUsage(): TokenUsage;
  scriptFault(fault: Fault): void;
  /** Text chunks, with the connection cut after the first of them reached the client. */
  scriptDropAfterFirstText(chunks: string[]): void;
  /** A normal answer that stops before the finish (no finish_reason / message_stop). */
  scriptTruncated(chunks: string[]): void;

  /** The second request of a tool round trip carries the assistant's calls and the results. */
  expectToolResults(body: any, calls: { id: string; name: string; arguments: string }[], results: string[]): void;
  expectToolsDeclared(body: any, tools: ToolDefinition[]): void;
  /** The next request after a reasoning answer carries the reasoning (or not) as the API wants. */
  expectReasoningSentBack(body: any, reasoning: string, signature: string | undefined, text: string): void;
}

function openAIHarness(): Harness {
  let fake: FakeOpenAI;
  let provider: Provider;
  return {
    name: 'openai adapter ↔ fake OpenAI',
    async start() {
      fake = await startFakeOpenAI();
      provider = createOpenAIProvider({ name: 'openai', baseURL: fake.baseURL, apiKey: 'test-key', apiKeyEnv: 'OPENAI_API_KEY' });
    },
    close: () => fake.close(),
    provider: () => provider,
    requests: () => fake.chatRequests(),
    reset: () => fake.reset(),

    scriptText: (chunks, options) => fake.script({ text: chunks, ...options }),
    scriptToolCalls: (calls) =>
      fake.script({ toolCalls: calls.map((c) => ({ id: c.id, name: c.name, arguments: c.argumentChunks })) }),
    scriptReasoning(reasoning, text) {
      fake.script({ reasoning, text });
      return { signature: undefined };
    },
    scriptUsage() {
      fake.script({ text: 'ok', usage: { promptTokens: 100, completionTokens: 40, cachedTokens: 30, reasoningTokens: 10 } });
      return { inputTokens: 100, outputTokens: 40, cachedTokens: 30, reasoningTokens: 10 };
    },
    scriptFault: (fault) => fake.script({ fault }),
    // Chunk 1 is the role, chunk 2 the first text.
    scriptDropAfterFirstText: (chunks) => fake.script({ text: chunks, fault: { kind: 'drop', afterChunks: 2 } }),
    scriptTruncated: (chunks) => fake.script({ text: chunks, omitFinish: true }),

    expectToolResults(body, calls, results) {
      const messages = body.messages as any[];
      const assistant = messages.at(-1 - calls.length);
      expect(assistant).toEqual({
        role: 'assistant',
        content: null,
        tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
      });
      expect(messages.slice(-calls.length)).toEqual(
        calls.map((c, i) => ({ role: 'tool', tool_call_id: c.id, content: results[i] })),
      );
    },
    expectToolsDeclared(body, tools) {
      expect(body.tools).toEqual(
        tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })),
      );
    },
    expectReasoningSentBack(body, _reasoning, _signature, text) {
      // Chat Completions has no reasoning input; DeepSeek rejects reasoning_content in requests.
      const assistant = (body.messages as any[]).find((m) => m.role === 'assistant');
      expect(assistant).toEqual({ role: 'assistant', content: text });
    },
  };
}

function anthropicHarness(): Harness {
  let fake: FakeAnthropic;
  let provider: Provider;
  return {
    name: 'anthropic adapter ↔ fake Anthropic',
    async start() {
      fake = await startFakeAnthropic();
      provider = createAnthropicProvider({ name: 'anthropic', baseURL: fake.baseURL, apiKey: 'test-key', apiKeyEnv: 'ANTHROPIC_API_KEY' });
    },
    close: () => fake.close(),
    provider: () => provider,
    requests: () => fake.messageRequests(),
    reset: () => fake.reset(),

    scriptText: (chunks, options) => fake.script({ blocks: [{ type: 'text', text: chunks }], ...options }),
    scriptToolCalls: (calls) =>
      fake.script({ blocks: calls.map((c) => ({ type: 'tool_use' as const, id: c.id, name: c.name, input: c.argumentChunks })) }),
    scriptReasoning(reasoning, text) {
      const signature = 'EqQBCkYIARgCKkD-signature';
      fake.script({ blocks: [{ type: 'thinking', thinking: reasoning, signature }, { type: 'text', text }] });
      return { signature };
    },
    scriptUsage() {
      fake.script({
        blocks: [{ type: 'text', text: 'ok' }],
        usage: { inputTokens: 60, cacheReadInputTokens: 30, cacheCreationInputTokens: 10, outputTokens: 40 },
      });
      return { inputTokens: 100, outputTokens: 40, cachedTokens: 30, reasoningTokens: 0 };
    },
    scriptFault: (fault) => fake.script({ fault }),
    // message_start, content_block_start, ping, then the first text_delta.
    scriptDropAfterFirstText: (chunks) =>
      fake.script({ blocks: [{ type: 'text', text: chunks }], fault: { kind: 'drop', afterChunks: 4 } }),
    scriptTruncated: (chunks) => fake.script({ blocks: [{ type: 'text', text: chunks }], omitStop: true }),

    expectToolResults(body, calls, results) {
      const messages = body.messages as any[];
      expect(messages.at(-2)).toEqual({
        role: 'assistant',
        content: calls.map((c) => ({ type: 'tool_use', id: c.id, name: c.name, input: JSON.parse(c.arguments) })),
      });
      // Consecutive tool results are merged into ONE user turn.
      expect(messages.at(-1)).toEqual({
        role: 'user',
        content: calls.map((c, i) => ({ type: 'tool_result', tool_use_id: c.id, content: results[i] })),
      });
    },
    expectToolsDeclared(body, tools) {
      expect(body.tools).toEqual(tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters })));
    },
    expectReasoningSentBack(body, reasoning, signature, text) {
      const assistant = (body.messages as any[]).find((m) => m.role === 'assistant');
      expect(assistant).toEqual({
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: reasoning, signature },
          { type: 'text', text },
        ],
      });
    },
  };
}

// ---------------------------------------------------------------- helpers

const weatherTool: ToolDefinition = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

function request(messages: ChatMessage[], extra: Partial<StreamRequest> = {}): StreamRequest {
  return { model: 'test-model', messages, signal: new AbortController().signal, ...extra };
}

/** Reads a stream to its end; returns the parts and the error it threw, if any. */
async function collect(stream: AsyncIterable<StreamPart>): Promise<{ parts: StreamPart[]; error: ProviderError | undefined }> {
  const parts: StreamPart[] = [];
  try {
    for await (const part of stream) parts.push(part);
    return { parts, error: undefined };
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    return { parts, error: error as ProviderError };
  }
}

/** Streams one user message made of `content`, to see how the adapter sends those parts. */
const sendParts = (provider: Provider, content: ContentPart[]) => collect(provider.stream(request([{ role: 'user', content }])));

const textOf = (parts: StreamPart[]) => parts.map((p) => (p.type === 'text-delta' ? p.delta : '')).join('');

// ---------------------------------------------------------------- the shared contract

describe.each([openAIHarness(), anthropicHarness()])('provider contract: $name', (harness) => {
  beforeAll(() => harness.start());
  afterAll(() => harness.close());
  beforeEach(() => harness.reset());

  const hello: ChatMessage[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say hello' },
  ];

  it('streams text deltas in order and ends with usage, then exactly one finish', async () => {
    harness.scriptText(['Hel', 'lo, ', 'world', '!']);
    const { parts, error } = await collect(harness.provider().stream(request(hello)));
    expect(error).toBeUndefined();
    expect(parts.filter((p) => p.type === 'text-delta').map((p) => (p as { delta: string }).delta)).toEqual(['Hel', 'lo, ', 'world', '!']);
    expect(parts.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
    expect(parts.at(-2)?.type).toBe('usage');
    expect(parts.filter((p) => p.type === 'finish')).toHaveLength(1);
    expect(harness.requests()).toHaveLength(1);
    expect(harness.requests()[0]?.body.model).toBe('test-model');
    expect(harness.requests()[0]?.body.stream).toBe(true);
  });

  it('round-trips tool calls: streamed arguments in, tool results out in the right shape', async () => {
    const calls = [
      { id: 'call_paris', name: 'get_weather', argumentChunks: ['{"ci', 'ty": "Pa', 'ris"}'] },
      { id: 'call_rome', name: 'get_weather', argumentChunks: ['{"city":', ' "Rome"}'] },
    ];
    harness.scriptToolCalls(calls);
    const first = await collect(harness.provider().stream(request(hello, { tools: [weatherTool] })));
    expect(first.error).toBeUndefined();

    // Per call, in order: start (id + name), its argument pieces, end. Calls may
    // interleave their ends (OpenAI closes all open calls at finish_reason).
    for (const call of calls) {
      const own = first.parts.filter((p) => 'id' in p && p.id === call.id);
      expect(own).toEqual([
        { type: 'tool-call-start', id: call.id, name: call.name },
        ...call.argumentChunks.map((delta) => ({ type: 'tool-call-delta', id: call.id, delta })),
        { type: 'tool-call-end', id: call.id },
      ]);
    }
    const lastEnd = first.parts.findLastIndex((p) => p.type === 'tool-call-end');
    expect(lastEnd).toBeLessThan(first.parts.findIndex((p) => p.type === 'finish'));
    expect(first.parts.at(-1)).toEqual({ type: 'finish', reason: 'tool_calls' });
    harness.expectToolsDeclared(harness.requests()[0]?.body, [weatherTool]);

    // Second turn: the assistant's calls and both results go back.
    const asked = calls.map((c) => ({ id: c.id, name: c.name, arguments: c.argumentChunks.join('') }));
    const results = ['18°C, sunny', '24°C, cloudy'];
    const followUp: ChatMessage[] = [
      ...hello,
      { role: 'assistant', content: '', toolCalls: asked },
      { role: 'tool', toolCallId: 'call_paris', toolName: 'get_weather', content: results[0]! },
      { role: 'tool', toolCallId: 'call_rome', toolName: 'get_weather', content: results[1]! },
    ];
    harness.scriptText(['Paris 18°C, Rome 24°C.']);
    const second = await collect(harness.provider().stream(request(followUp, { tools: [weatherTool] })));
    expect(second.error).toBeUndefined();
    expect(textOf(second.parts)).toBe('Paris 18°C, Rome 24°C.');
    harness.expectToolResults(harness.requests()[1]?.body, asked, results);
  });

  it('streams reasoning as reasoning-delta, closes it with reasoning-end, and sends it back as the API wants', async () => {
    const { signature } = harness.scriptReasoning(['Let me ', 'think.'], ['Forty', '-two']);
    const { parts, error } = await collect(harness.provider().stream(request(hello)));
    expect(error).toBeUndefined();
    expect(parts.slice(0, 4)).toEqual([
      { type: 'reasoning-delta', delta: 'Let me ' },
      { type: 'reasoning-delta', delta: 'think.' },
      signature ? { type: 'reasoning-end', signature } : { type: 'reasoning-end' },
      { type: 'text-delta', delta: 'Forty' },
    ]);

    const next: ChatMessage[] = [
      ...hello,
      {
        role: 'assistant',
        content: 'Forty-two',
        reasoning: [{ text: 'Let me think.', ...(signature ? { signature } : {}) }],
      },
      { role: 'user', content: 'Why?' },
    ];
    harness.scriptText(['Because.']);
    await collect(harness.provider().stream(request(next)));
    harness.expectReasoningSentBack(harness.requests()[1]?.body, 'Let me think.', signature, 'Forty-two');
  });

  it('maps usage numbers (all input, cached part, output, reasoning)', async () => {
    const expected = harness.scriptUsage();
    const { parts } = await collect(harness.provider().stream(request(hello)));
    expect(parts.filter((p) => p.type === 'usage')).toEqual([{ type: 'usage', usage: expected }]);
  });

  it('429 → rate_limited with retryAfterMs and an actionable message', async () => {
    harness.scriptFault({ kind: 'rate_limit', retryAfterSeconds: 2 });
    const { parts, error } = await collect(harness.provider().stream(request(hello)));
    expect(parts).toEqual([]);
    expect(error?.kind).toBe('rate_limited');
    expect(error?.retryable).toBe(true);
    expect(error?.details).toMatchObject({ status: 429, retryAfterMs: 2000, model: 'test-model' });
    expect(error?.message).toMatch(/test-model answered 429 rate limited; retry after 2 s/);
  });

  it('retry-after-ms is read too', async () => {
    harness.scriptFault({ kind: 'rate_limit', retryAfterMs: 750 });
    const { error } = await collect(harness.provider().stream(request(hello)));
    expect(error?.details.retryAfterMs).toBe(750);
  });

  it('500 → server_error (retryable)', async () => {
    harness.scriptFault({ kind: 'server_error' });
    const { error } = await collect(harness.provider().stream(request(hello)));
    expect(error?.kind).toBe('server_error');
    expect(error?.details.status).toBe(500);
    expect(error?.retryable).toBe(true);
  });

  it('400 → invalid_request (not retryable) with the server message', async () => {
    harness.scriptFault({ kind: 'invalid_request', message: 'messages.1.content is too long' });
    const { error } = await collect(harness.provider().stream(request(hello)));
    expect(error?.kind).toBe('invalid_request');
    expect(error?.retryable).toBe(false);
    expect(error?.message).toContain('messages.1.content is too long');
  });

  it('401 → authentication naming the key variable; 404 → not_found', async () => {
    harness.scriptFault({ kind: 'status', status: 401, body: { error: { message: 'invalid x-api-key', type: 'authentication_error' } } });
    const auth = await collect(harness.provider().stream(request(hello)));
    expect(auth.error?.kind).toBe('authentication');
    expect(auth.error?.message).toMatch(/_API_KEY/);

    harness.scriptFault({ kind: 'status', status: 404, body: { error: { message: 'model not found', type: 'not_found_error' } } });
    const missing = await collect(harness.provider().stream(request(hello)));
    expect(missing.error?.kind).toBe('not_found');
  });

  it('a stalled stream ends as aborted within 1 s of the caller aborting', async () => {
    harness.scriptFault({ kind: 'stall' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const { error } = await collect(harness.provider().stream(request(hello, { signal: controller.signal })));
    expect(error?.kind).toBe('aborted');
    expect(error?.retryable).toBe(false);
    expect(Date.now() - started).toBeLessThan(1200);
  });

  it('aborting in the middle of an answer ends it as aborted', async () => {
    harness.scriptText(['one ', 'two ', 'three ', 'four ', 'five'], { chunkDelayMs: 100 });
    const controller = new AbortController();
    const parts: StreamPart[] = [];
    let caught: unknown;
    try {
      for await (const part of harness.provider().stream(request(hello, { signal: controller.signal }))) {
        parts.push(part);
        if (part.type === 'text-delta') controller.abort();
      }
    } catch (error) {
      caught = error;
    }
    expect((caught as ProviderError).kind).toBe('aborted');
    expect(textOf(parts)).toBe('one ');
  });

  it('a connection dropped mid-stream → stream_broken, after the text that arrived', async () => {
    harness.scriptDropAfterFirstText(['first', ' second', ' third']);
    const { parts, error } = await collect(harness.provider().stream(request(hello)));
    expect(textOf(parts)).toBe('first');
    expect(error?.kind).toBe('stream_broken');
    expect(error?.message).toMatch(/broke off before it finished \(the connection closed before the answer ended\)/);
    expect(error?.retryable).toBe(true);
  });

  it('a stream that ends without its finish → stream_broken', async () => {
    harness.scriptTruncated(['all ', 'but the end']);
    const { parts, error } = await collect(harness.provider().stream(request(hello)));
    expect(textOf(parts)).toBe('all but the end');
    expect(parts.some((p) => p.type === 'finish')).toBe(false);
    expect(error?.kind).toBe('stream_broken');
  });

  it('check() lists models; a dead server → not ok with a message', async () => {
    expect(await harness.provider().check(AbortSignal.timeout(2000))).toMatchObject({ ok: true });
    const dead = harness.name.startsWith('anthropic')
      ? createAnthropicProvider({ name: 'anthropic', baseURL: 'http://127.0.0.1:9', apiKey: 'k' })
      : createOpenAIProvider({ name: 'openai', baseURL: 'http://127.0.0.1:9/v1', apiKey: 'k' });
    const result = await dead.check(AbortSignal.timeout(2000));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/could not reach/);
  });
});

// ---------------------------------------------------------------- adapter specifics

describe('openai adapter specifics', () => {
  let fake: FakeOpenAI;
  let provider: Provider;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    provider = createOpenAIProvider({ name: 'openrouter', baseURL: fake.baseURL, apiKey: 'test-key' });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  it('an `error` chunk mid-stream (OpenRouter, vLLM) → stream_broken with the server\'s words, after the text that arrived', async () => {
    fake.script({ text: ['first', ' second'], fault: { kind: 'stream_error', afterChunks: 2, message: 'upstream provider disconnected' } });
    const { parts, error } = await collect(provider.stream(request([{ role: 'user', content: 'q' }])));
    expect(parts).toEqual([{ type: 'text-delta', delta: 'first' }]);
    expect(error?.kind).toBe('stream_broken');
    expect(error?.message).toContain('upstream provider disconnected');
  });

  it('reads OpenRouter-style `reasoning` deltas too', async () => {
    fake.script({ reasoning: ['hmm'], reasoningField: 'reasoning', text: 'done' });
    const { parts } = await collect(provider.stream(request([{ role: 'user', content: 'q' }])));
    expect(parts.slice(0, 3)).toEqual([
      { type: 'reasoning-delta', delta: 'hmm' },
      { type: 'reasoning-end' },
      { type: 'text-delta', delta: 'done' },
    ]);
  });

  it('sends stream_options.include_usage, settings, user names and image parts; never retries in the SDK', async () => {
    fake.script({ text: 'ok' });
    await collect(
      provider.stream(
        request(
          [
            { role: 'user', name: 'alice', content: [{ type: 'text', text: 'what is this?' }, { type: 'image', data: 'AAAA', mimeType: 'image/jpeg' }] },
          ],
          { settings: { temperature: 0.2, max_tokens: 50 } },
        ),
      ),
    );
    const sent = fake.chatRequests()[0]!;
    expect(sent.body).toMatchObject({ stream: true, stream_options: { include_usage: true }, temperature: 0.2, max_tokens: 50 });
    expect(sent.body.messages[0]).toEqual({
      role: 'user',
      name: 'alice',
      content: [
        { type: 'text', text: 'what is this?' },
        { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,AAAA' } },
      ],
    });
    expect(sent.headers.authorization).toBe('Bearer test-key');
    expect(sent.headers['x-stainless-retry-count']).toBe('0');
  });

  it('puts text files into the prompt as text (Chat Completions takes only PDFs); a PDF goes as a file, other files and URLs as a note', async () => {
    fake.script({ text: 'ok' });
    const code = Buffer.from('def add(a, b):\n    return a + b  # naïve\n').toString('base64');
    const pdf = Buffer.from('%PDF-1.4').toString('base64');
    await sendParts(provider, [
      { type: 'text', text: 'review these' },
      { type: 'file', data: code, mimeType: 'text/x-python; charset=utf-8', name: 'add.py' },
      { type: 'file', data: `data:application/json;base64,${Buffer.from('{"a":1}').toString('base64')}` },
      { type: 'file', data: pdf, mimeType: 'application/pdf', name: 'spec.pdf' },
      { type: 'file', data: 'UEsDBA==', mimeType: 'application/zip', name: 'bundle.zip' },
      { type: 'file', url: 'https://example.com/archive.zip', name: 'archive.zip' },
    ]);
    expect(fake.chatRequests()[0]!.body.messages[0].content).toEqual([
      { type: 'text', text: 'review these' },
      { type: 'text', text: '<file name="add.py">\ndef add(a, b):\n    return a + b  # naïve\n\n</file>' },
      { type: 'text', text: '<file>\n{"a":1}\n</file>' },
      { type: 'file', file: { file_data: `data:application/pdf;base64,${pdf}`, filename: 'spec.pdf' } },
      { type: 'text', text: '[file bundle.zip of type application/zip left out: not supported]' },
      { type: 'text', text: '[file archive.zip: https://example.com/archive.zip]' },
    ]);
  });

  it('names the provider, model and server in a connection error', async () => {
    const dead = createOpenAIProvider({ name: 'ollama', baseURL: 'http://127.0.0.1:9/v1' });
    const { error } = await collect(dead.stream(request([{ role: 'user', content: 'q' }])));
    expect(error?.kind).toBe('connection');
    expect(error?.message).toMatch(/could not reach ollama:test-model at http:\/\/127\.0\.0\.1:9\/v1/);
  });
});

describe('anthropic adapter specifics', () => {
  let fake: FakeAnthropic;
  let provider: Provider;
  beforeAll(async () => {
    fake = await startFakeAnthropic();
    provider = createAnthropicProvider({ name: 'anthropic', baseURL: fake.baseURL, apiKey: 'test-key' });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  it('puts system messages in `system`, defaults max_tokens to 4096, passes `thinking` through', async () => {
    fake.script({ blocks: [{ type: 'text', text: 'ok' }] });
    await collect(
      provider.stream(
        request(
          [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'hi' },
          ],
          { settings: { thinking: { type: 'enabled', budget_tokens: 1024 } } },
        ),
      ),
    );
    const body = fake.messageRequests()[0]!.body;
    expect(body.system).toBe('Be brief.');
    expect(body.max_tokens).toBe(4096);
    expect(body.thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    expect(body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]);
  });

  it('sends text files as text documents and PDFs as documents; names what it cannot send', async () => {
    fake.script({ blocks: [{ type: 'text', text: 'ok' }] });
    const notes = Buffer.from('line one\nline two').toString('base64');
    await sendParts(provider, [
      { type: 'file', data: notes, mimeType: 'text/markdown', name: 'notes.md' },
      { type: 'file', data: Buffer.from('a: 1').toString('base64'), mimeType: 'application/yaml' },
      { type: 'file', data: 'JVBERi0=', mimeType: 'application/pdf', name: 'spec.pdf' },
      { type: 'file', data: 'UEsDBA==', mimeType: 'application/zip', name: 'archive.zip' },
      // By URL: Anthropic fetches PDFs itself and refuses other documents.
      { type: 'file', url: 'https://cdn.example.com/a/report.pdf?ex=1', name: 'report.pdf' },
      { type: 'file', url: 'https://cdn.example.com/a/archive.zip', mimeType: 'application/zip', name: 'archive.zip' },
    ]);
    expect(fake.messageRequests()[0]!.body.messages[0].content).toEqual([
      { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'line one\nline two' }, title: 'notes.md' },
      { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'a: 1' } },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' }, title: 'spec.pdf' },
      { type: 'text', text: '[file archive.zip of type application/zip left out: not supported]' },
      { type: 'document', source: { type: 'url', url: 'https://cdn.example.com/a/report.pdf?ex=1' }, title: 'report.pdf' },
      { type: 'text', text: '[file archive.zip: https://cdn.example.com/a/archive.zip]' },
    ]);
  });

  it('redacted thinking comes out as reasoning-end { redacted } and goes back as redacted_thinking', async () => {
    fake.script({ blocks: [{ type: 'redacted_thinking', data: 'opaque-blob' }, { type: 'text', text: 'ok' }] });
    const { parts } = await collect(provider.stream(request([{ role: 'user', content: 'hi' }])));
    expect(parts[0]).toEqual({ type: 'reasoning-end', redacted: 'opaque-blob' });

    fake.script({ blocks: [{ type: 'text', text: 'again' }] });
    await collect(
      provider.stream(
        request([
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'ok', reasoning: [{ text: '', redacted: 'opaque-blob' }, { text: 'unsigned, from another provider' }] },
          { role: 'user', content: 'more' },
        ]),
      ),
    );
    expect(fake.messageRequests()[1]!.body.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'redacted_thinking', data: 'opaque-blob' },
        { type: 'text', text: 'ok' },
      ],
    });
  });

  it('an overloaded `error` event mid-stream → server_error', async () => {
    fake.script({ blocks: [{ type: 'text', text: ['a', 'b'] }], fault: { kind: 'error_event', afterEvents: 4 } });
    const { parts, error } = await collect(provider.stream(request([{ role: 'user', content: 'hi' }])));
    expect(textOf(parts)).toBe('a');
    expect(error?.kind).toBe('server_error');
    expect(error?.message).toContain('overloaded_error');
  });

  it('529 overloaded → server_error', async () => {
    fake.script({ fault: { kind: 'server_error', status: 529 } });
    const { error } = await collect(provider.stream(request([{ role: 'user', content: 'hi' }])));
    expect(error?.kind).toBe('server_error');
    expect(error?.details.status).toBe(529);
  });

  it('a tool error result carries is_error', async () => {
    fake.script({ blocks: [{ type: 'text', text: 'sorry' }] });
    await collect(
      provider.stream(
        request([
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: 'Checking.', toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Oslo"}' }] },
          { role: 'tool', toolCallId: 'toolu_1', toolName: 'get_weather', content: 'service down', isError: true },
        ]),
      ),
    );
    expect(fake.messageRequests()[0]!.body.messages.at(-1)).toEqual({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'service down', is_error: true }],
    });
  });
});

// ---------------------------------------------------------------- the fakes themselves

describe('the fakes also answer non-streaming calls like the real APIs', () => {
  it('fake OpenAI: a chat.completion with tool calls, reasoning and usage', async () => {
    const fake = await startFakeOpenAI();
    try {
      fake.script({ reasoning: 'hmm', text: 'Let me check.', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: ['{"city":', '"Oslo"}'] }] });
      const client = new OpenAI({ baseURL: fake.baseURL, apiKey: 'k', maxRetries: 0 });
      const completion = await client.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] });
      expect(completion.choices[0]?.message).toMatchObject({
        role: 'assistant',
        content: 'Let me check.',
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
      });
      expect((completion.choices[0]?.message as unknown as { reasoning_content: string }).reasoning_content).toBe('hmm');
      expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
      expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
      expect((await client.models.list()).data.map((m) => m.id)).toContain('gpt-4.1');
    } finally {
      await fake.close();
    }
  });

  it('fake Anthropic: a message with thinking, text and tool_use blocks', async () => {
    const fake = await startFakeAnthropic();
    try {
      fake.script({
        blocks: [
          { type: 'thinking', thinking: 'hmm', signature: 'sig' },
          { type: 'text', text: ['Let me ', 'check.'] },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: ['{"city":', '"Oslo"}'] },
        ],
      });
      const client = new Anthropic({ baseURL: fake.baseURL, apiKey: 'k', maxRetries: 0 });
      const message = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
      expect(message.content).toEqual([
        { type: 'thinking', thinking: 'hmm', signature: 'sig' },
        { type: 'text', text: 'Let me check.', citations: null },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
      ]);
      expect(message.stop_reason).toBe('tool_use');
      expect((await client.models.list()).data.map((m) => m.id)).toContain('claude-haiku-4-5');
    } finally {
      await fake.close();
    }
  });

  it('paces chunks at tokensPerSecond', async () => {
    const fake = await startFakeOpenAI();
    try {
      fake.script({ text: ['a', 'b', 'c', 'd'], tokensPerSecond: 20 });
      const provider = createOpenAIProvider({ name: 'openai', baseURL: fake.baseURL });
      const started = Date.now();
      const { parts } = await collect(provider.stream(request([{ role: 'user', content: 'q' }])));
      expect(textOf(parts)).toBe('abcd');
      // role + 4 text + finish + usage + [DONE] = 8 chunks at 50 ms each.
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    } finally {
      await fake.close();
    }
  });
});
