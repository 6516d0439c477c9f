/**
 * The Slack adapter: @slack/bolt behind the bridge's PlatformAdapter
 * (gateway/bridge/platform.ts). This folder owns everything Slack-specific
 * in the gateway; it imports the platform seam and the bridge's command
 * list (gateway/bridge/commands.ts), ./api.ts (Web API calls, 429 waits),
 * ./inbound.ts (events → messages, places, text) and ./stream.ts (native
 * streaming), and never runtime/.
 *
 *   const slack = createSlackAdapter({ botToken, signingSecret, mode: 'http', port: 3000 });
 *   await slack.start({ message, command });
 *
 * Receiving:
 * - `mode: 'http'` — Events API and slash commands POSTed to `eventsPath`
 *   (default /slack/events) on `port`; Bolt's HTTPReceiver checks the
 *   signature (SLACK_SIGNING_SECRET; bad or stale → 401, no handler runs)
 *   and answers url_verification. Events are acknowledged before the
 *   handler runs (Bolt's default), well inside Slack's 3 s, so Slack has no
 *   reason to retry; retries that still come (X-Slack-Retry-Num) carry the
 *   same event_id and are acknowledged the same way.
 * - `mode: 'socket'` — Socket Mode with the app token (SLACK_APP_TOKEN).
 * - `mode: 'auto'` — socket when an app token is set, else http.
 *
 * Inbound de-duplication: `dedupeKey` is the Slack `event_id` (a retry
 * carries the same one), for the bridge's durable dedupe. On top of that the
 * adapter drops, synchronously and before any await, a second delivery of a
 * message it already handed over in this process — same (channel, ts),
 * whatever the event_id (retries; the `app_mention` + `message` pair; Slack
 * re-sending one message under new event_ids) — for an hour.
 *
 * Slash commands: every command goes to one handler (`/ask`, `/new`, …; see
 * `commandName` in ./inbound.ts for `/conclave ask` and `/conclave-ask`;
 * create the ones in gateway/bridge/commands.ts in the Slack app's config).
 * The text after the command fills the command's options as the bridge's
 * COMMANDS name them, one word each and the rest for the last
 * (`/preset coder` → `{ id: 'coder' }`, `/persona-add coder bob` →
 * `{ preset_id: 'coder', handle: 'bob' }`; `text` for commands it does not
 * list). It is acknowledged at once (empty ack, so
 * Slack shows nothing), then the bridge answers through `respond`, which
 * posts to the command's response_url as Markdown (ephemeral as the command
 * spec says unless told otherwise; the URL is valid 30 min). A slash
 * command carries no thread (Slack does not send one, even when typed in a
 * thread), so its place is the channel (`T/C`) or the DM.
 *
 * Sending (all through ./api.ts: 429s waited out, creates never repeated blindly):
 * - `post` → chat.postMessage in the thread, as `markdown_text` (the agents
 *   write Markdown; Slack renders it), persona → `username` + `icon_url`
 *   (needs the chat:write.customize scope). `idempotencyKey`: a repeat in
 *   this process returns the first message; the key also rides in the
 *   message metadata, so a repeat after a post whose answer was lost looks
 *   the thread up instead of posting twice.
 * - `edit` → chat.update (`markdown_text`). A message that is still a native
 *   stream (e.g. after a gateway restart mid-stream) is stopped first, then
 *   updated: the bridge can always finish a message by editing it.
 * - `react` → reactions.add with Slack's emoji names (✅ → white_check_mark…);
 *   already_reacted counts as done.
 * - `typing` → assistant.threads.setStatus "is thinking…" in threads; turned
 *   off for the workspace after the first refusal; a no-op in DMs/channels.
 * - `startStream` → ./stream.ts, or NativeStreamUnavailable (see there).
 *
 * Limits (PlatformLimits), from gateway-anchors §3.2 and test/fakes/slack.ts:
 * - maxMessageLength 4,000: chat.update `text` is capped at 4,000 (markdown_text
 *   at 12,000, postMessage text at 40,000), and Slack recommends ≤ 4,000 for
 *   readability, so every posted message stays editable, with either field.
 *   (A native stream message may grow longer; it is appended to, not edited.)
 * - editIntervalMs 1,500: chat.update is Tier 3, about 50 calls per minute
 *   per WORKSPACE shared by every conversation; one message edited every
 *   1.5 s is 40/min, which leaves room for reactions and a second message;
 *   more concurrent edit-streams slow down through 429 waits rather than
 *   losing text. Native streams (Tier 4 appends, 100/min) are the normal path.
 * - typingIntervalMs 30,000: a thread status lasts until the app replies or
 *   about 2 minutes; 30 s re-sends keep it up through long tool calls
 *   (setStatus has its own generous limit).
 */
