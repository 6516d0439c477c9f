/**
 * The typed client of the Conclave runtime API, used by the gateway, the CLI
 * and tests. This file owns the HTTP calls: one method per route of
 * runtime/http/routes, responses checked against the zod schemas of
 * shared/protocol/api.ts, and every failure turned into a ConclaveApiError
 * (./errors.ts). Event streams are in ./sse.ts.
 *
 *   const client = new ConclaveClient({ baseUrl: 'http://127.0.0.1:8700', token });
 *   const alice = client.withUser('discord:1234');        // service keys act for users
 *   const run = await alice.sendMessage(conversationId, { input: 'hi' });
 *   for await (const { event } of alice.sessionEvents(run.session_id)) ...
 *
 * Every method takes an optional last argument `{ signal, timeoutMs }`.
 * Requests time out after `timeoutMs` (default 30 s), body included.
 */
import type { z } from 'zod';
import {
  bindingSchema,
  conversationSchema,
  healthSchema,
  interruptResultSchema,
  keyCreatedSchema,
  keySchema,
  presetSchema,
  runAcceptedSchema,
  sessionSchema,
  turnSchema,
  workspaceSchema,
  type Binding,
  type Conversation,
  type Preset,
  type Session,
  type Workspace,
} from '../protocol/api.js';
import { ConclaveApiError, errorFromResponse } from './errors.js';
import { followEvents, type EventStream, type FollowOptions } from './sse.js';
import {
  autopilotStoppedSchema,
  exportJsonSchema,
  forkResultSchema,
  pageOf,
  roomTemplateSchema,
  steerResultSchema,
  type AutopilotStopped,
  type ApiKey,
  type ApiKeyCreated,
  type BindingListQuery,
  type BindingPatch,
  type BindingUpsert,
  type ConversationCreate,
  type ConversationExport,
  type ConversationListQuery,
  type ConversationPatch,
  type Fork,
  type ForkResult,
  type Health,
  type InterruptResult,
  type KeyCreate,
  type MessageCreate,
  type Page,
  type PageQuery,
  type PollCreate,
  type PresetCreate,
  type PresetPatch,
  type RoomFromTemplate,
  type RoomTemplate,
  type RunAccepted,
  type SessionListQuery,
  type Steer,
  type SteerResult,
  type Turn,
  type WorkspaceCreate,
  type WorkspaceListQuery,
  type WorkspacePatch,
} from './types.js';

export * from './types.js';
export { ConclaveApiError, parseRetryAfter } from './errors.js';
export { EventStream, followEvents, isStreamReset } from './sse.js';
export type { BackoffOptions, EventItem, FollowOptions, ReconnectInfo } from './sse.js';

export interface ConclaveClientOptions {
  /** The runtime's address, e.g. http://127.0.0.1:8700 (paths are appended to it). */
  baseUrl: string;
  /** The root token or an API key. */
  token: string;
  /** Act for this user (sent as X-Conclave-User); root token and service keys only. */
  actAs?: string;
  /** Request timeout in ms; default 30,000. */
  timeoutMs?: number;
  /** A fetch implementation; default the global fetch. */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Overrides the client's timeout for this request. */
  timeoutMs?: number;
  /**
   * Sent as `Idempotency-Key` (routes that honour it: creating a conversation,
   * sending a message): a repeat with the same key gets the first answer
   * instead of acting twice.
   */
  idempotencyKey?: string;
}

/** Options of the event stream helpers; the client supplies the token, headers and fetch. */
export type EventStreamOptions = Omit<FollowOptions, 'token' | 'headers' | 'fetch'>;

type QueryValue = string | number | boolean | null | undefined;

interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Statuses to treat as success besides 2xx (health answers 503 with a body). */
  alsoOk?: number[];
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
  method: string;
  url: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const id = (value: string) => encodeURIComponent(value);

export class ConclaveClient {
  readonly baseUrl: string;
  readonly actAs: string | undefined;

  constructor(private readonly options: ConclaveClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.actAs = options.actAs;
  }

