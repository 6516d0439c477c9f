/**
 * A fake Discord for tests: REST API v10 under `/api/v10` plus the Gateway
 * WebSocket under `/gateway`, on 127.0.0.1 with a free port, good enough to
 * drive the REAL discord.js client (pass `rest: { api: fake.apiUrl }`).
 *
 * This file owns the fake's routes, its in-memory world (one guild with text
 * channels, threads, DMs, messages with full edit history, reactions,
 * webhooks, slash commands, interactions), its gateway sessions (HELLO,
 * IDENTIFY → READY + GUILD_CREATE, heartbeat ACK, RESUME with replay of missed
 * dispatches, intents filtering, MESSAGE_CONTENT stripping), the limits it
 * enforces and the `state` tests assert on.
 *
 *   const discord = await startFakeDiscord({ rateLimits: { channelMessages: { limit: 5, windowMs: 1000 } } });
 *   const client = new Client({ intents, partials: [Partials.Channel], rest: { api: discord.apiUrl } });
 *   await client.login(discord.token);
 *   discord.userMessage({ content: 'hello', mentionsBot: true });
 *   await discord.waitFor(() => discord.messages(discord.channelId).find((m) => m.author.id === discord.bot.id));
 *   await discord.close();
 *
 * Limits enforced (all configurable, see FakeDiscordOptions):
 * - message `content` ≤ 2000, counted in UTF-16 code units (JS `.length`) after
 *   trimming — the stricter reading; `lengthUnit: 'codepoints'` counts code points.
 *   Violations: 400 `{code: 50035, message: 'Invalid Form Body', errors: {content:
 *   {_errors: [{code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.'}]}}}`.
 *   Embeds: ≤10, title 256, description 4096, fields 25 (name 256, value 1024),
 *   footer 2048, author name 256, 6000 in total. Empty message: 400 code 50006.
 * - `nonce` + `enforce_nonce: true`: the same author and nonce within
 *   `nonceWindowMs` (default 5 min; Discord says "a few minutes") returns the
 *   first message instead of creating another.
 * - rate limits (fixed windows, 429 with `retry_after` float seconds, an integer
 *   `Retry-After` header and `X-RateLimit-*` headers, also on successes):
 *   `channelMessages` 5 per 5 s per channel (create/edit/delete share it),
 *   `reactions` 1 per 250 ms per channel, `webhook` 5 per 2 s per webhook,
 *   `global` 50 per s per bot (429 with `global: true`, `X-RateLimit-Global`).
 *   Interaction callbacks and interaction webhooks are not limited.
 * - interactions: the first callback must come within 3 s (else 404 code 10062),
 *   only once (else 400 code 40060); the token works for 15 min.
 * - gateway: 120 frames per 60 s per connection (else close 4008); IDENTIFY with
 *   the MESSAGE_CONTENT intent when `messageContentIntent: false` closes 4014.
 *
 * Facts relied on: ../shared/research/gateway-anchors.md §3.1 and §5.1 and
 * ../shared/research/feasibility.md §6 (discord.js discovers the gateway via
 * GET /gateway/bot, needs `session_start_limit.max_concurrency`, resumes at
 * READY's `resume_gateway_url`, drops MESSAGE_CREATE for uncached channels
 * unless `partials: [Channel]` and the payload carries `channel_type`).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { readRawBody, waitFor } from './plumbing.js';

// ---------------------------------------------------------------- public types

/** Parsed JSON as it travels on the wire. */
export type Json = Record<string, any>;

export interface DiscordUser {
  id: string;
  username: string;
  global_name: string | null;
  discriminator: string;
  avatar: string | null;
  bot?: boolean;
  public_flags?: number;
  flags?: number;
}

export type DiscordMessage = Json & { id: string; channel_id: string; content: string; author: DiscordUser; flags: number };
export type DiscordChannel = Json & { id: string; type: number };

export interface RateRule {
  limit: number;
  windowMs: number;
}

export type BucketName = 'global' | 'channelMessages' | 'reactions' | 'webhook';

export interface FakeDiscordOptions {
  /** The only bot token accepted (REST 401 / gateway close 4004 otherwise). Default: any token. */
  token?: string;
  botName?: string;
  guildName?: string;
  /** Names of the guild's text channels; the first is `fake.channelId`. Default `['general', 'random']`. */
  channelNames?: string[];
  /** HELLO's heartbeat_interval. Default 41250 (Discord's usual value). */
  heartbeatIntervalMs?: number;
  /** Maximum message content length. Default 2000. */
  contentLimit?: number;
  /** How content length is counted. Default `'utf16'` (JS `.length`, the stricter choice). */
  lengthUnit?: 'utf16' | 'codepoints';
  /** How long `enforce_nonce` remembers a nonce. Default 300000. */
  nonceWindowMs?: number;
  /** Whether the privileged MESSAGE_CONTENT intent is enabled for the app. Default true. */
  messageContentIntent?: boolean;
  /** Permissions of the bot's managed role. Default: send, embed, attach, react, manage messages/webhooks/threads, create threads. */
  botPermissions?: bigint;
  /** Deadline for the first interaction callback. Default 3000. */
  interactionAckTimeoutMs?: number;
  /** Lifetime of an interaction token for edits and follow-ups. Default 900000. */
  interactionTokenTtlMs?: number;
  /** Override or disable (null) rate-limit buckets. */
  rateLimits?: Partial<Record<BucketName, RateRule | null>>;
  /** Send X-RateLimit-* headers on successful responses (discord.js uses them to wait before a 429). Default true. */
  rateLimitHeaders?: boolean;
  /** Frames a client may send per connection. Default 120 per 60 s; null disables. */
  gatewayReceiveLimit?: RateRule | null;
  /** Dispatches kept per session for RESUME. Default 1000. */
  replayBufferSize?: number;
}

export interface StoredMessage {
  /** The current message object, as GET returns it. */
  message: DiscordMessage;
  /** Every version of content/embeds, the original first. */
  versions: Array<{ content: string; embeds: Json[]; at: number }>;
  deleted: boolean;
  source: 'bot' | 'user' | 'webhook' | 'interaction';
  webhook?: { id: string; username: string | null; avatarUrl: string | null };
  nonce?: string;
}

export interface RestCall {
  method: string;
  /** Path after `/api/v10`, without the query string. */
  path: string;
  query: string;
  status: number;
  at: number;
  body: unknown;
}

export interface InteractionRecord {
  id: string;
  token: string;
  applicationId: string;
  name: string;
  channelId: string;
  guildId: string | null;
  user: DiscordUser;
  createdAt: number;
  /** Every callback POSTed, accepted or not. */
  callbacks: Array<{ type: number; data: Json | null; at: number; status: number }>;
  acknowledgedType: number | null;
  originalMessageId: string | null;
  followupMessageIds: string[];
}

export interface FakeDiscordState {
  channels: Map<string, DiscordChannel>;
  /** Messages per channel (threads and DMs are channels), in creation order, deleted ones included. */
  messages: Map<string, StoredMessage[]>;
  reactions: Array<{ channelId: string; messageId: string; emoji: string; userId: string; at: number; removed: boolean }>;
  typing: Array<{ channelId: string; at: number }>;
  webhooks: Map<string, Json>;
  webhookPosts: Array<{ webhookId: string; channelId: string; messageId: string; username: string | null; avatarUrl: string | null; content: string; at: number }>;
  commands: { global: Json[]; guild: Map<string, Json[]> };
  interactions: Map<string, InteractionRecord>;
  /** Number of 429 responses sent. */
  rateLimited: number;
  rateLimitLog: Array<{ method: string; path: string; bucket: string; scope: string; retryAfterMs: number; at: number }>;
  /** 401/403/429 responses (Discord bans an IP after 10,000 of these in 10 minutes). */
  invalidRequests: number;
  restCalls: RestCall[];
  /** Paths of attachments downloaded from the fake's CDN, in order. */
  attachmentDownloads: string[];
  gateway: {
    connections: number;
    identifies: Array<{ intents: number; at: number }>;
    resumes: number;
    heartbeats: number;
    invalidSessions: number;
    closes: Array<{ code: number; by: 'server' | 'client'; at: number }>;
    /** Path of every WebSocket connection (`/gateway` first, `/gateway/resume` for resume_gateway_url). */
    paths: string[];
  };
}

export interface UserMessageOptions {
  content: string;
  /** Defaults to the first guild channel; ignored when `dm` is set. */
  channelId?: string;
  /** Defaults to `fake.users.alice`. */
  author?: Partial<DiscordUser>;
  /** Prefix `<@bot>` (unless already there) and list the bot in `mentions`. */
  mentionsBot?: boolean;
  /** Send as a direct message from the author to the bot. */
  dm?: boolean;
  /** Make it a reply to this message in the same channel. */
  replyTo?: string;
  /** With `bytes` (and no `url`), the file is served at its URL on the fake, as Discord's CDN serves it, after `delayMs`. */
  attachments?: Array<{ filename: string; url?: string; contentType?: string; size?: number; bytes?: Buffer; delayMs?: number }>;
}

export interface InteractionOptions {
  name: string;
  /** Options of a chat-input command; types are inferred (string 3, integer 4, boolean 5, number 10) unless given. */
  options?: Array<{ name: string; value: string | number | boolean; type?: number }>;
  channelId?: string;
  user?: Partial<DiscordUser>;
  dm?: boolean;
}

