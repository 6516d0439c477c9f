/**
 * One binding's follow-live subscription: the conversation's event stream
 * (GET /api/conversations/:id/events, resumed from the binding's cursor)
 * rendered into the binding's place, whatever started the runs — a person on
 * the platform, the web UI, the API, or a mailbox continuation.
 *
 * Turns and the cursor. Events of a main session (no `subagentRunId`) go to
 * one TurnRenderer per session ("turn"). The stored cursor only ever moves
 * to the terminal event of a turn whose final text is on the platform (or to
 * events outside any turn), and `state.turn` holds the platform message ids
 * of the turn in flight. After a restart the stream resumes from the cursor:
 * the turn in flight is replayed from its first event, and the renderer,
 * given the stored message ids, keeps editing the same messages. Turns
 * before the cursor are never seen again, so they are never re-posted.
 *
 * Background subagents' events are not rendered (their results reach the
 * conversation through its mailbox, and the continuation run renders as a
 * turn); the subscription only counts them for /status.
 *
 * Rooms. A persona's turn is a session like any other (its events carry
 * `speaker`, so the renderer posts as the persona). The room-level events of
 * a run (turn_started, turn_skipped, vote_cast, tally, room_finished) carry
 * the run id as their sessionId and are handled outside turns, never as one:
 * `room_finished` may post one short notice (a result table, "⏹️ Room
 * stopped."; ./rooms.ts), after the last turn's text is on the platform, and
 * the cursor moves past it once that notice is posted. The subscription also
 * remembers the run in progress (for /status) and the personas' names (for
 * the result table).
 *
 * If the stream reports `stream_reset` (the cursor outlived the runtime's
 * event retention), events already seen are skipped by id, and a turn whose
 * events are gone is finished from the session's stored final message.
 */
import type { Logger } from 'pino';
import { ConclaveApiError, isStreamReset, type ConclaveClient, type EventItem } from '../../shared/client/index.js';
import { CustomName, EventType, isTerminal, type ConclaveEvent, type Speaker } from '../../shared/protocol/events.js';
import { BindingWriter, type StoredState, type StoredTurn } from './binding-writer.js';
import { PlatformError, type Persona, type Place, type PlatformAdapter } from './platform.js';
import { errorLine, TurnRenderer, type RendererSettings } from './renderer.js';
import { isRoomEvent, roomFinishedText } from './rooms.js';

/** What the bridge knows about a binding. */
export interface BindingRecord {
  id: string;
  /** `<platform>:<place key>` */
  key: string;
  conversationId: string;
  place: Place;
  cursor: string | null;
  state: StoredState;
}

export interface SubscriptionDeps {
  /** The service client (not acting for a user): it sees every bound conversation. */
  client: ConclaveClient;
  adapter: PlatformAdapter;
  settings: RendererSettings;
  logger: Logger;
  persona: (conversationId: string, speaker: Speaker) => Promise<Persona>;
  /** The binding or its conversation is gone: the bridge forgets the subscription. */
  onGone: (subscription: Subscription) => void;
  /** Throttle of cursor writes outside turns. */
  cursorThrottleMs?: number;
}

export class Subscription {
  /** When an event last arrived (or the subscription started). */
  lastActivityAt = Date.now();
  /** The usage of the last finished turn. */
  lastUsage: Record<string, unknown> | null = null;
  /** Background subagent sessions seen running. */
  readonly backgroundRuns = new Set<string>();
  /** The platform user id of the last person who sent a message here (native streams are addressed to them). */
  lastRequester: string | null = null;
  /** The room run in progress (from its turn_started events), for /status; null when none is seen. */
  roomRun: { runId: string; turn: number; speaker: string } | null = null;
  /** Room personas' display names by handle, from turn_started events (the result table shows them). */
  readonly roomNames = new Map<string, string>();

  private turn: TurnRenderer | null = null;
  /** Id of the last event handled (the stream's resume point in memory). */
  private lastSeen: string | null;
  private abort = new AbortController();
  private loop: Promise<void> | null = null;
  private writer: BindingWriter;
  private stopped = false;

  constructor(
    readonly binding: BindingRecord,
    private readonly deps: SubscriptionDeps,
  ) {
    this.lastSeen = binding.cursor;
    this.writer = this.newWriter();
  }

  get conversationId(): string {
    return this.binding.conversationId;
  }

  get place(): Place {
    return this.binding.place;
  }

  /** The session being rendered now, if any. */
  get activeSessionId(): string | null {
    return this.turn && !this.turn.isDone ? this.turn.sessionId : null;
  }

  get activeSince(): number | null {
    return this.turn && !this.turn.isDone ? this.turn.startedAt : null;
  }

