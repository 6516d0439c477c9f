/**
 * A fake OpenAI-compatible server for tests: `POST /v1/chat/completions`
 * (streaming and not) and `GET /v1/models`, on 127.0.0.1 with a free port.
 *
 * It streams exactly like the real API (`data: {chat.completion.chunk}` lines,
 * role first, then content / reasoning / tool-call deltas, `finish_reason`, an
 * optional usage chunk with `choices: []`, then `data: [DONE]`), answers from a
 * per-test script, injects faults on demand (429, 500, 400, stalls, dropped
 * connections, slow tokens) and records every request it receives.
 *
 *   const fake = await startFakeOpenAI();
 *   fake.script({ text: ['Hel', 'lo'] });                       // any model
 *   fake.script({ fault: { kind: 'rate_limit', retryAfterSeconds: 1 } }, { model: 'gpt-4.1' });
 *   fake.onRequest((req) => ({ text: `you said ${req.body.messages.length} things` }));
 *   ... new OpenAI({ baseURL: fake.baseURL, apiKey: 'test' }) ...
 *   fake.requests[0].body.messages
 *   await fake.close();
 *
 * The HTTP plumbing (listen, record, pace, stall, drop) is exported for the
 * Anthropic fake next to this file.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readRawBody } from './plumbing.js';

// ---------------------------------------------------------------- scripting

/** Something to go wrong instead of (or in the middle of) a normal answer. */
export type Fault =
  /** 429 with `retry-after` (seconds) and/or `retry-after-ms`, and an error JSON body. */
  | { kind: 'rate_limit'; retryAfterSeconds?: number; retryAfterMs?: number; message?: string }
  /** 500 (or another 5xx, e.g. 503 / Anthropic's 529) with an error JSON body. */
  | { kind: 'server_error'; status?: number; message?: string }
  /** 400 invalid request with an error JSON body. */
  | { kind: 'invalid_request'; message?: string }
  /** Any other status and body, e.g. 401 or 404. */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  /** 200 and SSE headers, then nothing at all until the client gives up. */
  | { kind: 'stall' }
  /** Stream normally, then destroy the connection after `afterChunks` SSE messages. */
  | { kind: 'drop'; afterChunks: number }
  /**
   * Stream normally, then after `afterChunks` SSE messages send a chunk with an
   * `error` object and end the stream, as OpenRouter and vLLM report a failure
   * mid-answer (OpenAI fake only).
   */
  | { kind: 'stream_error'; afterChunks: number; message?: string };

export interface ToolCallScript {
  /** Defaults to a generated `call_...` id. */
  id?: string;
  name: string;
  /** The arguments JSON text, as one piece or already split into stream chunks. */
  arguments: string | string[];
}

/** One scripted answer. Strings given as arrays are streamed one element per chunk. */
export interface OpenAITurn {
  /** Reasoning text, streamed as `delta.reasoning_content` (DeepSeek) or `delta.reasoning` (OpenRouter). */
  reasoning?: string | string[];
  reasoningField?: 'reasoning_content' | 'reasoning';
  text?: string | string[];
  toolCalls?: ToolCallScript[];
  /** Defaults to `tool_calls` when there are tool calls, else `stop`. */
  finishReason?: 'stop' | 'length' | 'tool_calls' | 'content_filter';
  /** Defaults to small made-up numbers. */
  usage?: { promptTokens: number; completionTokens: number; cachedTokens?: number; reasoningTokens?: number };
  /** Pause before every chunk (milliseconds), or give `tokensPerSecond`. */
  chunkDelayMs?: number;
  tokensPerSecond?: number;
  /** Leave out the final `finish_reason` chunk (a server that ends the stream too early). */
  omitFinish?: boolean;
  fault?: Fault;
}

export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body (`{}` for requests without one). */
  body: any;
}

