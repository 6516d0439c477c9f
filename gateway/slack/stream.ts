/**
 * One Slack native streaming answer (chat.startStream / chat.appendStream /
 * chat.stopStream) behind the bridge's NativeStream (gateway/bridge/platform.ts).
 * This file owns getting every character of the answer into Slack once:
 *
 * - `append(text)` queues the text and resolves when Slack has it (so a
 *   cursor stored after it is safe across a restart). Appends are sent one
 *   call at a time, at most one call per `appendIntervalMs` (default 1 s;
 *   chat.appendStream is Tier 4, 100/min per workspace); whatever was
 *   appended while a call was in flight goes in the next call, in
 *   `markdown_text` pieces of at most 12,000 characters (the per-argument
 *   limit; larger pieces get msg_too_long).
 * - ROLL: a stream ends on Slack's side after about 5 minutes however often
 *   it is appended to (`message_not_in_streaming_state`). A failed append
 *   changed nothing, so its text starts a fresh stream message in the same
 *   thread (chat.startStream with that text) and the answer continues there:
 *   nothing lost, nothing doubled. `messageId` is the newest message;
 *   `messageIds` all of them. An expired message that got no text at all is
 *   deleted.
 * - FALLBACK mid-answer: if the roll itself is refused because the workspace
 *   no longer allows streaming, the rest goes out with chat.postMessage and
 *   chat.update (new messages of at most `fallbackMessageLength`), and the
 *   adapter stops offering native streams.
 * - `stopped_by_user` (the person pressed stop in Slack): the stream fails
 *   with StreamStoppedByUser; pending text is dropped on purpose. The bridge
 *   should treat it as an interrupt.
 * - `stop(finalText?)`: `finalText` is the complete text of the answer; the
 *   part not yet appended is appended, then chat.stopStream. An already
 *   ended stream (expired, stopped by the user) counts as stopped.
 * - 429s are waited out by ./api.ts; appends are never repeated blindly
 *   after a lost response (it would double text): the stream fails instead,
 *   with a PlatformError (gateway/bridge/platform.ts), and every later
 *   append/stop rejects with it.
 *
 * Imports: ./api.ts and the platform types.
 */
import type { NativeStream } from '../bridge/platform.js';
import { sleep, slackErrorCode, toPlatformError, type AdapterLogger, type Json, type SlackApi } from './api.js';

/** Slack's limit on one `markdown_text` argument or chunk. */
export const MARKDOWN_CHUNK_LIMIT = 12_000;

/** Slack errors meaning the workspace (or app) does not offer the streaming methods at all. */
export const STREAMING_UNAVAILABLE_ERRORS: ReadonlySet<string> = new Set([
  'unknown_method',
  'method_not_supported',
  'method_deprecated',
  'not_allowed',
  'not_allowed_token_type',
  'feature_not_enabled',
  'not_enabled',
  'missing_scope',
  'no_permission',
  'access_denied',
  'restricted_action',
  'team_not_allowed',
]);

/**
 * `startStream` could not give a native stream: render with post + edit.
 * `permanent`: the workspace refuses the methods; the adapter will not try
 * again (later calls throw this at once). Otherwise only this place or this
 * moment cannot stream (a DM or whole channel has no thread to stream into,
 * no recipient was given for a channel, a one-off error).
 */
export class NativeStreamUnavailable extends Error {
  readonly code = 'native_stream_unavailable';
  constructor(
    readonly reason: string,
    readonly permanent: boolean,
  ) {
    super(`Slack native streaming unavailable: ${reason}`);
    this.name = 'NativeStreamUnavailable';
  }
}

/** The person pressed "stop" on the streaming message in Slack. */
export class StreamStoppedByUser extends Error {
  readonly code = 'stopped_by_user';
  constructor() {
    super('the user stopped the streaming message in Slack');
    this.name = 'StreamStoppedByUser';
  }
}

export interface StreamTarget {
  channel: string;
  threadTs: string;
  recipientUserId?: string;
  recipientTeamId?: string;
  username?: string;
  iconUrl?: string;
}

export interface StreamSettings {
  api: SlackApi;
  logger: AdapterLogger;
  signal: AbortSignal;
  appendIntervalMs: number;
  /** Longest message, and the pacing, of the post + edit fallback. */
  fallbackMessageLength: number;
  fallbackEditIntervalMs: number;
  /** The workspace refused streaming: latch it off. */
  onUnavailable(code: string): void;
}

