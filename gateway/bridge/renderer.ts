/**
 * Turns the events of ONE session (a "turn": one agent answer) into platform
 * messages: post early, edit at the platform's pace, split long text into
 * several messages, one status line for tools, a last line for errors, and a
 * final edit that is exact. ./subscription.ts creates one TurnRenderer per
 * main session it sees and feeds it that session's events in order.
 *
 * What is shown. The answer text is every TEXT_MESSAGE_CONTENT delta of the
 * session, in order (two model calls in one session are joined by a blank
 * line). It is split with shared/text's StreamSplitter at `limit` =
 * maxMessageLength - RESERVE: chunk i of the split lives in platform message
 * i (frozen chunks plus the first live one are shown; the rest of the text
 * waits until that one freezes, which is about when it is full). While the run works, the last message also carries one status line
 * ("🔧 running `search_files`…", or "💭 thinking…" when reasoning is shown);
 * at the end it carries nothing for a finished run, "⏹️ Stopped." for an
 * interrupted one, "⚠️ <message>" for another error, or the agent's question
 * when it waits for the user. So when a run finishes normally, joining the
 * messages and removing the fence lines the splitter added (reopen/close)
 * gives exactly the model's text. RESERVE keeps room for the status line and
 * a persona-name prefix, so no message ever passes the platform's limit.
 *
 * Pacing. All platform writes of a turn go through one loop, one write at a
 * time. The first visible content is posted at once; after that the loop
 * runs at most every `limits.editIntervalMs`, and each pass posts the chunks
 * that are new and edits the ones whose text changed (unchanged text is never
 * re-sent). Frozen chunks (StreamSplitter) get their final edit once and are
 * left alone afterwards. The terminal event flushes at once. Failed writes
 * are retried with backoff; a message that was deleted, or can no longer be
 * edited, is posted anew.
 *
 * Typing. Pulsed when the turn starts and every `limits.typingIntervalMs`
 * while it runs (and right after each new post, which clears it on Discord);
 * stopped at the terminal event, on errors and on dispose().
 *
 * Room personas. A session whose events carry `speaker` is one persona's
 * turn in a room; it posts as that persona (name and avatar, ./platform.ts
 * Persona) in messages of its own, never in another persona's. Such a turn
 * shows no status line while it has no text (a persona that only votes or
 * opts out, ROOM_TOOL_NAMES in ./rooms.ts, leaves no "running…" or "✅
 * Done." message behind), never shows the room's own tools as running, and
 * a turn stopped before it said anything posts nothing. Its question
 * (ask_user) and its errors are shown.
 *
 * Native streaming. When the adapter offers `startStream` (Slack), a turn
 * is streamed instead: the stream starts with the first visible text, each
 * pass appends the new text, and the end stops it with the complete text
 * plus the last line. Status lines are not streamed (typing shows progress).
 * If the platform refuses streaming, or a stream fails mid-answer, the turn
 * goes on with posts and edits, editing the messages the stream created. A
 * stream the person stopped on the platform (`stopped_by_user`) interrupts
 * the run (`onStoppedByUser`). A restored turn always uses posts and edits.
 *
 * Restart safety. After each new post the message ids are handed to
 * `saveState` (urgent: the caller stores them before the next write), plus
 * how many messages hold their final text. Given that state back
 * (`restored`), a renderer replaying the same session's events edits the
 * same messages instead of posting new ones; posts carry an idempotency key
 * `<session id>:<chunk index>` so a post whose id was never stored is not
 * doubled either.
 */
import type { Logger } from 'pino';
import type { ConclaveEvent, Speaker } from '../../shared/protocol/events.js';
import { CustomName, EventType, RunErrorCode } from '../../shared/protocol/events.js';
import { StreamSplitter, type StreamSnapshot } from '../../shared/text/index.js';
import type { StoredTurn } from './binding-writer.js';
import { PlatformError, type NativeStream, type Persona, type Place, type PlatformAdapter } from './platform.js';
import { ROOM_TOOL_NAMES } from './rooms.js';