import { App, HTTPReceiver, LogLevel, SocketModeReceiver, type Logger as BoltLogger } from '@slack/bolt';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { COMMANDS, parseCommandText } from '../bridge/commands.js';
import { INLINE_BUDGET_BYTES, inlineFiles, type FileKind } from '../bridge/inline-files.js';
import type {
  InboundCommand,
  InboundHandlers,
  InboundMessage,
  NativeStream,
  Persona,
  Place,
  PlatformAdapter,
  PlatformLimits,
  PlatformUser,
  PostedMessage,
} from '../bridge/platform.js';
import { SerialQueues } from '../bridge/serial.js';
import { isAmbiguousFailure, sdkLogger, silentLogger, slackErrorCode, SlackApi, SlackAdapterStopped, toPlatformError, type AdapterLogger, type Json } from './api.js';
import { commandName, draftMessage, isDirectChannel, placeFor, type MessageDraft, type WholeChannels, type WorkspaceIdentity } from './inbound.js';
import { NativeStreamUnavailable, SlackNativeStream, STREAMING_UNAVAILABLE_ERRORS, type StreamSettings } from './stream.js';

export { NativeStreamUnavailable, StreamStoppedByUser, SlackNativeStream } from './stream.js';
export { SlackAdapterStopped, slackErrorCode, type AdapterLogger } from './api.js';
export { commandName, draftMessage, placeFor, plainText } from './inbound.js';

export type SlackMode = 'http' | 'socket' | 'auto';

export interface SlackAdapterOptions {
  /** SLACK_BOT_TOKEN (xoxb-…). */
  botToken: string;
  /** SLACK_SIGNING_SECRET; required for HTTP mode. */
  signingSecret?: string;
  /** SLACK_APP_TOKEN (xapp-…); required for Socket Mode. */
  appToken?: string;
  /** SLACK_MODE. Default 'auto': socket when `appToken` is set, else http. */
  mode?: SlackMode;
  /** SLACK_API_URL, with the trailing slash. Default https://slack.com/api/. */
  apiUrl?: string;
  /** SLACK_PORT: where the HTTP receiver listens (0: any free port). Default 3000. */
  port?: number;
  /** Interface the HTTP receiver binds to. Default: all interfaces (Slack must reach it). */
  host?: string;
  /** SLACK_EVENTS_PATH: the Request URL path for events, commands and interactivity. Default /slack/events. */
  eventsPath?: string;
  /** SLACK_BIND_CHANNELS: channels that are one conversation each (`'*'`: all); elsewhere a mention opens a thread. */
  wholeChannels?: string[] | '*';
  /** SLACK_NATIVE_STREAMING: offer chat.startStream/appendStream/stopStream. Default true. */
  nativeStreaming?: boolean;
  /** `/conclave ask …` and `/conclave-ask …` mean `/ask …`. Default 'conclave'. */
  commandNamespace?: string;
  logger?: AdapterLogger;
  /** Pacing and limit overrides (tests). */
  tuning?: Partial<SlackTuning>;
}

export interface SlackTuning {
  editIntervalMs: number;
  typingIntervalMs: number;
  /** Minimum time between chat.appendStream calls of one stream. */
  streamAppendIntervalMs: number;
  maxMessageLength: number;
  /** Socket Mode ping timeouts (@slack/socket-mode); also pace its reconnects. */
  socketClientPingTimeoutMs?: number;
  socketServerPingTimeoutMs?: number;
  /** Per-request timeout of Web API calls. */
  requestTimeoutMs: number;
  /** Most bytes of shared images and text files fetched and passed to the model per message (gateway/bridge/inline-files.ts). */
  inlineFileBytes: number;
}

