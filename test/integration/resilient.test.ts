/**
 * Retries and fallbacks (runtime/providers/resilient.ts) through the real
 * registry and adapters against the fake OpenAI and Anthropic servers.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../runtime/config/index.js';
import { type ProviderRegistry, ModelIdError, createProviderRegistry } from '../../runtime/providers/registry.js';
import { type AttemptReport, type RetryPolicy, backoffDelay, streamWithFallbacks } from '../../runtime/providers/resilient.js';
import { type ChatMessage, ProviderError, type StreamPart } from '../../runtime/providers/types.js';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fakes/openai.js';

let openai: FakeOpenAI;
let anthropic: FakeAnthropic;
let registry: ProviderRegistry;

beforeAll(async () => {
  [openai, anthropic] = await Promise.all([startFakeOpenAI(), startFakeAnthropic()]);
  const config = loadConfig(
    {
      OPENAI_BASE_URL: openai.baseURL,
      OPENAI_API_KEY: 'test-openai-key',
      ANTHROPIC_BASE_URL: anthropic.baseURL,
      ANTHROPIC_API_KEY: 'test-anthropic-key',
    },
    mkdtempSync(join(tmpdir(), 'conclave-resilient-')),
  );
  registry = createProviderRegistry(config, {});
});
afterAll(() => Promise.all([openai.close(), anthropic.close()]));
beforeEach(() => {
  openai.reset();
  anthropic.reset();
});

const messages: ChatMessage[] = [{ role: 'user', content: 'hello' }];
const fast: RetryPolicy = { attempts: 3, baseDelayMs: 5, maxDelayMs: 2_000 };

async function run(
  models: string[],
  options: { retry?: Partial<RetryPolicy>; signal?: AbortSignal } = {},
): Promise<{ parts: StreamPart[]; error: unknown; attempts: AttemptReport[] }> {
  const parts: StreamPart[] = [];
  const attempts: AttemptReport[] = [];
  try {
    const stream = streamWithFallbacks({
      registry,
      models,
      request: { messages, signal: options.signal ?? new AbortController().signal },
      retry: { ...fast, ...options.retry },
      onAttempt: (report) => attempts.push(report),
    });
    for await (const part of stream) parts.push(part);
    return { parts, error: undefined, attempts };
  } catch (error) {
    return { parts, error, attempts };
  }
}

const textOf = (parts: StreamPart[]) => parts.map((p) => (p.type === 'text-delta' ? p.delta : '')).join('');

describe('streamWithFallbacks', () => {
  it('retries a 429 and then streams the answer, reporting the answering model first', async () => {
    openai.script([{ fault: { kind: 'rate_limit', retryAfterMs: 40 } }, { text: ['Hi ', 'there'] }], { model: 'gpt-4.1' });
    const { parts, error, attempts } = await run(['openai:gpt-4.1']);
    expect(error).toBeUndefined();
    expect(parts[0]).toEqual({ type: 'model', modelId: 'openai:gpt-4.1' });
    expect(parts.filter((p) => p.type === 'model')).toHaveLength(1);
    expect(textOf(parts)).toBe('Hi there');
    expect(parts.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
    expect(openai.chatRequests()).toHaveLength(2);
    expect(attempts.map((a) => [a.modelId, a.attempt, a.previousError?.kind, a.waitedMs])).toEqual([
      ['openai:gpt-4.1', 1, undefined, 0],
      ['openai:gpt-4.1', 2, 'rate_limited', 40],
    ]);
  });

  it('falls back to the next model after 500s exhaust the primary, and reports the fallback as the answering one', async () => {
    openai.script([{ fault: { kind: 'server_error' } }, { fault: { kind: 'server_error' } }], { model: 'gpt-4.1' });
    anthropic.script({ blocks: [{ type: 'text', text: 'from claude' }] }, { model: 'claude-haiku-4-5' });
    const { parts, error, attempts } = await run(['openai:gpt-4.1', 'anthropic:claude-haiku-4-5'], { retry: { attempts: 2 } });
    expect(error).toBeUndefined();
    expect(parts[0]).toEqual({ type: 'model', modelId: 'anthropic:claude-haiku-4-5' });
    expect(textOf(parts)).toBe('from claude');
    expect(openai.chatRequests()).toHaveLength(2);
    expect(anthropic.messageRequests()).toHaveLength(1);
    expect(anthropic.messageRequests()[0]!.body.model).toBe('claude-haiku-4-5');
    expect(attempts.at(-1)).toMatchObject({ modelId: 'anthropic:claude-haiku-4-5', attempt: 1, fallback: true, waitedMs: 0 });
    expect(attempts.at(-1)?.previousError?.kind).toBe('server_error');
  });

  it('never retries or falls back on 400 invalid_request', async () => {
    openai.script({ fault: { kind: 'invalid_request', message: 'bad tool schema' } }, { model: 'gpt-4.1' });
    anthropic.script({ blocks: [{ type: 'text', text: 'unused' }] });
    const { parts, error } = await run(['openai:gpt-4.1', 'anthropic:claude-haiku-4-5']);
    expect(parts).toEqual([]);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).kind).toBe('invalid_request');
    expect((error as ProviderError).message).toContain('bad tool schema');
    expect(openai.chatRequests()).toHaveLength(1);
    expect(anthropic.messageRequests()).toHaveLength(0);
  });

  it('never retries or falls back on 401 authentication', async () => {
    openai.script({ fault: { kind: 'status', status: 401, body: { error: { message: 'Incorrect API key provided' } } } });
    const { error } = await run(['openai:gpt-4.1', 'anthropic:claude-haiku-4-5']);
    expect((error as ProviderError).kind).toBe('authentication');
    expect(openai.chatRequests()).toHaveLength(1);
    expect(anthropic.messageRequests()).toHaveLength(0);
  });

  it('does NOT retry a stream that broke after text was yielded; the error reaches the caller as is', async () => {
    openai.script([{ text: ['partial', ' answer'], fault: { kind: 'drop', afterChunks: 2 } }, { text: 'second try' }]);
    anthropic.script({ blocks: [{ type: 'text', text: 'fallback' }] });
    const { parts, error } = await run(['openai:gpt-4.1', 'anthropic:claude-haiku-4-5']);
    expect(parts[0]).toEqual({ type: 'model', modelId: 'openai:gpt-4.1' });
    expect(textOf(parts)).toBe('partial');
    expect((error as ProviderError).kind).toBe('stream_broken');
    expect(openai.chatRequests()).toHaveLength(1);
    expect(anthropic.messageRequests()).toHaveLength(0);
  });

  it('does retry a stream that broke before anything was yielded', async () => {
    openai.script([{ text: ['never seen'], fault: { kind: 'drop', afterChunks: 1 } }, { text: 'second try' }]);
    const { parts, error } = await run(['openai:gpt-4.1']);
    expect(error).toBeUndefined();
    expect(textOf(parts)).toBe('second try');
    expect(openai.chatRequests()).toHaveLength(2);
  });

  it('honours retry-after (seconds) over the computed backoff', async () => {
    openai.script([{ fault: { kind: 'rate_limit', retryAfterSeconds: 1 } }, { text: 'ok' }]);
    const started = Date.now();
    const { error, attempts } = await run(['openai:gpt-4.1'], { retry: { baseDelayMs: 1 } });
    expect(error).toBeUndefined();
    expect(attempts[1]?.waitedMs).toBe(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
  });

  it('caps a long retry-after at maxDelayMs', async () => {
    openai.script([{ fault: { kind: 'rate_limit', retryAfterSeconds: 60 } }, { text: 'ok' }]);
    const { error, attempts } = await run(['openai:gpt-4.1'], { retry: { maxDelayMs: 100 } });
    expect(error).toBeUndefined();
    expect(attempts[1]?.waitedMs).toBe(100);
  });

  it('stops waiting at once when the caller aborts during a backoff', async () => {
    openai.script([{ fault: { kind: 'rate_limit', retryAfterSeconds: 30 } }, { text: 'too late' }]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const started = Date.now();
    const { error } = await run(['openai:gpt-4.1'], { retry: { maxDelayMs: 60_000 }, signal: controller.signal });
    expect((error as ProviderError).kind).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(openai.chatRequests()).toHaveLength(1);
  });

  it('when every model fails, throws the last error saying what was tried', async () => {
    openai.script([{ fault: { kind: 'server_error' } }, { fault: { kind: 'server_error' } }]);
    anthropic.script([{ fault: { kind: 'server_error', status: 529 } }, { fault: { kind: 'server_error', status: 529 } }]);
    const { error, attempts } = await run(['openai:gpt-4.1', 'anthropic:claude-haiku-4-5'], { retry: { attempts: 2 } });
    expect(attempts).toHaveLength(4);
    expect((error as ProviderError).kind).toBe('server_error');
    expect((error as ProviderError).details.status).toBe(529);
    expect((error as ProviderError).message).toMatch(/gave up after trying openai:gpt-4\.1 ×2, anthropic:claude-haiku-4-5 ×2/);
  });

  it('fails before calling anything when a fallback provider is not configured', async () => {
    const openaiOnly = createProviderRegistry(
      loadConfig({ OPENAI_BASE_URL: openai.baseURL, OPENAI_API_KEY: 'k' }, mkdtempSync(join(tmpdir(), 'conclave-resilient-'))),
      {},
    );
    const stream = streamWithFallbacks({
      registry: openaiOnly,
      models: ['openai:gpt-4.1', 'anthropic:claude-haiku-4-5'],
      request: { messages, signal: new AbortController().signal },
    });
    await expect(stream.next()).rejects.toThrow('provider anthropic is not configured: set ANTHROPIC_API_KEY');
    expect(openai.chatRequests()).toHaveLength(0);
  });

  it('rejects a malformed or unknown model id before calling anything', async () => {
    const { error } = await run(['openai:gpt-4.1', 'mistral:large']);
    expect(error).toBeInstanceOf(ModelIdError);
    expect((error as Error).message).toMatch(/unknown provider "mistral"/);
    expect(openai.chatRequests()).toHaveLength(0);
  });
});

describe('backoffDelay', () => {
  const policy: RetryPolicy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 };
  const error = (retryAfterMs?: number) =>
    new ProviderError('server_error', 'x', { provider: 'p', ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });

  it('doubles per retry with jitter between half and all of the step, capped', () => {
    expect(backoffDelay(policy, 1, error(), () => 0)).toBe(50);
    expect(backoffDelay(policy, 1, error(), () => 1)).toBe(100);
    expect(backoffDelay(policy, 3, error(), () => 1)).toBe(400);
    expect(backoffDelay(policy, 6, error(), () => 1)).toBe(1_000);
  });

  it('uses retry-after instead, capped at maxDelayMs', () => {
    expect(backoffDelay(policy, 1, error(300), () => 0)).toBe(300);
    expect(backoffDelay(policy, 1, error(5_000), () => 0)).toBe(1_000);
  });
});