/** Characters kept free in every message for the status / last line or a persona prefix. */
export const RESERVE = 200;
/** Longest status or last line; longer ones are cut with "…". */
const LINE_MAX = 100;
/** Consecutive failed passes after which the turn is given up. */
const MAX_FAILURES = 8;
/** Shown in place of a chunk made only of blanks (platforms refuse empty messages). */
const BLANK_PLACEHOLDER = '\u200b';

export interface RendererSettings {
  /** `hidden`: reasoning is not shown; `status`: "💭 thinking…" while the model reasons. */
  reasoning: 'hidden' | 'status';
  /** Overrides the adapter's edit interval when larger (0: the adapter's). */
  editIntervalMs: number;
}

export interface TurnRendererOptions {
  adapter: PlatformAdapter;
  place: Place;
  sessionId: string;
  /** State stored for this session before a restart, or null. */
  restored: StoredTurn | null;
  settings: RendererSettings;
  logger: Logger;
  /** Resolves the persona a speaker is shown as. */
  persona: (speaker: Speaker) => Promise<Persona>;
  /** Stores the turn's state; the renderer waits for urgent saves (a new message id) before writing on. */
  saveState: (turn: StoredTurn, urgent: boolean) => Promise<void>;
  /** The platform user a native stream is addressed to (Slack needs one in channels). */
  recipientUserId?: () => string | null;
  /** The person stopped the native stream on the platform: interrupt the run. */
  onStoppedByUser?: () => void;
}

interface PostedMessage {
  id: string;
  /** The text the platform holds; null when unknown (restored after a restart). */
  content: string | null;
}

interface DesiredMessage {
  /** null: not ready to post yet (only blanks so far). */
  content: string | null;
  final: boolean;
}

export class TurnRenderer {
  readonly sessionId: string;
  readonly startedAt = Date.now();
  /** The last `usage` CUSTOM value of the session (per model). */
  usage: Record<string, unknown> | null = null;

  private text = '';
  private separatorPending = false;
  private readonly runningTools = new Map<string, string>();
  private reasoning = false;
  private lastLine: string | null = null;
  private done = false;
  private speaker: Speaker | null = null;
  private personaPromise: Promise<Persona | undefined> | null = null;

  private splitter: StreamSplitter;
  private finishedSnapshot: StreamSnapshot | null = null;
  private readonly limit: number;
  private readonly posted: PostedMessage[] = [];
  /** Messages (from the start) that hold their final text. */
  private finalized = 0;
  /** How many of the restored messages were already final before the restart. */
  private readonly restoredFinal: number;
  private reposts = 0;

  /** `native`: streamed with adapter.startStream; `edit`: posted and edited. */
  private mode: 'native' | 'edit';
  private stream: NativeStream | null = null;
  /** Characters of `text` appended to the stream. */
  private streamed = 0;
  private streamStopped = false;

