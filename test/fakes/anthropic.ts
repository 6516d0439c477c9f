/**
 * A fake Anthropic Messages API for tests: `POST /v1/messages` (streaming and
 * not) and `GET /v1/models`, on 127.0.0.1 with a free port.
 *
 * Streams exactly like the real API, as `event:` + `data:` lines:
 * `message_start` (usage with input and cache tokens), then per content block
 * `content_block_start` / `content_block_delta` (text_delta, thinking_delta,
 * signature_delta, input_json_delta) / `content_block_stop`, a `ping`, then
 * `message_delta` (stop_reason, output_tokens) and `message_stop`. Faults on
 * demand: 429 with retry-after, 500 / 529 overloaded, 400, an `error` event in
 * the middle of the stream, a stall, a dropped connection, slow tokens.
 *
 *   const fake = await startFakeAnthropic();
 *   fake.script({ blocks: [{ type: 'thinking', thinking: ['Let me', ' think'], signature: 'sig' },
 *                          { type: 'text', text: ['Hel', 'lo'] }] });
 *   ... new Anthropic({ baseURL: fake.baseURL, apiKey: 'test' }) ...
 *   fake.requests[0].body.messages
 *
 * It also checks the request like the real API would (max_tokens present, no
 * system role in messages, every tool_result answering a tool_use of the
 * assistant turn before it, thinking blocks signed) and answers 400 otherwise.
 */
import type { ServerResponse } from 'node:http';
import {
  type Fault,
  type RecordedRequest,
  chunkDelay,
  pieces,
  randomId,
  Script,
  SseWriter,
  sendJson,
  stall,
  startFakeHttp,
} from './openai.js';

export type { Fault, RecordedRequest } from './openai.js';

export type AnthropicBlockScript =
  | { type: 'text'; text: string | string[] }
  | { type: 'thinking'; thinking: string | string[]; signature: string }
  | { type: 'redacted_thinking'; data: string }
  /** `input` is the JSON text of the tool input, streamed as partial_json pieces. */
  | { type: 'tool_use'; id?: string; name: string; input: string | string[] };

/** An Anthropic fault: the shared ones, plus an `error` event after some events. */
export type AnthropicFault =
  | Fault
  | { kind: 'error_event'; afterEvents: number; errorType?: 'overloaded_error' | 'api_error' | 'rate_limit_error'; message?: string };

export interface AnthropicTurn {
  blocks?: AnthropicBlockScript[];
  /** Defaults to `tool_use` when there is a tool_use block, else `end_turn`. */
  stopReason?: 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal' | 'pause_turn';
  /** Defaults to small made-up numbers. */
  usage?: { inputTokens: number; outputTokens: number; cacheReadInputTokens?: number; cacheCreationInputTokens?: number };
  chunkDelayMs?: number;
  tokensPerSecond?: number;
  /** Leave out `message_delta` and `message_stop` (a server that ends the stream too early). */
  omitStop?: boolean;
  fault?: AnthropicFault;
}

export interface FakeAnthropic {
  /** `http://127.0.0.1:<port>`, the SDK's `baseURL` (the SDK adds `/v1/messages`). */
  baseURL: string;
  requests: RecordedRequest[];
  /** Only the `POST /v1/messages` requests. */
  messageRequests(): RecordedRequest[];
  script(turns: AnthropicTurn | AnthropicTurn[], options?: { model?: string }): void;
  onRequest(handler: ((request: RecordedRequest) => AnthropicTurn | undefined) | undefined): void;
  models: string[];
  reset(): void;
  close(): Promise<void>;
}

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const script = new Script<AnthropicTurn>();
  const fake: FakeAnthropic = {
    baseURL: '',
    requests: [],
    messageRequests: () => fake.requests.filter((r) => r.path === '/v1/messages'),
    script: (turns, options) => script.add(Array.isArray(turns) ? turns : [turns], options?.model),
    onRequest: (handler) => script.setHandler(handler),
    models: ['claude-sonnet-4-5', 'claude-haiku-4-5'],
    reset: () => {
      script.clear();
      fake.requests.length = 0;
    },
    close: async () => http.close(),
  };

  const http = await startFakeHttp(async (request, res) => {
    if (request.method === 'GET' && request.path === '/v1/models') {
      const data = fake.models.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' }));
      sendJson(res, 200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
      return;
    }
    if (request.method === 'POST' && request.path === '/v1/messages') {
      await answerMessages(request, res, script);
      return;
    }
    sendJson(res, 404, anthropicError('not_found_error', `Not found: ${request.method} ${request.path}`));
  });
  fake.requests = http.requests;
  fake.baseURL = `http://127.0.0.1:${http.port}`;
  return fake;
}

