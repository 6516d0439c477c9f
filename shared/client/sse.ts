/**
 * Following a runtime event stream (SSE) as an async iterable, resuming
 * across dropped connections. This file owns reconnection, the resume
 * cursor and when a stream is over.
 *
 * The wire format (runtime/http/sse.ts): each event is `id: <log id>` plus
 * `data: <event JSON>`; `: ping` comments are heartbeats; a `stream_reset`
 * CUSTOM event without an id says the cursor could not be resumed (refetch
 * history from /turns). A request resumes after `Last-Event-ID`.
 *
 *   const stream = followEvents(url, { token, after: savedCursor });
 *   for await (const { id, event } of stream) { render(event); save(stream.lastEventId); }
 *
 * Behaviour:
 * - Yields `{ id, event }` for every `data:` event, in order. `lastEventId` is
 *   the id of the last event yielded that had one (the initial `after` until
 *   then); events without an id (stream_reset) do not move it. It is updated
 *   just before the event is yielded, so persist it after handling the event.
 * - Reconnects, sending `Last-Event-ID: <lastEventId>`, after a network error,
 *   a 408/429/5xx answer, no data for `idleTimeoutMs`, or the server ending the
 *   stream. Delays grow exponentially with jitter (`backoff`), at least the
 *   server's Retry-After; `maxRetries` consecutive failures (default: no
 *   limit) end the stream with the last error. A connection that delivers an
 *   event or stays up for 30 s resets the count.
 * - Other HTTP errors (400, 401, 403, 404, ...) throw ConclaveApiError at once.
 * - `untilTerminalOf: sessionId` (session streams): the stream ends after
 *   yielding that session's RUN_FINISHED or RUN_ERROR, and is never reopened
 *   after it. If the server ends such a stream after a stream_reset (the
 *   session's events have expired), the stream ends too. Without it
 *   (conversation streams), the stream only ends through `signal` or an error.
 * - Aborting `signal` ends the iteration quietly; so does leaving the
 *   for-await loop. Both close the connection.
 * - Iterate a stream once.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { CustomName, EventType, isTerminal, type ConclaveEvent } from '../protocol/events.js';
import { ConclaveApiError, errorFromResponse } from './errors.js';

export interface EventItem {
  /** The log id of the event; null for events sent without one (stream_reset). */
  id: string | null;
  event: ConclaveEvent;
}

export interface BackoffOptions {
  /** Delay before the first reconnection, before jitter; default 500 ms. */
  initialMs?: number;
  /** Largest delay; default 30 s. */
  maxMs?: number;
}

export interface ReconnectInfo {
  /** 1 for the first retry after a success, then 2, 3, ... */
  attempt: number;
  delayMs: number;
  /** Why the connection ended: an error, or null when the server ended the stream. */
  error: ConclaveApiError | null;
}

export interface FollowOptions {
  token: string;
  /** Resume after this event id (sent as Last-Event-ID). */
  after?: string | null;
  signal?: AbortSignal;
  /** Called (and awaited) for each stream_reset event, before it is yielded. */
  onReset?: (event: ConclaveEvent) => void | Promise<void>;
  /** Called before each reconnection wait, e.g. to log it. */
  onReconnect?: (info: ReconnectInfo) => void;
  /** Consecutive failed connections tolerated before giving up; default Infinity. */
  maxRetries?: number;
  /** Exponential backoff settings, or a function of the attempt number (1, 2, ...) giving the delay in ms. */
  backoff?: BackoffOptions | ((attempt: number) => number);
  /** End after this session's terminal event (for /api/sessions/:id/events). */
  untilTerminalOf?: string;
  /** Reconnect when no byte arrives for this long (heartbeats count); default 60 s; 0 disables. */
  idleTimeoutMs?: number;
  /** Extra request headers, e.g. X-Conclave-User. */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

/** A connection that lasted this long counts as healthy even without events. */
const STABLE_CONNECTION_MS = 30_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

export function followEvents(url: string, options: FollowOptions): EventStream {
  return new EventStream(url, options);
}

/** How one connection ended, when it ended without an error. */
type Outcome = 'done' | 'ended';

export class EventStream implements AsyncIterable<EventItem> {
  private cursor: string | null;
  private started = false;
  /** The server's `retry:` field, used as the initial backoff delay. */
  private serverRetryMs: number | null = null;

  constructor(
    readonly url: string,
    private readonly options: FollowOptions,
  ) {
    this.cursor = options.after ?? null;
  }

  /** The resume cursor: the id of the last event yielded that had one. */
  get lastEventId(): string | null {
    return this.cursor;
  }