// ---------------------------------------------------------------- shared HTTP plumbing

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The delay before each streamed chunk for a turn's pacing options. */
export function chunkDelay(turn: { chunkDelayMs?: number; tokensPerSecond?: number }): number {
  if (turn.tokensPerSecond && turn.tokensPerSecond > 0) return 1000 / turn.tokensPerSecond;
  return turn.chunkDelayMs ?? 0;
}

/** Turns `'abc'` into `['abc']`, keeps arrays, and `undefined` into `[]`. */
export function pieces(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export const randomId = (prefix: string) => `${prefix}${randomBytes(9).toString('hex')}`;

/**
 * Keeps the scripted turns: queues per model name (plus a queue for any model)
 * and an optional handler that is asked first.
 */
export class Script<Turn> {
  private readonly queues = new Map<string, Turn[]>();
  private handler: ((request: RecordedRequest) => Turn | undefined) | undefined;

  add(turns: Turn[], model = '*'): void {
    const queue = this.queues.get(model) ?? [];
    queue.push(...turns);
    this.queues.set(model, queue);
  }

  setHandler(handler: ((request: RecordedRequest) => Turn | undefined) | undefined): void {
    this.handler = handler;
  }

  /** The next turn for this request: handler, then the model's queue, then the any-model queue. */
  next(request: RecordedRequest): Turn | undefined {
    const fromHandler = this.handler?.(request);
    if (fromHandler) return fromHandler;
    const model = typeof request.body?.model === 'string' ? request.body.model : '';
    return this.queues.get(model)?.shift() ?? this.queues.get('*')?.shift();
  }

  clear(): void {
    this.queues.clear();
    this.handler = undefined;
  }
}

/** Writes Server-Sent Events, counting them, honouring pacing and the `drop` and `stream_error` faults. */
export class SseWriter {
  private sent = 0;
  /** True once the client went away or the connection was dropped on purpose. */
  closed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly delayMs: number,
    private readonly dropAfter: number | undefined,
    /** After this many messages, send `data` as the last message and end the stream. */
    private readonly errorAfter?: { afterChunks: number; data: string },
  ) {
    res.on('close', () => (this.closed = true));
  }

  /** Sends SSE headers at once (so the client sees the response begin). */
  open(): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    this.res.flushHeaders();
  }

  /** Sends one message (`event:` line optional). Returns false when the stream is over. */
  async send(data: string, event?: string): Promise<boolean> {
    if (this.closed) return false;
    if (this.dropAfter !== undefined && this.sent >= this.dropAfter) {
      this.closed = true;
      // Give the client a moment to read what was sent, then cut the connection
      // without the final empty chunk: the client sees a stream that just stops.
      await sleep(30);
      this.res.socket?.destroy();
      return false;
    }
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (this.closed) return false;
    if (this.errorAfter && this.sent >= this.errorAfter.afterChunks) {
      this.closed = true;
      this.res.end(`data: ${this.errorAfter.data}\n\n`);
      return false;
    }
    this.res.write(`${event ? `event: ${event}\n` : ''}data: ${data}\n\n`);
    this.sent += 1;
    return true;
  }

  end(): void {
    if (!this.closed) this.res.end();
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Answers 200 with SSE headers and then never writes again; ends when the client disconnects. */
export function stall(res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  res.flushHeaders();
  return new Promise((resolve) => res.on('close', () => resolve()));
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const text = (await readRawBody(req)).toString('utf8');
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return { unparsed: text };
  }
}

export interface FakeHttp {
  server: Server;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Starts a node:http server on 127.0.0.1:0 that records each request, then hands it to `handle`. */
export async function startFakeHttp(
  handle: (request: RecordedRequest, res: ServerResponse) => Promise<void>,
  port = 0,
): Promise<FakeHttp> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: (req.url ?? '/').split('?')[0] ?? '/',
        headers: req.headers,
        body,
      };
      requests.push(recorded);
      await handle(recorded, res);
    })().catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: `fake server bug: ${String(error)}` } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- the OpenAI fake