function anthropicError(type: string, message: string) {
  return { type: 'error', error: { type, message }, request_id: randomId('req_') };
}

/** What the real API would reject with 400; null when the request is fine. */
function validationProblem(body: any): string | null {
  if (typeof body?.model !== 'string') return 'model: Field required';
  if (typeof body.max_tokens !== 'number') return 'max_tokens: Field required';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: at least one message is required';
  if (body.system !== undefined && typeof body.system !== 'string' && !Array.isArray(body.system)) return 'system: must be a string or text blocks';
  let previous: { role: string; content: unknown } | undefined;
  for (const [i, message] of body.messages.entries()) {
    if (message.role !== 'user' && message.role !== 'assistant') {
      return `messages.${i}.role: Input should be 'user' or 'assistant' (system prompts go in the top-level system parameter)`;
    }
    const blocks = typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : message.content;
    if (!Array.isArray(blocks) || blocks.length === 0) return `messages.${i}: content must be non-empty`;
    for (const block of blocks) {
      if (block.type === 'thinking' && !block.signature) return `messages.${i}: thinking blocks need their signature`;
      if (block.type === 'tool_result') {
        const asked =
          previous?.role === 'assistant' && Array.isArray(previous.content)
            ? (previous.content as { type: string; id?: string }[]).filter((b) => b.type === 'tool_use').map((b) => b.id)
            : [];
        if (!asked.includes(block.tool_use_id)) {
          return `messages.${i}: unexpected tool_use_id ${block.tool_use_id} in tool_result blocks; each tool_result must answer a tool_use in the previous message`;
        }
      }
    }
    previous = message;
  }
  return null;
}

async function answerMessages(request: RecordedRequest, res: ServerResponse, script: Script<AnthropicTurn>): Promise<void> {
  const body = request.body;
  const problem = validationProblem(body);
  if (problem) {
    sendJson(res, 400, anthropicError('invalid_request_error', problem));
    return;
  }
  const turn = script.next(request);
  if (!turn) {
    sendJson(res, 500, anthropicError('api_error', `fake anthropic: no turn scripted for model ${body.model}`));
    return;
  }

  const fault = turn.fault;
  if (fault?.kind === 'rate_limit') {
    const headers: Record<string, string> = {};
    if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
    if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
    sendJson(res, 429, anthropicError('rate_limit_error', fault.message ?? 'Number of request tokens has exceeded your per-minute rate limit'), headers);
    return;
  }
  if (fault?.kind === 'server_error') {
    const status = fault.status ?? 500;
    const type = status === 529 ? 'overloaded_error' : 'api_error';
    sendJson(res, status, anthropicError(type, fault.message ?? (status === 529 ? 'Overloaded' : 'Internal server error')));
    return;
  }
  if (fault?.kind === 'invalid_request') {
    sendJson(res, 400, anthropicError('invalid_request_error', fault.message ?? 'Invalid request'));
    return;
  }
  if (fault?.kind === 'status') {
    sendJson(res, fault.status, fault.body ?? anthropicError('api_error', `status ${fault.status}`), fault.headers);
    return;
  }
  if (fault?.kind === 'stall') {
    await stall(res);
    return;
  }

  if (body.stream === true) await streamTurn(body.model, turn, res);
  else sendJson(res, 200, messageOf(body.model, turn));
}