/** chat.startStream arguments for a target (recipients only when given; DMs need none). */
export function startArgs(target: StreamTarget): Json {
  return {
    channel: target.channel,
    thread_ts: target.threadTs,
    ...(target.recipientUserId ? { recipient_user_id: target.recipientUserId } : {}),
    ...(target.recipientTeamId ? { recipient_team_id: target.recipientTeamId } : {}),
    ...(target.username ? { username: target.username } : {}),
    ...(target.iconUrl ? { icon_url: target.iconUrl } : {}),
  };
}

/**
 * The first at most `max` UTF-16 units of `text`, never splitting a
 * surrogate pair; with `preferBreak`, ending after the last line break in
 * the second half of that window when there is one.
 */
export function headChunk(text: string, max: number, preferBreak = false): string {
  if (text.length <= max) return text;
  let end = max;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  if (preferBreak) {
    const newline = text.lastIndexOf('\n', end - 1);
    if (newline >= Math.floor(max / 2)) end = newline + 1;
  }
  return text.slice(0, end);
}

interface Waiter {
  upTo: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class SlackNativeStream implements NativeStream {
  private readonly ids: string[];
  /** Text accepted but not yet on Slack. */
  private pending = '';
  /** Everything ever accepted (appends and the remainder given to stop). */
  private accepted = '';
  private delivered = 0;
  /** Characters in the newest stream message. */
  private inCurrent = 0;
  private waiters: Waiter[] = [];
  private loop: Promise<void> | null = null;
  private failure: Error | null = null;
  private lastCallAt = 0;
  private stopPromise: Promise<void> | null = null;
  /** Set once the stream went over to post + edit. */
  private fallback: { ts: string; text: string } | null = null;

  private constructor(
    private readonly settings: StreamSettings,
    private readonly target: StreamTarget,
    firstTs: string,
  ) {
    this.ids = [firstTs];
  }

  /** Starts the stream (chat.startStream). Errors are the caller's to map (./index.ts). */
  static async open(settings: StreamSettings, target: StreamTarget): Promise<SlackNativeStream> {
    const result = await settings.api.call('chat.startStream', startArgs(target));
    const ts = typeof result.ts === 'string' ? result.ts : '';
    if (!ts) throw new Error('chat.startStream answered without a ts');
    return new SlackNativeStream(settings, target, ts);
  }

  /** The newest message of this answer (the one still being written). */
  get messageId(): string {
    return this.ids[this.ids.length - 1] ?? '';
  }

  /** Every message this answer used, oldest first (more than one after a roll or fallback). */
  get messageIds(): readonly string[] {
    return [...this.ids];
  }

  /** Characters of the answer that are on Slack. */
  get deliveredLength(): number {
    return this.delivered;
  }

  append(text: string): Promise<void> {
    if (this.failure) return handled(Promise.reject(this.failure));
    if (this.stopPromise) return handled(Promise.reject(new Error('append after stop')));
    return this.enqueue(text);
  }

  stop(finalText?: string): Promise<void> {
    this.stopPromise ??= this.finish(finalText);
    return this.stopPromise;
  }

  // ---------------------------------------------------------------- internals

  private enqueue(text: string): Promise<void> {
    if (text.length === 0) return Promise.resolve();
    this.pending += text;
    this.accepted += text;
    const upTo = this.accepted.length;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ upTo, resolve, reject }));
    this.kick();
    return handled(done);
  }

  private kick(): void {
    if (this.loop || this.failure) return;
    this.loop = this.drain().finally(() => {
      this.loop = null;
      // Text appended between the loop's last check and here still goes out.
      if (this.pending.length > 0 && !this.failure) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.failure) {
      const interval = this.fallback ? this.settings.fallbackEditIntervalMs : this.settings.appendIntervalMs;
      try {
        const wait = this.lastCallAt + interval - Date.now();
        if (wait > 0) await sleep(wait, this.settings.signal);
        const piece = headChunk(this.pending, MARKDOWN_CHUNK_LIMIT);
        await this.deliver(piece);
        this.lastCallAt = Date.now();
        this.pending = this.pending.slice(piece.length);
        this.delivered += piece.length;
        this.settle();
      } catch (error) {
        this.fail(error instanceof StreamStoppedByUser ? error : toPlatformError(error, 'chat.appendStream'));
      }
    }
  }

  private settle(): void {
    const still: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.upTo <= this.delivered) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const waiter of this.waiters) waiter.reject(error);
    this.waiters = [];
    this.settings.logger.warn({ err: error.message, ts: this.messageId }, 'slack native stream failed');
  }

  /** One piece of text into Slack: append, or roll on expiry, or post + edit after a fallback. */
  private async deliver(piece: string): Promise<void> {
    if (this.fallback) return this.deliverByPost(piece);
    try {
      await this.settings.api.call('chat.appendStream', { channel: this.target.channel, ts: this.messageId, markdown_text: piece });
      this.inCurrent += piece.length;
    } catch (error) {
      const code = slackErrorCode(error);
      if (code === 'stopped_by_user') throw new StreamStoppedByUser();
      if (code !== 'message_not_in_streaming_state') throw error;
      await this.roll(piece);
    }
  }

  /** The current message ended on Slack's side: continue the answer in a fresh stream message that starts with `piece`. */
  private async roll(piece: string): Promise<void> {
    const expired = this.messageId;
    const wasEmpty = this.inCurrent === 0;
    let ts: string;
    try {
      const result = await this.settings.api.call('chat.startStream', { ...startArgs(this.target), markdown_text: piece });
      ts = typeof result.ts === 'string' ? result.ts : '';
      if (!ts) throw new Error('chat.startStream answered without a ts');
    } catch (error) {
      const code = slackErrorCode(error);
      if (!code || !STREAMING_UNAVAILABLE_ERRORS.has(code)) throw error;
      this.settings.onUnavailable(code);
      this.settings.logger.warn({ code, ts: expired }, 'slack refused a new stream; continuing with post + edit');
      await this.deliverByPost(piece);
      return;
    }
    this.ids.push(ts);
    this.inCurrent = piece.length;
    this.settings.logger.info({ from: expired, to: ts, delivered: this.delivered }, 'slack stream expired; continued in a new message');
    if (wasEmpty) {
      await this.settings.api.call('chat.delete', { channel: this.target.channel, ts: expired }, { idempotent: true }).catch(() => undefined);
      this.ids.splice(this.ids.indexOf(expired), 1);
    }
  }

  /** Post + edit: grow the last fallback message up to the limit, then post another. */
  private async deliverByPost(piece: string): Promise<void> {
    const limit = this.settings.fallbackMessageLength;
    let rest = piece;
    while (rest.length > 0) {
      const current = this.fallback;
      // What still fits in the last message ('' when only half a surrogate pair would).
      const fits = current ? headChunk(rest, Math.max(0, limit - current.text.length)) : '';
      if (current && fits.length > 0) {
        await this.settings.api.call('chat.update', { channel: this.target.channel, ts: current.ts, markdown_text: current.text + fits }, { idempotent: true });
        current.text += fits;
        rest = rest.slice(fits.length);
        continue;
      }
      const part = headChunk(rest, limit, true);
      const result = await this.settings.api.call(
        'chat.postMessage',
        {
          channel: this.target.channel,
          thread_ts: this.target.threadTs,
          markdown_text: part,
          ...(this.target.username ? { username: this.target.username } : {}),
          ...(this.target.iconUrl ? { icon_url: this.target.iconUrl } : {}),
        },
        { rateKey: `chat.postMessage:${this.target.channel}` },
      );
      const ts = typeof result.ts === 'string' ? result.ts : '';
      this.fallback = { ts, text: part };
      this.ids.push(ts);
      rest = rest.slice(part.length);
    }
  }

  private async finish(finalText: string | undefined): Promise<void> {
    if (finalText !== undefined && !this.failure) {
      if (finalText.startsWith(this.accepted)) {
        await this.enqueue(finalText.slice(this.accepted.length)).catch(() => undefined);
      } else {
        this.settings.logger.warn(
          { streamed: this.accepted.length, final: finalText.length, ts: this.messageId },
          'slack stream: the final text does not continue the appended text; keeping what was streamed',
        );
      }
    }
    while (this.loop) await this.loop;
    if (this.failure) throw this.failure;
    if (this.fallback) return;
    try {
      await this.settings.api.call('chat.stopStream', { channel: this.target.channel, ts: this.messageId }, { idempotent: true });
    } catch (error) {
      const code = slackErrorCode(error);
      // Already final on Slack's side: everything delivered is in it.
      if (code === 'message_not_in_streaming_state' || code === 'stopped_by_user') return;
      throw toPlatformError(error, 'chat.stopStream');
    }
  }
}

/** Marks a promise as handled (a caller that does not await it will not crash the process); awaiting it still throws. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