  start(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.run(this.abort.signal);
  }

  /** Stops following; pending state is stored first. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.halt();
    await this.writer.close();
  }

  /**
   * Points the subscription at another conversation (`/new`); the caller has
   * already stored the new conversation id with a null cursor and empty state.
   */
  async switchConversation(conversationId: string): Promise<void> {
    await this.halt();
    await this.writer.close();
    this.binding.conversationId = conversationId;
    this.binding.cursor = null;
    this.binding.state = {};
    this.lastSeen = null;
    this.roomRun = null;
    this.roomNames.clear();
    this.writer = this.newWriter();
    this.abort = new AbortController();
    if (!this.stopped) this.start();
  }

  private newWriter(): BindingWriter {
    return new BindingWriter(this.deps.client, this.binding.id, {
      logger: this.deps.logger,
      ...(this.deps.cursorThrottleMs !== undefined && { throttleMs: this.deps.cursorThrottleMs }),
      onGone: () => this.deps.onGone(this),
    });
  }

  /** Ends the stream loop and drops the turn in progress (its state stays stored). */
  private async halt(): Promise<void> {
    this.abort.abort();
    this.turn?.dispose(); // unblocks a loop waiting for the turn's last writes
    await this.loop?.catch(() => undefined);
    this.loop = null;
    this.turn = null;
  }

  // ------------------------------------------------------------ the loop