function stopReasonOf(turn: AnthropicTurn): string {
  return turn.stopReason ?? (turn.blocks?.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn');
}

function usageOf(turn: AnthropicTurn) {
  const usage = turn.usage ?? { inputTokens: 12, outputTokens: 7 };
  return {
    input_tokens: usage.inputTokens,
    cache_creation_input_tokens: usage.cacheCreationInputTokens ?? 0,
    cache_read_input_tokens: usage.cacheReadInputTokens ?? 0,
    output_tokens: usage.outputTokens,
    service_tier: 'standard',
  };
}

/** A scripted block as it appears in a complete message. */
function finalBlock(block: AnthropicBlockScript, toolId: string) {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: pieces(block.text).join(''), citations: null };
    case 'thinking':
      return { type: 'thinking', thinking: pieces(block.thinking).join(''), signature: block.signature };
    case 'redacted_thinking':
      return { type: 'redacted_thinking', data: block.data };
    case 'tool_use': {
      const json = pieces(block.input).join('');
      return { type: 'tool_use', id: block.id ?? toolId, name: block.name, input: json ? JSON.parse(json) : {} };
    }
  }
}

function messageOf(model: string, turn: AnthropicTurn) {
  return {
    id: randomId('msg_'),
    type: 'message',
    role: 'assistant',
    model,
    content: (turn.blocks ?? []).map((block) => finalBlock(block, randomId('toolu_'))),
    stop_reason: stopReasonOf(turn),
    stop_sequence: null,
    usage: usageOf(turn),
  };
}

async function streamTurn(model: string, turn: AnthropicTurn, res: ServerResponse): Promise<void> {
  const fault = turn.fault;
  const dropAfter = fault?.kind === 'drop' ? fault.afterChunks : undefined;
  const sse = new SseWriter(res, chunkDelay(turn), dropAfter);
  const usage = usageOf(turn);
  let events = 0;

  /** Sends one event; injects the scripted `error` event when its moment comes. */
  const send = async (type: string, data: Record<string, unknown>): Promise<boolean> => {
    if (fault?.kind === 'error_event' && events === fault.afterEvents) {
      const errorType = fault.errorType ?? 'overloaded_error';
      await sse.send(JSON.stringify(anthropicError(errorType, fault.message ?? 'Overloaded')), 'error');
      sse.end();
      return false;
    }
    events += 1;
    return sse.send(JSON.stringify({ type, ...data }), type);
  };

  sse.open();
  const start = {
    message: {
      id: randomId('msg_'),
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // Output so far is 1 token in message_start; the final count comes in message_delta.
      usage: { ...usage, output_tokens: 1 },
    },
  };
  if (!(await send('message_start', start))) return;

  for (const [index, block] of (turn.blocks ?? []).entries()) {
    if (block.type === 'text') {
      if (!(await send('content_block_start', { index, content_block: { type: 'text', text: '' } }))) return;
      if (index === 0 && !(await send('ping', {}))) return;
      for (const text of pieces(block.text)) {
        if (!(await send('content_block_delta', { index, delta: { type: 'text_delta', text } }))) return;
      }
    } else if (block.type === 'thinking') {
      if (!(await send('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } }))) return;
      for (const thinking of pieces(block.thinking)) {
        if (!(await send('content_block_delta', { index, delta: { type: 'thinking_delta', thinking } }))) return;
      }
      if (!(await send('content_block_delta', { index, delta: { type: 'signature_delta', signature: block.signature } }))) return;
    } else if (block.type === 'redacted_thinking') {
      if (!(await send('content_block_start', { index, content_block: { type: 'redacted_thinking', data: block.data } }))) return;
    } else {
      const id = block.id ?? randomId('toolu_');
      if (!(await send('content_block_start', { index, content_block: { type: 'tool_use', id, name: block.name, input: {} } }))) return;
      // The real API starts with an empty partial_json, then the pieces.
      for (const partial_json of ['', ...pieces(block.input)]) {
        if (!(await send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } }))) return;
      }
    }
    if (!(await send('content_block_stop', { index }))) return;
  }

  if (!turn.omitStop) {
    const delta = {
      delta: { stop_reason: stopReasonOf(turn), stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    };
    if (!(await send('message_delta', delta))) return;
    if (!(await send('message_stop', {}))) return;
  }
  sse.end();
}
