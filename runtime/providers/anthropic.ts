/**
 * The Anthropic adapter: the `Provider` seam over `@anthropic-ai/sdk`'s
 * streaming Messages API.
 *
 * It owns three mappings:
 *   - ChatMessage → Messages API: system messages → the top-level `system`;
 *     tool results → `tool_result` blocks in a user turn (consecutive turns of
 *     one role are merged, as the API wants user/assistant alternation);
 *     assistant reasoning → `thinking` blocks with their signature, or
 *     `redacted_thinking` (reasoning without a signature, e.g. from another
 *     provider, cannot be sent back and is left out);
 *   - stream events → StreamParts (text, thinking as reasoning-delta and
 *     reasoning-end carrying the signature, tool_use as tool-call-*, one usage
 *     part from message_start + message_delta, one finish part);
 *   - SDK errors → ProviderError kinds.
 *
 * `max_tokens` is required by the API: 4096 unless `settings.max_tokens` says
 * otherwise. Other settings (`thinking`, `temperature`, ...) pass through.
 * The SDK never retries (`maxRetries: 0`); resilient.ts decides.
 */
import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { fileLeftOut, fileReference, fileText, isPdf, splitData } from './content.js';
import { nodeFetch } from './node-fetch.js';
import { sdkErrorToProviderError } from './sdk-errors.js';
import { failureSite, readSdkStream, type WireReader } from './sdk-stream.js';
import type { ServerSentEvent } from './sse-events.js';
import {
  type ChatMessage,
  type ContentPart,
  type FailureSite,
  type FinishReason,
  type Provider,
  ProviderError,
  type ProviderErrorKind,
  type StreamPart,
  type StreamRequest,
  type TokenUsage,
  providerError,
} from './types.js';

type WireMessage = Anthropic.Messages.MessageParam;
type WireBlock = Anthropic.Messages.ContentBlockParam;
type WireEvent = Anthropic.Messages.RawMessageStreamEvent;

export interface AnthropicProviderOptions {
  name: string;
  /** The API root, e.g. `https://api.anthropic.com` (the SDK adds `/v1/messages`). */
  baseURL: string;
  apiKey?: string;
  /** Where the key comes from, named in authentication errors. */
  apiKeyEnv?: string;
  /** How long to wait for the response to begin (default 120 s). */
  timeoutMs?: number;
}

export const DEFAULT_MAX_TOKENS = 4096;
const DEFAULT_TIMEOUT_MS = 120_000;
const CHECK_TIMEOUT_MS = 5_000;

export function createAnthropicProvider(options: AnthropicProviderOptions): Provider {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = new Anthropic({
    baseURL: options.baseURL,
    // Passing a key stops the SDK from looking for credentials elsewhere.
    apiKey: options.apiKey ?? 'no-key',
    maxRetries: 0,
    timeout: timeoutMs,
    fetch: nodeFetch,
  });
  return {
    name: options.name,

    stream(request: StreamRequest): AsyncIterable<StreamPart> {
      const where = failureSite(options, request.model);
      return readSdkStream({
        where,
        signal: request.signal,
        body: () => {
          const { system, messages } = toAnthropicMessages(request.messages);
          return {
            max_tokens: DEFAULT_MAX_TOKENS,
            ...request.settings,
            model: request.model,
            messages,
            ...(system ? { system } : {}),
            ...(request.tools?.length
              ? {
                  tools: request.tools.map((tool) => ({
                    name: tool.name,
                    description: tool.description,
                    input_schema: tool.parameters as Anthropic.Messages.Tool.InputSchema,
                  })),
                }
              : {}),
            stream: true,
          } as Anthropic.Messages.MessageCreateParamsStreaming;
        },
        open: (body: Anthropic.Messages.MessageCreateParamsStreaming) => client.messages.create(body, { signal: request.signal }).asResponse(),
        wire: eventOf,
        reader: new EventReader(),
        toError: (error, started) => toProviderError(error, where, request.signal, { timeoutMs, started }),
        unfinished: 'before message_stop',
      });
    },

    async check(signal: AbortSignal) {
      try {
        const page = await client.models.list({ limit: 20 }, { signal, timeout: CHECK_TIMEOUT_MS });
        return { ok: true, detail: `${page.data.length} models listed` };
      } catch (error) {
        return { ok: false, detail: toProviderError(error, failureSite(options), signal, { timeoutMs: CHECK_TIMEOUT_MS, started: false }).message };
      }
    },
  };
}

// ---------------------------------------------------------------- stream events → parts

/**
 * One server-sent event as a stream event, as the SDK's own reader takes it:
 * pings and unnamed events carry none; `event: error` (e.g. overloaded_error)
 * is an APIError with its type.
 */
function eventOf(event: ServerSentEvent, headers: Headers): WireEvent | undefined {
  if (event.event === 'error') {
    let body: unknown = event.data;
    try {
      body = JSON.parse(event.data);
    } catch {
      // Not JSON: the text itself is the error.
    }
    const type = (body as { error?: { type?: Anthropic.ErrorType } } | null)?.error?.type ?? null;
    throw new APIError(undefined, body as object, undefined, headers, type);
  }
  if (!event.event || event.event === 'ping' || !event.data) return undefined;
  return JSON.parse(event.data) as WireEvent;
}

