/**
 * What both SDK adapters do around a streamed model call: name the failure
 * site, send the request through the SDK, read the answer's server-sent
 * events, turn every wire item into parts through the adapter's reader,
 * classify failures (before or after the first byte), and insist that the
 * answer really ended. The adapters keep only what differs: the request body,
 * the wire format and the error classes.
 */
import { serverSentEvents, type ServerSentEvent } from './sse-events.js';
import { providerError, type FailureSite, type ProviderError, type StreamPart } from './types.js';

/** Where an adapter's calls go, as failure messages name it. */
export interface SiteOptions {
  name: string;
  baseURL: string;
  apiKeyEnv?: string;
}

export function failureSite(options: SiteOptions, model?: string): FailureSite {
  return {
    provider: options.name,
    baseURL: options.baseURL,
    ...(model !== undefined ? { model } : {}),
    ...(options.apiKeyEnv !== undefined ? { apiKeyEnv: options.apiKeyEnv } : {}),
  };
}

/** An adapter's stateful reader of one answer's wire items. */
export interface WireReader<Wire> {
  read(item: Wire): Iterable<StreamPart>;
  /** True once the wire said the answer is complete. */
  readonly ended: boolean;
  /** The closing parts (usage, finish), after the last item. */
  finish(): Iterable<StreamPart>;
}

export interface SdkStreamCall<Body, Wire> {
  where: FailureSite;
  signal: AbortSignal;
  /** The request body (built when the stream is first read; its errors are not the provider's). */
  body(): Body;
  /**
   * Sends the request through the SDK (which turns an error status into its
   * own exception) and resolves with the raw response once the stream has
   * begun: the SDK's `.asResponse()`.
   */
  open(body: Body): Promise<Response>;
  /**
   * One server-sent event as a wire item, or undefined for an event that
   * carries none (pings, `[DONE]`). Throws the SDK's own error for an error
   * event, so failures are classified as the SDK's are.
   */
  wire(event: ServerSentEvent, headers: Headers): Wire | undefined;
  reader: WireReader<Wire>;
  /** The SDK's exception as a ProviderError; `started` once the stream had begun. */
  toError(error: unknown, started: boolean): ProviderError;
  /** Said when the stream closes before the answer ended, e.g. "before message_stop". */
  unfinished: string;
}

export async function* readSdkStream<Body, Wire>(call: SdkStreamCall<Body, Wire>): AsyncGenerator<StreamPart> {
  const body = call.body();
  let response: Response;
  try {
    response = await call.open(body);
  } catch (error) {
    throw call.toError(error, false);
  }
  if (!response.body) throw providerError('stream_broken', call.where, { detail: 'the answer had no body' });
  try {
    for await (const events of serverSentEvents(response.body as unknown as AsyncIterable<Uint8Array>)) {
      for (const event of events) {
        const item = call.wire(event, response.headers);
        if (item !== undefined) yield* call.reader.read(item);
      }
    }
  } catch (error) {
    throw call.toError(error, true);
  }
  // A body cut by an abort may also just end.
  if (call.signal.aborted) throw providerError('aborted', call.where);
  if (!call.reader.ended) throw providerError('stream_broken', call.where, { detail: `the server closed the stream ${call.unfinished}` });
  yield* call.reader.finish();
}
