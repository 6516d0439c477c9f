/**
 * The OpenAI adapter: the `Provider` seam over the official `openai` SDK's
 * streaming Chat Completions. It serves OpenAI itself and every
 * OpenAI-compatible server (Ollama, LM Studio, vLLM, DeepSeek, OpenRouter,
 * Gemini's compatibility endpoint, ...).
 *
 * It owns three mappings:
 *   - ChatMessage → Chat Completions messages (tool results as role `tool`,
 *     assistant `tool_calls`, images as `image_url` parts, text files as
 *     text between `<file name="…">` and `</file>`);
 *   - stream chunks → StreamParts (text, reasoning from `reasoning_content` or
 *     `reasoning`, tool calls, one usage part, one finish part);
 *   - SDK errors → ProviderError kinds.
 *
 * The SDK never retries (`maxRetries: 0`): retries and fallbacks are decided
 * by resilient.ts. Reasoning is not sent back to the server in later turns:
 * Chat Completions has no field for it and DeepSeek rejects it.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
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
  type StreamPart,
  type StreamRequest,
  type TokenUsage,
  type ToolDefinition,
  providerError,
} from './types.js';

type WireMessage = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type WireUserPart = OpenAI.Chat.Completions.ChatCompletionContentPart;
type WireTool = OpenAI.Chat.Completions.ChatCompletionTool;
type WireChunk = OpenAI.Chat.Completions.ChatCompletionChunk;

export interface OpenAIProviderOptions {
  /** Provider name used in model ids and messages (`openai`, `ollama`, ...). */
  name: string;
  baseURL: string;
  /** Optional for keyless local servers. */
  apiKey?: string;
  /** Where the key comes from, named in authentication errors (`OPENAI_API_KEY`). */
  apiKeyEnv?: string;
  /** How long to wait for the response to begin (default 120 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const CHECK_TIMEOUT_MS = 5_000;

export function createOpenAIProvider(options: OpenAIProviderOptions): Provider {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = new OpenAI({
    baseURL: options.baseURL,
    // The SDK refuses to start without a key; local servers ignore this one.
    apiKey: options.apiKey ?? 'no-key',
    // Do not pick up OPENAI_ORG_ID / OPENAI_PROJECT_ID for other providers.
    organization: null,
    project: null,
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
        body: () =>
          ({
            ...request.settings,
            model: request.model,
            messages: toOpenAIMessages(request.messages),
            ...(request.tools?.length ? { tools: request.tools.map(toOpenAITool) } : {}),
            stream: true,
            stream_options: { include_usage: true },
          }) as OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming,
        open: (body: OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming) => client.chat.completions.create(body, { signal: request.signal }).asResponse(),
        wire: chunkOf,
        reader: new ChunkReader(),
        toError: (error, started) => toProviderError(error, where, request.signal, { timeoutMs, started }),
        unfinished: 'without a finish_reason',
      });
    },

    async check(signal: AbortSignal) {
      try {
        const page = await client.models.list({ signal, timeout: CHECK_TIMEOUT_MS });
        return { ok: true, detail: `${page.data.length} models listed` };
      } catch (error) {
        return { ok: false, detail: toProviderError(error, failureSite(options), signal, { timeoutMs: CHECK_TIMEOUT_MS, started: false }).message };
      }
    },
  };
}

// ---------------------------------------------------------------- stream chunks → parts

/** One event of the stream as a chunk, as the SDK's own reader takes it: `[DONE]` carries none, an `error` object is an APIError. */
function chunkOf(event: ServerSentEvent, headers: Headers): WireChunk | undefined {
  if (event.data.startsWith('[DONE]')) return undefined;
  const chunk = JSON.parse(event.data) as WireChunk & { error?: unknown };
  if (chunk.error) throw new APIError(undefined, chunk.error as object, undefined, headers);
  return chunk;
}

/** Extra delta fields some compatible servers send (not in the SDK's types). */
interface ReasoningDelta {
  reasoning_content?: string | null;
  reasoning?: string | null;
}

/**
 * Turns chunks into parts, remembering what is open: a reasoning block (closed
 * by the first text, tool call or finish) and tool calls by their index
 * (closed when `finish_reason` arrives, or when a new call takes the index).
 * Usage is kept and given once, before the finish part.
 */
class ChunkReader implements WireReader<WireChunk> {
  private finishReason: FinishReason | undefined;
  private usage: TokenUsage | undefined;
  private reasoningOpen = false;
  private readonly openCalls = new Map<number, string>();

  /** A finish_reason has arrived. */
  get ended(): boolean {
    return this.finishReason !== undefined;
  }