export interface FakeOpenAI {
  /** `http://127.0.0.1:<port>/v1`, the SDK's `baseURL`. */
  baseURL: string;
  /** Every request received, in order (including `GET /v1/models`). */
  requests: RecordedRequest[];
  /** Only the chat completion requests. */
  chatRequests(): RecordedRequest[];
  /** Queues turns, for one model name or (by default) for any model. */
  script(turns: OpenAITurn | OpenAITurn[], options?: { model?: string }): void;
  /** Decides the turn per request (asked before the queues; return undefined to fall through). */
  onRequest(handler: ((request: RecordedRequest) => OpenAITurn | undefined) | undefined): void;
  /** Model ids listed by `GET /v1/models`. */
  models: string[];
  /** Forget scripts and recorded requests. */
  reset(): void;
  close(): Promise<void>;
}

/** `port` 0 (the default) picks a free one. */
export async function startFakeOpenAI(port = 0): Promise<FakeOpenAI> {
  const script = new Script<OpenAITurn>();
  const fake: FakeOpenAI = {
    baseURL: '',
    requests: [],
    chatRequests: () => fake.requests.filter((r) => r.path === '/v1/chat/completions'),
    script: (turns, options) => script.add(Array.isArray(turns) ? turns : [turns], options?.model),
    onRequest: (handler) => script.setHandler(handler),
    models: ['gpt-4.1', 'gpt-4.1-mini'],
    reset: () => {
      script.clear();
      fake.requests.length = 0;
    },
    close: async () => http.close(),
  };

  const http = await startFakeHttp(async (request, res) => {
    if (request.method === 'GET' && request.path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: fake.models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'fake' })),
      });
      return;
    }
    if (request.method === 'POST' && request.path === '/v1/chat/completions') {
      await answerChat(request, res, script);
      return;
    }
    sendJson(res, 404, openAIError(`Unknown request URL: ${request.method} ${request.path}`, 'invalid_request_error', 'unknown_url'));
  }, port);
  fake.requests = http.requests;
  fake.baseURL = `http://127.0.0.1:${http.port}/v1`;
  return fake;
}

function openAIError(message: string, type: string, code: string | null = null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

async function answerChat(request: RecordedRequest, res: ServerResponse, script: Script<OpenAITurn>): Promise<void> {
  const body = request.body;
  // The real API rejects these before anything else; so does the fake, to catch adapter bugs.
  if (typeof body?.model !== 'string' || !Array.isArray(body?.messages) || body.messages.length === 0) {
    sendJson(res, 400, openAIError("'model' and a non-empty 'messages' array are required", 'invalid_request_error', null, 'messages'));
    return;
  }
  const turn = script.next(request);
  if (!turn) {
    sendJson(res, 500, openAIError(`fake openai: no turn scripted for model ${body.model}`, 'server_error'));
    return;
  }

  const fault = turn.fault;
  if (fault?.kind === 'rate_limit') {
    const headers: Record<string, string> = {};
    if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
    if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
    const message = fault.message ?? `Rate limit reached for ${body.model} on requests per min (RPM): Limit 3, Used 3, Requested 1.`;
    sendJson(res, 429, openAIError(message, 'requests', 'rate_limit_exceeded'), headers);
    return;
  }
  if (fault?.kind === 'server_error') {
    const message = fault.message ?? 'The server had an error while processing your request. Sorry about that!';
    sendJson(res, fault.status ?? 500, openAIError(message, 'server_error'));
    return;
  }
  if (fault?.kind === 'invalid_request') {
    sendJson(res, 400, openAIError(fault.message ?? 'Invalid request.', 'invalid_request_error', null, 'messages'));
    return;
  }
  if (fault?.kind === 'status') {
    sendJson(res, fault.status, fault.body ?? openAIError(`status ${fault.status}`, 'error'), fault.headers);
    return;
  }
  if (fault?.kind === 'stall') {
    await stall(res);
    return;
  }

  if (body.stream === true) await streamTurn(body, turn, res);
  else sendJson(res, 200, completionOf(body.model, turn));
}

function usageOf(turn: OpenAITurn) {
  const usage = turn.usage ?? { promptTokens: 12, completionTokens: 7 };
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: usage.reasoningTokens ?? 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function finishReasonOf(turn: OpenAITurn): string {
  return turn.finishReason ?? (turn.toolCalls?.length ? 'tool_calls' : 'stop');
}

/** The whole answer as one `chat.completion` object (non-streaming requests). */
function completionOf(model: string, turn: OpenAITurn) {
  const toolCalls = (turn.toolCalls ?? []).map((call) => ({
    id: call.id ?? randomId('call_'),
    type: 'function',
    function: { name: call.name, arguments: pieces(call.arguments).join('') },
  }));
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: turn.text === undefined ? null : pieces(turn.text).join(''),
    refusal: null,
  };
  if (toolCalls.length) message.tool_calls = toolCalls;
  if (turn.reasoning !== undefined) message[turn.reasoningField ?? 'reasoning_content'] = pieces(turn.reasoning).join('');
  return {
    id: randomId('chatcmpl-'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: 'fp_fake',
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReasonOf(turn) }],
    usage: usageOf(turn),
  };
}

