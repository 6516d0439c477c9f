/**
 * Server-Sent Events from the event log (DESIGN.md §4): `id:` is the log
 * entry id, `data:` the event JSON, a comment heartbeat keeps proxies from
 * closing idle connections. Clients resume with `Last-Event-ID` or `?after=`;
 * a cursor the log can no longer continue from yields a `stream_reset` CUSTOM
 * event (without an id) telling the client to refetch history.
 *
 * Closing the connection only stops this reader; it never affects sessions.
 */
import type { Request, Response } from 'express';
import { CustomName, EventType, isTerminal } from '../../shared/protocol/events.js';
import { compareIds, isEntryId, type EventLog, type LogEntry, type LogEvent } from '../events/types.js';
import { ApiError } from './errors.js';

export interface SseOptions {
  log: EventLog;
  key: string;
  after: string | null;
  heartbeatMs: number;
  /** Only events this returns true for are sent. */
  filter?: (event: LogEvent) => boolean;
  /** End the stream after this session's terminal event. */
  endAfterTerminalOf?: string;
}

/** The resume cursor of a request: Last-Event-ID wins over ?after=. */
export function resumeCursor(req: Request): string | null {
  const header = req.headers['last-event-id'];
  const query = typeof req.query.after === 'string' ? req.query.after : undefined;
  const cursor = (typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined) ?? query;
  if (cursor === undefined || cursor === '') return null;
  if (!isEntryId(cursor)) {
    const source = typeof header === 'string' && header.trim() !== '' ? 'headers.last-event-id' : 'query.after';
    throw new ApiError(400, 'invalid_request', `${source}: must be an event id such as 1700000000000-0`, {
      issues: [{ path: source, message: 'must be an event id such as 1700000000000-0' }],
    });
  }
  return cursor;
}

/**
 * Sends the SSE response head. The body is delimited by closing the
 * connection rather than by chunked encoding: every event is then one plain
 * socket write instead of a chunk header, the data and a CRLF (see
 * docs/decisions.md). Clients reconnect for the next stream anyway.
 */
export function openSse(res: Response): void {
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache, no-transform');
  res.setHeader('Connection', 'close');
  res.removeHeader('Transfer-Encoding');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  res.write(': connected\n\n');
}

/**
 * Writes a chunk straight to the socket, waiting for it to drain when its
 * buffer is full. The head has been sent and the body is delimited by the
 * connection, so the bytes go out as they are; skipping the response object's
 * own write path saves a layer per event. Chunks written in the same tick
 * are corked into one socket write (a busy stream delivers several events at
 * once), and uncorked before the event loop moves on, so nothing waits.
 */
async function write(res: Response, chunk: string): Promise<void> {
  const socket = res.socket;
  if (!socket || socket.destroyed) return;
  if (!socket.writableCorked) {
    socket.cork();
    process.nextTick(() => socket.uncork());
  }
  if (socket.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

export const formatEntry = (entry: LogEntry) => `id: ${entry.id}\ndata: ${entry.json ?? JSON.stringify(entry.event)}\n\n`;

export const resetFrame = (key: string) =>
  `data: ${JSON.stringify({
    type: EventType.CUSTOM,
    name: CustomName.streamReset,
    value: { reason: 'the cursor is older than the retained log; refetch history from /turns', conversationId: key },
    timestamp: Date.now(),
  })}\n\n`;

/** Streams the log to the client until it disconnects (or the watched session ends). */
export async function streamLog(res: Response, options: SseOptions): Promise<void> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  res.on('close', stop);
  if (!res.headersSent) openSse(res);
  const heartbeat = setInterval(() => res.write(': ping\n\n'), options.heartbeatMs);
  try {
    for await (const item of options.log.follow(options.key, { after: options.after, signal: abort.signal })) {
      if ('reset' in item) {
        await write(res, resetFrame(options.key));
        continue;
      }
      if (options.filter && !options.filter(item.event)) continue;
      await write(res, formatEntry(item));
      if (options.endAfterTerminalOf && item.event.sessionId === options.endAfterTerminalOf && isTerminal(item.event)) break;
    }
  } finally {
    clearInterval(heartbeat);
    res.off('close', stop);
    abort.abort();
    if (!res.writableEnded) res.end();
  }
}

/**
 * Replays a finished session from the retained log and ends. A session
 * committed a moment before its terminal event reached the log is followed
 * live until it does. When its events have expired, sends `stream_reset` so
 * the client reads /turns instead.
 */
export async function replayFinishedSession(
  res: Response,
  log: EventLog,
  key: string,
  sessionId: string,
  after: string | null,
  heartbeatMs: number,
): Promise<void> {
  openSse(res);
  const { entries } = await log.read(key, null);
  const own = entries.filter((e) => e.event.sessionId === sessionId);
  const terminal = own.findIndex((e) => isTerminal(e.event));
  if (terminal === -1 && own.length > 0) {
    await streamLog(res, { log, key, after, heartbeatMs, filter: (event) => event.sessionId === sessionId, endAfterTerminalOf: sessionId });
    return;
  }
  if (terminal === -1) {
    await write(res, resetFrame(key));
  } else {
    for (const entry of own.slice(0, terminal + 1)) {
      if (after === null || compareIds(entry.id, after) > 0) await write(res, formatEntry(entry));
    }
  }
  res.end();
}
