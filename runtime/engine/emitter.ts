/**
 * Emits one session's events into its conversation's log, with the envelope
 * (conversationId, sessionId, seq, timestamp, speaker) on each.
 *
 * Batching never adds latency at normal speeds: an event is appended at once
 * when no append is in flight. While one is in flight, new events wait, and
 * when it completes they go out together as one batch — consecutive text and
 * reasoning deltas of one message merged into one event. So slow tokens are
 * sent one by one immediately, and fast tokens coalesce over exactly one
 * round trip, with no timer anywhere.
 */
import { EventType, type ConclaveEvent, type Speaker } from '../../shared/protocol/events.js';
import type { EventLog } from '../events/types.js';
import { DisplayHistory } from './display.js';

/** What the engine hands to `emit`: an AG-UI event without the envelope. */
export type EventBody = { type: EventType } & Record<string, unknown>;

const MERGEABLE = new Set<string>([EventType.TEXT_MESSAGE_CONTENT, EventType.REASONING_MESSAGE_CONTENT, EventType.TOOL_CALL_ARGS]);

function mergeKey(event: EventBody): string | null {
  if (!MERGEABLE.has(event.type)) return null;
  return `${event.type}:${String(event.messageId ?? event.toolCallId)}`;
}

export interface EmitterOptions {
  log: EventLog;
  conversationId: string;
  sessionId: string;
  speaker?: Speaker | null;
  /** Extra fields on every event (e.g. subagentRunId for subagent sessions). */
  extra?: Record<string, unknown>;
  /** Called with each appended batch (ids and events) after it is in the log. */
  onAppended?: (entries: { id: string; event: ConclaveEvent }[]) => void;
}

export class SessionEmitter {
  private seq = 0;
  private pending: EventBody[] = [];
  private inFlight: Promise<void> | null = null;
  private failure: unknown = null;
  /** The display history of every event appended so far, stored at commit. */
  readonly display = new DisplayHistory();
  lastId: string | null = null;

  constructor(private readonly options: EmitterOptions) {}

  /** Queues an event; it reaches the log as soon as the previous append completes. */
  emit(event: EventBody): void {
    if (this.failure) throw this.failure;
    const last = this.pending[this.pending.length - 1];
    const key = mergeKey(event);
    if (last && key && mergeKey(last) === key) {
      last.delta = String(last.delta) + String(event.delta);
    } else {
      this.pending.push({ ...event });
    }
    if (!this.inFlight) this.inFlight = this.drain();
  }

  /** Resolves when every emitted event is in the log; rethrows an append failure. */
  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    if (this.failure) throw this.failure;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        const events = batch.map((body) => this.envelope(body));
        const ids = await this.options.log.append(this.options.conversationId, events);
        this.lastId = ids[ids.length - 1] ?? this.lastId;
        for (const event of events) this.display.add(event);
        this.options.onAppended?.(events.map((event, i) => ({ id: ids[i]!, event })));
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.inFlight = null;
    }
  }

  private envelope(body: EventBody): ConclaveEvent {
    const { conversationId, sessionId, speaker, extra } = this.options;
    return {
      ...body,
      ...extra,
      conversationId,
      sessionId,
      seq: this.seq++,
      timestamp: Date.now(),
      ...(speaker ? { speaker } : {}),
    } as ConclaveEvent;
  }
}