/** Streams a turn chunk by chunk, like the real API. */
async function streamTurn(
  body: any,
  turn: OpenAITurn,
  res: ServerResponse,
): Promise<void> {
  const includeUsage = body.stream_options?.include_usage === true;
  const dropAfter = turn.fault?.kind === 'drop' ? turn.fault.afterChunks : undefined;
  const id = randomId('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const errorAfter =
    turn.fault?.kind === 'stream_error'
      ? {
          afterChunks: turn.fault.afterChunks,
          data: JSON.stringify({
            id,
            object: 'chat.completion.chunk',
            created,
            model: body.model,
            error: { message: turn.fault.message ?? 'Provider returned error', type: 'server_error', code: 502 },
            choices: [{ index: 0, delta: { content: '' }, finish_reason: 'error' }],
          }),
        }
      : undefined;
  const sse = new SseWriter(res, chunkDelay(turn), dropAfter, errorAfter);

  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
    JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created,
      model: body.model,
      system_fingerprint: 'fp_fake',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      // With include_usage the real API puts `usage: null` on every chunk but the last.
      ...(includeUsage ? { usage: null } : {}),
    });

  sse.open();
  const hasText = turn.text !== undefined;
  // The first chunk carries the role (content is "" for text answers, null for tool-only ones).
  if (!(await sse.send(chunk({ role: 'assistant', content: hasText || !turn.toolCalls?.length ? '' : null, refusal: null }))))
    return;

  const reasoningField = turn.reasoningField ?? 'reasoning_content';
  for (const piece of pieces(turn.reasoning)) {
    if (!(await sse.send(chunk({ [reasoningField]: piece })))) return;
  }
  for (const piece of pieces(turn.text)) {
    if (!(await sse.send(chunk({ content: piece })))) return;
  }
  for (const [index, call] of (turn.toolCalls ?? []).entries()) {
    // id, type and name only on the first delta of each call; arguments follow in pieces.
    const head = { index, id: call.id ?? randomId('call_'), type: 'function', function: { name: call.name, arguments: '' } };
    if (!(await sse.send(chunk({ tool_calls: [head] })))) return;
    for (const piece of pieces(call.arguments)) {
      if (!(await sse.send(chunk({ tool_calls: [{ index, function: { arguments: piece } }] })))) return;
    }
  }
  if (!turn.omitFinish) {
    if (!(await sse.send(chunk({}, finishReasonOf(turn))))) return;
  }
  if (includeUsage) {
    const last = { id, object: 'chat.completion.chunk', created, model: body.model, system_fingerprint: 'fp_fake', choices: [], usage: usageOf(turn) };
    if (!(await sse.send(JSON.stringify(last)))) return;
  }
  if (!(await sse.send('[DONE]'))) return;
  sse.end();
}