  /** A client with the same settings acting for `userId`. */
  withUser(userId: string): ConclaveClient {
    return new ConclaveClient({ ...this.options, actAs: userId });
  }

  // ---------------------------------------------------------------- system

  /** Runtime health; answers (rather than throws) when the runtime reports itself degraded (503). */
  health(options?: RequestOptions): Promise<Health> {
    return this.json(healthSchema, { method: 'GET', path: '/api/health', alsoOk: [503] }, options);
  }

  /** The OpenAPI document of the runtime. */
  async openApi(options?: RequestOptions): Promise<Record<string, unknown>> {
    const answer = await this.send({ method: 'GET', path: '/api/openapi.json' }, options);
    return parseJson(answer) as Record<string, unknown>;
  }

  // ---------------------------------------------------------------- presets

  listPresets(options?: RequestOptions): Promise<Page<Preset>> {
    return this.json(pageOf(presetSchema), { method: 'GET', path: '/api/presets' }, options);
  }
  getPreset(presetId: string, options?: RequestOptions): Promise<Preset> {
    return this.json(presetSchema, { method: 'GET', path: `/api/presets/${id(presetId)}` }, options);
  }
  createPreset(body: PresetCreate, options?: RequestOptions): Promise<Preset> {
    return this.json(presetSchema, { method: 'POST', path: '/api/presets', body }, options);
  }
  patchPreset(presetId: string, body: PresetPatch, options?: RequestOptions): Promise<Preset> {
    return this.json(presetSchema, { method: 'PATCH', path: `/api/presets/${id(presetId)}`, body }, options);
  }
  deletePreset(presetId: string, options?: RequestOptions): Promise<void> {
    return this.empty({ method: 'DELETE', path: `/api/presets/${id(presetId)}` }, options);
  }

  // ---------------------------------------------------------------- workspaces

  listWorkspaces(query: WorkspaceListQuery = {}, options?: RequestOptions): Promise<Page<Workspace>> {
    const { metadata, ...rest } = query;
    return this.json(
      pageOf(workspaceSchema),
      { method: 'GET', path: '/api/workspaces', query: { ...rest, metadata: metadata && JSON.stringify(metadata) } },
      options,
    );
  }
  getWorkspace(workspaceId: string, options?: RequestOptions): Promise<Workspace> {
    return this.json(workspaceSchema, { method: 'GET', path: `/api/workspaces/${id(workspaceId)}` }, options);
  }
  createWorkspace(body: WorkspaceCreate, options?: RequestOptions): Promise<Workspace> {
    return this.json(workspaceSchema, { method: 'POST', path: '/api/workspaces', body }, options);
  }
  patchWorkspace(workspaceId: string, body: WorkspacePatch, options?: RequestOptions): Promise<Workspace> {
    return this.json(workspaceSchema, { method: 'PATCH', path: `/api/workspaces/${id(workspaceId)}`, body }, options);
  }
  deleteWorkspace(workspaceId: string, options?: RequestOptions): Promise<void> {
    return this.empty({ method: 'DELETE', path: `/api/workspaces/${id(workspaceId)}` }, options);
  }

  // ---------------------------------------------------------------- conversations

  /** Your conversations, newest first; filter by metadata containment, status or search text. */
  listConversations(query: ConversationListQuery = {}, options?: RequestOptions): Promise<Page<Conversation>> {
    const { metadata, ...rest } = query;
    return this.json(
      pageOf(conversationSchema),
      { method: 'GET', path: '/api/conversations', query: { ...rest, metadata: metadata && JSON.stringify(metadata) } },
      options,
    );
  }
  createConversation(body: ConversationCreate = {}, options?: RequestOptions): Promise<Conversation> {
    return this.json(conversationSchema, { method: 'POST', path: '/api/conversations', body }, options);
  }
  getConversation(conversationId: string, options?: RequestOptions): Promise<Conversation> {
    return this.json(conversationSchema, { method: 'GET', path: `/api/conversations/${id(conversationId)}` }, options);
  }
  patchConversation(conversationId: string, body: ConversationPatch, options?: RequestOptions): Promise<Conversation> {
    return this.json(conversationSchema, { method: 'PATCH', path: `/api/conversations/${id(conversationId)}`, body }, options);
  }
  deleteConversation(conversationId: string, options?: RequestOptions): Promise<void> {
    return this.empty({ method: 'DELETE', path: `/api/conversations/${id(conversationId)}` }, options);
  }

