/**
 * The `fetch` the provider SDKs are given: requests over node:http(s) with
 * keep-alive agents, and responses whose `body` is the socket's Node stream.
 *
 * Why: Node's built-in fetch (undici) hands back a web ReadableStream fed
 * from its own parser, a costly layer for every streamed token: in a
 * transport micro-benchmark the SDK's stream cost 56 µs per chunk over
 * undici and 34 over this fetch (docs/decisions.md, "Provider transport").
 * The answer's events are then read from the Node stream by sse-events.ts;
 * request building, headers, error statuses, timeouts and aborts stay the
 * SDKs' own.
 *
 * What it keeps of fetch's contract, for the SDKs:
 *   - a real `Response` (status, headers, `ok`, `text()`, `json()`), whose
 *     `body` getter gives the Node stream; `text()`/`json()` read the same
 *     stream through a web stream made only when they are called;
 *   - an abort (before or after the answer began) rejects or ends the body
 *     with an `AbortError`, which the SDKs recognise by name;
 *   - a failure to connect rejects with `TypeError('fetch failed', { cause })`,
 *     as undici does; a connection cut mid-answer is an error on the body;
 *   - a body silent for BODY_IDLE_TIMEOUT_MS ends with an error, as undici's
 *     bodyTimeout does;
 *   - gzip / deflate / br answers are decompressed;
 *   - redirects are not followed: API servers answer in place, and a 3xx
 *     reaches the SDK as the error status it is.
 * Requests whose body is not a string or bytes (multipart uploads) go to the
 * built-in fetch unchanged.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

const httpAgent = new http.Agent({ keepAlive: true });
const httpsAgent = new https.Agent({ keepAlive: true });

/** Statuses whose Response must have no body. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * How long a body may send nothing before it is ended with an error: a
 * provider that stalls mid-answer must not hold a session forever. Five
 * minutes, as undici's `bodyTimeout` (long reasoning can be silent for
 * minutes; Anthropic sends pings, OpenAI-compatible servers do not).
 */
export const BODY_IDLE_TIMEOUT_MS = 300_000;

export interface NodeFetchOptions {
  /** Default BODY_IDLE_TIMEOUT_MS. */
  bodyIdleTimeoutMs?: number;
}

export function createNodeFetch(options: NodeFetchOptions = {}): typeof fetch {
  const idleMs = options.bodyIdleTimeoutMs ?? BODY_IDLE_TIMEOUT_MS;
  return (input, init) => send(input, init ?? {}, idleMs);
}

export const nodeFetch = createNodeFetch();

async function send(input: Parameters<typeof fetch>[0], init: RequestInit, idleMs: number): Promise<Response> {
  const body = init.body;
  if (body != null && typeof body !== 'string' && !(body instanceof Uint8Array)) return fetch(input, init);
  const url = new URL(input instanceof Request ? input.url : String(input));
  const signal = init.signal ?? undefined;
  if (signal?.aborted) throw abortError(signal);

  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => (headers[name] = value));
  if (body != null) headers['content-length'] = String(Buffer.byteLength(body));

  const secure = url.protocol === 'https:';
  const request = (secure ? https : http).request(url, {
    method: init.method ?? 'GET',
    headers,
    agent: secure ? httpsAgent : httpAgent,
  });

  return new Promise<Response>((resolve, reject) => {
    const onAbort = () => {
      const error = abortError(signal!);
      request.destroy(error);
      reject(error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    request.on('error', (cause) => {
      signal?.removeEventListener('abort', onAbort);
      reject(signal?.aborted ? abortError(signal) : new TypeError('fetch failed', { cause }));
    });
    request.on('response', (message) => {
      signal?.removeEventListener('abort', onAbort);
      const stream = decoded(message);
      endWhenIdle(message, stream, idleMs);
      if (signal) {
        const onBodyAbort = () => stream.destroy(abortError(signal));
        signal.addEventListener('abort', onBodyAbort, { once: true });
        stream.once('close', () => signal.removeEventListener('abort', onBodyAbort));
      }
      resolve(new NodeStreamResponse(message, stream, url.href));
    });
    request.end(body ?? undefined);
  });
}

/** Ends the body with an error when its socket has been silent for `idleMs`. */
function endWhenIdle(message: IncomingMessage, stream: Readable, idleMs: number): void {
  const socket = message.socket;
  if (!socket || idleMs <= 0) return;
  const silence = idleMs % 1000 === 0 ? `${idleMs / 1000} s` : `${idleMs} ms`;
  const onIdle = () => stream.destroy(new Error(`the server sent nothing for ${silence}`));
  socket.setTimeout(idleMs);
  socket.on('timeout', onIdle);
  stream.once('close', () => {
    socket.off('timeout', onIdle);
    socket.setTimeout(0);
  });
}

/**
 * A Response whose `body` is the Node stream itself (an async iterable of
 * Buffers, which the SDKs iterate with `for await`); `text()` and `json()`
 * read the same bytes through the lazy web stream underneath.
 */
class NodeStreamResponse extends Response {
  constructor(message: IncomingMessage, stream: Readable, url: string) {
    const status = message.statusCode ?? 0;
    const hasBody = !NULL_BODY_STATUSES.has(status);
    super(hasBody ? lazyWebBody(stream) : null, {
      status,
      statusText: message.statusMessage ?? '',
      headers: headersOf(message),
    });
    Object.defineProperties(this, {
      body: { value: hasBody ? stream : null, enumerable: true },
      url: { value: url, enumerable: true },
    });
  }
}

/** A web stream over the Node stream that reads nothing until it is read. */
function lazyWebBody(stream: Readable): ReadableStream<Uint8Array> {
  let chunks: AsyncIterator<Buffer> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        chunks ??= stream[Symbol.asyncIterator]();
        const { value, done } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      },
      cancel(reason) {
        stream.destroy(reason instanceof Error ? reason : undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

function decoded(message: IncomingMessage): Readable {
  // Node names a connection cut mid-answer "aborted", which reads like a
  // cancel; say what happened. (The listener also keeps an unread body's
  // error from being unhandled.)
  message.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ECONNRESET') error.message = 'the connection closed before the answer ended';
  });
  const encoding = String(message.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decompress = encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : null;
  if (!decompress) return message;
  // Like the listener above: an aborted, unread body must not be an unhandled error.
  decompress.on('error', () => undefined);
  message.on('error', (error) => decompress.destroy(error));
  decompress.on('close', () => message.destroy());
  return message.pipe(decompress);
}

function headersOf(message: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = message.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}
