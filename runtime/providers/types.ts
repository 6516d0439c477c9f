/**
 * The provider seam: one small streaming contract that every model backend
 * implements (OpenAI and OpenAI-compatible servers through the `openai` SDK,
 * Anthropic through `@anthropic-ai/sdk`). The agent loop only sees this.
 *
 * Messages are provider-neutral; each adapter maps them to its wire format.
 * A stream yields parts in order and ends with exactly one `finish` part, or
 * throws a ProviderError.
 */

export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image'; url?: string; data?: string; mimeType?: string }
  | { type: 'file'; url?: string; data?: string; mimeType?: string; name?: string };

export interface ToolCall {
  id: string;
  name: string;
  /** The arguments as the model wrote them: a JSON text. */
  arguments: string;
}

export interface ReasoningBlock {
  text: string;
  /** Anthropic's signature, needed to send thinking back in later turns. */
  signature?: string;
  /** Anthropic's redacted thinking, passed back as it came. */
  redacted?: string;
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | ContentPart[]; name?: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[]; reasoning?: ReasoningBlock[]; name?: string }
  | { role: 'tool'; toolCallId: string; toolName: string; content: string; isError?: boolean };

export interface ToolDefinition {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export interface StreamRequest {
  /** The model name without the provider prefix (`gpt-4.1`, not `openai:gpt-4.1`). */
  model: string;
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  /** Passed through: temperature, max_tokens, thinking budget, ... */
  settings?: Record<string, unknown>;
  signal: AbortSignal;
}

/**
 * Token counts of one model call, with the same meaning for every provider:
 * `inputTokens` is ALL input, cached or not (Anthropic's input_tokens +
 * cache_read_input_tokens + cache_creation_input_tokens); `cachedTokens` is the
 * part of it read from the prompt cache; `outputTokens` includes
 * `reasoningTokens` (0 when the provider does not report them).
 */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

export type FinishReason = 'stop' | 'tool_calls' | 'length' | 'content_filter' | 'other';

export type StreamPart =
  | { type: 'text-delta'; delta: string }
  | { type: 'reasoning-delta'; delta: string }
  /** Closes the current reasoning block, carrying Anthropic's signature when there is one. */
  | { type: 'reasoning-end'; signature?: string; redacted?: string }
  | { type: 'tool-call-start'; id: string; name: string }
  | { type: 'tool-call-delta'; id: string; delta: string }
  | { type: 'tool-call-end'; id: string }
  | { type: 'usage'; usage: TokenUsage }
  | { type: 'finish'; reason: FinishReason }
  /**
   * Which model answered, as a full model id (`openai:gpt-4.1`). Providers never
   * emit it; `streamWithFallbacks` (resilient.ts) yields it once, right before
   * the first part of the answering model, so callers know whether a fallback
   * answered.
   */
  | { type: 'model'; modelId: string };

export interface Provider {
  /** The provider name as used in model ids (`openai`, `ollama`, `anthropic`, ...). */
  readonly name: string;
  stream(request: StreamRequest): AsyncIterable<StreamPart>;
  /** Whether the provider answers (lists models or similar); never throws. */
  check(signal: AbortSignal): Promise<{ ok: boolean; detail?: string }>;
}

/**
 * What went wrong with a provider call, classified so the caller can decide:
 * retry and fallback only for rate limits, server errors, timeouts and
 * connection failures; never for invalid requests or auth errors.
 */
export type ProviderErrorKind =
  | 'rate_limited'
  | 'server_error'
  | 'timeout'
  | 'connection'
  | 'invalid_request'
  | 'authentication'
  | 'not_found'
  | 'aborted'
  | 'stream_broken';

export class ProviderError extends Error {
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly details: { provider: string; model?: string; status?: number; retryAfterMs?: number } = { provider: 'unknown' },
  ) {
    super(message);
    this.name = 'ProviderError';
  }

  /** True for faults worth a retry or a fallback model. */
  get retryable(): boolean {
    return ['rate_limited', 'server_error', 'timeout', 'connection', 'stream_broken'].includes(this.kind);
  }
}

/** The error kind for an HTTP status a provider answered with (shared by the adapters). */
export function errorKindForStatus(status: number): ProviderErrorKind {
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'authentication';
  if (status === 404) return 'not_found';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'server_error';
  return 'invalid_request';
}

/**
 * Milliseconds a provider asked us to wait, from `retry-after-ms` (OpenAI) or
 * `retry-after` (seconds or an HTTP date); undefined when absent or unreadable.
 */
export function retryAfterMsFrom(headers: Headers | undefined | null): number | undefined {
  if (!headers) return undefined;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.round(ms);
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  return undefined;
}

/** Where a failure happened, for messages a person can act on. */
export interface FailureSite {
  provider: string;
  model?: string;
  baseURL?: string;
  /** The environment variable the key comes from, named in authentication errors. */
  apiKeyEnv?: string;
}

/** What is known about a failure: the HTTP status, the server's own words, ... */
export interface FailureFacts {
  status?: number;
  retryAfterMs?: number;
  /** The server's error message or the underlying exception's message. */
  detail?: string;
  timeoutMs?: number;
}

const duration = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 100) / 10} s`);

/**
 * Builds a ProviderError with a message that says which model, what happened
 * and what to do, e.g. "openai:gpt-4.1 answered 429 rate limited; retry after 2 s".
 * Used by every adapter so messages read the same.
 */
export function providerError(kind: ProviderErrorKind, site: FailureSite, facts: FailureFacts = {}): ProviderError {
  const who = site.model ? `${site.provider}:${site.model}` : site.provider;
  const status = facts.status ?? '';
  const detail = facts.detail ? ` (${facts.detail})` : '';
  let message: string;
  switch (kind) {
    case 'rate_limited':
      message = `${who} answered 429 rate limited; ${
        facts.retryAfterMs !== undefined ? `retry after ${duration(facts.retryAfterMs)}` : 'no retry-after given'
      }${detail}`;
      break;
    case 'server_error':
      message = `${who} ${status ? `answered ${status}` : 'reported a'} server error; usually temporary, try again or use a fallback model${detail}`;
      break;
    case 'invalid_request':
      message = `${who} rejected the request${status ? ` with ${status}` : ''}; check the model settings and messages${detail}`;
      break;
    case 'authentication':
      message = `${who} refused the API key${status ? ` with ${status}` : ''}; check ${site.apiKeyEnv ?? 'the API key'}${detail}`;
      break;
    case 'not_found':
      message = `${who} answered 404 not found; check the model name${site.baseURL ? ` and the base URL ${site.baseURL}` : ''}${detail}`;
      break;
    case 'timeout':
      message = `${who} did not answer${facts.timeoutMs ? ` within ${duration(facts.timeoutMs)}` : ' in time'}${detail}`;
      break;
    case 'connection':
      message = `could not reach ${who}${site.baseURL ? ` at ${site.baseURL}` : ''}; is the server running and the URL right?${detail}`;
      break;
    case 'aborted':
      message = `${who}: the request was cancelled`;
      break;
    case 'stream_broken':
      message = `${who}: the answer stream broke off before it finished${detail}`;
      break;
  }
  return new ProviderError(kind, message, {
    provider: site.provider,
    ...(site.model !== undefined ? { model: site.model } : {}),
    ...(facts.status !== undefined ? { status: facts.status } : {}),
    ...(facts.retryAfterMs !== undefined ? { retryAfterMs: facts.retryAfterMs } : {}),
  });
}
