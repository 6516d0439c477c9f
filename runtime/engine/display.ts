/**
 * Compresses a session's streamed events into display history:
 * one chunk per text message, reasoning block and tool call (AG-UI's *_CHUNK
 * events with the whole content as `delta`), tool results and CUSTOM events
 * kept in order, the last `usage` only, lifecycle events dropped.
 */
import { CustomName, EventType } from '../../shared/protocol/events.js';

type Event = { type: string } & Record<string, unknown>;
export type DisplayChunk = Record<string, unknown> & { type: string };

const DROPPED = new Set<string>([EventType.RUN_STARTED, EventType.RUN_FINISHED, EventType.RUN_ERROR, EventType.REASONING_START, EventType.REASONING_END]);

/** Compresses a whole list of events at once (see DisplayHistory). */
export function compressEvents(events: Event[]): DisplayChunk[] {
  const display = new DisplayHistory();
  for (const event of events) display.add(event);
  return display.chunks();
}

/**
 * Builds the display history as events are emitted, so a streaming session
 * holds its merged text rather than every delta event until commit.
 */
export class DisplayHistory {
  private readonly out: DisplayChunk[] = [];
  private readonly open = new Map<string, DisplayChunk>();
  private usage: DisplayChunk | null = null;

  add(event: Event): void {
    const { out, open } = this;
    switch (event.type) {
      case EventType.TEXT_MESSAGE_START: {
        const chunk = { type: EventType.TEXT_MESSAGE_CHUNK, messageId: event.messageId, role: event.role ?? 'assistant', delta: '' };
        open.set(`text:${String(event.messageId)}`, chunk);
        out.push(chunk);
        break;
      }
      case EventType.TEXT_MESSAGE_CONTENT:
        appendDelta(open.get(`text:${String(event.messageId)}`), event.delta);
        break;
      case EventType.REASONING_MESSAGE_START: {
        const chunk = { type: EventType.REASONING_MESSAGE_CHUNK, messageId: event.messageId, delta: '' };
        open.set(`reasoning:${String(event.messageId)}`, chunk);
        out.push(chunk);
        break;
      }
      case EventType.REASONING_MESSAGE_CONTENT:
        appendDelta(open.get(`reasoning:${String(event.messageId)}`), event.delta);
        break;
      case EventType.TOOL_CALL_START: {
        const chunk = {
          type: EventType.TOOL_CALL_CHUNK,
          toolCallId: event.toolCallId,
          toolCallName: event.toolCallName,
          parentMessageId: event.parentMessageId,
          delta: '',
        };
        open.set(`tool:${String(event.toolCallId)}`, chunk);
        out.push(chunk);
        break;
      }
      case EventType.TOOL_CALL_ARGS:
        appendDelta(open.get(`tool:${String(event.toolCallId)}`), event.delta);
        break;
      case EventType.TEXT_MESSAGE_END:
      case EventType.REASONING_MESSAGE_END:
      case EventType.TOOL_CALL_END:
        break;
      case EventType.CUSTOM:
        if (event.name === CustomName.usage) this.usage = strip(event);
        else out.push(strip(event));
        break;
      default:
        if (!DROPPED.has(event.type)) out.push(strip(event));
    }
  }

  /** The display history so far: chunks in order, the last usage at the end, empty text dropped. */
  chunks(): DisplayChunk[] {
    const all = this.usage ? [...this.out, this.usage] : this.out;
    return all.filter((chunk) => !(isChunk(chunk) && chunk.delta === '' && chunk.type !== EventType.TOOL_CALL_CHUNK));
  }
}

function appendDelta(chunk: DisplayChunk | undefined, delta: unknown): void {
  if (chunk && typeof delta === 'string') chunk.delta = String(chunk.delta) + delta;
}

const isChunk = (c: DisplayChunk) => c.type === EventType.TEXT_MESSAGE_CHUNK || c.type === EventType.REASONING_MESSAGE_CHUNK || c.type === EventType.TOOL_CALL_CHUNK;

/** Drops envelope fields that the turn already carries. */
function strip(event: Event): DisplayChunk {
  const { conversationId: _c, sessionId: _s, seq: _q, ...rest } = event;
  return rest as DisplayChunk;
}