  [Symbol.asyncIterator](): AsyncIterator<EventItem> {
    if (this.started) throw new Error('an EventStream can be iterated only once; call followEvents again');
    this.started = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<EventItem, void, undefined> {
    const { signal } = this.options;
    const maxRetries = this.options.maxRetries ?? Number.POSITIVE_INFINITY;
    let failures = 0;
    for (;;) {
      if (signal?.aborted) return;
      const connection = { healthy: false };
      let outcome: Outcome;
      let error: ConclaveApiError | null = null;
      try {
        outcome = yield* this.connect(connection);
      } catch (caught) {
        if (signal?.aborted) return;
        if (!(caught instanceof ConclaveApiError) || !caught.retryable) throw caught;
        outcome = 'ended';
        error = caught;
      }
      if (outcome === 'done') return;

      failures = connection.healthy ? 1 : failures + 1;
      if (failures > maxRetries) {
        throw (
          error ??
          new ConclaveApiError({ status: 0, code: 'stream_ended', message: `${this.url}: the server kept ending the stream`, url: this.url })
        );
      }
      const delayMs = Math.max(this.backoffDelay(failures), error?.retryAfterMs ?? 0);
      this.options.onReconnect?.({ attempt: failures, delayMs, error });
      await sleep(delayMs, signal);
    }
  }

  /** One connection: yields its events; returns 'done' when the stream is over, 'ended' when the server closed it. */
  private async *connect(connection: { healthy: boolean }): AsyncGenerator<EventItem, Outcome, undefined> {
    const { options } = this;
    const controller = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    let timedOut = false;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const rearmWatchdog = () => {
      clearTimeout(watchdog);
      if (idleMs > 0) {
        watchdog = setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, idleMs);
      }
    };
    const networkError = (cause: unknown) =>
      new ConclaveApiError({
        status: 0,
        code: timedOut ? 'timeout' : 'network_error',
        message: timedOut ? `${this.url}: no data for ${idleMs} ms` : `${this.url}: ${describeError(cause)}`,
        url: this.url,
        cause,
      });

    const headers: Record<string, string> = {
      Accept: 'text/event-stream',
      Authorization: `Bearer ${options.token}`,
      ...options.headers,
    };
    if (this.cursor !== null) headers['Last-Event-ID'] = this.cursor;

    rearmWatchdog();
    const openedAt = Date.now();
    try {
      let response: Response;
      try {
        response = await (options.fetch ?? fetch)(this.url, { headers, signal });
      } catch (cause) {
        throw networkError(cause);
      }
      if (!response.ok) {
        const text = await response.text().catch(() => '');
        throw errorFromResponse(response, text, 'GET', this.url);
      }
      const contentType = response.headers.get('content-type') ?? '';
      if (!contentType.includes('text/event-stream') || !response.body) {
        await response.body?.cancel().catch(() => undefined);
        throw new ConclaveApiError({
          status: response.status,
          code: 'invalid_response',
          message: `${this.url}: expected text/event-stream, got ${contentType || 'no content type'}`,
          url: this.url,
        });
      }

      const messages: EventSourceMessage[] = [];
      const parser = createParser({
        onEvent: (message) => messages.push(message),
        onRetry: (ms) => {
          this.serverRetryMs = ms;
        },
        onComment: () => undefined, // heartbeats: they only keep the watchdog quiet
      });
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let sawReset = false;
      try {
        for (;;) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (cause) {
            throw networkError(cause);
          }
          if (chunk.done) break;
          rearmWatchdog();
          parser.feed(decoder.decode(chunk.value, { stream: true }));
          while (messages.length > 0) {
            const item = toItem(messages.shift() as EventSourceMessage, this.url);
            connection.healthy = true;
            if (item.id !== null) this.cursor = item.id;
            if (isStreamReset(item.event)) {
              sawReset = true;
              await options.onReset?.(item.event);
            }
            yield item;
            if (options.untilTerminalOf !== undefined && item.event.sessionId === options.untilTerminalOf && isTerminal(item.event)) {
              return 'done';
            }
          }
        }
      } finally {
        reader.cancel().catch(() => undefined);
      }
      if (Date.now() - openedAt >= STABLE_CONNECTION_MS) connection.healthy = true;
      // A session whose events expired: the server sends stream_reset and ends.
      if (options.untilTerminalOf !== undefined && sawReset) return 'done';
      return 'ended';
    } finally {
      clearTimeout(watchdog);
      controller.abort();
    }
  }

  private backoffDelay(attempt: number): number {
    const { backoff } = this.options;
    if (typeof backoff === 'function') return backoff(attempt);
    const initial = this.serverRetryMs ?? backoff?.initialMs ?? 500;
    const max = backoff?.maxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** (attempt - 1));
    return base / 2 + Math.random() * (base / 2); // "equal jitter": between half and all of it
  }
}

export function isStreamReset(event: { type?: unknown; name?: unknown }): boolean {
  return event.type === EventType.CUSTOM && event.name === CustomName.streamReset;
}

function toItem(message: EventSourceMessage, url: string): EventItem {
  let event: unknown;
  try {
    event = JSON.parse(message.data);
  } catch {
    event = undefined;
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event) || typeof (event as { type?: unknown }).type !== 'string') {
    throw new ConclaveApiError({
      status: 200,
      code: 'invalid_event',
      message: `${url}: an event is not a JSON object with a type: ${message.data.slice(0, 200)}`,
      url,
    });
  }
  return { id: message.id ?? null, event: event as ConclaveEvent };
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