export interface FakeDiscord {
  /** `http://127.0.0.1:P/api` — discord.js `rest.api` (it appends `/v10`), or DISCORD_API_URL. */
  apiUrl: string;
  gatewayUrl: string;
  token: string;
  bot: DiscordUser;
  applicationId: string;
  guildId: string;
  /** The first text channel. */
  channelId: string;
  /** Channel ids by name. */
  channelIds: Record<string, string>;
  users: { alice: DiscordUser; bob: DiscordUser };
  state: FakeDiscordState;
  /** Live (not deleted) messages of a channel, oldest first. */
  messages(channelId: string): DiscordMessage[];
  /** All stored messages of a channel, with versions and deletion flag. */
  stored(channelId: string): StoredMessage[];
  findMessage(messageId: string): StoredMessage | undefined;
  addUser(user?: Partial<DiscordUser>): DiscordUser;
  /** Returns (creating if needed) the DM channel between the bot and a user. */
  dmChannel(userId: string): DiscordChannel;
  /** A human posts a message: stored, then MESSAGE_CREATE to every session. */
  userMessage(options: UserMessageOptions): DiscordMessage;
  /** A human runs a slash command: INTERACTION_CREATE (type 2). */
  interaction(options: InteractionOptions): InteractionRecord;
  /** Send any dispatch to every session (subject to intents). */
  dispatch(t: string, d: Json): void;
  /** Close every gateway socket with this code (4000 → discord.js resumes). `dropSessions` makes RESUME fail (op 9). */
  disconnect(code?: number, options?: { dropSessions?: boolean }): void;
  /** Send op 7 RECONNECT to every connection. */
  requestReconnect(): void;
  /** Force the next `count` matching REST requests to get a 429. */
  injectRateLimit(options?: { count?: number; retryAfterMs?: number; scope?: 'user' | 'shared' | 'global'; match?: (method: string, path: string) => boolean }): void;
  openGatewayConnections(): number;
  waitFor<T>(fn: () => T | undefined | null | false, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- constants

const API_PREFIX = /^\/api\/v(9|10)(?=\/)/;
const DISCORD_EPOCH = 1420070400000n;

const Intents = {
  Guilds: 1 << 0,
  GuildMessages: 1 << 9,
  GuildMessageReactions: 1 << 10,
  GuildMessageTyping: 1 << 11,
  DirectMessages: 1 << 12,
  DirectMessageReactions: 1 << 13,
  DirectMessageTyping: 1 << 14,
  MessageContent: 1 << 15,
} as const;

const Perm = {
  CreateInstantInvite: 1n << 0n,
  Administrator: 1n << 3n,
  AddReactions: 1n << 6n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  ManageMessages: 1n << 13n,
  EmbedLinks: 1n << 14n,
  AttachFiles: 1n << 15n,
  ReadMessageHistory: 1n << 16n,
  MentionEveryone: 1n << 17n,
  UseExternalEmojis: 1n << 18n,
  ChangeNickname: 1n << 26n,
  ManageWebhooks: 1n << 29n,
  UseApplicationCommands: 1n << 31n,
  ManageThreads: 1n << 34n,
  CreatePublicThreads: 1n << 35n,
  CreatePrivateThreads: 1n << 36n,
  SendMessagesInThreads: 1n << 38n,
} as const;

const EVERYONE_PERMISSIONS =
  Perm.CreateInstantInvite | Perm.AddReactions | Perm.ViewChannel | Perm.SendMessages | Perm.EmbedLinks |
  Perm.AttachFiles | Perm.ReadMessageHistory | Perm.UseExternalEmojis | Perm.ChangeNickname |
  Perm.UseApplicationCommands | Perm.CreatePublicThreads | Perm.SendMessagesInThreads;

const DEFAULT_BOT_PERMISSIONS =
  EVERYONE_PERMISSIONS | Perm.ManageMessages | Perm.MentionEveryone | Perm.ManageWebhooks | Perm.ManageThreads |
  Perm.CreatePrivateThreads;

const ChannelType = { GuildText: 0, DM: 1, GuildAnnouncement: 5, PublicThread: 11, PrivateThread: 12 } as const;
const MessageType = { Default: 0, Reply: 19, ChatInputCommand: 20 } as const;
const MessageFlags = { HasThread: 1 << 5, Ephemeral: 1 << 6, Loading: 1 << 7 } as const;

const DEFAULT_RATE_LIMITS: Record<BucketName, RateRule> = {
  global: { limit: 50, windowMs: 1000 },
  channelMessages: { limit: 5, windowMs: 5000 },
  reactions: { limit: 1, windowMs: 250 },
  webhook: { limit: 5, windowMs: 2000 },
};

/** Opaque bucket ids sent in X-RateLimit-Bucket; create/edit/delete share one, as they share Discord's channel budget. */
const BUCKET_HASH: Record<BucketName, string> = {
  global: 'global',
  channelMessages: 'fake0channel0messages',
  reactions: 'fake0channel0reactions',
  webhook: 'fake0webhook0execute',
};

const CLOSE_REASONS: Record<number, string> = {
  4000: 'Unknown error.',
  4001: 'Unknown opcode.',
  4004: 'Authentication failed.',
  4005: 'Already authenticated.',
  4008: 'Rate limited.',
  4014: 'Disallowed intent(s).',
};

// ---------------------------------------------------------------- small helpers

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
  ) {
    super(String(body.message));
  }
}

const errors = {
  unauthorized: () => new ApiError(401, { message: '401: Unauthorized', code: 0 }),
  notFound: () => new ApiError(404, { message: '404: Not Found', code: 0 }),
  unknownChannel: () => new ApiError(404, { message: 'Unknown Channel', code: 10003 }),
  unknownMessage: () => new ApiError(404, { message: 'Unknown Message', code: 10008 }),
  unknownUser: () => new ApiError(404, { message: 'Unknown User', code: 10013 }),
  unknownWebhook: () => new ApiError(404, { message: 'Unknown Webhook', code: 10015 }),
  unknownInteraction: () => new ApiError(404, { message: 'Unknown interaction', code: 10062 }),
  invalidWebhookToken: () => new ApiError(401, { message: 'Invalid Webhook Token', code: 50027 }),
  missingPermissions: () => new ApiError(403, { message: 'Missing Permissions', code: 50013 }),
  cannotEditOthers: () => new ApiError(403, { message: 'Cannot edit a message authored by another user', code: 50005 }),
  emptyMessage: () => new ApiError(400, { message: 'Cannot send an empty message', code: 50006 }),
  wrongChannelType: () => new ApiError(400, { message: 'Cannot execute action on this channel type', code: 50024 }),
  maxWebhooks: () => new ApiError(400, { message: 'Maximum number of webhooks reached (15)', code: 30007 }),
  alreadyAcknowledged: () => new ApiError(400, { message: 'Interaction has already been acknowledged.', code: 40060 }),
  threadExists: () => new ApiError(400, { message: 'A thread has already been created for this message', code: 160004 }),
  form: (errs: Json) => new ApiError(400, { code: 50035, message: 'Invalid Form Body', errors: errs }),
};

/** Adds `{_errors: [{code, message}]}` at a nested path of a Discord form-error object. */
function addFieldError(target: Json, path: string[], code: string, message: string): void {
  let node = target;
  for (const key of path) {
    node[key] ??= {};
    node = node[key];
  }
  (node._errors ??= []).push({ code, message });
}


interface ParsedBody {
  body: Json;
  files: Array<{ name: string; size: number; type: string }>;
}

/** JSON bodies, or multipart with `payload_json` plus `files[n]` (what discord.js sends with attachments). */
async function parseBody(req: IncomingMessage, raw: Buffer): Promise<ParsedBody> {
  if (raw.length === 0) return { body: {}, files: [] };
  const contentType = req.headers['content-type'] ?? '';
  if (contentType.startsWith('multipart/form-data')) {
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData();
    const payload = form.get('payload_json');
    const files: ParsedBody['files'] = [];
    for (const [, value] of form.entries()) {
      if (typeof value !== 'string') files.push({ name: value.name, size: value.size, type: value.type });
    }
    return { body: typeof payload === 'string' ? (JSON.parse(payload) as Json) : {}, files };
  }
  try {
    return { body: JSON.parse(raw.toString('utf8')) as Json, files: [] };
  } catch {
    throw new ApiError(400, { message: '400: Bad Request', code: 50109 });
  }
}

// ---------------------------------------------------------------- the fake