type OpenBlock =
  | { type: 'thinking'; signature?: string }
  | { type: 'redacted_thinking'; data: string }
  | { type: 'tool_use'; id: string }
  | { type: 'other' };

/**
 * Turns events into parts, remembering the open content blocks by index and
 * the usage numbers (input side from message_start, output from message_delta).
 */
class EventReader implements WireReader<WireEvent> {
  /** message_stop has arrived. */
  ended = false;
  private stopReason: string | null = null;
  private readonly blocks = new Map<number, OpenBlock>();
  private usage = { input: 0, cacheRead: 0, cacheCreation: 0, output: 0, thinking: 0 };

  *read(event: WireEvent): Generator<StreamPart> {
    switch (event.type) {
      case 'message_start':
        this.addUsage(event.message.usage);
        return;
      case 'content_block_start': {
        const block = event.content_block;
        if (block.type === 'text') {
          this.blocks.set(event.index, { type: 'other' });
          if (block.text) yield { type: 'text-delta', delta: block.text };
        } else if (block.type === 'thinking') {
          this.blocks.set(event.index, { type: 'thinking', ...(block.signature ? { signature: block.signature } : {}) });
          if (block.thinking) yield { type: 'reasoning-delta', delta: block.thinking };
        } else if (block.type === 'redacted_thinking') {
          this.blocks.set(event.index, { type: 'redacted_thinking', data: block.data });
        } else if (block.type === 'tool_use') {
          this.blocks.set(event.index, { type: 'tool_use', id: block.id });
          yield { type: 'tool-call-start', id: block.id, name: block.name };
        } else {
          // Server tools, web search results, ...: not part of our seam.
          this.blocks.set(event.index, { type: 'other' });
        }
        return;
      }
      case 'content_block_delta': {
        const open = this.blocks.get(event.index);
        const delta = event.delta;
        if (delta.type === 'text_delta') {
          if (delta.text) yield { type: 'text-delta', delta: delta.text };
        } else if (delta.type === 'thinking_delta') {
          if (delta.thinking) yield { type: 'reasoning-delta', delta: delta.thinking };
        } else if (delta.type === 'signature_delta') {
          if (open?.type === 'thinking') open.signature = delta.signature;
        } else if (delta.type === 'input_json_delta') {
          if (open?.type === 'tool_use' && delta.partial_json) {
            yield { type: 'tool-call-delta', id: open.id, delta: delta.partial_json };
          }
        }
        return;
      }
      case 'content_block_stop': {
        const open = this.blocks.get(event.index);
        this.blocks.delete(event.index);
        if (open?.type === 'thinking') yield { type: 'reasoning-end', ...(open.signature ? { signature: open.signature } : {}) };
        else if (open?.type === 'redacted_thinking') yield { type: 'reasoning-end', redacted: open.data };
        else if (open?.type === 'tool_use') yield { type: 'tool-call-end', id: open.id };
        return;
      }
      case 'message_delta':
        if (event.delta.stop_reason) this.stopReason = event.delta.stop_reason;
        this.addUsage(event.usage);
        return;
      case 'message_stop':
        this.ended = true;
        return;
    }
  }

  /** Usage numbers are running totals: a later non-null value replaces an earlier one. */
  private addUsage(usage: {
    input_tokens?: number | null;
    output_tokens?: number | null;
    cache_read_input_tokens?: number | null;
    cache_creation_input_tokens?: number | null;
    output_tokens_details?: { thinking_tokens?: number | null } | null;
  }): void {
    this.usage.input = usage.input_tokens ?? this.usage.input;
    this.usage.output = usage.output_tokens ?? this.usage.output;
    this.usage.cacheRead = usage.cache_read_input_tokens ?? this.usage.cacheRead;
    this.usage.cacheCreation = usage.cache_creation_input_tokens ?? this.usage.cacheCreation;
    this.usage.thinking = usage.output_tokens_details?.thinking_tokens ?? this.usage.thinking;
  }

  /** The closing parts: usage, then finish. */
  *finish(): Generator<StreamPart> {
    const usage: TokenUsage = {
      // Anthropic counts cached input apart from input_tokens; our inputTokens is all input.
      inputTokens: this.usage.input + this.usage.cacheRead + this.usage.cacheCreation,
      outputTokens: this.usage.output,
      cachedTokens: this.usage.cacheRead,
      reasoningTokens: this.usage.thinking,
    };
    yield { type: 'usage', usage };
    yield { type: 'finish', reason: mapStopReason(this.stopReason) };
  }
}

function mapStopReason(reason: string | null): FinishReason {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'tool_use':
      return 'tool_calls';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'refusal':
      return 'content_filter';
    default:
      return 'other';
  }
}

// ---------------------------------------------------------------- messages → wire format

