/**
 * A fake Slack for tests, on 127.0.0.1 with a free port, good enough to drive
 * the REAL @slack/web-api WebClient and @slack/bolt App (HTTP receiver and
 * Socket Mode).
 *
 * This file owns: the Web API under `/api/<method>` (form-encoded or JSON
 * bodies, token from `Authorization: Bearer` or the `token` argument), the
 * in-memory workspace (channels, DMs, users, messages with edit history,
 * threads, reactions, assistant statuses, native streams), the limits it
 * enforces, signed Events API / slash-command delivery to an app's HTTP
 * endpoint, the Socket Mode WebSocket (`apps.connections.open` → `hello`,
 * envelopes, acks, `disconnect`), shared files at their `url_private`
 * (answered only with the bot token, else a redirect to sign-in, as Slack
 * does), and the `state` tests assert on.
 *
 *   const slack = await startFakeSlack();
 *   const app = new App({ token: slack.botToken, signingSecret: slack.signingSecret,
 *     clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } } });
 *   const server = await app.start(0);
 *   const { mentionEvent } = slack.userMessage({ text: 'hi', mention: true });
 *   await slack.deliverEvent(`http://127.0.0.1:${port}/slack/events`, mentionEvent);
 *   await slack.waitFor(() => slack.messages(slack.channelId, mentionEvent.ts).length > 1);
 *
 * Limits enforced (configurable, see FakeSlackOptions):
 * - `chat.postMessage` text > 40,000 → `msg_too_long` (Slack's docs now say it
 *   truncates there instead; `postMessageOverflow: 'truncate'` does that);
 *   `chat.update` text > 4,000 → `msg_too_long` (documented for chat.update);
 *   `markdown_text` (any method, and each `markdown_text` chunk of a stream call)
 *   > 12,000 → `msg_too_long`; `markdown_text` together with `text` or `blocks`
 *   → `markdown_text_conflict`; nothing to post → `no_text`. Lengths are JS
 *   `.length` (UTF-16 code units).
 * - rate limits per method and workspace over a sliding window, answered with
 *   HTTP 429, `Retry-After: <whole seconds>` and `{ok:false, error:'ratelimited'}`:
 *   Tier 2 = 20/min (chat.startStream, chat.stopStream), Tier 3 = 50/min
 *   (chat.update, chat.delete, reactions.*, conversations.*, apps.connections.open),
 *   Tier 4 = 100/min (chat.appendStream, chat.postEphemeral, users.info);
 *   chat.postMessage 5 per 5 s per channel (≈1/s with a short burst);
 *   auth.test and assistant.threads.setStatus ("special") unlimited.
 * - native streams: channel (non-DM) streams need `recipient_user_id` and
 *   `recipient_team_id` (`missing_recipient_*`); `thread_ts` is required
 *   (`invalid_arguments`); a stream lives 306 s from start however often it is
 *   appended to, then every append/stop gets `message_not_in_streaming_state`;
 *   a user pressing stop makes appends fail with `stopped_by_user`; `chat.update`
 *   on a streaming message → `streaming_state_conflict`. `streaming.rejectWith`
 *   makes all three methods fail (e.g. `unknown_method`) to test fallbacks.
 * - tokens: only `botToken` (xoxb) for normal methods and `appToken` (xapp) for
 *   apps.connections.open; others get `invalid_auth` / `not_allowed_token_type`,
 *   none gets `not_authed`.
 *
 * Facts relied on: ../shared/research/gateway-anchors.md §3.2 and §5.2,
 * ../shared/research/feasibility.md §7, the @slack/web-api 8.2 source (form
 * bodies with JSON-string fields, `Retry-After` parsed as integer seconds,
 * ChatStreamer sends `chunks`), @slack/socket-mode 3.1 (hello / disconnect /
 * envelope ack shape) and Slack's method reference as mirrored by
 * slack-ruby/slack-api-ref (tiers and error names). The 306 s stream lifetime and
 * the per-chunk `msg_too_long` are third-party live probes, not Slack docs.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { readRawBody, waitFor } from './plumbing.js';

// ---------------------------------------------------------------- public types

/** Parsed JSON as it travels on the wire. */
export type Json = Record<string, any>;

export interface SlackRateRule {
  limit: number;
  windowMs: number;
  /** Count per workspace (default) or per channel argument. */
  per?: 'workspace' | 'channel';
}

export interface FakeSlackOptions {
  botToken?: string;
  appToken?: string;
  signingSecret?: string;
  teamId?: string;
  teamDomain?: string;
  botUserId?: string;
  botId?: string;
  appId?: string;
  botName?: string;
  /** Public channel names; the first is `fake.channelId`. Default `['general', 'random']`. */
  channels?: string[];
  limits?: {
    /** Default 40000. */
    postMessageText?: number;
    /** What happens above it: `'error'` (msg_too_long, default) or `'truncate'`. */
    postMessageOverflow?: 'error' | 'truncate';
    /** chat.update text. Default 4000. */
    updateText?: number;
    /** markdown_text argument or chunk. Default 12000. */
    markdownText?: number;
  };
  /** Per-method overrides; `null` disables a method's limit. */
  rateLimits?: Record<string, SlackRateRule | null>;
  streaming?: {
    /** Make chat.startStream/appendStream/stopStream fail with this error, e.g. 'unknown_method'. */
    rejectWith?: string | null;
    /** Absolute lifetime of a stream. Default 306000. */
    maxAgeMs?: number;
    /** Expire a stream after this long without an append. Default: never. */
    idleTimeoutMs?: number | null;
    /** Expire a stream after this many appends. Default: never. */
    maxAppends?: number | null;
    /** When recipient_user_id/recipient_team_id are required. Default `'channels'` (not in DMs). */
    requireRecipients?: 'channels' | 'always' | 'never';
  };
  /** Server pings on Socket Mode connections (the SDK gives up after 30 s without one). Default 10000; null disables. */
  socketPingIntervalMs?: number | null;
}

export interface SlackMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  user: string;
  bot_id?: string;
  text: string;
  blocks?: Json[];
  username?: string;
  icon_url?: string;
  icon_emoji?: string;
  metadata?: Json;
  /** Every version of text/blocks, the original first. */
  versions: Array<{ text: string; blocks?: Json[]; at: number }>;
  deleted: boolean;
  source: 'bot' | 'user' | 'stream';
  reactions: Array<{ name: string; users: string[] }>;
}

export interface SlackStream {
  channel: string;
  ts: string;
  thread_ts: string;
  recipientUserId: string | null;
  recipientTeamId: string | null;
  startedAt: number;
  lastWriteAt: number;
  status: 'in_progress' | 'completed' | 'expired' | 'stopped_by_user';
  /** All markdown appended so far (markdown_text arguments and markdown_text chunks). */
  text: string;
  /** Every chunk received, in order (markdown_text arguments included as chunks). */
  chunks: Json[];
  appends: Array<{ at: number; chunks: Json[] }>;
  /** Latest state of each task_update by id (title/status replace, details append). */
  tasks: Map<string, Json>;
  plan: string | null;
  finalBlocks: Json[];
}

