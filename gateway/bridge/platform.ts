/**
 * The platform-adapter seam of the gateway: one normalised model of places,
 * messages and operations that the platform-neutral bridge speaks, and that
 * each platform (Discord through discord.js, Slack through @slack/bolt)
 * implements. Every adapter passes the contract suite in
 * test/support/platform-contract.ts (`platformContract(name, setup)`), called
 * from each platform's own integration test file.
 *
 * The gateway imports `shared/` only, never `runtime/`.
 */

export type PlatformName = 'discord' | 'slack';

/**
 * Where a conversation lives on a platform: a Discord thread or DM, a Slack
 * thread, DM or whole channel. `key` is stable and unique per platform; it is
 * the binding key in the runtime (`PUT /api/bindings {platform, key}`).
 */
export interface Place {
  platform: PlatformName;
  /** Discord guild id or Slack team id; null for Discord DMs. */
  teamId: string | null;
  channelId: string;
  /** Discord thread channel id, or Slack thread_ts; null for a whole channel or a DM. */
  threadId: string | null;
  isDirect: boolean;
  /** e.g. `g123/c456/t789`, `T01/C02/1700000000.000100`, `dm/D03`. */
  key: string;
}

export interface PlatformUser {
  id: string;
  name: string;
  isBot: boolean;
  /** Discord role ids (for allow-lists); empty elsewhere. */
  roles: string[];
}

export interface Attachment {
  url: string;
  name?: string;
  mimeType?: string;
  /** The URL answers only with the bot's credentials (Slack's `url_private`): never hand it to a model to fetch. */
  private?: boolean;
  /** The bytes, base64, when the adapter fetched them for the model (gateway/bridge/inline-files.ts). */
  data?: string;
}

/** One inbound human message, normalised. */
export interface InboundMessage {
  /** Platform message id (Discord snowflake, Slack ts); with the place, unique. */
  id: string;
  /** Platform delivery id used to drop redeliveries (Slack event_id); defaults to `id`. */
  dedupeKey: string;
  place: Place;
  /**
   * Where the message was written, when it differs from where the
   * conversation should live (a mention in a channel opens a thread there).
   */
  opensThread: boolean;
  user: PlatformUser;
  /** Text with the bot's own mention removed. */
  text: string;
  attachments: Attachment[];
  mentionsBot: boolean;
  /** Handles mentioned (rooms: `@alex`), lowercased, without `@`. */
  mentions: string[];
}

/** A slash command, normalised (`/ask`, `/new`, `/stop`, `/preset`, `/status`, room commands). */
export interface InboundCommand {
  name: string;
  /** Named options (Discord) or the parsed text after the command (Slack: `text`). */
  options: Record<string, string>;
  text: string;
  place: Place;
  user: PlatformUser;
  dedupeKey: string;
  /** Answers the command (ephemeral when the platform allows). Must be called within the platform's deadline. */
  respond(text: string, options?: { ephemeral?: boolean }): Promise<void>;
}

/** How a message is shown: as the bot, or as a room persona. */
export interface Persona {
  name: string;
  avatarUrl?: string;
  color?: string;
}

export interface PostedMessage {
  id: string;
}

/** What the renderer needs to know to pace itself and split output. */
export interface PlatformLimits {
  /** Longest message text, in UTF-16 code units (Discord 2000; Slack text 40,000, updates 4,000). */
  maxMessageLength: number;
  /** Minimum interval between edits of one message, under the platform's limits. */
  editIntervalMs: number;
  /** How often typing must be re-sent to stay visible (Discord ~8 s); 0 if the platform has no typing. */
  typingIntervalMs: number;
}

/**
 * A native streaming message (Slack chat.startStream/appendStream/stopStream).
 * Adapters without native streaming leave `startStream` undefined, and the
 * renderer posts and edits instead.
 *
 * Contract as the Slack adapter implements it (gateway/slack/stream.ts):
 * - `append(text)` takes the next piece of the answer (a delta) and resolves
 *   once that text is on the platform, so a cursor stored after it is safe
 *   across a restart. Appends made while one is in flight are coalesced into
 *   the next call; the adapter paces the calls, splits pieces to the
 *   platform's per-call limit and waits out 429s. Not awaiting is fine
 *   (rejections are pre-handled), but then text is only known to be shown
 *   once `stop` resolves.
 * - `messageId` is the newest message: a stream that expires on the
 *   platform's side is continued in a fresh message without losing or
 *   doubling text (Slack also exposes `messageIds`).
 * - `stop(finalText)`: `finalText` is the COMPLETE text of the answer (all
 *   appends included); the adapter appends whatever part is missing, then
 *   ends the stream. A stream already ended by the platform counts as stopped.
 * - Rejections: an error with `code === 'stopped_by_user'` when the person
 *   pressed stop in Slack (treat it like /stop); otherwise a PlatformError.
 * - After a restart there is no NativeStream object for a message left
 *   streaming: `edit(place, messageId, fullText)` finishes it (the Slack
 *   adapter ends the stream, then sets the text).
 */