  *read(chunk: WireChunk): Generator<StreamPart> {
    // Only the first choice matters: we never ask for n > 1.
    const choice = chunk.choices?.find((c) => c.index === 0) ?? chunk.choices?.[0];
    if (choice) {
      const delta = (choice.delta ?? {}) as WireChunk['choices'][number]['delta'] & ReasoningDelta;
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === 'string' && reasoning !== '') {
        this.reasoningOpen = true;
        yield { type: 'reasoning-delta', delta: reasoning };
      }
      if (typeof delta.content === 'string' && delta.content !== '') {
        yield* this.closeReasoning();
        yield { type: 'text-delta', delta: delta.content };
      }
      for (const [position, call] of (delta.tool_calls ?? []).entries()) {
        yield* this.closeReasoning();
        yield* this.readToolCall(call, position);
      }
      if (choice.finish_reason) {
        yield* this.closeReasoning();
        yield* this.closeCalls();
        this.finishReason = mapFinishReason(choice.finish_reason);
      }
    }
    if (chunk.usage) this.usage = mapUsage(chunk.usage);
  }

  private *readToolCall(call: OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall, position: number): Generator<StreamPart> {
    // Some servers leave out `index`; fall back to the position in this chunk.
    const index = typeof call.index === 'number' ? call.index : position;
    let id = this.openCalls.get(index);
    // A new id on a known index means a new call (servers that reuse index 0).
    if (id !== undefined && call.id && call.id !== id) {
      this.openCalls.delete(index);
      yield { type: 'tool-call-end', id };
      id = undefined;
    }
    if (id === undefined) {
      id = call.id || `call_${index}`;
      this.openCalls.set(index, id);
      yield { type: 'tool-call-start', id, name: call.function?.name ?? '' };
    }
    const args = call.function?.arguments;
    if (args) yield { type: 'tool-call-delta', id, delta: args };
  }

  private *closeReasoning(): Generator<StreamPart> {
    if (!this.reasoningOpen) return;
    this.reasoningOpen = false;
    yield { type: 'reasoning-end' };
  }

  private *closeCalls(): Generator<StreamPart> {
    for (const id of this.openCalls.values()) yield { type: 'tool-call-end', id };
    this.openCalls.clear();
  }

  /** The closing parts: usage (when the server sent it), then finish. */
  *finish(): Generator<StreamPart> {
    if (this.usage) yield { type: 'usage', usage: this.usage };
    yield { type: 'finish', reason: this.finishReason ?? 'other' };
  }
}

function mapFinishReason(reason: string): FinishReason {
  switch (reason) {
    case 'stop':
      return 'stop';
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'length':
      return 'length';
    case 'content_filter':
      return 'content_filter';
    default:
      return 'other';
  }
}

function mapUsage(usage: OpenAI.Completions.CompletionUsage): TokenUsage {
  return {
    inputTokens: usage.prompt_tokens ?? 0,
    outputTokens: usage.completion_tokens ?? 0,
    cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
    reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

// ---------------------------------------------------------------- messages → wire format

export function toOpenAIMessages(messages: ChatMessage[]): WireMessage[] {
  return messages.map((message): WireMessage => {
    switch (message.role) {
      case 'system':
        return { role: 'system', content: message.content };
      case 'user':
        return {
          role: 'user',
          content: typeof message.content === 'string' ? message.content : message.content.flatMap(toUserPart),
          ...(message.name ? { name: message.name } : {}),
        };
      case 'assistant': {
        const toolCalls = message.toolCalls ?? [];
        return {
          role: 'assistant',
          // The API wants null, not '', next to tool calls.
          content: message.content === '' && toolCalls.length > 0 ? null : message.content,
          ...(toolCalls.length
            ? {
                tool_calls: toolCalls.map((call) => ({
                  id: call.id,
                  type: 'function' as const,
                  function: { name: call.name, arguments: call.arguments },
                })),
              }
            : {}),
          ...(message.name ? { name: message.name } : {}),
        };
      }
      case 'tool':
        // Chat Completions has no error flag for tool results; the content says it.
        return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
    }
  });
}

function dataUrl(data: string, mimeType: string): string {
  return data.startsWith('data:') ? data : `data:${mimeType};base64,${data}`;
}

function toUserPart(part: ContentPart): WireUserPart[] {
  switch (part.type) {
    case 'text':
      return [{ type: 'text', text: part.text }];
    case 'image': {
      const url = part.url ?? (part.data ? dataUrl(part.data, part.mimeType ?? 'image/png') : undefined);
      return url ? [{ type: 'image_url', image_url: { url } }] : [];
    }
    case 'file': {
      // Chat Completions takes only PDFs as files, and most compatible
      // servers no files at all: a text file goes into the prompt as text,
      // and a file of another known type is named but not sent.
      const text = fileText(part);
      if (text !== null) return [{ type: 'text', text: `<file${part.name ? ` name="${part.name.replaceAll('"', "'")}"` : ''}>\n${text}\n</file>` }];
      if (part.data) {
        const { mimeType } = splitData(part.data, part.mimeType);
        if (mimeType && !isPdf({ mimeType })) return [{ type: 'text', text: fileLeftOut(part.name, mimeType) }];
        const file = { file_data: dataUrl(part.data, 'application/pdf'), ...(part.name ? { filename: part.name } : {}) };
        return [{ type: 'file', file }];
      }
      // Chat Completions cannot fetch files by URL; tell the model where it is.
      return part.url ? [{ type: 'text', text: fileReference(part.url, part.name) }] : [];
    }
  }
}

function toOpenAITool(tool: ToolDefinition): WireTool {
  return { type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.parameters } };
}

// ---------------------------------------------------------------- errors

/** The server's own error message, from either `{error: {message}}` or `{message}` bodies. */
function serverMessage(error: APIError): string | undefined {
  const body = error.error as { message?: unknown; error?: { message?: unknown } } | undefined;
  const message = body?.message ?? body?.error?.message;
  return typeof message === 'string' ? message : undefined;
}

const OPENAI_ERRORS = { userAbort: APIUserAbortError, connectionTimeout: APIConnectionTimeoutError, connection: APIConnectionError, api: APIError };

function toProviderError(
  error: unknown,
  where: FailureSite,
  signal: AbortSignal,
  context: { timeoutMs: number; started: boolean },
): ProviderError {
  return sdkErrorToProviderError(error, where, signal, context, OPENAI_ERRORS, {
    detail: serverMessage,
    // An error object inside the stream (`data: {"error": ...}`).
    inStream: (e, started) => ({ kind: started ? 'stream_broken' : 'connection', detail: serverMessage(e) ?? e.message }),
  });
}