  // ---------------------------------------------------------------- sessions

  /** A conversation's sessions, oldest first (`order: 'desc'`: newest first). */
  listSessions(conversationId: string, query: SessionListQuery = {}, options?: RequestOptions): Promise<Page<Session>> {
    return this.json(
      pageOf(sessionSchema),
      { method: 'GET', path: `/api/conversations/${id(conversationId)}/sessions`, query: { ...query } },
      options,
    );
  }
  getSession(sessionId: string, options?: RequestOptions): Promise<Session> {
    return this.json(sessionSchema, { method: 'GET', path: `/api/sessions/${id(sessionId)}` }, options);
  }

  // ---------------------------------------------------------------- runs

  /** Sends a message: starts a run (or steers/queues per `on_busy`). A busy conversation with on_busy "reject" throws 409 conversation_busy. */
  sendMessage(conversationId: string, body: MessageCreate, options?: RequestOptions): Promise<RunAccepted> {
    return this.json(runAcceptedSchema, { method: 'POST', path: `/api/conversations/${id(conversationId)}/messages`, body }, options);
  }
  /** Interrupts everything running in the conversation. */
  interruptConversation(conversationId: string, options?: RequestOptions): Promise<InterruptResult> {
    return this.json(interruptResultSchema, { method: 'POST', path: `/api/conversations/${id(conversationId)}/interrupt` }, options);
  }
  interruptSession(sessionId: string, options?: RequestOptions): Promise<InterruptResult> {
    return this.json(interruptResultSchema, { method: 'POST', path: `/api/sessions/${id(sessionId)}/interrupt` }, options);
  }
  /** Steers the running session, or starts a run when none accepts it. */
  steerConversation(conversationId: string, body: Steer, options?: RequestOptions): Promise<RunAccepted> {
    return this.json(runAcceptedSchema, { method: 'POST', path: `/api/conversations/${id(conversationId)}/steer`, body }, options);
  }
  /** Steers one running session; throws 409 session_not_running otherwise. */
  steerSession(sessionId: string, body: Steer, options?: RequestOptions): Promise<SteerResult> {
    return this.json(steerResultSchema, { method: 'POST', path: `/api/sessions/${id(sessionId)}/steer`, body }, options);
  }
  /** Display history, newest turn first. */
  listTurns(conversationId: string, query: PageQuery = {}, options?: RequestOptions): Promise<Page<Turn>> {
    return this.json(
      pageOf(turnSchema),
      { method: 'GET', path: `/api/conversations/${id(conversationId)}/turns`, query: { ...query } },
      options,
    );
  }
  /** Forks into a new conversation; with `input`, also starts a run there (`run`). */
  forkConversation(conversationId: string, body: Fork = {}, options?: RequestOptions): Promise<ForkResult> {
    return this.json(forkResultSchema, { method: 'POST', path: `/api/conversations/${id(conversationId)}/fork`, body }, options);
  }
  /** The conversation as a Markdown document. */
  async exportMarkdown(conversationId: string, options?: RequestOptions): Promise<string> {
    const answer = await this.send(
      { method: 'GET', path: `/api/conversations/${id(conversationId)}/export`, query: { format: 'markdown' } },
      options,
    );
    return answer.text;
  }
  /** The conversation and all its turns, oldest first. */
  exportJson(conversationId: string, options?: RequestOptions): Promise<ConversationExport> {
    return this.json(
      exportJsonSchema,
      { method: 'GET', path: `/api/conversations/${id(conversationId)}/export`, query: { format: 'json' } },
      options,
    );
  }

  // ---------------------------------------------------------------- rooms