  private async run(signal: AbortSignal): Promise<void> {
    const { logger } = this.deps;
    let failures = 0;
    while (!signal.aborted) {
      const stream = this.deps.client.conversationEvents(this.binding.conversationId, {
        after: this.lastSeen,
        signal,
        onReconnect: (info) => logger.debug({ binding: this.binding.key, attempt: info.attempt, err: info.error }, 'event stream reconnecting'),
      });
      try {
        for await (const item of stream) {
          failures = 0;
          try {
            await this.onItem(item);
          } catch (error) {
            logger.error({ err: error, binding: this.binding.key, type: item.event.type }, 'rendering an event failed');
          }
        }
        return; // only ends when aborted
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ConclaveApiError && (error.status === 404 || error.status === 403)) {
          logger.warn({ binding: this.binding.key, conversationId: this.binding.conversationId }, 'the bound conversation is gone; not following it any more');
          this.deps.onGone(this);
          return;
        }
        failures += 1;
        const delayMs = Math.min(30_000, 1000 * 2 ** Math.min(failures, 5));
        logger.warn({ err: error, binding: this.binding.key, delayMs }, 'the event stream failed; following again shortly');
        await sleep(delayMs, signal);
      }
    }
  }

  private async onItem({ id, event }: EventItem): Promise<void> {
    if (isStreamReset(event)) {
      await this.onReset();
      return;
    }
    if (id !== null && this.lastSeen !== null && compareEventIds(id, this.lastSeen) <= 0) return; // seen before a reset
    const previous = this.lastSeen;
    if (id !== null) this.lastSeen = id;
    this.lastActivityAt = Date.now();

    if (isRoomEvent(event)) {
      await this.onRoomEvent(id, event);
      return;
    }
    const sessionId = typeof event.sessionId === 'string' ? event.sessionId : null;
    if (sessionId === null || event.subagentRunId !== undefined) {
      this.trackBackground(event);
      if (!this.turn && id !== null) this.moveCursor(id);
      return;
    }
    if (this.turn && this.turn.sessionId !== sessionId) {
      // A new session began before the last one's terminal event (which will not come now).
      this.deps.logger.warn({ binding: this.binding.key, sessionId: this.turn.sessionId }, 'a turn ended without a terminal event');
      await this.endTurn(previous);
    }
    if (!this.turn) {
      if (isTerminal(event) && event.type === EventType.RUN_FINISHED) {
        if (id !== null) this.moveCursor(id); // the end of a session we never saw start: nothing to show
        return;
      }
      this.turn = this.newTurn(sessionId);
    }
    this.turn.handle(event);
    if (isTerminal(event)) await this.endTurn(id);
  }

  private newTurn(sessionId: string): TurnRenderer {
    const stored = this.binding.state.turn;
    let restored: StoredTurn | null = null;
    if (stored?.session_id === sessionId) restored = stored;
    else if (stored) this.deps.logger.warn({ binding: this.binding.key, stored: stored.session_id, sessionId }, 'dropping stored state of another turn');
    return new TurnRenderer({
      adapter: this.deps.adapter,
      place: this.binding.place,
      sessionId,
      restored,
      settings: this.deps.settings,
      logger: this.deps.logger,
      persona: (speaker) => this.deps.persona(this.binding.conversationId, speaker),
      saveState: (turn, urgent) => {
        this.binding.state = { turn };
        return this.writer.write({ state: { turn } }, { urgent });
      },
      recipientUserId: () => this.lastRequester,
      onStoppedByUser: () => {
        this.deps.logger.info({ binding: this.binding.key, sessionId }, 'the answer was stopped on the platform; interrupting the run');
        void this.deps.client.interruptSession(sessionId).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'could not interrupt'));
      },
    });
  }

  /** Waits for the turn's final text, then moves the cursor past it. */
  private async endTurn(cursor: string | null): Promise<void> {
    const turn = this.turn;
    if (!turn) return;
    await turn.complete();
    if (turn.wasDisposed) return; // halted mid-turn: keep the stored state, the turn resumes later
    turn.dispose();
    if (turn.usage) this.lastUsage = turn.usage;
    this.turn = null;
    this.binding.state = {};
    if (cursor !== null) this.binding.cursor = cursor;
    await this.writer.write({ state: {}, ...(cursor !== null && { cursor }) }, { urgent: true });
  }

  /** A room-level event: remembered, and `room_finished` may post a notice (./rooms.ts). Never a turn. */
  private async onRoomEvent(id: string | null, event: ConclaveEvent): Promise<void> {
    const value = (event.value && typeof event.value === 'object' ? event.value : {}) as Record<string, unknown>;
    const runId = typeof value.run_id === 'string' ? value.run_id : String(event.sessionId ?? '');
    if (event.name === CustomName.turnStarted) {
      const handle = typeof value.handle === 'string' ? value.handle : '';
      const name = typeof value.name === 'string' ? value.name : handle;
      if (handle) this.roomNames.set(handle, name);
      this.roomRun = { runId, turn: typeof value.turn === 'number' ? value.turn : 0, speaker: name };
    }
    let posted = false;
    if (event.name === CustomName.roomFinished) {
      if (this.roomRun?.runId === runId) this.roomRun = null;
      const text = roomFinishedText(this.deps.adapter.platform, value, this.roomNames);
      if (text) posted = await this.postNotice(text, `room:${runId}`);
    }
    if (this.turn || id === null) return; // a turn in flight keeps the cursor where it is
    if (!posted) return this.moveCursor(id);
    this.binding.cursor = id;
    await this.writer.write({ cursor: id }, { urgent: true });
  }

  /** Posts a message of the bot's own (not an answer); retried a few times. True once it is on the platform. */
  private async postNotice(text: string, idempotencyKey: string): Promise<boolean> {
    const { adapter } = this.deps;
    const max = adapter.limits.maxMessageLength;
    const content = text.length > max ? `${text.slice(0, max - 1)}…` : text;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await adapter.post(this.binding.place, content, { idempotencyKey });
        return true;
      } catch (error) {
        const final = attempt >= 4 || (error instanceof PlatformError && error.code !== 'other');
        this.deps.logger.warn({ err: error, binding: this.binding.key, attempt }, final ? 'could not post a room notice; skipped' : 'posting a room notice failed; retrying');
        if (final || this.abort.signal.aborted) return false;
        await sleep(500 * 2 ** (attempt - 1), this.abort.signal);
      }
    }
  }

  private moveCursor(id: string): void {
    this.binding.cursor = id;
    void this.writer.write({ cursor: id });
  }

  private trackBackground(event: ConclaveEvent): void {
    const runId = typeof event.subagentRunId === 'string' ? event.subagentRunId : null;
    if (!runId) return;
    if (event.type === EventType.RUN_STARTED) this.backgroundRuns.add(runId);
    else if (isTerminal(event)) this.backgroundRuns.delete(runId);
  }

  /** The cursor outlived the log: finish a turn whose events are gone from the stored session. */
  private async onReset(): Promise<void> {
    const sessionId = this.turn?.sessionId ?? this.binding.state.turn?.session_id ?? null;
    this.deps.logger.info({ binding: this.binding.key, sessionId }, 'event stream reset (the log expired); skipping what was seen');
    if (!sessionId) return;
    try {
      const session = await this.deps.client.getSession(sessionId);
      if (session.status === 'running' || session.status === 'queued') return; // its events are still coming
      this.turn ??= this.newTurn(sessionId);
      const last = session.status === 'interrupted' ? errorLine({ code: 'interrupted' }) : session.error ? errorLine(session.error) : null;
      this.turn.finishWith(session.final_message ?? this.turn.answer, last);
      await this.endTurn(null);
    } catch (error) {
      this.deps.logger.warn({ err: error, sessionId }, 'could not recover the turn after a stream reset');
    }
  }
}

/** Orders log ids of the form `<ms>-<seq>`. */
export function compareEventIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs !== bMs ? aMs - bMs : aSeq - bSeq;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