export interface SlackCall {
  method: string;
  args: Json;
  token: string | null;
  at: number;
  /** HTTP status: 200, or 429. */
  status: number;
  ok: boolean;
  error?: string;
}

export interface FakeSlackState {
  channels: Map<string, Json>;
  users: Map<string, Json>;
  /** Messages per channel in ts order, thread replies included, deleted ones included. */
  messages: Map<string, SlackMessage[]>;
  streams: Map<string, SlackStream>;
  reactions: Array<{ channel: string; timestamp: string; name: string; user: string; at: number; removed: boolean }>;
  statuses: Array<{ channel_id: string; thread_ts: string; status: string; loading_messages?: string[]; at: number }>;
  ephemerals: Array<{ channel: string; user: string; text: string; thread_ts?: string; message_ts: string; at: number }>;
  /** Number of 429 responses sent. */
  rateLimited: number;
  rateLimitLog: Array<{ method: string; key: string; retryAfterSec: number; at: number }>;
  calls: SlackCall[];
  /** Events API and slash-command HTTP deliveries. */
  deliveries: Array<{ url: string; kind: 'event' | 'command' | 'url_verification'; eventId?: string; retryNum: number; status: number; timedOut: boolean; at: number }>;
  responseUrlPosts: Array<{ id: string; body: Json; at: number }>;
  /** Every GET of a shared file's url_private, and whether it carried the bot token. */
  fileDownloads: Array<{ path: string; authorized: boolean }>;
  socket: {
    /** apps.connections.open answers handed out. */
    urlsIssued: number;
    /** WebSocket connections accepted. */
    connections: number;
    envelopes: Array<{ envelope_id: string; type: string; retry_attempt: number; at: number }>;
    acks: Array<{ envelope_id: string; payload: Json | undefined; at: number }>;
  };
}

export interface UserMessageOptions {
  text: string;
  /** Defaults to the first channel; ignored with `dm`. */
  channel?: string;
  /** Defaults to `fake.users.alice`. */
  user?: Partial<SlackUserInput>;
  threadTs?: string;
  /** Prefix `<@bot>` and also build the `app_mention` event. */
  mention?: boolean;
  /** Post in the DM between the user and the bot. */
  dm?: boolean;
  /** Files shared with the message: hosted at their `url_private`, which answers only with the bot token. */
  files?: SharedFileInput[];
}

export interface SharedFileInput {
  name: string;
  mimetype: string;
  bytes: Buffer;
  /** The Content-Type its download answers with (default: `mimetype`). */
  servedAs?: string;
  /** How long its download waits before answering. */
  delayMs?: number;
}

export interface SlackUserInput {
  id: string;
  name: string;
  real_name: string;
  is_bot: boolean;
}

export interface UserMessage {
  channel: string;
  ts: string;
  text: string;
  user: Json;
  /** The `message` event Slack sends for it (message.channels / message.im). */
  messageEvent: Json;
  /** The `app_mention` event, when `mention` was set. */
  mentionEvent: Json | null;
}

export interface DeliverOptions {
  eventId?: string;
  /** Sends X-Slack-Retry-Num / X-Slack-Retry-Reason as on a redelivery. */
  retryNum?: number;
  retryReason?: string;
  badSignature?: boolean;
  /** Unix seconds to sign with (e.g. 10 minutes ago to test staleness). */
  timestampSec?: number;
  /** Retry like Slack when the app fails or does not answer within `ackTimeoutMs` (3 s). */
  autoRetry?: { maxRetries?: number; ackTimeoutMs?: number; delayMs?: number };
}

export interface DeliveryResult {
  status: number;
  body: string;
  eventId?: string;
  attempts: Array<{ retryNum: number; status: number; timedOut: boolean; durationMs: number }>;
}

export interface SocketDeliverOptions {
  eventId?: string;
  retryAttempt?: number;
  retryReason?: string;
  /** How long to wait for the ack. Default 3000. */
  ackTimeoutMs?: number;
  /** Redeliver (retry_attempt + 1, reason 'timeout') this many times when not acked. Default 0. */
  redeliver?: number;
}

export interface SocketDeliveryResult {
  acked: boolean;
  envelopeIds: string[];
  ackPayload: Json | undefined;
  eventId?: string;
}

export interface SlashCommandOptions {
  command: string;
  text?: string;
  channel?: string;
  user?: Partial<SlackUserInput>;
}

export interface FakeSlack {
  /** `http://127.0.0.1:P/api/` — WebClient `slackApiUrl` / Bolt `clientOptions.slackApiUrl` (keep the slash). */
  apiUrl: string;
  baseUrl: string;
  signingSecret: string;
  botToken: string;
  appToken: string;
  teamId: string;
  botUserId: string;
  botId: string;
  appId: string;
  /** The first channel. */
  channelId: string;
  channelIds: Record<string, string>;
  users: { alice: Json; bob: Json };
  state: FakeSlackState;
  /** Live messages: top-level ones of a channel, or a whole thread (parent first) when `threadTs` is given. */
  messages(channel: string, threadTs?: string): SlackMessage[];
  findMessage(channel: string, ts: string): SlackMessage | undefined;
  addUser(user?: Partial<SlackUserInput>): Json;
  dmChannel(userId: string): Json;
  /** A human posts: stored in the workspace; returns the events Slack would send. */
  userMessage(options: UserMessageOptions): UserMessage;
  /** The `event_callback` envelope Slack wraps an event in. */
  eventEnvelope(event: Json, eventId?: string): Json;
  deliverEvent(url: string, event: Json, options?: DeliverOptions): Promise<DeliveryResult>;
  deliverUrlVerification(url: string, options?: DeliverOptions): Promise<DeliveryResult>;
  slashCommandPayload(options: SlashCommandOptions): Record<string, string>;
  deliverSlashCommand(url: string, options: SlashCommandOptions, deliver?: DeliverOptions): Promise<DeliveryResult>;
  deliverSocketEvent(event: Json, options?: SocketDeliverOptions): Promise<SocketDeliveryResult>;
  deliverSocketSlashCommand(options: SlashCommandOptions, deliver?: SocketDeliverOptions): Promise<SocketDeliveryResult>;
  /** Send `{type:'disconnect', reason}` to every Socket Mode connection (the SDK reconnects). */
  socketDisconnect(reason?: string): void;
  /** Drop every Socket Mode connection without a goodbye. */
  dropSockets(): void;
  openSocketConnections(): number;
  /** The user presses "stop" on a streaming message. */
  stopStreamAsUser(ts: string): void;
  /** End a stream now, as Slack does when it times out. */
  expireStream(ts: string): void;
  /** Force the next `count` calls of a method to get a 429. */
  injectRateLimit(method: string, options?: { count?: number; retryAfterSec?: number }): void;
  waitFor<T>(fn: () => T | undefined | null | false, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- constants and helpers

const TIER_PER_MINUTE: Record<number, number> = { 1: 1, 2: 20, 3: 50, 4: 100 };
const METHOD_TIERS: Record<string, number> = {
  'apps.connections.open': 3,
  'chat.update': 3,
  'chat.delete': 3,
  'chat.postEphemeral': 4,
  'chat.getPermalink': 3,
  'reactions.add': 3,
  'reactions.remove': 3,
  'conversations.info': 3,
  'conversations.replies': 3,
  'conversations.history': 3,
  'users.info': 4,
  'chat.startStream': 2,
  'chat.appendStream': 4,
  'chat.stopStream': 2,
};
const DEFAULT_RATE_LIMITS: Record<string, SlackRateRule> = {
  ...Object.fromEntries(Object.entries(METHOD_TIERS).map(([method, tier]) => [method, { limit: TIER_PER_MINUTE[tier] ?? 20, windowMs: 60_000 }])),
  'chat.postMessage': { limit: 5, windowMs: 5000, per: 'channel' },
};
/** Arguments @slack/web-api sends as JSON strings inside a form body. */
const JSON_ARGS = new Set(['blocks', 'attachments', 'chunks', 'metadata', 'loading_messages', 'unfurls', 'prompts', 'user_auth_blocks']);
const STREAM_METHODS = new Set(['chat.startStream', 'chat.appendStream', 'chat.stopStream']);

class SlackApiError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}
function fail(code: string): never {
  throw new SlackApiError(code);
}

/** `v0=` + hex HMAC-SHA256(signingSecret, `v0:${timestamp}:${body}`) — the X-Slack-Signature header. */
export function signSlackRequest(signingSecret: string, timestampSec: number, body: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestampSec}:${body}`).digest('hex')}`;
}