  /** The room templates: ready-made sets of personas. */
  listRoomTemplates(options?: RequestOptions): Promise<Page<RoomTemplate>> {
    return this.json(pageOf(roomTemplateSchema), { method: 'GET', path: '/api/room-templates' }, options);
  }
  /** Creates a room (a conversation with participants and a mode) from a template; its persona presets are created on first use. */
  createRoomFromTemplate(templateId: string, body: RoomFromTemplate = {}, options?: RequestOptions): Promise<Conversation> {
    return this.json(conversationSchema, { method: 'POST', path: `/api/room-templates/${id(templateId)}/rooms`, body }, options);
  }
  /** Starts autopilot: the personas talk by themselves (about `topic`). A room already running throws 409 conversation_busy. */
  startAutopilot(conversationId: string, topic?: string, options?: RequestOptions): Promise<RunAccepted> {
    const body = { action: 'start', ...(topic !== undefined && topic !== '' && { topic }) };
    return this.json(runAcceptedSchema, { method: 'POST', path: `/api/conversations/${id(conversationId)}/autopilot`, body }, options);
  }
  /** Stops the room's run (autopilot or any other); `stopped` says whether one was running. */
  stopAutopilot(conversationId: string, options?: RequestOptions): Promise<AutopilotStopped> {
    return this.json(
      autopilotStoppedSchema,
      { method: 'POST', path: `/api/conversations/${id(conversationId)}/autopilot`, body: { action: 'stop' } },
      options,
    );
  }
  /** Opens a poll every persona votes in; the result is the run's `room_finished` event. */
  openPoll(conversationId: string, body: PollCreate, options?: RequestOptions): Promise<RunAccepted> {
    return this.json(runAcceptedSchema, { method: 'POST', path: `/api/conversations/${id(conversationId)}/polls`, body }, options);
  }

  // ---------------------------------------------------------------- event streams

  /** The conversation's events, live, resumable; ends only through `signal` or an error. */
  conversationEvents(conversationId: string, options: EventStreamOptions = {}): EventStream {
    return this.events(`/api/conversations/${id(conversationId)}/events`, options);
  }
  /** One session's events; ends after its terminal event. */
  sessionEvents(sessionId: string, options: EventStreamOptions = {}): EventStream {
    return this.events(`/api/sessions/${id(sessionId)}/events`, { untilTerminalOf: sessionId, ...options });
  }
  /** Follows a stream by path (e.g. RunAccepted.events_url) or absolute URL. */
  events(pathOrUrl: string, options: EventStreamOptions = {}): EventStream {
    const url = /^https?:\/\//i.test(pathOrUrl) ? pathOrUrl : `${this.baseUrl}${pathOrUrl}`;
    return followEvents(url, {
      ...options,
      token: this.options.token,
      headers: this.actAs === undefined ? {} : { 'X-Conclave-User': this.actAs },
      ...(this.options.fetch && { fetch: this.options.fetch }),
    });
  }

  // ---------------------------------------------------------------- bindings (service keys)

  /** Gets or creates the binding of a platform place; `created` is true when this call created it. */
  upsertBinding(body: BindingUpsert, options?: RequestOptions): Promise<Binding> {
    return this.json(bindingSchema, { method: 'PUT', path: '/api/bindings', body }, options);
  }
  listBindings(query: BindingListQuery = {}, options?: RequestOptions): Promise<Page<Binding>> {
    return this.json(pageOf(bindingSchema), { method: 'GET', path: '/api/bindings', query: { ...query } }, options);
  }
  getBinding(bindingId: string, options?: RequestOptions): Promise<Binding> {
    return this.json(bindingSchema, { method: 'GET', path: `/api/bindings/${id(bindingId)}` }, options);
  }
  /** Moves the rendering cursor, stores renderer state, or rebinds to another conversation. */
  patchBinding(bindingId: string, body: BindingPatch, options?: RequestOptions): Promise<Binding> {
    return this.json(bindingSchema, { method: 'PATCH', path: `/api/bindings/${id(bindingId)}`, body }, options);
  }
  deleteBinding(bindingId: string, options?: RequestOptions): Promise<void> {
    return this.empty({ method: 'DELETE', path: `/api/bindings/${id(bindingId)}` }, options);
  }