const DEFAULT_TUNING: SlackTuning = {
  editIntervalMs: 1500,
  typingIntervalMs: 30_000,
  streamAppendIntervalMs: 1000,
  maxMessageLength: 4000,
  inlineFileBytes: INLINE_BUDGET_BYTES,
  requestTimeoutMs: 30_000,
};

/** Settings as named in the environment (runtime/config), so gateway/index.ts can pass its config straight in. */
export interface SlackSettings {
  SLACK_BOT_TOKEN?: string | undefined;
  SLACK_SIGNING_SECRET?: string | undefined;
  SLACK_APP_TOKEN?: string | undefined;
  SLACK_API_URL?: string | undefined;
  SLACK_MODE?: SlackMode | undefined;
  SLACK_PORT?: number | undefined;
  SLACK_EVENTS_PATH?: string | undefined;
  SLACK_BIND_CHANNELS?: string[] | undefined;
  SLACK_NATIVE_STREAMING?: boolean | undefined;
}

/** Adapter options from the settings, or null when Slack is not configured (no bot token). */
export function slackOptionsFromSettings(settings: SlackSettings, logger?: AdapterLogger): SlackAdapterOptions | null {
  if (!settings.SLACK_BOT_TOKEN) return null;
  const bind = settings.SLACK_BIND_CHANNELS ?? [];
  return {
    botToken: settings.SLACK_BOT_TOKEN,
    ...(settings.SLACK_SIGNING_SECRET ? { signingSecret: settings.SLACK_SIGNING_SECRET } : {}),
    ...(settings.SLACK_APP_TOKEN ? { appToken: settings.SLACK_APP_TOKEN } : {}),
    ...(settings.SLACK_API_URL ? { apiUrl: settings.SLACK_API_URL } : {}),
    mode: settings.SLACK_MODE ?? 'auto',
    ...(settings.SLACK_PORT !== undefined ? { port: settings.SLACK_PORT } : {}),
    ...(settings.SLACK_EVENTS_PATH ? { eventsPath: settings.SLACK_EVENTS_PATH } : {}),
    wholeChannels: bind.includes('*') ? '*' : bind,
    nativeStreaming: settings.SLACK_NATIVE_STREAMING ?? true,
    ...(logger ? { logger } : {}),
  };
}

/** The PlatformAdapter plus what operators and tests want to see. */
export interface SlackAdapter extends PlatformAdapter {
  readonly platform: 'slack';
  /** 'http' or 'socket', once started. */
  readonly mode: 'http' | 'socket' | null;
  /** The events URL the HTTP receiver listens on (`http://host:port/slack/events`), once started in http mode. */
  readonly eventsUrl: string | null;
  /** The workspace and bot, once started. */
  readonly identity: WorkspaceIdentity | null;
  /** False once the workspace refused the streaming methods (or when turned off). */
  readonly nativeStreaming: boolean;
  /** How many 429s were waited out. */
  readonly rateLimitWaits: number;
  startStream(place: Place, options?: { persona?: Persona; recipientUserId?: string }): Promise<NativeStream>;
}

/** Unicode emoji the bridge uses → Slack's names. Names (`eyes`, `:eyes:`) pass through. */
export const EMOJI_NAMES: Readonly<Record<string, string>> = {
  '✅': 'white_check_mark',
  '✔️': 'heavy_check_mark',
  '☑️': 'ballot_box_with_check',
  '👀': 'eyes',
  '❌': 'x',
  '⚠️': 'warning',
  '🛑': 'octagonal_sign',
  '⏹️': 'black_square_for_stop',
  '⏳': 'hourglass_flowing_sand',
  '⌛': 'hourglass',
  '🤔': 'thinking_face',
  '👍': '+1',
  '👎': '-1',
  '🔁': 'repeat',
  '🔄': 'arrows_counterclockwise',
  '📬': 'mailbox_with_mail',
  '📨': 'incoming_envelope',
  '🚫': 'no_entry_sign',
  '⛔': 'no_entry',
  '✋': 'raised_hand',
  '💬': 'speech_balloon',
  '🧵': 'thread',
  '🆕': 'new',
  '🔧': 'wrench',
  '🛠️': 'hammer_and_wrench',
  '💤': 'zzz',
  '🎉': 'tada',
  '❓': 'question',
  '🗳️': 'ballot_box_with_ballot',
  '⏸️': 'double_vertical_bar',
  '💭': 'thought_balloon',
};