export function toAnthropicMessages(messages: ChatMessage[]): { system: string | undefined; messages: WireMessage[] } {
  const systemTexts: string[] = [];
  const turns: { role: 'user' | 'assistant'; content: WireBlock[] }[] = [];

  /** Appends blocks to the last turn when it has the same role, else starts a turn. */
  const push = (role: 'user' | 'assistant', blocks: WireBlock[]) => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else turns.push({ role, content: [...blocks] });
  };

  for (const message of messages) {
    switch (message.role) {
      case 'system':
        systemTexts.push(message.content);
        break;
      case 'user':
        push('user', typeof message.content === 'string' ? textBlocks(message.content) : message.content.flatMap(toUserBlocks));
        break;
      case 'assistant':
        push('assistant', assistantBlocks(message));
        break;
      case 'tool':
        push('user', [
          {
            type: 'tool_result',
            tool_use_id: message.toolCallId,
            content: message.content,
            ...(message.isError ? { is_error: true } : {}),
          },
        ]);
        break;
    }
  }
  // Tool results must come first in a user turn; text after them is fine.
  for (const turn of turns) {
    if (turn.role === 'user') {
      turn.content.sort((a, b) => Number(b.type === 'tool_result') - Number(a.type === 'tool_result'));
    }
  }
  return { system: systemTexts.length ? systemTexts.join('\n\n') : undefined, messages: turns };
}

/** The API rejects empty text blocks. */
function textBlocks(text: string): WireBlock[] {
  return text === '' ? [] : [{ type: 'text', text }];
}

function assistantBlocks(message: Extract<ChatMessage, { role: 'assistant' }>): WireBlock[] {
  const blocks: WireBlock[] = [];
  // Thinking goes first, as the model produced it; only signed thinking can be sent back.
  for (const reasoning of message.reasoning ?? []) {
    if (reasoning.redacted) blocks.push({ type: 'redacted_thinking', data: reasoning.redacted });
    else if (reasoning.signature) blocks.push({ type: 'thinking', thinking: reasoning.text, signature: reasoning.signature });
  }
  blocks.push(...textBlocks(message.content));
  for (const call of message.toolCalls ?? []) {
    blocks.push({ type: 'tool_use', id: call.id, name: call.name, input: parseToolInput(call.arguments) });
  }
  return blocks;
}

/** Tool input must be an object; arguments that are not a JSON object are kept under `arguments`. */
function parseToolInput(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  return { arguments: text };
}

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;
type ImageType = (typeof IMAGE_TYPES)[number];

/** A user content part as Messages API blocks (`data` may be plain base64 or a `data:` URL). */
function toUserBlocks(part: ContentPart): WireBlock[] {
  switch (part.type) {
    case 'text':
      return textBlocks(part.text);
    case 'image': {
      if (part.url) return [{ type: 'image', source: { type: 'url', url: part.url } }];
      if (!part.data) return [];
      const { base64, mimeType } = splitData(part.data, part.mimeType);
      const mediaType: ImageType = IMAGE_TYPES.includes(mimeType as ImageType) ? (mimeType as ImageType) : 'image/png';
      return [{ type: 'image', source: { type: 'base64', media_type: mediaType, data: base64 } }];
    }
    case 'file': {
      const title = part.name ? { title: part.name } : {};
      if (part.data) {
        const { base64, mimeType } = splitData(part.data, part.mimeType);
        if (mimeType === 'application/pdf') {
          return [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: base64 }, ...title }];
        }
        const text = fileText(part);
        if (text !== null) return [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: text }, ...title }];
        return textBlocks(fileLeftOut(part.name, mimeType));
      }
      // Anthropic fetches PDFs by URL and refuses other documents: the rest are named, not sent.
      if (part.url && isPdf(part)) return [{ type: 'document', source: { type: 'url', url: part.url }, ...title }];
      if (part.url) return textBlocks(fileReference(part.url, part.name));
      return [];
    }
  }
}

// ---------------------------------------------------------------- errors

/** The kind for an `error` event inside a stream, by its error type. */
function kindForErrorType(type: string | null): ProviderErrorKind {
  switch (type) {
    case 'rate_limit_error':
      return 'rate_limited';
    case 'overloaded_error':
    case 'api_error':
      return 'server_error';
    case 'invalid_request_error':
      return 'invalid_request';
    case 'authentication_error':
    case 'permission_error':
      return 'authentication';
    default:
      return 'stream_broken';
  }
}

const ANTHROPIC_ERRORS = { userAbort: APIUserAbortError, connectionTimeout: APIConnectionTimeoutError, connection: APIConnectionError, api: APIError };

function toProviderError(
  error: unknown,
  where: FailureSite,
  signal: AbortSignal,
  context: { timeoutMs: number; started: boolean },
): ProviderError {
  return sdkErrorToProviderError(error, where, signal, context, ANTHROPIC_ERRORS, {
    detail: (e) => e.apiMessage ?? e.message,
    // An `event: error` inside the stream (e.g. overloaded_error).
    inStream: (e) => ({ kind: kindForErrorType(e.type), detail: `${e.type ?? 'error'} event: ${e.apiMessage ?? e.message}` }),
  });
}