  // ---------------------------------------------------------------- keys

  listKeys(options?: RequestOptions): Promise<Page<ApiKey>> {
    return this.json(pageOf(keySchema), { method: 'GET', path: '/api/keys' }, options);
  }
  /** Creates an API key; the response's `key` is shown only this once. */
  createKey(body: KeyCreate, options?: RequestOptions): Promise<ApiKeyCreated> {
    return this.json(keyCreatedSchema, { method: 'POST', path: '/api/keys', body }, options);
  }
  revokeKey(keyId: string, options?: RequestOptions): Promise<void> {
    return this.empty({ method: 'DELETE', path: `/api/keys/${id(keyId)}` }, options);
  }

  // ---------------------------------------------------------------- plumbing

  /** Sends a call and checks its JSON answer against `schema`. */
  private async json<S extends z.ZodType>(schema: S, call: Call, options?: RequestOptions): Promise<z.output<S>> {
    const answer = await this.send(call, options);
    const result = schema.safeParse(parseJson(answer));
    if (!result.success) {
      const issues = result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
      throw new ConclaveApiError({
        status: answer.status,
        code: 'invalid_response',
        message: `${answer.method} ${answer.url}: the response does not match the API schema (${issues
          .slice(0, 3)
          .map((i) => `${i.path || '(root)'}: ${i.message}`)
          .join('; ')})`,
        details: { issues },
        method: answer.method,
        url: answer.url,
      });
    }
    return result.data;
  }

  /** Sends a call whose success has no body (204). */
  private async empty(call: Call, options?: RequestOptions): Promise<void> {
    await this.send(call, options);
  }

  /** Sends one request and reads its whole body; throws ConclaveApiError unless it succeeded. */
  private async send(call: Call, options: RequestOptions = {}): Promise<Answer> {
    const url = this.url(call.path, call.query);
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const headers: Record<string, string> = { Accept: 'application/json', ...this.identityHeaders() };
    if (call.body !== undefined) headers['Content-Type'] = 'application/json';
    if (options.idempotencyKey !== undefined) headers['Idempotency-Key'] = options.idempotencyKey;

    let response: Response;
    let text: string;
    try {
      response = await (this.options.fetch ?? fetch)(url, {
        method: call.method,
        headers,
        ...(call.body !== undefined && { body: JSON.stringify(call.body) }),
        signal,
      });
      text = await response.text();
    } catch (cause) {
      if (options.signal?.aborted) throw options.signal.reason ?? cause; // the caller's own abort
      const timedOut = timeout.aborted;
      throw new ConclaveApiError({
        status: 0,
        code: timedOut ? 'timeout' : 'network_error',
        message: timedOut
          ? `${call.method} ${url}: no answer within ${timeoutMs} ms`
          : `${call.method} ${url}: ${cause instanceof Error ? cause.message : String(cause)}`,
        method: call.method,
        url,
        cause,
      });
    }
    const ok = response.ok || (call.alsoOk ?? []).includes(response.status);
    if (!ok) throw errorFromResponse(response, text, call.method, url);
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', text, method: call.method, url };
  }

  private url(path: string, query: Record<string, QueryValue> = {}): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) params.set(name, String(value));
    }
    const search = params.toString();
    return `${this.baseUrl}${path}${search ? `?${search}` : ''}`;
  }

  private identityHeaders(): Record<string, string> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.options.token}` };
    if (this.actAs !== undefined) headers['X-Conclave-User'] = this.actAs;
    return headers;
  }
}

function parseJson(answer: Answer): unknown {
  try {
    return JSON.parse(answer.text);
  } catch {
    throw new ConclaveApiError({
      status: answer.status,
      code: 'invalid_response',
      message: `${answer.method} ${answer.url}: the response is not JSON (${answer.contentType || 'no content type'})`,
      method: answer.method,
      url: answer.url,
    });
  }
}