export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const token = options.token ?? 'fake-discord-token';
  const contentLimit = options.contentLimit ?? 2000;
  const lengthUnit = options.lengthUnit ?? 'utf16';
  const nonceWindowMs = options.nonceWindowMs ?? 300_000;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41_250;
  const ackTimeoutMs = options.interactionAckTimeoutMs ?? 3000;
  const tokenTtlMs = options.interactionTokenTtlMs ?? 900_000;
  const sendRateLimitHeaders = options.rateLimitHeaders ?? true;
  const replayBufferSize = options.replayBufferSize ?? 1000;
  const gatewayReceiveLimit = options.gatewayReceiveLimit === undefined ? { limit: 120, windowMs: 60_000 } : options.gatewayReceiveLimit;
  const messageContentIntentEnabled = options.messageContentIntent ?? true;
  const botPermissions = options.botPermissions ?? DEFAULT_BOT_PERMISSIONS;
  const rateLimits: Record<BucketName, RateRule | null> = { ...DEFAULT_RATE_LIMITS, ...options.rateLimits };

  // ---- ids
  let lastSnowflake = 0n;
  function snowflake(): string {
    let id = ((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | (1n << 17n);
    if (id <= lastSnowflake) id = lastSnowflake + 1n;
    lastSnowflake = id;
    return id.toString();
  }
  const now = () => Date.now();
  const iso = (ms = now()) => new Date(ms).toISOString();
  const measure = (text: string) => (lengthUnit === 'utf16' ? text.length : [...text].length);

  // ---- the world
  const users = new Map<string, DiscordUser>();
  function addUser(partial: Partial<DiscordUser> = {}): DiscordUser {
    const existing = partial.id ? users.get(partial.id) : undefined;
    if (existing) return existing;
    const user: DiscordUser = {
      id: partial.id ?? snowflake(),
      username: partial.username ?? `user${users.size}`,
      global_name: partial.global_name ?? partial.username ?? null,
      discriminator: partial.discriminator ?? '0',
      avatar: partial.avatar ?? null,
      bot: partial.bot ?? false,
      public_flags: 0,
      flags: 0,
    };
    users.set(user.id, user);
    return user;
  }

  const applicationId = snowflake();
  const bot = addUser({ id: applicationId, username: options.botName ?? 'Conclave', global_name: null, discriminator: '0001', bot: true });
  const alice = addUser({ username: 'alice' });
  const bobUser = addUser({ username: 'bob' });
  const ownerId = alice.id;

  const guildId = snowflake();
  const guildName = options.guildName ?? 'Fake Guild';
  const botRoleId = snowflake();
  const roles: Json[] = [
    role(guildId, '@everyone', EVERYONE_PERMISSIONS, 0, false),
    { ...role(botRoleId, options.botName ?? 'Conclave', botPermissions, 1, true), tags: { bot_id: bot.id } },
  ];
  const guildJoinedAt = iso();

  function role(id: string, name: string, permissions: bigint, position: number, managed: boolean): Json {
    return {
      id, name, color: 0, colors: { primary_color: 0, secondary_color: null, tertiary_color: null }, hoist: false,
      icon: null, unicode_emoji: null, position, permissions: permissions.toString(), managed, mentionable: false, flags: 0,
    };
  }

  const state: FakeDiscordState = {
    channels: new Map(),
    messages: new Map(),
    reactions: [],
    typing: [],
    webhooks: new Map(),
    webhookPosts: [],
    commands: { global: [], guild: new Map() },
    interactions: new Map(),
    rateLimited: 0,
    rateLimitLog: [],
    invalidRequests: 0,
    restCalls: [],
    attachmentDownloads: [],
    gateway: { connections: 0, identifies: [], resumes: 0, heartbeats: 0, invalidSessions: 0, closes: [], paths: [] },
  };

  /** Attachments served by the fake's CDN, by path. */
  const hostedAttachments = new Map<string, { contentType: string; bytes: Buffer; delayMs: number }>();

  const channelIds: Record<string, string> = {};
  (options.channelNames ?? ['general', 'random']).forEach((name, position) => {
    const id = snowflake();
    channelIds[name] = id;
    state.channels.set(id, {
      id, type: ChannelType.GuildText, guild_id: guildId, name, position, permission_overwrites: [], parent_id: null,
      topic: null, nsfw: false, last_message_id: null, rate_limit_per_user: 0, flags: 0,
    });
  });
  const firstChannelId = Object.values(channelIds)[0];
  if (!firstChannelId) throw new Error('startFakeDiscord: channelNames must not be empty');

  const messageIndex = new Map<string, StoredMessage>();
  const nonces = new Map<string, { messageId: string; at: number }>();

  function member(user: DiscordUser, roleIds: string[] = []): Json {
    return {
      user, roles: roleIds, nick: null, avatar: null, banner: null, joined_at: guildJoinedAt, premium_since: null,
      deaf: false, mute: false, flags: 0, pending: false, communication_disabled_until: null,
    };
  }
  const memberOf = (user: DiscordUser) => member(user, user.id === bot.id ? [botRoleId] : []);
  const partialMember = (user: DiscordUser) => {
    const { user: _omit, ...rest } = memberOf(user);
    return rest;
  };

  function guildObject(): Json {
    const guildChannels = [...state.channels.values()].filter((c) => c.guild_id === guildId);
    return {
      id: guildId, name: guildName, icon: null, splash: null, discovery_splash: null, owner_id: ownerId,
      afk_channel_id: null, afk_timeout: 300, verification_level: 0, default_message_notifications: 0,
      explicit_content_filter: 0, roles, emojis: [], features: [], mfa_level: 0, application_id: null,
      system_channel_id: null, system_channel_flags: 0, rules_channel_id: null, max_members: 500000,
      vanity_url_code: null, description: null, banner: null, premium_tier: 0, premium_subscription_count: 0,
      preferred_locale: 'en-US', public_updates_channel_id: null, nsfw_level: 0, premium_progress_bar_enabled: false,
      safety_alerts_channel_id: null, stickers: [], joined_at: guildJoinedAt, large: false, unavailable: false,
      member_count: 3, voice_states: [], members: [memberOf(bot), memberOf(alice), memberOf(bobUser)],
      channels: guildChannels.filter((c) => !isThread(c)),
      threads: guildChannels.filter((c) => isThread(c) && !c.thread_metadata?.archived),
      presences: [], stage_instances: [], guild_scheduled_events: [], soundboard_sounds: [], lazy: true,
    };
  }

  const isThread = (c: DiscordChannel) => c.type === ChannelType.PublicThread || c.type === ChannelType.PrivateThread;

  function hasPermission(channel: DiscordChannel, bit: bigint): boolean {
    if (channel.type === ChannelType.DM) return true;
    const granted = EVERYONE_PERMISSIONS | botPermissions;
    return (granted & Perm.Administrator) !== 0n || (granted & bit) === bit;
  }

  function requireChannel(channelId: string): DiscordChannel {
    const channel = state.channels.get(channelId);
    if (!channel) throw errors.unknownChannel();
    return channel;
  }

  function requireMessage(channelId: string, messageId: string): StoredMessage {
    const stored = messageIndex.get(messageId);
    if (!stored || stored.deleted || stored.message.channel_id !== channelId) throw errors.unknownMessage();
    return stored;
  }

  function dmChannel(userId: string): DiscordChannel {
    for (const channel of state.channels.values()) {
      if (channel.type === ChannelType.DM && channel.recipients?.[0]?.id === userId) return channel;
    }
    const user = users.get(userId);
    if (!user) throw errors.unknownUser();
    const channel: DiscordChannel = { id: snowflake(), type: ChannelType.DM, last_message_id: null, flags: 0, recipients: [user] };
    state.channels.set(channel.id, channel);
    return channel;
  }

  // ---- messages

  function mentionsIn(content: string): DiscordUser[] {
    const found: DiscordUser[] = [];
    for (const match of content.matchAll(/<@!?(\d+)>/g)) {
      const user = match[1] ? users.get(match[1]) : undefined;
      if (user && !found.includes(user)) found.push(user);
    }
    return found;
  }

  function normalizeEmbeds(embeds: unknown): Json[] {
    if (!Array.isArray(embeds)) return [];
    return embeds.map((embed: Json) => ({ type: 'rich', ...embed }));
  }

  interface NewMessage {
    channelId: string;
    author: DiscordUser;
    content: string;
    embeds?: Json[];
    attachments?: Json[];
    source: StoredMessage['source'];
    type?: number;
    flags?: number;
    reference?: { message_id: string; channel_id?: string };
    nonce?: string;
    tts?: boolean;
    webhookId?: string;
    webhook?: StoredMessage['webhook'];
    interaction?: InteractionRecord;
    /** Extra mentions (e.g. the bot for a user message that mentions it). */
    mentions?: DiscordUser[];
    dispatch?: boolean;
  }

  function createMessage(input: NewMessage): StoredMessage {
    const channel = requireChannel(input.channelId);
    const id = snowflake();
    const mentions = [...(input.mentions ?? [])];
    for (const user of mentionsIn(input.content)) if (!mentions.includes(user)) mentions.push(user);
    const referenced = input.reference ? messageIndex.get(input.reference.message_id) : undefined;
    const message: DiscordMessage = {
      id,
      channel_id: channel.id,
      type: input.type ?? (referenced ? MessageType.Reply : MessageType.Default),
      content: input.content,
      author: input.author,
      timestamp: iso(),
      edited_timestamp: null,
      tts: input.tts ?? false,
      mention_everyone: false,
      mentions,
      mention_roles: [],
      attachments: input.attachments ?? [],
      embeds: input.embeds ?? [],
      components: [],
      pinned: false,
      flags: input.flags ?? 0,
    };
    if (input.nonce !== undefined) message.nonce = input.nonce;
    if (input.webhookId) message.webhook_id = input.webhookId;
    if (input.source === 'bot' || input.source === 'interaction') message.application_id = applicationId;
    if (referenced) {
      message.message_reference = { type: 0, message_id: referenced.message.id, channel_id: channel.id, ...(channel.guild_id ? { guild_id: channel.guild_id } : {}) };
      message.referenced_message = referenced.message;
    }
    if (input.interaction) {
      const interaction = input.interaction;
      message.interaction_metadata = {
        id: interaction.id, type: 2, user: interaction.user, name: interaction.name, command_type: 1,
        authorizing_integration_owners: interaction.guildId ? { '0': interaction.guildId } : { '1': interaction.user.id },
      };
      message.interaction = { id: interaction.id, type: 2, name: interaction.name, user: interaction.user };
    }
    if (isThread(channel)) {
      channel.message_count = (channel.message_count ?? 0) + 1;
      channel.total_message_sent = (channel.total_message_sent ?? 0) + 1;
      message.position = channel.total_message_sent - 1;
    }
    channel.last_message_id = id;
    const stored: StoredMessage = {
      message,
      versions: [{ content: message.content, embeds: message.embeds as Json[], at: now() }],
      deleted: false,
      source: input.source,
      ...(input.webhook ? { webhook: input.webhook } : {}),
      ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
    };
    messageIndex.set(id, stored);
    const list = state.messages.get(channel.id) ?? [];
    list.push(stored);
    state.messages.set(channel.id, list);
    const ephemeral = (message.flags & MessageFlags.Ephemeral) !== 0;
    if (input.dispatch !== false && !ephemeral) dispatch('MESSAGE_CREATE', gatewayMessage(message));
    return stored;
  }

  function editMessage(stored: StoredMessage, body: Json): void {
    const message = stored.message;
    if (typeof body.content === 'string' || body.content === null) {
      message.content = body.content ?? '';
      message.mentions = mentionsIn(message.content);
    }
    if (body.embeds !== undefined) message.embeds = normalizeEmbeds(body.embeds);
    if (typeof body.flags === 'number') message.flags = body.flags | (message.flags & MessageFlags.HasThread);
    message.flags &= ~MessageFlags.Loading;
    message.edited_timestamp = iso();
    stored.versions.push({ content: message.content, embeds: message.embeds as Json[], at: now() });
    if ((message.flags & MessageFlags.Ephemeral) === 0) dispatch('MESSAGE_UPDATE', gatewayMessage(message));
  }

  function deleteMessage(stored: StoredMessage): void {
    stored.deleted = true;
    const channel = state.channels.get(stored.message.channel_id);
    dispatch('MESSAGE_DELETE', { id: stored.message.id, channel_id: stored.message.channel_id, ...(channel?.guild_id ? { guild_id: channel.guild_id } : {}) });
  }

  /** The message as a gateway dispatch carries it: guild_id, member, channel_type, mentions with members. */
  function gatewayMessage(message: DiscordMessage): Json {
    const channel = state.channels.get(message.channel_id);
    const inGuild = Boolean(channel?.guild_id);
    const payload: Json = { ...message, channel_type: channel?.type ?? 0 };
    if (inGuild) {
      payload.guild_id = channel?.guild_id;
      if (!message.webhook_id) payload.member = partialMember(message.author);
      payload.mentions = (message.mentions as DiscordUser[]).map((user) => ({ ...user, member: partialMember(user) }));
    }
    return payload;
  }

  /** Checks content/embeds/nonce; returns Discord's nested form errors or null. */
  function validatePayload(body: Json): Json | null {
    const errs: Json = {};
    if (body.content !== undefined && body.content !== null) {
      if (typeof body.content !== 'string') addFieldError(errs, ['content'], 'STRING_TYPE_CONVERT', 'Could not interpret the value as string.');
      else if (measure(body.content.trim()) > contentLimit) {
        addFieldError(errs, ['content'], 'BASE_TYPE_MAX_LENGTH', `Must be ${contentLimit} or fewer in length.`);
      }
    }
    if (Array.isArray(body.embeds)) {
      if (body.embeds.length > 10) addFieldError(errs, ['embeds'], 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
      let total = 0;
      body.embeds.forEach((embed: Json, index: number) => {
        const at = ['embeds', String(index)];
        const check = (value: unknown, path: string[], max: number) => {
          if (typeof value !== 'string') return;
          total += measure(value);
          if (measure(value) > max) addFieldError(errs, [...at, ...path], 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
        };
        check(embed.title, ['title'], 256);
        check(embed.description, ['description'], 4096);
        check(embed.footer?.text, ['footer', 'text'], 2048);
        check(embed.author?.name, ['author', 'name'], 256);
        const fields: Json[] = Array.isArray(embed.fields) ? embed.fields : [];
        if (fields.length > 25) addFieldError(errs, [...at, 'fields'], 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
        fields.forEach((field, i) => {
          check(field.name, ['fields', String(i), 'name'], 256);
          check(field.value, ['fields', String(i), 'value'], 1024);
        });
      });
      if (total > 6000) addFieldError(errs, ['embeds'], 'MAX_EMBED_SIZE_EXCEEDED', 'Embed size exceeds maximum size of 6000');
    }
    if (body.nonce !== undefined && body.nonce !== null && String(body.nonce).length > 25) {
      addFieldError(errs, ['nonce'], 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
    }
    if (body.username !== undefined && body.username !== null) {
      const name = String(body.username);
      if (name.length < 1 || name.length > 80) addFieldError(errs, ['username'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 80 in length.');
      else if (/clyde|discord/i.test(name)) addFieldError(errs, ['username'], 'USERNAME_INVALID_CONTAINS', 'Username cannot contain "discord"');
    }
    return Object.keys(errs).length > 0 ? errs : null;
  }

  function attachmentsFrom(channelId: string, files: ParsedBody['files']): Json[] {
    return files.map((file) => {
      const id = snowflake();
      return {
        id, filename: file.name, size: file.size, content_type: file.type || 'application/octet-stream',
        url: `${baseUrl}/attachments/${channelId}/${id}/${encodeURIComponent(file.name)}`,
        proxy_url: `${baseUrl}/attachments/${channelId}/${id}/${encodeURIComponent(file.name)}`,
      };
    });
  }

  /** Shared by channel sends, webhook executes and interaction responses. */
  function checkNewMessage(body: Json, files: ParsedBody['files']): void {
    const formErrors = validatePayload(body);
    if (formErrors) throw errors.form(formErrors);
    const hasContent = typeof body.content === 'string' && body.content.trim().length > 0;
    const hasOther = (Array.isArray(body.embeds) && body.embeds.length > 0) || files.length > 0 ||
      (Array.isArray(body.sticker_ids) && body.sticker_ids.length > 0) ||
      (Array.isArray(body.components) && body.components.length > 0) || Boolean(body.poll);
    if (!hasContent && !hasOther) throw errors.emptyMessage();
  }

  // ---- threads

  function createThread(parent: DiscordChannel, body: Json, starter: StoredMessage | null): DiscordChannel {
    if (parent.type !== ChannelType.GuildText && parent.type !== ChannelType.GuildAnnouncement) throw errors.wrongChannelType();
    const type = starter ? (parent.type === ChannelType.GuildAnnouncement ? 10 : ChannelType.PublicThread) : Number(body.type ?? ChannelType.PrivateThread);
    if (!hasPermission(parent, type === ChannelType.PrivateThread ? Perm.CreatePrivateThreads : Perm.CreatePublicThreads)) throw errors.missingPermissions();
    const name = typeof body.name === 'string' ? body.name : '';
    const formErrors: Json = {};
    if (name.length < 1 || name.length > 100) addFieldError(formErrors, ['name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    const autoArchive = Number(body.auto_archive_duration ?? 4320);
    if (![60, 1440, 4320, 10080].includes(autoArchive)) addFieldError(formErrors, ['auto_archive_duration'], 'BASE_TYPE_CHOICES', 'Value must be one of {60, 1440, 4320, 10080}.');
    if (Object.keys(formErrors).length > 0) throw errors.form(formErrors);
    const id = starter ? starter.message.id : snowflake();
    const created = iso();
    const thread: DiscordChannel = {
      id, type, guild_id: parent.guild_id, parent_id: parent.id, owner_id: bot.id, name, last_message_id: null,
      rate_limit_per_user: Number(body.rate_limit_per_user ?? 0), message_count: 0, member_count: 1, total_message_sent: 0,
      flags: 0,
      thread_metadata: { archived: false, auto_archive_duration: autoArchive, archive_timestamp: created, locked: false, create_timestamp: created, ...(type === ChannelType.PrivateThread ? { invitable: body.invitable ?? true } : {}) },
      member: { id, user_id: bot.id, join_timestamp: created, flags: 0 },
    };
    state.channels.set(id, thread);
    if (starter) {
      starter.message.flags |= MessageFlags.HasThread;
      starter.message.thread = thread;
    }
    dispatch('THREAD_CREATE', { ...thread, newly_created: true });
    return thread;
  }

  // ---- rate limits

  interface Window { count: number; resetAt: number }
  const windows = new Map<string, Window>();
  const injected: Array<{ remaining: number; retryAfterMs: number; scope: 'user' | 'shared' | 'global'; match?: (method: string, path: string) => boolean }> = [];

  type Take = { ok: true; headers: Record<string, string> } | { ok: false; retryAfterMs: number; headers: Record<string, string> };

  function take(bucket: BucketName, key: string): Take {
    const rule = rateLimits[bucket];
    if (!rule) return { ok: true, headers: {} };
    const at = now();
    const id = `${bucket}:${key}`;
    let window = windows.get(id);
    if (!window || at >= window.resetAt) {
      window = { count: 0, resetAt: at + rule.windowMs };
      windows.set(id, window);
    }
    const resetAfterMs = window.resetAt - at;
    const limited = window.count >= rule.limit;
    if (!limited) window.count += 1;
    const headers: Record<string, string> = bucket === 'global' ? {} : {
      'X-RateLimit-Limit': String(rule.limit),
      'X-RateLimit-Remaining': String(rule.limit - window.count),
      'X-RateLimit-Reset': (window.resetAt / 1000).toFixed(3),
      'X-RateLimit-Reset-After': (resetAfterMs / 1000).toFixed(3),
      'X-RateLimit-Bucket': BUCKET_HASH[bucket],
    };
    return limited ? { ok: false, retryAfterMs: resetAfterMs, headers } : { ok: true, headers };
  }

  function tooManyRequests(method: string, path: string, bucket: string, scope: 'user' | 'shared' | 'global', retryAfterMs: number, headers: Record<string, string>): Reply {
    state.rateLimited += 1;
    if (scope !== 'shared') state.invalidRequests += 1;
    state.rateLimitLog.push({ method, path, bucket, scope, retryAfterMs, at: now() });
    const global = scope === 'global';
    return {
      status: 429,
      headers: {
        ...headers,
        'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
        'X-RateLimit-Scope': scope,
        ...(global ? { 'X-RateLimit-Global': 'true' } : {}),
      },
      body: { message: 'You are being rate limited.', retry_after: Math.round(retryAfterMs) / 1000, global },
    };
  }

  // ---- interactions

  function interactionByToken(interactionToken: string): InteractionRecord | undefined {
    for (const record of state.interactions.values()) if (record.token === interactionToken) return record;
    return undefined;
  }

  function requireLiveToken(record: InteractionRecord): void {
    if (now() - record.createdAt > tokenTtlMs) throw errors.invalidWebhookToken();
  }

  // ---- gateway

  interface Session {
    id: string;
    seq: number;
    intents: number;
    shard: [number, number];
    buffer: Array<{ s: number; frame: string }>;
    socket: WebSocket | null;
    ended: boolean;
  }
  interface Connection {
    ws: WebSocket;
    session: Session | null;
    frames: Window;
    closedByServer: boolean;
  }
  const sessions = new Map<string, Session>();
  const connections = new Set<Connection>();

  function intentFor(t: string, d: Json): number | null {
    const inGuild = Boolean(d.guild_id);
    switch (t) {
      case 'MESSAGE_CREATE':
      case 'MESSAGE_UPDATE':
      case 'MESSAGE_DELETE':
        return inGuild ? Intents.GuildMessages : Intents.DirectMessages;
      case 'MESSAGE_REACTION_ADD':
      case 'MESSAGE_REACTION_REMOVE':
        return inGuild ? Intents.GuildMessageReactions : Intents.DirectMessageReactions;
      case 'TYPING_START':
        return inGuild ? Intents.GuildMessageTyping : Intents.DirectMessageTyping;
      case 'GUILD_CREATE':
      case 'CHANNEL_CREATE':
      case 'CHANNEL_UPDATE':
      case 'THREAD_CREATE':
      case 'THREAD_UPDATE':
      case 'THREAD_DELETE':
        return Intents.Guilds;
      default:
        return null;
    }
  }

  /** Without MESSAGE_CONTENT, guild messages arrive empty unless they mention the bot or are its own. */
  function withoutContent(t: string, d: Json, intents: number): Json {
    if (t !== 'MESSAGE_CREATE' && t !== 'MESSAGE_UPDATE') return d;
    if ((intents & Intents.MessageContent) !== 0 || !d.guild_id) return d;
    if (d.author?.id === bot.id || (d.mentions as Json[] | undefined)?.some((u) => u.id === bot.id)) return d;
    return { ...d, content: '', embeds: [], attachments: [], components: [] };
  }

  function sendToSession(session: Session, t: string, d: Json): void {
    session.seq += 1;
    const frame = JSON.stringify({ op: 0, t, s: session.seq, d });
    session.buffer.push({ s: session.seq, frame });
    if (session.buffer.length > replayBufferSize) session.buffer.shift();
    if (session.socket?.readyState === WebSocket.OPEN) session.socket.send(frame);
  }

  function dispatch(t: string, d: Json): void {
    for (const session of sessions.values()) {
      if (session.ended) continue;
      const intent = intentFor(t, d);
      if (intent !== null && (session.intents & intent) === 0) continue;
      sendToSession(session, t, withoutContent(t, d, session.intents));
    }
  }

  function closeConnection(connection: Connection, code: number): void {
    connection.closedByServer = true;
    state.gateway.closes.push({ code, by: 'server', at: now() });
    connection.ws.close(code, CLOSE_REASONS[code] ?? 'Closed by the fake.');
  }

  function onGatewayFrame(connection: Connection, raw: RawData): void {
    if (gatewayReceiveLimit) {
      const at = now();
      if (at >= connection.frames.resetAt) connection.frames = { count: 0, resetAt: at + gatewayReceiveLimit.windowMs };
      connection.frames.count += 1;
      if (connection.frames.count > gatewayReceiveLimit.limit) return closeConnection(connection, 4008);
    }
    let payload: Json;
    try {
      payload = JSON.parse(raw.toString()) as Json;
    } catch {
      return closeConnection(connection, 4002);
    }
    const d: Json = payload.d ?? {};
    switch (payload.op) {
      case 1: {
        state.gateway.heartbeats += 1;
        connection.ws.send(JSON.stringify({ op: 11 }));
        return;
      }
      case 2: {
        if (connection.session) return closeConnection(connection, 4005);
        if (options.token !== undefined && d.token !== options.token) return closeConnection(connection, 4004);
        const intents = Number(d.intents ?? 0);
        if ((intents & Intents.MessageContent) !== 0 && !messageContentIntentEnabled) return closeConnection(connection, 4014);
        state.gateway.identifies.push({ intents, at: now() });
        const shard: [number, number] = Array.isArray(d.shard) ? [Number(d.shard[0]), Number(d.shard[1])] : [0, 1];
        const session: Session = { id: randomBytes(16).toString('hex'), seq: 0, intents, shard, buffer: [], socket: connection.ws, ended: false };
        sessions.set(session.id, session);
        connection.session = session;
        sendToSession(session, 'READY', {
          v: 10,
          user: { ...bot, verified: true, mfa_enabled: false, email: null },
          guilds: [{ id: guildId, unavailable: true }],
          session_id: session.id,
          session_type: 'normal',
          resume_gateway_url: resumeGatewayUrl,
          shard,
          application: { id: applicationId, flags: 0 },
          private_channels: [],
          relationships: [],
          presences: [],
          guild_join_requests: [],
          geo_ordered_rtc_regions: [],
          user_settings: {},
          auth: {},
          _trace: ['["fake-discord",{"micros":0}]'],
        });
        if ((intents & Intents.Guilds) !== 0) sendToSession(session, 'GUILD_CREATE', guildObject());
        return;
      }
      case 6: {
        const session = typeof d.session_id === 'string' ? sessions.get(d.session_id) : undefined;
        const fromSeq = Number(d.seq ?? 0);
        const oldest = session?.buffer[0]?.s ?? 1;
        if (options.token !== undefined && d.token !== options.token) return closeConnection(connection, 4004);
        if (!session || session.ended || fromSeq < oldest - 1) {
          state.gateway.invalidSessions += 1;
          connection.ws.send(JSON.stringify({ op: 9, d: false }));
          return;
        }
        if (session.socket && session.socket !== connection.ws && session.socket.readyState === WebSocket.OPEN) session.socket.close(4000);
        session.socket = connection.ws;
        connection.session = session;
        state.gateway.resumes += 1;
        for (const entry of session.buffer) if (entry.s > fromSeq) connection.ws.send(entry.frame);
        sendToSession(session, 'RESUMED', { _trace: ['["fake-discord",{"micros":0}]'] });
        return;
      }
      case 3: // presence update
      case 4: // voice state update
      case 8: // request guild members
        return;
      default:
        return closeConnection(connection, 4001);
    }
  }

  // ---- HTTP plumbing

  interface Request {
    method: string;
    path: string;
    params: Record<string, string>;
    query: URLSearchParams;
    headers: IncomingMessage['headers'];
    body: Json;
    files: ParsedBody['files'];
  }
  interface Reply {
    status: number;
    body?: unknown;
    headers?: Record<string, string>;
  }
  interface Route {
    method: string;
    pattern: RegExp;
    keys: string[];
    /** false for routes authenticated by a token in the URL (webhooks, interactions). */
    botAuth: boolean;
    bucket?: (req: Request) => { name: BucketName; key: string } | null;
    handle: (req: Request) => Reply | Promise<Reply>;
  }
  const routes: Route[] = [];
  function route(method: string, path: string, handle: Route['handle'], extra: { botAuth?: boolean; bucket?: Route['bucket'] } = {}): void {
    const keys: string[] = [];
    const pattern = new RegExp(`^${path.replace(/:(\w+)/g, (_m, key: string) => {
      keys.push(key);
      return '([^/]+)';
    })}$`);
    routes.push({ method, pattern, keys, botAuth: extra.botAuth ?? true, handle, ...(extra.bucket ? { bucket: extra.bucket } : {}) });
  }
  const ok = (body: unknown, status = 200): Reply => ({ status, body });
  const noContent = (): Reply => ({ status: 204 });
  const channelBucket = (name: BucketName) => (req: Request) => ({ name, key: req.params.channelId ?? '' });

  // gateway discovery and identity
  route('GET', '/gateway', () => ok({ url: gatewayUrl }));
  route('GET', '/gateway/bot', () => ok({
    url: gatewayUrl,
    shards: 1,
    session_start_limit: { total: 1000, remaining: Math.max(0, 1000 - state.gateway.identifies.length), reset_after: 86_400_000, max_concurrency: 1 },
  }));
  route('GET', '/users/@me', () => ok({ ...bot, verified: true, mfa_enabled: false }));
  route('GET', '/users/:userId', (req) => {
    const user = users.get(req.params.userId ?? '');
    if (!user) throw errors.unknownUser();
    return ok(user);
  });
  route('POST', '/users/@me/channels', (req) => ok(dmChannel(String(req.body.recipient_id ?? ''))));
  const application = () => ({
    id: applicationId, name: bot.username, icon: null, description: '', bot_public: true, bot_require_code_grant: false,
    flags: 0, verify_key: '0'.repeat(64), team: null, owner: alice, bot, summary: '', type: null,
  });
  route('GET', '/applications/@me', () => ok(application()));
  route('GET', '/oauth2/applications/@me', () => ok(application()));

  // guild
  route('GET', '/guilds/:guildId', (req) => {
    if (req.params.guildId !== guildId) throw new ApiError(404, { message: 'Unknown Guild', code: 10004 });
    const { channels: _c, threads: _t, members: _m, presences: _p, voice_states: _v, ...guild } = guildObject();
    return ok(guild);
  });
  route('GET', '/guilds/:guildId/channels', () => ok(guildObject().channels));
  route('GET', '/guilds/:guildId/members/:userId', (req) => {
    const user = users.get(req.params.userId ?? '');
    if (!user) throw new ApiError(404, { message: 'Unknown Member', code: 10007 });
    return ok(memberOf(user));
  });

  // channels and messages
  route('GET', '/channels/:channelId', (req) => ok(requireChannel(req.params.channelId ?? '')));
  route('GET', '/channels/:channelId/messages', (req) => {
    const channel = requireChannel(req.params.channelId ?? '');
    const limit = Math.min(100, Math.max(1, Number(req.query.get('limit') ?? 50)));
    const before = req.query.get('before');
    const after = req.query.get('after');
    let list = (state.messages.get(channel.id) ?? []).filter((s) => !s.deleted && (s.message.flags & MessageFlags.Ephemeral) === 0).map((s) => s.message);
    if (before) list = list.filter((m) => BigInt(m.id) < BigInt(before));
    if (after) list = list.filter((m) => BigInt(m.id) > BigInt(after));
    // Newest first, as Discord returns them (with `after`, the oldest page after it).
    const page = after ? list.slice(0, limit) : list.slice(-limit);
    return ok(page.reverse());
  });
  route('GET', '/channels/:channelId/messages/:messageId', (req) => ok(requireMessage(req.params.channelId ?? '', req.params.messageId ?? '').message));
  route('POST', '/channels/:channelId/messages', (req) => {
    const channel = requireChannel(req.params.channelId ?? '');
    if (!hasPermission(channel, isThread(channel) ? Perm.SendMessagesInThreads : Perm.SendMessages)) throw errors.missingPermissions();
    const body = req.body;
    checkNewMessage(body, req.files);
    const nonce = body.nonce === undefined || body.nonce === null ? undefined : String(body.nonce);
    if (nonce !== undefined && body.enforce_nonce === true) {
      const seen = nonces.get(`${bot.id}:${nonce}`);
      const previous = seen && now() - seen.at < nonceWindowMs ? messageIndex.get(seen.messageId) : undefined;
      if (previous) return ok(previous.message);
    }
    const reference = body.message_reference as Json | undefined;
    if (reference?.message_id) {
      const target = messageIndex.get(String(reference.message_id));
      if ((!target || target.deleted) && reference.fail_if_not_exists !== false) {
        const errs: Json = {};
        addFieldError(errs, ['message_reference'], 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', 'Unknown message');
        throw errors.form(errs);
      }
    }
    const stored = createMessage({
      channelId: channel.id,
      author: bot,
      content: typeof body.content === 'string' ? body.content : '',
      embeds: normalizeEmbeds(body.embeds),
      attachments: attachmentsFrom(channel.id, req.files),
      source: 'bot',
      flags: Number(body.flags ?? 0) & ~MessageFlags.Ephemeral,
      tts: body.tts === true,
      ...(reference?.message_id && messageIndex.get(String(reference.message_id)) ? { reference: { message_id: String(reference.message_id) } } : {}),
      ...(nonce !== undefined ? { nonce } : {}),
    });
    if (nonce !== undefined) nonces.set(`${bot.id}:${nonce}`, { messageId: stored.message.id, at: now() });
    return ok(stored.message);
  }, { bucket: channelBucket('channelMessages') });
  route('PATCH', '/channels/:channelId/messages/:messageId', (req) => {
    const stored = requireMessage(req.params.channelId ?? '', req.params.messageId ?? '');
    if (stored.message.author.id !== bot.id || stored.message.webhook_id) {
      // Others' messages: only flags (suppress embeds) may change, and that needs Manage Messages.
      if (req.body.content !== undefined || req.body.embeds !== undefined) throw errors.cannotEditOthers();
    }
    const formErrors = validatePayload(req.body);
    if (formErrors) throw errors.form(formErrors);
    editMessage(stored, req.body);
    return ok(stored.message);
  }, { bucket: channelBucket('channelMessages') });
  route('DELETE', '/channels/:channelId/messages/:messageId', (req) => {
    const stored = requireMessage(req.params.channelId ?? '', req.params.messageId ?? '');
    const channel = requireChannel(stored.message.channel_id);
    if (stored.message.author.id !== bot.id && !hasPermission(channel, Perm.ManageMessages)) throw errors.missingPermissions();
    deleteMessage(stored);
    return noContent();
  }, { bucket: channelBucket('channelMessages') });
  route('POST', '/channels/:channelId/typing', (req) => {
    const channel = requireChannel(req.params.channelId ?? '');
    state.typing.push({ channelId: channel.id, at: now() });
    return noContent();
  });
  const reactionRoute = (add: boolean) => (req: Request): Reply => {
    const stored = requireMessage(req.params.channelId ?? '', req.params.messageId ?? '');
    const channel = requireChannel(stored.message.channel_id);
    if (add && !hasPermission(channel, Perm.AddReactions)) throw errors.missingPermissions();
    const emoji = decodeURIComponent(req.params.emoji ?? '');
    const [name, id] = emoji.includes(':') ? emoji.split(':') : [emoji, null];
    const mine = state.reactions.find((r) => r.messageId === stored.message.id && r.emoji === emoji && r.userId === bot.id && !r.removed);
    if (add && !mine) {
      state.reactions.push({ channelId: channel.id, messageId: stored.message.id, emoji, userId: bot.id, at: now(), removed: false });
      const reactions: Json[] = (stored.message.reactions ??= []);
      const existing = reactions.find((r) => r.emoji.name === name && (r.emoji.id ?? null) === (id ?? null));
      if (existing) {
        existing.count += 1;
        existing.count_details.normal += 1;
        existing.me = true;
      } else {
        reactions.push({ count: 1, count_details: { burst: 0, normal: 1 }, me: true, me_burst: false, burst_colors: [], emoji: { id: id ?? null, name } });
      }
      dispatch('MESSAGE_REACTION_ADD', {
        user_id: bot.id, channel_id: channel.id, message_id: stored.message.id, emoji: { id: id ?? null, name },
        message_author_id: stored.message.author.id, burst: false, type: 0,
        ...(channel.guild_id ? { guild_id: channel.guild_id, member: memberOf(bot) } : {}),
      });
    }
    if (!add && mine) {
      mine.removed = true;
      const reactions: Json[] = stored.message.reactions ?? [];
      const existing = reactions.find((r) => r.emoji.name === name);
      if (existing) {
        existing.count -= 1;
        existing.count_details.normal -= 1;
        existing.me = false;
        if (existing.count <= 0) stored.message.reactions = reactions.filter((r) => r !== existing);
      }
      dispatch('MESSAGE_REACTION_REMOVE', {
        user_id: bot.id, channel_id: channel.id, message_id: stored.message.id, emoji: { id: id ?? null, name }, burst: false, type: 0,
        ...(channel.guild_id ? { guild_id: channel.guild_id } : {}),
      });
    }
    return noContent();
  };
  route('PUT', '/channels/:channelId/messages/:messageId/reactions/:emoji/@me', reactionRoute(true), { bucket: channelBucket('reactions') });
  route('DELETE', '/channels/:channelId/messages/:messageId/reactions/:emoji/@me', reactionRoute(false), { bucket: channelBucket('reactions') });

  // threads
  route('POST', '/channels/:channelId/messages/:messageId/threads', (req) => {
    const parent = requireChannel(req.params.channelId ?? '');
    const starter = requireMessage(parent.id, req.params.messageId ?? '');
    if (state.channels.has(starter.message.id)) throw errors.threadExists();
    return ok(createThread(parent, req.body, starter), 201);
  });
  route('POST', '/channels/:channelId/threads', (req) => ok(createThread(requireChannel(req.params.channelId ?? ''), req.body, null), 201));
  route('PUT', '/channels/:channelId/thread-members/@me', (req) => {
    requireChannel(req.params.channelId ?? '');
    return noContent();
  });

  // webhooks
  route('POST', '/channels/:channelId/webhooks', (req) => {
    const channel = requireChannel(req.params.channelId ?? '');
    if (channel.type !== ChannelType.GuildText && channel.type !== ChannelType.GuildAnnouncement) throw errors.wrongChannelType();
    if (!hasPermission(channel, Perm.ManageWebhooks)) throw errors.missingPermissions();
    const name = typeof req.body.name === 'string' ? req.body.name : '';
    const formErrors: Json = {};
    if (name.length < 1 || name.length > 80) addFieldError(formErrors, ['name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 80 in length.');
    else if (/clyde|discord/i.test(name)) addFieldError(formErrors, ['name'], 'WEBHOOK_INVALID_NAME', 'Webhook names cannot contain "discord"');
    if (Object.keys(formErrors).length > 0) throw errors.form(formErrors);
    if ([...state.webhooks.values()].filter((w) => w.channel_id === channel.id).length >= 15) throw errors.maxWebhooks();
    const webhook: Json = {
      id: snowflake(), type: 1, guild_id: guildId, channel_id: channel.id, user: bot, name,
      avatar: req.body.avatar ? randomBytes(16).toString('hex') : null, token: randomBytes(34).toString('base64url'),
      application_id: applicationId,
    };
    state.webhooks.set(webhook.id, webhook);
    return ok(webhook);
  });
  route('GET', '/channels/:channelId/webhooks', (req) => {
    const channel = requireChannel(req.params.channelId ?? '');
    if (!hasPermission(channel, Perm.ManageWebhooks)) throw errors.missingPermissions();
    return ok([...state.webhooks.values()].filter((w) => w.channel_id === channel.id));
  });
  route('GET', '/webhooks/:webhookId', (req) => {
    const webhook = state.webhooks.get(req.params.webhookId ?? '');
    if (!webhook) throw errors.unknownWebhook();
    return ok(webhook);
  });

  /** `/webhooks/:id/:token...` is either a channel webhook or an interaction token (id = application id). */
  function resolveWebhook(req: Request): { webhook: Json } | { interaction: InteractionRecord } {
    const interaction = interactionByToken(req.params.token ?? '');
    if (interaction && req.params.webhookId === interaction.applicationId) return { interaction };
    const webhook = state.webhooks.get(req.params.webhookId ?? '');
    if (!webhook) throw errors.unknownWebhook();
    if (webhook.token !== req.params.token) throw errors.invalidWebhookToken();
    return { webhook };
  }
  const webhookBucket = (req: Request) => {
    const interaction = interactionByToken(req.params.token ?? '');
    return interaction ? null : { name: 'webhook' as const, key: req.params.webhookId ?? '' };
  };

  route('GET', '/webhooks/:webhookId/:token', (req) => {
    const target = resolveWebhook(req);
    if ('interaction' in target) throw errors.unknownWebhook();
    const { user: _user, ...webhook } = target.webhook;
    return ok(webhook);
  }, { botAuth: false });
  route('POST', '/webhooks/:webhookId/:token', (req) => {
    const target = resolveWebhook(req);
    const body = req.body;
    checkNewMessage(body, req.files);
    if ('interaction' in target) {
      const record = target.interaction;
      requireLiveToken(record);
      if (record.acknowledgedType === null) throw errors.unknownWebhook();
      const stored = createMessage({
        channelId: record.channelId, author: bot, content: typeof body.content === 'string' ? body.content : '',
        embeds: normalizeEmbeds(body.embeds), attachments: attachmentsFrom(record.channelId, req.files), source: 'interaction',
        type: MessageType.ChatInputCommand, flags: Number(body.flags ?? 0), webhookId: record.applicationId, interaction: record,
      });
      record.followupMessageIds.push(stored.message.id);
      return ok(stored.message);
    }
    const webhook = target.webhook;
    let channelId = String(webhook.channel_id);
    const threadId = req.query.get('thread_id');
    if (threadId) {
      const thread = requireChannel(threadId);
      if (thread.parent_id !== channelId) throw errors.unknownChannel();
      channelId = thread.id;
    }
    const username = typeof body.username === 'string' ? body.username : null;
    const avatarUrl = typeof body.avatar_url === 'string' ? body.avatar_url : null;
    const stored = createMessage({
      channelId,
      author: { id: webhook.id, username: username ?? webhook.name, global_name: null, discriminator: '0000', avatar: webhook.avatar, bot: true },
      content: typeof body.content === 'string' ? body.content : '',
      embeds: normalizeEmbeds(body.embeds),
      attachments: attachmentsFrom(channelId, req.files),
      source: 'webhook',
      webhookId: webhook.id,
      webhook: { id: webhook.id, username, avatarUrl },
      tts: body.tts === true,
    });
    state.webhookPosts.push({ webhookId: webhook.id, channelId, messageId: stored.message.id, username, avatarUrl, content: stored.message.content, at: now() });
    return req.query.get('wait') === 'true' ? ok(stored.message) : noContent();
  }, { botAuth: false, bucket: webhookBucket });

  function webhookMessage(req: Request): StoredMessage {
    const target = resolveWebhook(req);
    let messageId = req.params.messageId ?? '';
    if ('interaction' in target) {
      requireLiveToken(target.interaction);
      if (messageId === '@original') messageId = target.interaction.originalMessageId ?? '';
      else if (!target.interaction.followupMessageIds.includes(messageId)) throw errors.unknownMessage();
    } else if (messageId === '@original') {
      throw errors.unknownMessage();
    }
    const stored = messageIndex.get(messageId);
    if (!stored || stored.deleted) throw errors.unknownMessage();
    if ('webhook' in target && stored.message.webhook_id !== target.webhook.id) throw errors.unknownMessage();
    return stored;
  }
  route('GET', '/webhooks/:webhookId/:token/messages/:messageId', (req) => ok(webhookMessage(req).message), { botAuth: false });
  route('PATCH', '/webhooks/:webhookId/:token/messages/:messageId', (req) => {
    const stored = webhookMessage(req);
    const formErrors = validatePayload(req.body);
    if (formErrors) throw errors.form(formErrors);
    editMessage(stored, req.body);
    return ok(stored.message);
  }, { botAuth: false, bucket: webhookBucket });
  route('DELETE', '/webhooks/:webhookId/:token/messages/:messageId', (req) => {
    deleteMessage(webhookMessage(req));
    return noContent();
  }, { botAuth: false, bucket: webhookBucket });

  // interactions
  route('POST', '/interactions/:interactionId/:token/callback', (req) => {
    const record = state.interactions.get(req.params.interactionId ?? '');
    const type = Number(req.body.type);
    const data = (req.body.data ?? null) as Json | null;
    const callback = { type, data, at: now(), status: 0 };
    try {
      if (!record || record.token !== req.params.token || now() - record.createdAt > ackTimeoutMs) throw errors.unknownInteraction();
      if (record.acknowledgedType !== null) throw errors.alreadyAcknowledged();
      record.callbacks.push(callback);
      let message: DiscordMessage | null = null;
      if (type === 4 || type === 5) {
        const flags = Number(data?.flags ?? 0);
        if (type === 4) checkNewMessage(data ?? {}, req.files);
        const stored = createMessage({
          channelId: record.channelId, author: bot, content: type === 4 && typeof data?.content === 'string' ? data.content : '',
          embeds: type === 4 ? normalizeEmbeds(data?.embeds) : [], attachments: attachmentsFrom(record.channelId, req.files),
          source: 'interaction', type: MessageType.ChatInputCommand,
          flags: type === 5 ? (flags & MessageFlags.Ephemeral) | MessageFlags.Loading : flags,
          webhookId: record.applicationId, interaction: record,
        });
        record.originalMessageId = stored.message.id;
        message = stored.message;
      } else if (type !== 1 && type !== 6 && type !== 7 && type !== 8 && type !== 9) {
        const errs: Json = {};
        addFieldError(errs, ['type'], 'BASE_TYPE_CHOICES', 'Value must be one of {1, 4, 5, 6, 7, 8, 9, 10, 12}.');
        throw errors.form(errs);
      }
      record.acknowledgedType = type;
      callback.status = req.query.get('with_response') === 'true' ? 200 : 204;
      if (callback.status === 204) return noContent();
      return ok({
        interaction: {
          id: record.id, type: 2, activity_instance_id: null, response_message_id: message?.id ?? null,
          response_message_loading: type === 5, response_message_ephemeral: ((message?.flags ?? 0) & MessageFlags.Ephemeral) !== 0,
        },
        resource: { type, ...(message ? { message } : {}) },
      });
    } catch (error) {
      if (error instanceof ApiError) {
        callback.status = error.status;
        if (record && !record.callbacks.includes(callback)) record.callbacks.push(callback);
      }
      throw error;
    }
  }, { botAuth: false });

  // application commands (bulk overwrite keeps ids of commands whose name is unchanged, as Discord does)
  function overwriteCommands(list: Json[], body: unknown, commandGuildId: string | null): Json[] {
    if (!Array.isArray(body)) throw errors.form({ _errors: [{ code: 'LIST_TYPE_CONVERT', message: 'Only iterables may be used in a ListType' }] });
    const formErrors: Json = {};
    body.forEach((command: Json, index: number) => {
      const type = Number(command.type ?? 1);
      const name = String(command.name ?? '');
      const valid = type === 1 ? /^[-_\p{Ll}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u.test(name) : name.length >= 1 && name.length <= 32;
      if (!valid) addFieldError(formErrors, [String(index), 'name'], 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
      const description = String(command.description ?? '');
      if (type === 1 && (description.length < 1 || description.length > 100)) {
        addFieldError(formErrors, [String(index), 'description'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
      }
    });
    if (body.length > 100) addFieldError(formErrors, ['_errors'], 'BASE_TYPE_MAX_LENGTH', 'Must be 100 or fewer in length.');
    if (Object.keys(formErrors).length > 0) throw errors.form(formErrors);
    return body.map((command: Json) => {
      const previous = list.find((c) => c.name === command.name && Number(c.type) === Number(command.type ?? 1));
      return {
        id: previous?.id ?? snowflake(), application_id: applicationId, version: snowflake(), type: Number(command.type ?? 1),
        name: command.name, name_localizations: command.name_localizations ?? null, description: command.description ?? '',
        description_localizations: command.description_localizations ?? null, options: command.options ?? [],
        default_member_permissions: command.default_member_permissions ?? null, dm_permission: command.dm_permission ?? true,
        contexts: command.contexts ?? null, integration_types: command.integration_types ?? [0], nsfw: command.nsfw ?? false,
        ...(commandGuildId ? { guild_id: commandGuildId } : {}),
      };
    });
  }
  route('GET', '/applications/:appId/commands', () => ok(state.commands.global));
  route('PUT', '/applications/:appId/commands', (req) => {
    state.commands.global = overwriteCommands(state.commands.global, req.body, null);
    return ok(state.commands.global);
  });
  route('POST', '/applications/:appId/commands', (req) => {
    const [command] = overwriteCommands(state.commands.global, [req.body], null);
    if (!command) throw errors.notFound();
    state.commands.global = [...state.commands.global.filter((c) => c.name !== command.name), command];
    return ok(command, 201);
  });
  route('GET', '/applications/:appId/guilds/:guildId/commands', (req) => ok(state.commands.guild.get(req.params.guildId ?? '') ?? []));
  route('PUT', '/applications/:appId/guilds/:guildId/commands', (req) => {
    const id = req.params.guildId ?? '';
    const list = overwriteCommands(state.commands.guild.get(id) ?? [], req.body, id);
    state.commands.guild.set(id, list);
    return ok(list);
  });

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', baseUrl);
    const method = (req.method ?? 'GET').toUpperCase();
    const attachment = method === 'GET' ? hostedAttachments.get(url.pathname) : undefined;
    if (attachment) {
      // The CDN: no authorisation (the real URLs are signed instead).
      state.attachmentDownloads.push(url.pathname);
      if (attachment.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, attachment.delayMs));
      res.writeHead(200, { 'Content-Type': attachment.contentType, 'Content-Length': String(attachment.bytes.length) });
      res.end(attachment.bytes);
      return;
    }
    const path = url.pathname.replace(API_PREFIX, '');
    const raw = await readRawBody(req);
    let reply: Reply;
    let loggedBody: unknown = null;
    try {
      if (!API_PREFIX.test(url.pathname)) throw errors.notFound();
      const found = routes.map((r) => ({ r, m: r.method === method ? r.pattern.exec(path) : null })).find((x) => x.m);
      if (!found || !found.m) throw errors.notFound();
      const params: Record<string, string> = {};
      found.r.keys.forEach((key, i) => {
        params[key] = decodeURIComponent(found.m?.[i + 1] ?? '');
      });
      // Emoji stays percent-encoded in the path; decode it once in the handler.
      if (found.r.keys.includes('emoji')) params.emoji = found.m[found.r.keys.indexOf('emoji') + 1] ?? '';
      if (found.r.botAuth) {
        const auth = req.headers.authorization ?? '';
        if (!auth.startsWith('Bot ') || (options.token !== undefined && auth !== `Bot ${options.token}`)) throw errors.unauthorized();
      }
      const { body, files } = await parseBody(req, raw);
      loggedBody = body;
      const request: Request = { method, path, params, query: url.searchParams, headers: req.headers, body, files };

      const forced = injected.find((i) => i.remaining > 0 && (!i.match || i.match(method, path)));
      if (forced) {
        forced.remaining -= 1;
        reply = tooManyRequests(method, path, 'injected', forced.scope, forced.retryAfterMs, {});
      } else {
        let limitHeaders: Record<string, string> = {};
        let limited: Reply | null = null;
        if (found.r.botAuth) {
          const global = take('global', 'bot');
          if (!global.ok) limited = tooManyRequests(method, path, 'global', 'global', global.retryAfterMs, {});
        }
        const bucket = !limited && found.r.bucket ? found.r.bucket(request) : null;
        if (bucket) {
          const result = take(bucket.name, bucket.key);
          limitHeaders = result.headers;
          if (!result.ok) limited = tooManyRequests(method, path, bucket.name, 'user', result.retryAfterMs, result.headers);
        }
        if (limited) reply = limited;
        else {
          reply = await found.r.handle(request);
          if (sendRateLimitHeaders) reply.headers = { ...limitHeaders, ...reply.headers };
        }
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      reply = { status: error.status, body: error.body };
      if (error.status === 401 || error.status === 403) state.invalidRequests += 1;
    }
    state.restCalls.push({ method, path, query: url.search, status: reply.status, at: now(), body: loggedBody });
    const headers: Record<string, string> = { ...reply.headers };
    if (reply.body !== undefined) headers['Content-Type'] = 'application/json';
    res.writeHead(reply.status, headers);
    res.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
  }

  // ---- servers

  const server = createServer((req, res) => {
    handleHttp(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: `fake discord crashed: ${String(error)}`, code: 0 }));
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = new URL(req.url ?? '/', baseUrl).pathname;
    if (pathname !== '/gateway' && pathname !== '/gateway/resume') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      state.gateway.connections += 1;
      state.gateway.paths.push(pathname);
      const connection: Connection = { ws, session: null, frames: { count: 0, resetAt: 0 }, closedByServer: false };
      connections.add(connection);
      ws.on('message', (data: RawData) => onGatewayFrame(connection, data));
      ws.on('close', (code: number) => {
        connections.delete(connection);
        if (!connection.closedByServer) state.gateway.closes.push({ code, by: 'client', at: now() });
        const session = connection.session;
        if (session && session.socket === ws) {
          session.socket = null;
          // A client closing with 1000/1001 ends its session; Discord will not let it resume.
          if (!connection.closedByServer && (code === 1000 || code === 1001)) session.ended = true;
        }
      });
      ws.send(JSON.stringify({ op: 10, s: null, t: null, d: { heartbeat_interval: heartbeatIntervalMs, _trace: ['["fake-discord",{"micros":0}]'] } }));
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const gatewayUrl = `ws://127.0.0.1:${port}/gateway`;
  const resumeGatewayUrl = `ws://127.0.0.1:${port}/gateway/resume`;

  // ---- test-side helpers

  function userMessage(input: UserMessageOptions): DiscordMessage {
    const author = addUser(input.author ?? alice);
    const channel = input.dm ? dmChannel(author.id) : requireChannel(input.channelId ?? firstChannelId ?? '');
    let content = input.content;
    const mentionTag = `<@${bot.id}>`;
    if (input.mentionsBot && !content.includes(mentionTag) && !content.includes(`<@!${bot.id}>`)) content = `${mentionTag} ${content}`;
    const attachments = (input.attachments ?? []).map((a) => {
      const id = snowflake();
      const path = `/attachments/${channel.id}/${id}/${encodeURIComponent(a.filename)}`;
      const contentType = a.contentType ?? 'application/octet-stream';
      if (a.bytes && !a.url) hostedAttachments.set(path, { contentType, bytes: a.bytes, delayMs: a.delayMs ?? 0 });
      const url = a.url ?? `${baseUrl}${path}`;
      return { id, filename: a.filename, size: a.size ?? a.bytes?.length ?? 0, content_type: contentType, url, proxy_url: url };
    });
    return createMessage({
      channelId: channel.id,
      author,
      content,
      attachments,
      source: 'user',
      ...(input.replyTo ? { reference: { message_id: input.replyTo } } : {}),
      ...(input.mentionsBot ? { mentions: [bot] } : {}),
    }).message;
  }

  function interaction(input: InteractionOptions): InteractionRecord {
    const user = addUser(input.user ?? alice);
    const channel = input.dm ? dmChannel(user.id) : requireChannel(input.channelId ?? firstChannelId ?? '');
    const inGuild = Boolean(channel.guild_id);
    const commands = inGuild ? [...(state.commands.guild.get(guildId) ?? []), ...state.commands.global] : state.commands.global;
    const command = commands.find((c) => c.name === input.name);
    const record: InteractionRecord = {
      id: snowflake(), token: `aW50ZXJhY3Rpb246${randomBytes(48).toString('base64url')}`, applicationId, name: input.name,
      channelId: channel.id, guildId: inGuild ? guildId : null, user, createdAt: now(), callbacks: [], acknowledgedType: null,
      originalMessageId: null, followupMessageIds: [],
    };
    state.interactions.set(record.id, record);
    const typeOf = (value: string | number | boolean) =>
      typeof value === 'string' ? 3 : typeof value === 'boolean' ? 5 : Number.isInteger(value) ? 4 : 10;
    const data: Json = {
      id: command?.id ?? snowflake(), name: input.name, type: 1,
      ...(input.options?.length ? { options: input.options.map((o) => ({ name: o.name, type: o.type ?? typeOf(o.value), value: o.value })) } : {}),
      ...(inGuild ? { guild_id: guildId } : {}),
    };
    const appPermissions = (inGuild ? EVERYONE_PERMISSIONS | botPermissions : EVERYONE_PERMISSIONS).toString();
    dispatch('INTERACTION_CREATE', {
      id: record.id, application_id: applicationId, type: 2, data, channel_id: channel.id, channel, token: record.token,
      version: 1, app_permissions: appPermissions, locale: 'en-US', entitlements: [], attachment_size_limit: 10_485_760,
      authorizing_integration_owners: inGuild ? { '0': guildId } : { '1': user.id }, context: inGuild ? 0 : 1,
      ...(inGuild
        ? { guild_id: guildId, guild: { id: guildId, locale: 'en-US', features: [] }, guild_locale: 'en-US', member: { ...memberOf(user), permissions: EVERYONE_PERMISSIONS.toString() } }
        : { user }),
    });
    return record;
  }

  return {
    apiUrl: `${baseUrl}/api`,
    gatewayUrl,
    token,
    bot,
    applicationId,
    guildId,
    channelId: firstChannelId,
    channelIds,
    users: { alice, bob: bobUser },
    state,
    messages: (channelId) => (state.messages.get(channelId) ?? []).filter((s) => !s.deleted).map((s) => s.message),
    stored: (channelId) => state.messages.get(channelId) ?? [],
    findMessage: (messageId) => messageIndex.get(messageId),
    addUser,
    dmChannel,
    userMessage,
    interaction,
    dispatch,
    disconnect(code = 4000, { dropSessions = false } = {}) {
      if (dropSessions) for (const session of sessions.values()) session.ended = true;
      for (const connection of [...connections]) closeConnection(connection, code);
    },
    requestReconnect() {
      for (const connection of connections) connection.ws.send(JSON.stringify({ op: 7, d: null }));
    },
    injectRateLimit({ count = 1, retryAfterMs = 1000, scope = 'user', match } = {}) {
      injected.push({ remaining: count, retryAfterMs, scope, ...(match ? { match } : {}) });
    },
    openGatewayConnections: () => connections.size,
    waitFor: (fn, timeoutMs) => waitFor(fn, timeoutMs),
    async close() {
      for (const connection of connections) connection.ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