export function slackEmojiName(emoji: string): string | null {
  const trimmed = emoji.trim();
  const known = EMOJI_NAMES[trimmed] ?? EMOJI_NAMES[trimmed.replace(/\uFE0F/g, '')] ?? EMOJI_NAMES[`${trimmed.replace(/\uFE0F/g, '')}\uFE0F`];
  if (known) return known;
  const name = trimmed.replace(/^:|:$/g, '');
  return /^[a-z0-9_+'-]+(::skin-tone-[2-6])?$/.test(name) ? name : null;
}

/** Where Slack serves shared files (`url_private`); the bot token goes nowhere else but the API's host. */
const SLACK_FILE_HOST = 'files.slack.com';
/** Shared files fetched for the model: their URLs answer only with the bot token. */
const INLINED_KINDS: ReadonlySet<FileKind> = new Set(['image', 'text']);

/** How long a (channel, ts) stays remembered for dropping redeliveries, and how many are kept. */
const SEEN_TTL_MS = 60 * 60 * 1000;
const SEEN_MAX = 20_000;
const USER_CACHE_MAX = 5000;
/** Statuses (typing) are only for threads; this is what Slack shows under the thread. */
const TYPING_STATUS = 'is thinking…';
const IDEMPOTENCY_MAX = 2000;
const METADATA_EVENT = 'conclave_post';

export function createSlackAdapter(options: SlackAdapterOptions): SlackAdapter {
  return new SlackPlatformAdapter(options);
}

class SlackPlatformAdapter implements SlackAdapter {
  readonly platform = 'slack' as const;
  readonly limits: PlatformLimits;
  mode: 'http' | 'socket' | null = null;
  eventsUrl: string | null = null;
  identity: WorkspaceIdentity | null = null;

  private readonly tuning: SlackTuning;
  /** Where the bot token may fetch shared files: Slack's file host, and the configured API's host. */
  private readonly fileHosts: ReadonlySet<string>;
  private readonly logger: AdapterLogger;
  private readonly abort = new AbortController();
  private readonly api: SlackApi;
  private readonly wholeChannels: WholeChannels;
  private app: App | null = null;
  private handlers: InboundHandlers | null = null;
  private streamingAllowed: boolean;
  private typingAllowed = true;
  /** `channel/ts` of messages handed to the bridge → when (oldest first). */
  private readonly seen = new Map<string, number>();
  /** Each channel's messages, handed to the bridge in the order they came. */
  private readonly handOver = new SerialQueues();
  private readonly userNames = new Map<string, string>();
  /** idempotencyKey → the posted message, or 'unknown' after a post whose answer was lost. */
  private readonly posted = new Map<string, Promise<PostedMessage> | 'unknown'>();

  constructor(private readonly options: SlackAdapterOptions) {
    this.tuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.fileHosts = new Set([SLACK_FILE_HOST, ...(options.apiUrl ? [new URL(options.apiUrl).host] : [])]);
    this.logger = options.logger ?? silentLogger;
    this.limits = {
      maxMessageLength: this.tuning.maxMessageLength,
      editIntervalMs: this.tuning.editIntervalMs,
      typingIntervalMs: this.tuning.typingIntervalMs,
    };
    this.streamingAllowed = options.nativeStreaming ?? true;
    const bind = options.wholeChannels ?? [];
    this.wholeChannels = bind === '*' ? '*' : new Set(bind);
    this.api = new SlackApi({
      token: options.botToken,
      apiUrl: options.apiUrl ?? 'https://slack.com/api/',
      logger: this.logger,
      signal: this.abort.signal,
      timeoutMs: this.tuning.requestTimeoutMs,
    });
  }

  get nativeStreaming(): boolean {
    return this.streamingAllowed;
  }

  get rateLimitWaits(): number {
    return this.api.rateLimitWaits;
  }

  // ---------------------------------------------------------------- lifecycle

  async start(handlers: InboundHandlers): Promise<void> {
    if (this.app) throw new Error('the Slack adapter is already started');
    if (this.abort.signal.aborted) throw new Error('a stopped Slack adapter cannot start again; create a new one');
    this.handlers = handlers;
    const auth = await this.api.call('auth.test', {}, { idempotent: true });
    this.identity = {
      teamId: String(auth.team_id ?? ''),
      botUserId: String(auth.user_id ?? ''),
      botId: typeof auth.bot_id === 'string' ? auth.bot_id : null,
    };

    const mode = this.resolveMode();
    const boltLogger = toBoltLogger(this.logger);
    const clientOptions = {
      slackApiUrl: this.options.apiUrl ?? 'https://slack.com/api/',
      retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 5000 },
      logger: sdkLogger(this.logger, 'slack-bolt-client'),
    };
    const receiver =
      mode === 'socket'
        ? new SocketModeReceiver({
            appToken: this.options.appToken ?? '',
            logger: boltLogger,
            ...(this.tuning.socketClientPingTimeoutMs ? { clientPingTimeout: this.tuning.socketClientPingTimeoutMs } : {}),
            ...(this.tuning.socketServerPingTimeoutMs ? { serverPingTimeout: this.tuning.socketServerPingTimeoutMs } : {}),
            installerOptions: { clientOptions },
          })
        : new HTTPReceiver({
            signingSecret: this.options.signingSecret ?? '',
            endpoints: this.options.eventsPath ?? '/slack/events',
            logger: boltLogger,
            processBeforeResponse: false,
          });
    const app = new App({
      token: this.options.botToken,
      receiver,
      logger: boltLogger,
      clientOptions,
      botId: this.identity.botId ?? undefined,
      botUserId: this.identity.botUserId,
    });
    this.registerListeners(app);

    if (mode === 'socket') {
      await app.start();
    } else {
      const listen = { port: this.options.port ?? 3000, ...(this.options.host ? { host: this.options.host } : {}) };
      const server = (await app.start(listen)) as Server;
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      this.eventsUrl = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}${this.options.eventsPath ?? '/slack/events'}`;
    }
    this.app = app;
    this.mode = mode;
    this.logger.info({ mode, team: this.identity.teamId, bot: this.identity.botUserId, eventsUrl: this.eventsUrl }, 'slack adapter started');
  }

  async stop(): Promise<void> {
    this.abort.abort();
    const app = this.app;
    this.app = null;
    if (app) await app.stop().catch((error: unknown) => this.logger.warn({ err: String(error) }, 'slack: stopping Bolt failed'));
  }

  private resolveMode(): 'http' | 'socket' {
    const wanted = this.options.mode ?? 'auto';
    const mode = wanted === 'auto' ? (this.options.appToken ? 'socket' : 'http') : wanted;
    if (mode === 'socket' && !this.options.appToken) throw new Error('Slack Socket Mode needs SLACK_APP_TOKEN (an xapp- app-level token)');
    if (mode === 'http' && !this.options.signingSecret) throw new Error('Slack HTTP events need SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)');
    return mode;
  }

  // ---------------------------------------------------------------- inbound

  private registerListeners(app: App): void {
    app.event('app_mention', async ({ event, body }) => {
      await this.onEvent(event as unknown as Json, body as unknown as Json);
    });
    app.event('message', async ({ event, body }) => {
      await this.onEvent(event as unknown as Json, body as unknown as Json);
    });
    app.command(/^\/.+/, async ({ command, ack, respond }) => {
      // Within Slack's 3 s, before anything slow; the answer follows through response_url.
      await ack();
      await this.onCommand(command as unknown as Json, respond);
    });
    app.error(async (error) => {
      this.logger.error({ err: error.message }, 'slack: Bolt reported an error');
    });
  }

  private async onEvent(event: Json, body: Json): Promise<void> {
    const identity = this.identity;
    const handlers = this.handlers;
    if (!identity || !handlers) return;
    const draft = draftMessage(event, identity, this.wholeChannels);
    if (!draft) return;
    const eventId = typeof body.event_id === 'string' ? body.event_id : draft.messageKey;
    // Synchronous check-and-set: two deliveries racing in never both pass.
    if (!this.firstDelivery(draft.messageKey)) {
      this.logger.debug({ eventId, message: draft.messageKey }, 'slack: dropped a redelivery');
      return;
    }
    try {
      // Prepared at once, handed over in the channel's order (a file download may outlast the next message).
      const prepared = this.prepare(draft, eventId);
      let handled: Promise<void> | undefined;
      await this.handOver.run(draft.channelId, async () => {
        handled = handlers.message(await prepared);
      });
      await handled;
    } catch (error) {
      this.logger.error({ err: String(error), eventId }, 'slack: the message handler failed');
    }
  }

  /** The message of a draft, with its author's name and the shared files fetched for the model. */
  private async prepare(draft: MessageDraft, eventId: string): Promise<InboundMessage> {
    const user: PlatformUser = { id: draft.userId, name: await this.userName(draft.userId), isBot: false, roles: [] };
    const message = draft.build(user, eventId);
    message.attachments = await inlineFiles(message.attachments, {
      kinds: INLINED_KINDS,
      headers: { authorization: `Bearer ${this.options.botToken}` },
      hosts: this.fileHosts,
      budgetBytes: this.tuning.inlineFileBytes,
      timeoutMs: this.tuning.requestTimeoutMs,
      onError: (attachment, reason) => this.logger.warn({ file: attachment.name, reason }, 'slack: a shared file was not passed on to the model'),
    });
    return message;
  }

  /** True the first time a message is seen within SEEN_TTL_MS; records it. */
  private firstDelivery(messageKey: string): boolean {
    const now = Date.now();
    for (const [key, at] of this.seen) {
      if (now - at < SEEN_TTL_MS && this.seen.size < SEEN_MAX) break;
      this.seen.delete(key);
    }
    if (this.seen.has(messageKey)) return false;
    this.seen.set(messageKey, now);
    return true;
  }

  private async userName(userId: string): Promise<string> {
    const cached = this.userNames.get(userId);
    if (cached) return cached;
    let name = userId;
    try {
      const result = await this.api.call('users.info', { user: userId }, { idempotent: true });
      const user = (result.user ?? {}) as Json;
      const profile = (user.profile ?? {}) as Json;
      name = [profile.display_name, profile.real_name, user.real_name, user.name].find((v): v is string => typeof v === 'string' && v.length > 0) ?? userId;
    } catch (error) {
      if (error instanceof SlackAdapterStopped) throw error;
      this.logger.debug({ err: String(error), user: userId }, 'slack: users.info failed; using the id as the name');
    }
    if (this.userNames.size >= USER_CACHE_MAX) this.userNames.clear();
    this.userNames.set(userId, name);
    return name;
  }

  private async onCommand(command: Json, respond: (message: Json) => Promise<unknown>): Promise<void> {
    const identity = this.identity;
    const handlers = this.handlers;
    if (!identity || !handlers) return;
    const channelId = String(command.channel_id ?? '');
    const direct = command.channel_name === 'directmessage' || isDirectChannel(channelId);
    const { name, text } = commandName(String(command.command ?? ''), String(command.text ?? ''), this.options.commandNamespace ?? 'conclave');
    const userId = String(command.user_id ?? '');
    if (userId) this.userNames.set(userId, String(command.user_name ?? userId));
    const spec = COMMANDS.find((c) => c.name === name);
    const inbound: InboundCommand = {
      name,
      options: spec ? parseCommandText(spec, text) : text ? { text } : {},
      text,
      place: placeFor(identity.teamId, channelId, null, direct),
      user: { id: userId, name: String(command.user_name ?? userId), isBot: false, roles: [] },
      dedupeKey: String(command.trigger_id ?? `${channelId}/${userId}/${Date.now()}`),
      respond: async (message, options) => {
        const ephemeral = options?.ephemeral ?? spec?.ephemeral ?? true;
        await respond(responsePayload(message, ephemeral));
      },
    };
    try {
      await handlers.command(inbound);
    } catch (error) {
      this.logger.error({ err: String(error), command: name }, 'slack: the command handler failed');
      await respond(responsePayload('Sorry, that command failed. Please try again.', true)).catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- outbound

  async post(place: Place, text: string, options: { persona?: Persona; replyTo?: string; idempotencyKey?: string } = {}): Promise<PostedMessage> {
    try {
      return await this.postKeyed(place, text, options.persona, options.idempotencyKey);
    } catch (error) {
      throw toPlatformError(error, 'chat.postMessage');
    }
  }

  /** `replyTo` is not used: in Slack a reply is a post in the place's thread. */
  private async postKeyed(place: Place, text: string, persona: Persona | undefined, key: string | undefined): Promise<PostedMessage> {
    if (!key) return this.postOnce(place, text, persona);
    const earlier = this.posted.get(key);
    if (earlier && earlier !== 'unknown') return earlier;
    const attempt = (async () => {
      if (earlier === 'unknown') {
        const found = await this.findPosted(place, key);
        if (found) return found;
      }
      return this.postOnce(place, text, persona, key);
    })();
    this.remember(key, attempt);
    try {
      return await attempt;
    } catch (error) {
      if (isAmbiguousFailure(error)) this.posted.set(key, 'unknown');
      else this.posted.delete(key);
      throw error;
    }
  }

  private remember(key: string, value: Promise<PostedMessage>): void {
    if (this.posted.size >= IDEMPOTENCY_MAX) {
      const oldest = this.posted.keys().next().value;
      if (oldest !== undefined) this.posted.delete(oldest);
    }
    this.posted.set(key, value);
  }

  private async postOnce(place: Place, text: string, persona: Persona | undefined, key?: string): Promise<PostedMessage> {
    const result = await this.api.call(
      'chat.postMessage',
      {
        channel: place.channelId,
        markdown_text: text,
        ...(place.threadId ? { thread_ts: place.threadId } : {}),
        ...personaArgs(persona),
        ...(key ? { metadata: { event_type: METADATA_EVENT, event_payload: { key } } } : {}),
      },
      { rateKey: `chat.postMessage:${place.channelId}` },
    );
    return { id: String(result.ts ?? '') };
  }

  /** After a post whose answer was lost: is a message with this key already there? */
  private async findPosted(place: Place, key: string): Promise<PostedMessage | null> {
    try {
      const result = place.threadId
        ? await this.api.call('conversations.replies', { channel: place.channelId, ts: place.threadId, limit: 200, include_all_metadata: true }, { idempotent: true })
        : await this.api.call('conversations.history', { channel: place.channelId, limit: 50, include_all_metadata: true }, { idempotent: true });
      const messages = Array.isArray(result.messages) ? (result.messages as Json[]) : [];
      const match = messages.find((m) => m.metadata?.event_type === METADATA_EVENT && m.metadata?.event_payload?.key === key);
      return match && typeof match.ts === 'string' ? { id: match.ts } : null;
    } catch (error) {
      this.logger.warn({ err: String(error), key }, 'slack: could not look for an earlier post; posting again');
      return null;
    }
  }

  async edit(place: Place, messageId: string, text: string): Promise<void> {
    try {
      await this.update(place, messageId, text);
    } catch (error) {
      throw toPlatformError(error, 'chat.update');
    }
  }

  private async update(place: Place, messageId: string, text: string): Promise<void> {
    const args = { channel: place.channelId, ts: messageId, markdown_text: text };
    try {
      await this.api.call('chat.update', args, { idempotent: true });
    } catch (error) {
      if (slackErrorCode(error) !== 'streaming_state_conflict') throw error;
      // Still a native stream (e.g. left open by a gateway that restarted): end it, then set the text.
      await this.api.call('chat.stopStream', { channel: place.channelId, ts: messageId }, { idempotent: true }).catch((stopError: unknown) => {
        const code = slackErrorCode(stopError);
        if (code !== 'message_not_in_streaming_state' && code !== 'stopped_by_user') throw stopError;
      });
      await this.api.call('chat.update', args, { idempotent: true });
    }
  }

  async react(place: Place, messageId: string, emoji: string): Promise<void> {
    const name = slackEmojiName(emoji);
    if (!name) {
      this.logger.warn({ emoji }, 'slack: no Slack name for this emoji; reaction skipped');
      return;
    }
    try {
      await this.api.call('reactions.add', { channel: place.channelId, timestamp: messageId, name }, { idempotent: true });
    } catch (error) {
      if (slackErrorCode(error) === 'already_reacted') return;
      throw toPlatformError(error, 'reactions.add');
    }
  }

  async typing(place: Place): Promise<void> {
    if (!this.typingAllowed || !place.threadId) return;
    try {
      await this.api.call('assistant.threads.setStatus', { channel_id: place.channelId, thread_ts: place.threadId, status: TYPING_STATUS }, { idempotent: true });
    } catch (error) {
      const code = slackErrorCode(error);
      if (!code) return;
      // Not an assistant-enabled app, or not allowed here: no typing for this workspace.
      this.typingAllowed = false;
      this.logger.info({ code }, 'slack: thread status (typing) unavailable; turned off');
    }
  }

  async openThread(place: Place, fromMessageId: string): Promise<Place> {
    // Slack threads exist as soon as someone replies to a message.
    if (place.isDirect || place.threadId) return place;
    return placeFor(place.teamId ?? this.identity?.teamId ?? '', place.channelId, fromMessageId, false);
  }

  async startStream(place: Place, options: { persona?: Persona; recipientUserId?: string } = {}): Promise<NativeStream> {
    if (!this.streamingAllowed) throw new NativeStreamUnavailable('turned off for this workspace', true);
    // Slack streams are thread replies; DMs and whole channels are rendered with post + edit.
    if (!place.threadId) throw new NativeStreamUnavailable('no thread to stream into', false);
    if (!place.isDirect && !options.recipientUserId) throw new NativeStreamUnavailable('streams in channels need a recipient user', false);
    const persona = personaArgs(options.persona);
    const settings: StreamSettings = {
      api: this.api,
      logger: this.logger,
      signal: this.abort.signal,
      appendIntervalMs: this.tuning.streamAppendIntervalMs,
      fallbackMessageLength: this.limits.maxMessageLength,
      fallbackEditIntervalMs: this.limits.editIntervalMs,
      onUnavailable: (code) => this.latchStreamingOff(code),
    };
    try {
      return await SlackNativeStream.open(settings, {
        channel: place.channelId,
        threadTs: place.threadId,
        ...(options.recipientUserId && !place.isDirect ? { recipientUserId: options.recipientUserId, recipientTeamId: this.identity?.teamId ?? place.teamId ?? '' } : {}),
        ...(persona.username ? { username: persona.username } : {}),
        ...(persona.icon_url ? { iconUrl: persona.icon_url } : {}),
      });
    } catch (error) {
      if (error instanceof SlackAdapterStopped) throw error;
      const code = slackErrorCode(error);
      if (code && STREAMING_UNAVAILABLE_ERRORS.has(code)) {
        this.latchStreamingOff(code);
        throw new NativeStreamUnavailable(code, true);
      }
      throw new NativeStreamUnavailable(code ?? String(error), false);
    }
  }

  private latchStreamingOff(code: string): void {
    if (!this.streamingAllowed) return;
    this.streamingAllowed = false;
    this.logger.warn({ code }, 'slack: the workspace refuses native streaming; using post + edit from now on');
  }
}

/** A response_url answer: Markdown in a `markdown` block (the bridge writes Markdown), the plain text as the notification fallback. */
function responsePayload(text: string, ephemeral: boolean): Json {
  const markdown = text.length > 12_000 ? `${text.slice(0, 11_999)}…` : text;
  return { response_type: ephemeral ? 'ephemeral' : 'in_channel', text: markdown, blocks: [{ type: 'markdown', text: markdown }] };
}

function personaArgs(persona: Persona | undefined): { username?: string; icon_url?: string } {
  if (!persona) return {};
  return { ...(persona.name ? { username: persona.name } : {}), ...(persona.avatarUrl ? { icon_url: persona.avatarUrl } : {}) };
}

/** Bolt's logger interface over ours (Bolt's info chatter, e.g. socket reconnects, goes to debug). */
function toBoltLogger(logger: AdapterLogger): BoltLogger {
  const base = sdkLogger(logger, 'slack-bolt');
  let level = LogLevel.INFO;
  return { ...base, setLevel: (next: LogLevel) => void (level = next), getLevel: () => level };
}