/** Form bodies (what @slack/web-api sends) decode nested JSON fields; JSON bodies pass through. */
function parseArgs(contentType: string, raw: string, query: URLSearchParams): Json {
  const args: Json = {};
  for (const [key, value] of query) args[key] = value;
  if (raw.length === 0) return args;
  if (contentType.startsWith('application/json')) return { ...args, ...(JSON.parse(raw) as Json) };
  for (const [key, value] of new URLSearchParams(raw)) {
    if (JSON_ARGS.has(key) && /^[[{]/.test(value.trim())) {
      try {
        args[key] = JSON.parse(value);
        continue;
      } catch {
        // Slack answers invalid JSON with its own errors; keep the string so the method can reject it.
      }
    }
    args[key] = value;
  }
  return args;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);

// ---------------------------------------------------------------- the fake

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const botToken = options.botToken ?? 'xoxb-0000000000-fake-bot-token';
  const appToken = options.appToken ?? 'xapp-1-A0FAKEAPP-0000-fake-app-token';
  const signingSecret = options.signingSecret ?? randomBytes(16).toString('hex');
  const verificationToken = randomBytes(12).toString('hex');
  const teamId = options.teamId ?? 'T0FAKETEAM';
  const teamDomain = options.teamDomain ?? 'fake-workspace';
  const botUserId = options.botUserId ?? 'U0FAKEBOT';
  const botId = options.botId ?? 'B0FAKEBOT';
  const appId = options.appId ?? 'A0FAKEAPP';
  const botName = options.botName ?? 'conclave';
  const postMessageLimit = options.limits?.postMessageText ?? 40_000;
  const postMessageOverflow = options.limits?.postMessageOverflow ?? 'error';
  const updateLimit = options.limits?.updateText ?? 4000;
  const markdownLimit = options.limits?.markdownText ?? 12_000;
  const rateLimits: Record<string, SlackRateRule | null> = { ...DEFAULT_RATE_LIMITS, ...options.rateLimits };
  const streaming = {
    rejectWith: options.streaming?.rejectWith ?? null,
    maxAgeMs: options.streaming?.maxAgeMs ?? 306_000,
    idleTimeoutMs: options.streaming?.idleTimeoutMs ?? null,
    maxAppends: options.streaming?.maxAppends ?? null,
    requireRecipients: options.streaming?.requireRecipients ?? 'channels',
  };
  const socketPingIntervalMs = options.socketPingIntervalMs === undefined ? 10_000 : options.socketPingIntervalMs;

  const now = () => Date.now();
  let lastTsMicros = 0;
  function nextTs(): string {
    const micros = Math.max(now() * 1000, lastTsMicros + 1);
    lastTsMicros = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }
  let idCounter = 0;
  const newId = (prefix: string) => `${prefix}0FAKE${(++idCounter).toString(36).toUpperCase().padStart(4, '0')}`;

  const state: FakeSlackState = {
    channels: new Map(),
    users: new Map(),
    messages: new Map(),
    streams: new Map(),
    reactions: [],
    statuses: [],
    ephemerals: [],
    rateLimited: 0,
    rateLimitLog: [],
    calls: [],
    deliveries: [],
    responseUrlPosts: [],
    fileDownloads: [],
    socket: { urlsIssued: 0, connections: 0, envelopes: [], acks: [] },
  };

  // ---- workspace

  function addUser(partial: Partial<SlackUserInput> = {}): Json {
    const existing = partial.id ? state.users.get(partial.id) : undefined;
    if (existing) return existing;
    const id = partial.id ?? newId('U');
    const name = partial.name ?? `user${state.users.size}`;
    const realName = partial.real_name ?? name;
    const user: Json = {
      id, team_id: teamId, name, deleted: false, real_name: realName, tz: 'Etc/UTC', tz_offset: 0, is_admin: false,
      is_owner: false, is_bot: partial.is_bot ?? false, is_app_user: false, updated: Math.floor(now() / 1000),
      profile: { real_name: realName, display_name: name, image_48: `https://example.invalid/${id}.png`, team: teamId },
    };
    state.users.set(id, user);
    return user;
  }
  addUser({ id: botUserId, name: botName, real_name: botName, is_bot: true });
  const alice = addUser({ name: 'alice', real_name: 'Alice' });
  const bob = addUser({ name: 'bob', real_name: 'Bob' });

  const channelIds: Record<string, string> = {};
  for (const name of options.channels ?? ['general', 'random']) {
    const id = newId('C');
    channelIds[name] = id;
    state.channels.set(id, {
      id, name, is_channel: true, is_group: false, is_im: false, is_mpim: false, is_private: false, is_archived: false,
      is_general: name === 'general', is_member: true, is_shared: false, is_ext_shared: false, is_org_shared: false,
      created: Math.floor(now() / 1000), creator: alice.id, name_normalized: name,
      topic: { value: '', creator: '', last_set: 0 }, purpose: { value: '', creator: '', last_set: 0 },
    });
  }
  const firstChannelId = Object.values(channelIds)[0];
  if (!firstChannelId) throw new Error('startFakeSlack: channels must not be empty');

  function dmChannel(userId: string): Json {
    for (const channel of state.channels.values()) if (channel.is_im && channel.user === userId) return channel;
    const channel: Json = { id: newId('D'), is_im: true, is_channel: false, is_private: true, is_member: true, user: userId, created: Math.floor(now() / 1000), is_archived: false };
    state.channels.set(channel.id, channel);
    return channel;
  }

  function resolveChannel(value: unknown): Json {
    const key = String(value ?? '').replace(/^#/, '');
    const channel = state.channels.get(key) ?? [...state.channels.values()].find((c) => c.name === key);
    if (!channel) fail('channel_not_found');
    return channel as Json;
  }

  function storeMessage(message: Omit<SlackMessage, 'versions' | 'deleted' | 'reactions'>): SlackMessage {
    const stored: SlackMessage = { ...message, versions: [{ text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}), at: now() }], deleted: false, reactions: [] };
    const list = state.messages.get(message.channel) ?? [];
    list.push(stored);
    state.messages.set(message.channel, list);
    return stored;
  }

  function findMessage(channel: string, ts: string): SlackMessage | undefined {
    return state.messages.get(channel)?.find((m) => m.ts === ts && !m.deleted);
  }

  function threadOf(channel: string, threadTs: string): SlackMessage[] {
    return (state.messages.get(channel) ?? []).filter((m) => !m.deleted && (m.ts === threadTs || m.thread_ts === threadTs));
  }

  /** The message as the Web API returns it. */
  function apiMessage(m: SlackMessage): Json {
    const replies = (state.messages.get(m.channel) ?? []).filter((r) => !r.deleted && r.thread_ts === m.ts && r.ts !== m.ts);
    const fromBot = m.user === botUserId;
    const out: Json = {
      type: 'message',
      user: m.user,
      text: m.text,
      ts: m.ts,
      team: teamId,
      ...(fromBot ? { bot_id: botId, app_id: appId, bot_profile: { id: botId, app_id: appId, name: botName, deleted: false, team_id: teamId } } : {}),
      ...(m.blocks ? { blocks: m.blocks } : {}),
      ...(m.username ? { username: m.username } : {}),
      ...(m.icon_url || m.icon_emoji ? { icons: { ...(m.icon_url ? { image_48: m.icon_url } : {}), ...(m.icon_emoji ? { emoji: m.icon_emoji } : {}) } } : {}),
      ...(m.metadata ? { metadata: m.metadata } : {}),
      ...(m.versions.length > 1 ? { edited: { user: m.user, ts: `${Math.floor((m.versions.at(-1)?.at ?? now()) / 1000)}.000000` } } : {}),
      ...(m.reactions.length > 0 ? { reactions: m.reactions.map((r) => ({ name: r.name, users: r.users, count: r.users.length })) } : {}),
    };
    if (m.thread_ts && m.thread_ts !== m.ts) {
      out.thread_ts = m.thread_ts;
      const parent = findMessage(m.channel, m.thread_ts);
      if (parent) out.parent_user_id = parent.user;
    } else if (replies.length > 0) {
      out.thread_ts = m.ts;
      out.reply_count = replies.length;
      out.reply_users = [...new Set(replies.map((r) => r.user))];
      out.reply_users_count = out.reply_users.length;
      out.latest_reply = replies.at(-1)?.ts;
    }
    const stream = state.streams.get(m.ts);
    if (stream) out.streaming_state = stream.status === 'in_progress' ? 'in_progress' : 'completed';
    return out;
  }

  // ---- content checks

  const tooLong = (value: unknown, max: number) => typeof value === 'string' && value.length > max;

  function checkMarkdown(args: Json): void {
    const markdown = args.markdown_text;
    if (markdown !== undefined && (args.text !== undefined || args.blocks !== undefined)) fail('markdown_text_conflict');
    if (tooLong(markdown, markdownLimit)) fail('msg_too_long');
  }

  function checkBlocks(args: Json): void {
    if (args.blocks === undefined) return;
    if (!Array.isArray(args.blocks)) fail('invalid_blocks_format');
    if ((args.blocks as Json[]).length > 50) fail('invalid_blocks');
  }

  function checkChunks(chunks: unknown): Json[] {
    if (chunks === undefined) return [];
    if (!Array.isArray(chunks)) fail('invalid_chunks');
    for (const chunk of chunks as Json[]) {
      if (typeof chunk !== 'object' || chunk === null || !['markdown_text', 'task_update', 'plan_update', 'blocks'].includes(String(chunk.type))) fail('invalid_chunks');
      if (chunk.type === 'markdown_text' && tooLong(chunk.text, markdownLimit)) fail('msg_too_long');
    }
    return chunks as Json[];
  }

  // ---- streams

  function refreshStream(stream: SlackStream): void {
    if (stream.status !== 'in_progress') return;
    const at = now();
    const tooOld = at - stream.startedAt > streaming.maxAgeMs;
    const idle = streaming.idleTimeoutMs !== null && at - stream.lastWriteAt > streaming.idleTimeoutMs;
    const worn = streaming.maxAppends !== null && stream.appends.length >= streaming.maxAppends;
    if (tooOld || idle || worn) stream.status = 'expired';
  }

  function liveStream(args: Json, forStop: boolean): SlackStream {
    const channel = resolveChannel(args.channel);
    const ts = str(args.ts) ?? fail('message_not_found');
    const message = findMessage(channel.id, ts) ?? fail('message_not_found');
    const stream = state.streams.get(ts);
    if (!stream) return fail(message.user === botUserId ? 'message_not_in_streaming_state' : 'message_not_owned_by_app');
    refreshStream(stream);
    if (stream.status === 'stopped_by_user') fail(forStop ? 'message_not_in_streaming_state' : 'stopped_by_user');
    if (stream.status !== 'in_progress') fail('message_not_in_streaming_state');
    return stream;
  }

  function applyChunks(stream: SlackStream, chunks: Json[]): void {
    for (const chunk of chunks) {
      stream.chunks.push(chunk);
      if (chunk.type === 'markdown_text') stream.text += String(chunk.text ?? '');
      if (chunk.type === 'plan_update') stream.plan = String(chunk.title ?? '');
      if (chunk.type === 'task_update') {
        const id = String(chunk.id ?? '');
        const previous = stream.tasks.get(id) ?? {};
        stream.tasks.set(id, {
          ...previous, ...chunk,
          details: `${previous.details ?? ''}${chunk.details ?? ''}`,
        });
      }
      if (chunk.type === 'blocks' && Array.isArray(chunk.blocks)) stream.finalBlocks.push(...(chunk.blocks as Json[]));
    }
    stream.lastWriteAt = now();
    const message = findMessage(stream.channel, stream.ts);
    if (message && message.text !== stream.text) {
      message.text = stream.text;
      message.versions.push({ text: stream.text, at: now() });
    }
  }

  /** markdown_text argument first, then chunks, as one list. */
  function streamChunks(args: Json): Json[] {
    checkMarkdown(args);
    const chunks = checkChunks(args.chunks);
    return [...(typeof args.markdown_text === 'string' ? [{ type: 'markdown_text', text: args.markdown_text }] : []), ...chunks];
  }

  // ---- Web API methods

  type Method = (args: Json) => Json;
  const methods: Record<string, Method> = {
    'auth.test': () => ({
      url: `https://${teamDomain}.slack.com/`, team: 'Fake Workspace', user: botName, team_id: teamId, user_id: botUserId,
      bot_id: botId, is_enterprise_install: false,
    }),

    'apps.connections.open': () => {
      state.socket.urlsIssued += 1;
      return { url: `${baseUrl.replace(/^http/, 'ws')}/link/?ticket=${randomUUID()}&app_id=${appId}` };
    },

    'chat.postMessage': (args) => {
      const channel = resolveChannel(args.channel);
      checkMarkdown(args);
      checkBlocks(args);
      let text = typeof args.text === 'string' ? args.text : typeof args.markdown_text === 'string' ? args.markdown_text : '';
      if (!str(args.text) && !str(args.markdown_text) && args.blocks === undefined && args.attachments === undefined) fail('no_text');
      if (tooLong(text, postMessageLimit)) {
        if (postMessageOverflow === 'error') fail('msg_too_long');
        text = text.slice(0, postMessageLimit);
      }
      const threadTs = str(args.thread_ts);
      const message = storeMessage({
        channel: channel.id, ts: nextTs(), user: botUserId, bot_id: botId, text, source: 'bot',
        ...(threadTs ? { thread_ts: threadTs } : {}),
        ...(Array.isArray(args.blocks) ? { blocks: args.blocks as Json[] } : {}),
        ...(str(args.username) ? { username: args.username } : {}),
        ...(str(args.icon_url) ? { icon_url: args.icon_url } : {}),
        ...(str(args.icon_emoji) ? { icon_emoji: args.icon_emoji } : {}),
        ...(args.metadata && typeof args.metadata === 'object' ? { metadata: args.metadata as Json } : {}),
      });
      return { channel: channel.id, ts: message.ts, message: apiMessage(message) };
    },

    'chat.update': (args) => {
      const channel = resolveChannel(args.channel);
      const message = findMessage(channel.id, String(args.ts ?? '')) ?? fail('message_not_found');
      if (message.user !== botUserId) fail('cant_update_message');
      const stream = state.streams.get(message.ts);
      if (stream) refreshStream(stream);
      if (stream?.status === 'in_progress') fail('streaming_state_conflict');
      checkMarkdown(args);
      checkBlocks(args);
      if (args.text === undefined && args.markdown_text === undefined && args.blocks === undefined && args.attachments === undefined) fail('no_text');
      if (tooLong(args.text, updateLimit)) fail('msg_too_long');
      if (typeof args.text === 'string') message.text = args.text;
      if (typeof args.markdown_text === 'string') message.text = args.markdown_text;
      if (Array.isArray(args.blocks)) message.blocks = args.blocks as Json[];
      message.versions.push({ text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}), at: now() });
      return { channel: channel.id, ts: message.ts, text: message.text, message: apiMessage(message) };
    },

    'chat.delete': (args) => {
      const channel = resolveChannel(args.channel);
      const message = findMessage(channel.id, String(args.ts ?? '')) ?? fail('message_not_found');
      if (message.user !== botUserId) fail('cant_delete_message');
      message.deleted = true;
      return { channel: channel.id, ts: message.ts };
    },

    'chat.postEphemeral': (args) => {
      const channel = resolveChannel(args.channel);
      const user = str(args.user);
      if (!user || !state.users.has(user)) return fail('user_not_in_channel');
      checkMarkdown(args);
      if (!str(args.text) && !str(args.markdown_text) && args.blocks === undefined && args.attachments === undefined) fail('no_text');
      if (tooLong(args.text, postMessageLimit)) fail('msg_too_long');
      const messageTs = nextTs();
      state.ephemerals.push({
        channel: channel.id, user, text: String(args.text ?? args.markdown_text ?? ''), message_ts: messageTs, at: now(),
        ...(str(args.thread_ts) ? { thread_ts: args.thread_ts } : {}),
      });
      return { message_ts: messageTs };
    },

    'chat.getPermalink': (args) => {
      const channel = resolveChannel(args.channel);
      const message = findMessage(channel.id, String(args.message_ts ?? '')) ?? fail('message_not_found');
      return { channel: channel.id, permalink: `https://${teamDomain}.slack.com/archives/${channel.id}/p${message.ts.replace('.', '')}` };
    },

    'chat.startStream': (args) => {
      const channel = resolveChannel(args.channel);
      const threadTs = str(args.thread_ts) ?? fail('invalid_arguments');
      const needsRecipients = streaming.requireRecipients === 'always' || (streaming.requireRecipients === 'channels' && !channel.is_im);
      if (needsRecipients && !str(args.recipient_user_id)) fail('missing_recipient_user_id');
      if (needsRecipients && !str(args.recipient_team_id)) fail('missing_recipient_team_id');
      const chunks = streamChunks(args);
      const ts = nextTs();
      const stream: SlackStream = {
        channel: channel.id, ts, thread_ts: threadTs, recipientUserId: str(args.recipient_user_id) ?? null,
        recipientTeamId: str(args.recipient_team_id) ?? null, startedAt: now(), lastWriteAt: now(), status: 'in_progress',
        text: '', chunks: [], appends: [], tasks: new Map(), plan: null, finalBlocks: [],
      };
      state.streams.set(ts, stream);
      storeMessage({ channel: channel.id, ts, thread_ts: threadTs, user: botUserId, bot_id: botId, text: '', source: 'stream' });
      applyChunks(stream, chunks);
      return { channel: channel.id, ts };
    },

    'chat.appendStream': (args) => {
      const stream = liveStream(args, false);
      const chunks = streamChunks(args);
      if (chunks.length === 0) fail('no_text');
      stream.appends.push({ at: now(), chunks });
      applyChunks(stream, chunks);
      return { channel: stream.channel, ts: stream.ts };
    },

    'chat.stopStream': (args) => {
      const stream = liveStream(args, true);
      const chunks = streamChunks(args);
      checkBlocks(args);
      applyChunks(stream, chunks);
      if (Array.isArray(args.blocks)) stream.finalBlocks.push(...(args.blocks as Json[]));
      stream.status = 'completed';
      const message = findMessage(stream.channel, stream.ts);
      if (message && stream.finalBlocks.length > 0) message.blocks = stream.finalBlocks;
      if (message && args.metadata && typeof args.metadata === 'object') message.metadata = args.metadata as Json;
      return { channel: stream.channel, ts: stream.ts, ...(message ? { message: apiMessage(message) } : {}) };
    },

    'reactions.add': (args) => {
      const channel = resolveChannel(args.channel);
      const message = findMessage(channel.id, String(args.timestamp ?? '')) ?? fail('message_not_found');
      const name = String(args.name ?? '');
      if (!/^[a-z0-9_+'-]+(::skin-tone-[2-6])?$/.test(name)) fail('invalid_name');
      const reaction = message.reactions.find((r) => r.name === name);
      if (reaction?.users.includes(botUserId)) fail('already_reacted');
      if (reaction) reaction.users.push(botUserId);
      else message.reactions.push({ name, users: [botUserId] });
      state.reactions.push({ channel: channel.id, timestamp: message.ts, name, user: botUserId, at: now(), removed: false });
      return {};
    },

    'reactions.remove': (args) => {
      const channel = resolveChannel(args.channel);
      const message = findMessage(channel.id, String(args.timestamp ?? '')) ?? fail('message_not_found');
      const name = String(args.name ?? '');
      const reaction = message.reactions.find((r) => r.name === name && r.users.includes(botUserId));
      if (!reaction) fail('no_reaction');
      reaction.users = reaction.users.filter((u) => u !== botUserId);
      message.reactions = message.reactions.filter((r) => r.users.length > 0);
      const record = state.reactions.find((r) => r.timestamp === message.ts && r.name === name && !r.removed);
      if (record) record.removed = true;
      return {};
    },

    'conversations.info': (args) => ({ channel: resolveChannel(args.channel) }),

    'conversations.replies': (args) => {
      const channel = resolveChannel(args.channel);
      const ts = String(args.ts ?? '');
      const root = findMessage(channel.id, ts);
      const threadTs = root?.thread_ts ?? ts;
      const messages = threadOf(channel.id, threadTs);
      if (messages.length === 0) fail('thread_not_found');
      const limit = Math.min(1000, Number(args.limit ?? 1000));
      return { messages: messages.slice(0, limit).map(apiMessage), has_more: messages.length > limit, response_metadata: { next_cursor: '' } };
    },

    'conversations.history': (args) => {
      const channel = resolveChannel(args.channel);
      const limit = Math.min(1000, Number(args.limit ?? 100));
      const topLevel = (state.messages.get(channel.id) ?? []).filter((m) => !m.deleted && (!m.thread_ts || m.thread_ts === m.ts));
      const newestFirst = topLevel.reverse();
      return { messages: newestFirst.slice(0, limit).map(apiMessage), has_more: newestFirst.length > limit, response_metadata: { next_cursor: '' } };
    },

    'users.info': (args) => ({ user: state.users.get(String(args.user ?? '')) ?? fail('user_not_found') }),

    'assistant.threads.setStatus': (args) => {
      const channel = resolveChannel(args.channel_id);
      const threadTs = str(args.thread_ts) ?? fail('invalid_thread_ts');
      if (typeof args.status !== 'string') fail('invalid_arguments');
      state.statuses.push({
        channel_id: channel.id, thread_ts: threadTs, status: String(args.status), at: now(),
        ...(Array.isArray(args.loading_messages) ? { loading_messages: args.loading_messages as string[] } : {}),
      });
      return {};
    },
  };

  // ---- rate limits

  const callLog = new Map<string, number[]>();
  const injected = new Map<string, { remaining: number; retryAfterSec: number }>();

  /** Returns the Retry-After seconds when the call is over its limit, else records it and returns null. */
  function overLimit(method: string, args: Json): { key: string; retryAfterSec: number } | null {
    const forced = injected.get(method);
    if (forced && forced.remaining > 0) {
      forced.remaining -= 1;
      return { key: `${method}:injected`, retryAfterSec: forced.retryAfterSec };
    }
    const rule = rateLimits[method];
    if (!rule) return null;
    const key = rule.per === 'channel' ? `${method}:${String(args.channel ?? '')}` : method;
    const at = now();
    const recent = (callLog.get(key) ?? []).filter((t) => t > at - rule.windowMs);
    callLog.set(key, recent);
    const oldest = recent[0];
    if (recent.length >= rule.limit && oldest !== undefined) {
      return { key, retryAfterSec: Math.max(1, Math.ceil((oldest + rule.windowMs - at) / 1000)) };
    }
    recent.push(at);
    return null;
  }

  // ---- HTTP

  interface Reply {
    status: number;
    body: Json;
    headers?: Record<string, string>;
  }

  function callMethod(method: string, args: Json, authorization: string | undefined): Reply {
    const bearer = authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined;
    const token = bearer ?? str(args.token) ?? null;
    const record: SlackCall = { method, args, token, at: now(), status: 200, ok: true };
    state.calls.push(record);
    const reply = (body: Json): Reply => {
      record.ok = body.ok === true;
      if (!record.ok) record.error = String(body.error);
      return { status: 200, body };
    };
    const handler = methods[method];
    if (!handler) return reply({ ok: false, error: 'unknown_method', req_method: method });
    if (!token) return reply({ ok: false, error: 'not_authed' });
    if (token !== botToken && token !== appToken) return reply({ ok: false, error: 'invalid_auth' });
    const wantsAppToken = method === 'apps.connections.open';
    if ((token === appToken) !== wantsAppToken) return reply({ ok: false, error: 'not_allowed_token_type' });
    if (STREAM_METHODS.has(method) && streaming.rejectWith) return reply({ ok: false, error: streaming.rejectWith });
    const limited = overLimit(method, args);
    if (limited) {
      state.rateLimited += 1;
      state.rateLimitLog.push({ method, key: limited.key, retryAfterSec: limited.retryAfterSec, at: now() });
      record.status = 429;
      record.ok = false;
      record.error = 'ratelimited';
      return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'Retry-After': String(limited.retryAfterSec) } };
    }
    try {
      return reply({ ok: true, ...handler(args) });
    } catch (error) {
      if (error instanceof SlackApiError) return reply({ ok: false, error: error.code });
      throw error;
    }
  }

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', baseUrl);
    const file = hostedFiles.get(url.pathname);
    if (file && req.method === 'GET') {
      state.fileDownloads.push({ path: url.pathname, authorized: req.headers.authorization === `Bearer ${botToken}` });
      // Like Slack: without the bot token, a redirect to the sign-in page instead of the file.
      if (req.headers.authorization !== `Bearer ${botToken}`) {
        res.writeHead(302, { Location: `${baseUrl}/signin?redir=${encodeURIComponent(url.pathname)}`, 'Content-Type': 'text/html' });
        res.end('<html>sign in</html>');
        return;
      }
      if (file.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, file.delayMs));
      res.writeHead(200, { 'Content-Type': file.servedAs, 'Content-Length': String(file.bytes.length) });
      res.end(file.bytes);
      return;
    }
    const raw = (await readRawBody(req)).toString('utf8');
    let reply: Reply;
    const apiMatch = /^\/api\/([\w.]+)$/.exec(url.pathname);
    const responseUrlMatch = /^\/commands\/response\/([\w-]+)$/.exec(url.pathname);
    if (apiMatch?.[1]) {
      let args: Json;
      try {
        args = parseArgs(req.headers['content-type'] ?? '', raw, url.searchParams);
      } catch {
        args = {};
      }
      reply = callMethod(apiMatch[1], args, req.headers.authorization);
    } else if (responseUrlMatch?.[1] && req.method === 'POST') {
      let body: Json = {};
      try {
        body = raw ? (JSON.parse(raw) as Json) : {};
      } catch {
        body = { text: raw };
      }
      state.responseUrlPosts.push({ id: responseUrlMatch[1], body, at: now() });
      reply = { status: 200, body: { ok: true } };
    } else {
      reply = { status: 404, body: { ok: false, error: 'not_found' } };
    }
    res.writeHead(reply.status, { 'Content-Type': 'application/json; charset=utf-8', ...reply.headers });
    res.end(JSON.stringify(reply.body));
  }

  // ---- Socket Mode

  interface SocketConnection {
    ws: WebSocket;
    ping: NodeJS.Timeout | null;
  }
  const sockets: SocketConnection[] = [];
  let nextSocket = 0;
  const pendingAcks = new Map<string, (payload: Json | undefined) => void>();

  function onSocketConnection(ws: WebSocket): void {
    const connection: SocketConnection = { ws, ping: null };
    sockets.push(connection);
    state.socket.connections += 1;
    if (socketPingIntervalMs) {
      connection.ping = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.ping('fake-slack');
      }, socketPingIntervalMs);
      connection.ping.unref();
    }
    ws.on('message', (data: RawData) => {
      let ack: Json;
      try {
        ack = JSON.parse(data.toString()) as Json;
      } catch {
        return;
      }
      if (typeof ack.envelope_id !== 'string') return;
      state.socket.acks.push({ envelope_id: ack.envelope_id, payload: ack.payload as Json | undefined, at: now() });
      pendingAcks.get(ack.envelope_id)?.(ack.payload as Json | undefined);
      pendingAcks.delete(ack.envelope_id);
    });
    ws.on('close', () => {
      if (connection.ping) clearInterval(connection.ping);
      const index = sockets.indexOf(connection);
      if (index >= 0) sockets.splice(index, 1);
    });
    ws.send(JSON.stringify({
      type: 'hello',
      num_connections: sockets.length,
      debug_info: { host: 'fake-slack-1', build_number: 1, approximate_connection_time: 18060 },
      connection_info: { app_id: appId },
    }));
  }

  async function sendEnvelope(type: string, payload: Json, options: SocketDeliverOptions, eventId?: string): Promise<SocketDeliveryResult> {
    const ackTimeoutMs = options.ackTimeoutMs ?? 3000;
    const envelopeIds: string[] = [];
    const firstAttempt = options.retryAttempt ?? 0;
    for (let attempt = firstAttempt; attempt <= firstAttempt + (options.redeliver ?? 0); attempt += 1) {
      // Slack may deliver to any open connection of the app; rotate through them.
      const connection = await waitFor(() => {
        const open = sockets.filter((s) => s.ws.readyState === WebSocket.OPEN);
        return open.length > 0 ? open[nextSocket++ % open.length] : undefined;
      }, 5000);
      const envelopeId = randomUUID();
      envelopeIds.push(envelopeId);
      const acked = new Promise<{ payload: Json | undefined } | null>((resolve) => {
        const timer = setTimeout(() => {
          pendingAcks.delete(envelopeId);
          resolve(null);
        }, ackTimeoutMs);
        pendingAcks.set(envelopeId, (ackPayload) => {
          clearTimeout(timer);
          resolve({ payload: ackPayload });
        });
      });
      const retryReason = attempt > 0 ? (options.retryReason ?? 'timeout') : '';
      state.socket.envelopes.push({ envelope_id: envelopeId, type, retry_attempt: attempt, at: now() });
      connection.ws.send(JSON.stringify({
        envelope_id: envelopeId, payload, type, accepts_response_payload: type !== 'events_api',
        ...(type === 'events_api' ? { retry_attempt: attempt, retry_reason: retryReason } : {}),
      }));
      const ack = await acked;
      if (ack) return { acked: true, envelopeIds, ackPayload: ack.payload, ...(eventId ? { eventId } : {}) };
    }
    return { acked: false, envelopeIds, ackPayload: undefined, ...(eventId ? { eventId } : {}) };
  }

  // ---- events to the app

  function eventEnvelope(event: Json, eventId: string = `Ev${randomBytes(5).toString('hex').toUpperCase()}`): Json {
    return {
      token: verificationToken, team_id: teamId, context_team_id: teamId, context_enterprise_id: null, api_app_id: appId,
      event, type: 'event_callback', event_id: eventId, event_time: Math.floor(now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: teamId, user_id: botUserId, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false, event_context: `4-${randomBytes(8).toString('hex')}`,
    };
  }

  async function postSigned(
    url: string, body: string, contentType: string, kind: 'event' | 'command' | 'url_verification', options: DeliverOptions, eventId?: string,
  ): Promise<DeliveryResult> {
    const ackTimeoutMs = options.autoRetry?.ackTimeoutMs ?? 3000;
    const maxRetries = options.autoRetry ? (options.autoRetry.maxRetries ?? 3) : 0;
    const attempts: DeliveryResult['attempts'] = [];
    let retryNum = options.retryNum ?? 0;
    let result: DeliveryResult = { status: 0, body: '', attempts, ...(eventId ? { eventId } : {}) };
    for (;;) {
      const timestampSec = options.timestampSec ?? Math.floor(now() / 1000);
      const headers: Record<string, string> = {
        'Content-Type': contentType,
        'X-Slack-Request-Timestamp': String(timestampSec),
        'X-Slack-Signature': options.badSignature ? `v0=${'0'.repeat(64)}` : signSlackRequest(signingSecret, timestampSec, body),
        'User-Agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
      };
      if (retryNum > 0) {
        headers['X-Slack-Retry-Num'] = String(retryNum);
        headers['X-Slack-Retry-Reason'] = options.retryReason ?? 'http_timeout';
      }
      const started = now();
      let status = 0;
      let text = '';
      let timedOut = false;
      let noRetries = false;
      try {
        const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(ackTimeoutMs) });
        status = response.status;
        text = await response.text();
        noRetries = response.headers.get('x-slack-no-retries') === '1';
      } catch {
        timedOut = true;
      }
      attempts.push({ retryNum, status, timedOut, durationMs: now() - started });
      state.deliveries.push({ url, kind, retryNum, status, timedOut, at: now(), ...(eventId ? { eventId } : {}) });
      result = { status, body: text, attempts, ...(eventId ? { eventId } : {}) };
      const succeeded = status >= 200 && status < 300;
      if (succeeded || noRetries || attempts.length > maxRetries) return result;
      retryNum += 1;
      await new Promise((resolve) => setTimeout(resolve, options.autoRetry?.delayMs ?? 100));
    }
  }

  function slashCommandPayload(input: SlashCommandOptions): Record<string, string> {
    const user = addUser(input.user ?? alice);
    const channel = resolveChannel(input.channel ?? firstChannelId);
    return {
      token: verificationToken, team_id: teamId, team_domain: teamDomain, channel_id: channel.id,
      channel_name: channel.is_im ? 'directmessage' : String(channel.name), user_id: user.id, user_name: user.name,
      command: input.command, text: input.text ?? '', api_app_id: appId, is_enterprise_install: 'false',
      response_url: `${baseUrl}/commands/response/${randomUUID()}`, trigger_id: `${Date.now()}.${randomBytes(6).toString('hex')}`,
    };
  }

  // ---- servers

  const server = createServer((req, res) => {
    handleHttp(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error: `fake_slack_crashed: ${String(error)}` }));
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = new URL(req.url ?? '/', baseUrl).pathname;
    if (pathname !== '/link/' && pathname !== '/link') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onSocketConnection(ws));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // ---- test-side helpers

  /** Shared files by `url_private` path. */
  const hostedFiles = new Map<string, { servedAs: string; bytes: Buffer; delayMs: number }>();

  function hostFile(input: SharedFileInput): Json {
    const id = newId('F');
    const path = `/files-pri/${teamId}-${id}/${encodeURIComponent(input.name)}`;
    hostedFiles.set(path, { servedAs: input.servedAs ?? input.mimetype, bytes: input.bytes, delayMs: input.delayMs ?? 0 });
    return { id, name: input.name, mimetype: input.mimetype, size: input.bytes.length, url_private: `${baseUrl}${path}`, url_private_download: `${baseUrl}${path}?download=1` };
  }

  function userMessage(input: UserMessageOptions): UserMessage {
    const user = addUser(input.user ?? alice);
    const channel = input.dm ? dmChannel(user.id) : resolveChannel(input.channel ?? firstChannelId);
    const mentionTag = `<@${botUserId}>`;
    const text = input.mention && !input.text.includes(mentionTag) ? `${mentionTag} ${input.text}` : input.text;
    const ts = nextTs();
    storeMessage({ channel: channel.id, ts, user: user.id, text, source: 'user', ...(input.threadTs ? { thread_ts: input.threadTs } : {}) });
    const parent = input.threadTs ? findMessage(channel.id, input.threadTs) : undefined;
    const base: Json = {
      user: user.id, text, ts, team: teamId, channel: channel.id, event_ts: ts, client_msg_id: randomUUID(),
      blocks: [{ type: 'rich_text', block_id: randomBytes(3).toString('hex'), elements: [{ type: 'rich_text_section', elements: [{ type: 'text', text }] }] }],
      ...(input.files?.length ? { files: input.files.map(hostFile) } : {}),
      ...(input.threadTs ? { thread_ts: input.threadTs, ...(parent ? { parent_user_id: parent.user } : {}) } : {}),
    };
    return {
      channel: channel.id,
      ts,
      text,
      user,
      messageEvent: { type: 'message', ...base, channel_type: channel.is_im ? 'im' : 'channel' },
      mentionEvent: input.mention ? { type: 'app_mention', ...base } : null,
    };
  }

  return {
    apiUrl: `${baseUrl}/api/`,
    baseUrl,
    signingSecret,
    botToken,
    appToken,
    teamId,
    botUserId,
    botId,
    appId,
    channelId: firstChannelId,
    channelIds,
    users: { alice, bob },
    state,
    messages(channel, threadTs) {
      if (threadTs) return threadOf(channel, threadTs);
      return (state.messages.get(channel) ?? []).filter((m) => !m.deleted && (!m.thread_ts || m.thread_ts === m.ts));
    },
    findMessage,
    addUser,
    dmChannel,
    userMessage,
    eventEnvelope,
    deliverEvent(url, event, deliverOptions = {}) {
      const envelope = eventEnvelope(event, deliverOptions.eventId);
      return postSigned(url, JSON.stringify(envelope), 'application/json', 'event', deliverOptions, String(envelope.event_id));
    },
    deliverUrlVerification(url, deliverOptions = {}) {
      const body = JSON.stringify({ token: verificationToken, challenge: randomBytes(16).toString('hex'), type: 'url_verification' });
      return postSigned(url, body, 'application/json', 'url_verification', deliverOptions);
    },
    slashCommandPayload,
    deliverSlashCommand(url, input, deliverOptions = {}) {
      const body = new URLSearchParams(slashCommandPayload(input)).toString();
      return postSigned(url, body, 'application/x-www-form-urlencoded', 'command', deliverOptions);
    },
    deliverSocketEvent(event, deliverOptions = {}) {
      const envelope = eventEnvelope(event, deliverOptions.eventId);
      return sendEnvelope('events_api', envelope, deliverOptions, String(envelope.event_id));
    },
    deliverSocketSlashCommand(input, deliverOptions = {}) {
      return sendEnvelope('slash_commands', slashCommandPayload(input), deliverOptions);
    },
    socketDisconnect(reason = 'refresh_requested') {
      for (const { ws } of sockets) {
        ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'fake-slack-1' } }));
        setTimeout(() => ws.terminate(), 2000).unref();
      }
    },
    dropSockets() {
      for (const { ws } of [...sockets]) ws.terminate();
    },
    openSocketConnections: () => sockets.filter((s) => s.ws.readyState === WebSocket.OPEN).length,
    stopStreamAsUser(ts) {
      const stream = state.streams.get(ts);
      if (stream && stream.status === 'in_progress') stream.status = 'stopped_by_user';
    },
    expireStream(ts) {
      const stream = state.streams.get(ts);
      if (stream && stream.status === 'in_progress') stream.status = 'expired';
    },
    injectRateLimit(method, { count = 1, retryAfterSec = 1 } = {}) {
      injected.set(method, { remaining: count, retryAfterSec });
    },
    waitFor: (fn, timeoutMs) => waitFor(fn, timeoutMs),
    async close() {
      // A client that was just stopped may still be closing its socket; cutting it now makes the SDK log an error.
      const allClosed = () => sockets.length === 0;
      await waitFor(allClosed, 300).catch(() => undefined);
      for (const { ws } of sockets) ws.close(1001, 'fake slack is shutting down');
      await waitFor(allClosed, 300).catch(() => undefined);
      for (const { ws, ping } of [...sockets]) {
        if (ping) clearInterval(ping);
        ws.terminate();
      }
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