export interface NativeStream {
  readonly messageId: string;
  /** Every message the stream wrote into, oldest first; optional (default `[messageId]`). The renderer stores them for restarts. */
  readonly messageIds?: readonly string[];
  append(text: string): Promise<void>;
  stop(finalText?: string): Promise<void>;
}

/**
 * A failed platform operation, classified so the bridge can react (optional
 * for adapters: any other error is treated as `other`, retried a few times).
 * - `not_found`: the message/channel is gone (the renderer posts anew instead of editing);
 * - `forbidden`: missing permission (the renderer gives up on that place);
 * - `invalid`: the platform refused the request (too long, empty, an edit no
 *   longer allowed such as Discord's 30046): a refused edit is posted anew
 *   once, a refused post abandons that answer;
 * - `other`: network trouble, 5xx (retried with backoff).
 * 429s never surface: adapters wait `retry_after` and retry.
 */
export class PlatformError extends Error {
  constructor(
    readonly code: 'not_found' | 'forbidden' | 'invalid' | 'other',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PlatformError';
  }
}

/**
 * One text option of a slash command. Discord registers it as a string
 * option (with `choices`, or `autocomplete`); Slack has only the text after
 * the command, which fills the options in order: one word each, the last
 * option takes the rest (see parseCommandText in ./commands.ts).
 */
export interface CommandOption {
  name: string;
  description: string;
  required: boolean;
  /** A fixed list of values (Discord shows them as choices). */
  choices?: readonly string[];
  /** Values are suggested while typing (Discord autocomplete through InboundHandlers.complete). */
  autocomplete?: boolean;
}

/** A slash command the bridge answers; adapters register these (see gateway/bridge/commands.ts). */
export interface CommandSpec {
  name: string;
  description: string;
  /** Text options in order; required ones first (Discord's rule). */
  options?: readonly CommandOption[];
  /** Whether the answer is shown only to the person who ran it (adapters defer accordingly). */
  ephemeral: boolean;
}

/** A person typing a command option that has `autocomplete`: what they typed so far. */
export interface CompletionRequest {
  command: string;
  option: string;
  /** The text typed so far in that option. */
  value: string;
  /** The other options already filled in. */
  options: Record<string, string>;
  place: Place;
  user: PlatformUser;
}

/** One suggestion: `name` is shown, `value` is what the option gets. */
export interface Choice {
  name: string;
  value: string;
}

export interface InboundHandlers {
  message(message: InboundMessage): Promise<void>;
  command(command: InboundCommand): Promise<void>;
  /** Suggestions for an option being typed (at most 25); optional for handlers, adapters answer [] without it. */
  complete?(request: CompletionRequest): Promise<Choice[]>;
}

export interface PlatformAdapter {
  readonly platform: PlatformName;
  readonly limits: PlatformLimits;
  /** Connects and starts delivering inbound events to the handlers. */
  start(handlers: InboundHandlers): Promise<void>;
  stop(): Promise<void>;

  /**
   * Posts a message. `idempotencyKey` makes a retried post return the first
   * message instead of a second one (Discord nonce + enforce_nonce).
   * 429s are waited out (retry_after) inside the adapter, never dropped.
   */
  post(place: Place, text: string, options?: { persona?: Persona; replyTo?: string; idempotencyKey?: string }): Promise<PostedMessage>;
  edit(place: Place, messageId: string, text: string, options?: { persona?: Persona }): Promise<void>;
  react(place: Place, messageId: string, emoji: string): Promise<void>;
  /**
   * One typing pulse (the renderer repeats it at `limits.typingIntervalMs`).
   * Slack bots have typing only in threads (the thread status "is
   * thinking…"); for a Slack DM or whole channel this is a no-op.
   */
  typing(place: Place): Promise<void>;
  /** Opens a thread for a conversation from a message in a channel; returns the thread's place. */
  openThread(place: Place, fromMessageId: string, title: string): Promise<Place>;
  /**
   * Native streaming, when the platform has it (and the workspace allows it).
   * When a stream cannot be had, this rejects with an error whose `code` is
   * `'native_stream_unavailable'` (Slack: NativeStreamUnavailable in
   * gateway/slack/stream.ts): render that answer with post + edit instead.
   * Its `permanent` is true when the workspace refuses the methods (later
   * calls reject at once, without a platform call); false when only this
   * place or moment cannot stream (Slack: DMs and whole channels have no
   * thread to stream into; a channel stream needs `recipientUserId`, the
   * person being answered).
   */
  startStream?(place: Place, options?: { persona?: Persona; recipientUserId?: string }): Promise<NativeStream>;
}