  private timer: NodeJS.Timeout | null = null;
  /** When the planned pass runs (ms since the epoch). */
  private timerDue = 0;
  /** No pass before this time (a failed write's backoff). */
  private retryAt = 0;
  private flushing = false;
  private dirty = false;
  private lastWriteAt = 0;
  private failures = 0;
  private gaveUp = false;
  private disposed = false;
  private idleWaiters: Array<() => void> = [];
  private typingTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: TurnRendererOptions) {
    this.sessionId = options.sessionId;
    const max = options.adapter.limits.maxMessageLength;
    this.limit = Math.max(2, max - Math.min(RESERVE, Math.floor(max / 4)));
    this.splitter = new StreamSplitter(this.limit);
    const restored = options.restored;
    if (restored) {
      for (const id of restored.message_ids) this.posted.push({ id, content: null });
      this.restoredFinal = Math.min(restored.finalized, restored.message_ids.length);
      this.finalized = this.restoredFinal;
      // Replayed events arrive in a burst: let them land before the first edit.
      this.lastWriteAt = Date.now();
    } else {
      this.restoredFinal = 0;
    }
    this.mode = options.adapter.startStream && !restored ? 'native' : 'edit';
  }

  /** The answer text so far. */
  get answer(): string {
    return this.text;
  }

  /** True once dispose() was called (before or after the final text). */
  get wasDisposed(): boolean {
    return this.disposed;
  }

  get isDone(): boolean {
    return this.done;
  }

  /** Platform ids of the turn's messages so far. */
  get messageIds(): string[] {
    return this.posted.map((m) => m.id);
  }

  /** Takes one event of this session (in log order). */
  handle(event: ConclaveEvent): void {
    if (this.done || this.disposed) return;
    if (event.speaker && !this.speaker) this.setSpeaker(event.speaker);
    switch (event.type) {
      case EventType.RUN_STARTED:
        this.startTyping();
        return;
      case EventType.TEXT_MESSAGE_START:
        if (this.text.length > 0) this.separatorPending = true;
        return;
      case EventType.TEXT_MESSAGE_CONTENT:
      case EventType.TEXT_MESSAGE_CHUNK: {
        const delta = typeof event.delta === 'string' ? event.delta : '';
        if (delta === '') return;
        if (this.separatorPending) {
          this.separatorPending = false;
          if (!this.text.endsWith('\n\n')) this.text += this.text.endsWith('\n') ? '\n' : '\n\n';
        }
        this.text += delta;
        this.changed();
        return;
      }
      case EventType.TOOL_CALL_START: {
        const name = String(event.toolCallName ?? 'a tool');
        this.startTyping();
        if (this.speaker && ROOM_TOOL_NAMES.has(name)) return; // a persona steering the room: nothing to show
        this.runningTools.set(String(event.toolCallId ?? ''), name);
        this.changed();
        return;
      }
      case EventType.TOOL_CALL_RESULT:
        if (this.runningTools.delete(String(event.toolCallId ?? ''))) this.changed();
        return;
      case EventType.REASONING_START:
      case EventType.REASONING_MESSAGE_START:
        if (this.options.settings.reasoning === 'status' && !this.reasoning) {
          this.reasoning = true;
          this.changed();
        }
        return;
      case EventType.REASONING_END:
      case EventType.REASONING_MESSAGE_END:
        if (this.reasoning) {
          this.reasoning = false;
          this.changed();
        }
        return;
      case EventType.CUSTOM:
        this.onCustom(event);
        return;
      case EventType.RUN_FINISHED:
        this.finish(null);
        return;
      case EventType.RUN_ERROR:
        this.finish(errorLine({ code: event.code, message: event.message }));
        return;
      default:
        return;
    }
  }

  /**
   * Ends the turn without its events (they expired from the log): shows
   * `finalText` (the session's stored final message) and an optional last line.
   */
  finishWith(finalText: string, lastLine: string | null): void {
    if (this.done) return;
    if (!finalText.startsWith(this.text)) this.splitter = new StreamSplitter(this.limit);
    this.text = finalText;
    this.finish(lastLine);
  }

  /** Resolves once the final text is on the platform (or the turn was given up). */
  async complete(): Promise<void> {
    if (!this.done) this.finish(null);
    await this.whenIdle();
  }

  /** Stops timers and typing; pending writes are abandoned. */
  dispose(): void {
    this.disposed = true;
    this.stopTyping();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.releaseIdle();
  }

  // ------------------------------------------------------------ model

  private onCustom(event: ConclaveEvent): void {
    const value = (event.value ?? {}) as Record<string, unknown>;
    if (event.name === CustomName.usage) {
      this.usage = value;
    } else if (event.name === CustomName.awaitingUser) {
      const questions = Array.isArray(value.questions) ? value.questions.filter((q): q is string => typeof q === 'string' && q !== '') : [];
      const calls = Array.isArray(value.calls) ? (value.calls as Array<Record<string, unknown>>) : [];
      const approval = calls.find((c) => c.kind === 'approval');
      if (questions.length > 0) this.lastLine = `❓ ${questions.join(' / ')}`;
      else if (approval) this.lastLine = `⏸️ waiting for approval of \`${String(approval.tool_name ?? 'a tool')}\`: /approve or /deny`;
      else this.lastLine = '⏸️ waiting for input';
    }
  }

  private setSpeaker(speaker: Speaker): void {
    this.speaker = speaker;
    this.personaPromise = this.options.persona(speaker).catch((error: unknown) => {
      this.options.logger.warn({ err: error, speaker }, 'could not resolve the persona; posting as the bot');
      return undefined;
    });
  }

  private finish(lastLine: string | null): void {
    if (this.done) return;
    this.done = true;
    if (lastLine !== null) this.lastLine = lastLine;
    this.runningTools.clear();
    this.reasoning = false;
    this.stopTyping();
    this.changed();
  }

  private statusLine(): string | null {
    if (this.speaker && this.text.trim() === '' && this.posted.length === 0) {
      // A persona turn with nothing said yet: no message only to show progress or
      // that it was stopped; its question or its error is still worth one.
      if (!this.done || this.lastLine === errorLine({ code: RunErrorCode.interrupted })) return null;
    }
    if (this.done) return this.lastLine;
    if (this.runningTools.size > 0) {
      const names = [...this.runningTools.values()];
      const more = names.length > 1 ? ` (+${names.length - 1} more)` : '';
      return `🔧 running \`${names.at(-1)}\`…${more}`;
    }
    if (this.reasoning) return '💭 thinking…';
    return null;
  }

  /** What each platform message should say now. */
  private desired(): DesiredMessage[] {
    let snapshot: StreamSnapshot;
    if (this.done) snapshot = this.finishedSnapshot ??= this.splitter.finish(this.text);
    else snapshot = this.splitter.update(this.text);
    // Only the first live piece is shown: later live pieces may still merge
    // into it, and a message posted for one of them could be left over.
    const pieces = [...snapshot.frozen, ...snapshot.live.slice(0, 1)];
    const messages: DesiredMessage[] = pieces.map((piece, i) => ({
      content: piece.chunk,
      final: this.done || i < snapshot.frozen.length,
    }));
    const line = this.statusLine();
    if (line !== null) {
      const shown = line.length > LINE_MAX ? `${line.slice(0, LINE_MAX - 1)}…` : line;
      const last = messages.at(-1);
      if (!last) messages.push({ content: shown, final: this.done });
      else {
        const body = last.content ?? '';
        last.content = body.trim() === '' ? shown : `${body}${body.endsWith('\n') ? '\n' : '\n\n'}${shown}`;
      }
    }
    // A turn that showed only a status line and ended without text must not leave "running…" behind.
    if (this.done && messages.length === 0 && this.posted.length > 0) messages.push({ content: '✅ Done.', final: true });
    for (const message of messages) {
      if (message.content !== null && message.content.trim() === '') {
        message.content = message.final ? BLANK_PLACEHOLDER : null;
      }
    }
    return messages;
  }

  // ------------------------------------------------------------ pacing

  private changed(): void {
    if (this.disposed || this.gaveUp) return;
    this.dirty = true;
    const firstPost = this.posted.length === 0;
    this.schedule(this.done || firstPost);
  }

  private get interval(): number {
    return Math.max(this.options.adapter.limits.editIntervalMs, this.options.settings.editIntervalMs);
  }

  private schedule(immediate: boolean): void {
    if (this.disposed || this.gaveUp || this.flushing) return; // a running pass re-schedules when it ends
    const now = Date.now();
    let wait = immediate ? 0 : Math.max(0, this.lastWriteAt + this.interval - now);
    wait = Math.max(wait, this.retryAt - now); // after a failure, nothing before the backoff is over
    if (this.timer) {
      if (now + wait >= this.timerDue) return; // the pass already planned comes sooner
      clearTimeout(this.timer);
    }
    this.timerDue = now + wait;
    this.timer = setTimeout(() => void this.runPass(), wait);
  }

  private async runPass(): Promise<void> {
    this.timer = null;
    if (this.disposed || this.gaveUp) return this.releaseIdle();
    this.flushing = true;
    this.dirty = false;
    try {
      const wrote = await this.writePass();
      if (wrote) this.lastWriteAt = Date.now();
      this.failures = 0;
      this.retryAt = 0;
    } catch (error) {
      this.dirty = true;
      this.failures += 1;
      if (error instanceof PlatformError && (error.code === 'forbidden' || error.code === 'invalid')) {
        this.giveUp(error);
      } else if (this.failures >= MAX_FAILURES) {
        this.giveUp(error);
      } else {
        this.retryAt = Date.now() + Math.min(30_000, 500 * 2 ** (this.failures - 1));
        this.options.logger.warn({ err: error, sessionId: this.sessionId, attempt: this.failures }, 'a platform write failed; retrying');
      }
    } finally {
      this.flushing = false;
    }
    if (this.gaveUp || this.disposed) return this.releaseIdle();
    if (this.dirty) this.schedule(this.done);
    else this.releaseIdle();
  }

  /** One pass over the messages: posts what is new, edits what changed. Returns whether it wrote anything. */
  private async writePass(): Promise<boolean> {
    const { adapter, place } = this.options;
    const persona = this.personaPromise ? await this.personaPromise : undefined;
    if (this.mode === 'native') {
      const wrote = await this.nativePass(persona);
      if (wrote !== null) return wrote;
    }
    const desired = this.desired();
    let wrote = false;
    for (let i = 0; i < desired.length; i += 1) {
      const want = desired[i]!;
      if (want.content === null) break; // only blanks so far: wait for more
      const have = this.posted[i];
      if (!have) {
        const key = this.reposts === 0 ? `${this.sessionId}:${i}` : `${this.sessionId}:${i}:${this.reposts}`;
        const message = await adapter.post(place, want.content, { ...(persona && { persona }), idempotencyKey: key });
        this.posted[i] = { id: message.id, content: want.content };
        wrote = true;
        if (want.final) this.finalized = Math.max(this.finalized, i + 1);
        await this.options.saveState(this.stored(), true);
        if (!this.done) this.pulseTyping();
        continue;
      }
      if (have.content === null && i < this.restoredFinal) {
        have.content = want.content; // final before the restart: the same text (the replay is deterministic)
        continue;
      }
      if (have.content !== want.content) {
        try {
          await adapter.edit(place, have.id, want.content, persona ? { persona } : undefined);
        } catch (error) {
          // Someone deleted the message, or the platform no longer lets it be edited
          // (Discord 30046: too many edits of a message older than an hour): post this chunk again.
          if (!(error instanceof PlatformError && (error.code === 'not_found' || error.code === 'invalid'))) throw error;
          this.options.logger.warn({ sessionId: this.sessionId, messageId: have.id, err: error }, 'a message of the turn cannot be edited; posting it again');
          this.reposts += 1;
          const key = `${this.sessionId}:${i}:${this.reposts}`;
          const message = await adapter.post(place, want.content, { ...(persona && { persona }), idempotencyKey: key });
          this.posted[i] = { id: message.id, content: want.content };
          await this.options.saveState(this.stored(), true);
          wrote = true;
          continue;
        }
        have.content = want.content;
        wrote = true;
      }
      if (want.final && i + 1 > this.finalized) {
        this.finalized = i + 1;
        void this.options.saveState(this.stored(), false);
      }
    }
    return wrote;
  }

  /**
   * One pass of native streaming: start, append what is new, stop at the end.
   * Returns null when the turn switched to posts and edits (then the caller
   * runs an edit pass).
   */
  private async nativePass(persona: Persona | undefined): Promise<boolean | null> {
    const { adapter, place } = this.options;
    try {
      let wrote = false;
      if (!this.stream) {
        if (this.text.trim() === '') {
          if (!this.done) return false; // status lines are not streamed; wait for text
          this.mode = 'edit'; // nothing to stream: show the last line by posting
          return null;
        }
        const recipientUserId = this.options.recipientUserId?.() ?? undefined;
        this.stream = await adapter.startStream!(place, { ...(persona && { persona }), ...(recipientUserId && { recipientUserId }) });
        await this.saveStreamIds(true);
      }
      if (!this.streamStopped && this.text.length > this.streamed) {
        const piece = this.text.slice(this.streamed);
        await this.stream.append(piece);
        this.streamed += piece.length;
        wrote = true;
      }
      if (this.done && !this.streamStopped) {
        const line = this.statusLine();
        await this.stream.stop(line ? `${this.text}${this.text.endsWith('\n') ? '\n' : '\n\n'}${line}` : this.text);
        // stop() delivered whatever the appends had not: the whole text is on the platform.
        this.streamStopped = true;
        this.streamed = this.text.length;
        wrote = true;
      }
      await this.saveStreamIds(false);
      return wrote;
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (code === 'stopped_by_user') this.options.onStoppedByUser?.();
      if (code === 'native_stream_unavailable') this.options.logger.debug({ err: error }, 'native streaming unavailable; posting and editing');
      else this.options.logger.warn({ err: error, sessionId: this.sessionId }, 'the native stream failed; going on with posts and edits');
      // Go on with posts and edits, editing whatever messages the stream made.
      this.mode = 'edit';
      for (const id of this.stream ? streamIds(this.stream) : []) {
        if (!this.posted.some((m) => m.id === id)) this.posted.push({ id, content: null });
      }
      this.stream = null;
      return null;
    }
  }

  /** Stores the stream's message ids when they changed (a stream may roll onto a new message). */
  private async saveStreamIds(force: boolean): Promise<void> {
    if (!this.stream) return;
    const ids = streamIds(this.stream);
    const known = this.posted.map((m) => m.id);
    if (!force && ids.length === known.length && ids.every((id, i) => id === known[i])) return;
    this.posted.length = 0;
    for (const id of ids) this.posted.push({ id, content: null });
    await this.options.saveState(this.stored(), true);
  }

  private stored(): StoredTurn {
    return { session_id: this.sessionId, message_ids: this.posted.map((m) => m.id), finalized: this.finalized };
  }

  private giveUp(error: unknown): void {
    this.gaveUp = true;
    this.stopTyping();
    this.options.logger.error({ err: error, sessionId: this.sessionId, place: this.options.place.key }, 'cannot write to the platform; this answer is abandoned');
  }

  private whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.disposed || this.gaveUp || (!this.flushing && !this.timer && !this.dirty);
  }

  private releaseIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  // ------------------------------------------------------------ typing

  private startTyping(): void {
    const every = this.options.adapter.limits.typingIntervalMs;
    if (this.typingTimer || this.done || this.disposed || every <= 0) return;
    this.pulseTyping();
    this.typingTimer = setInterval(() => this.pulseTyping(), every);
    this.typingTimer.unref();
  }

  private pulseTyping(): void {
    if (this.done || this.disposed || this.options.adapter.limits.typingIntervalMs <= 0) return;
    this.options.adapter.typing(this.options.place).catch((error: unknown) => {
      this.options.logger.debug({ err: error }, 'typing pulse failed');
    });
  }

  private stopTyping(): void {
    if (this.typingTimer) clearInterval(this.typingTimer);
    this.typingTimer = null;
  }
}

/** Every message a native stream wrote into, oldest first. */
function streamIds(stream: NativeStream): string[] {
  return stream.messageIds && stream.messageIds.length > 0 ? [...stream.messageIds] : [stream.messageId];
}

/** The last line of a failed run. */
export function errorLine(event: { code?: unknown; message?: unknown }): string {
  if (event.code === RunErrorCode.interrupted) return '⏹️ Stopped.';
  const message = typeof event.message === 'string' && event.message.trim() !== '' ? event.message.trim() : 'the run failed';
  return `⚠️ ${message}`;
}
