/**
 * What both SDK adapters do around a streamed model call: name the failure
 * site, open the stream, turn every wire item into parts through the
 * adapter's reader, classify failures (before or after the first byte), and
 * insist that the answer really ended. The adapters keep only what differs:
 * the request body, the wire format and the error classes.
 */
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
  /** Sends the request; resolves when the stream has begun. */
  open(body: Body): Promise<AsyncIterable<Wire>>;
  reader: WireReader<Wire>;
  /** The SDK's exception as a ProviderError; `started` once the stream had begun. */
  toError(error: unknown, started: boolean): ProviderError;
  /** Said when the stream closes before the answer ended, e.g. "before message_stop". */
  unfinished: string;
}

export async function* readSdkStream<Body, Wire>(call: SdkStreamCall<Body, Wire>): AsyncGenerator<StreamPart> {
  const body = call.body();
  let items: AsyncIterable<Wire>;
  try {
    items = await call.open(body);
  } catch (error) {
    throw call.toError(error, false);
  }
  try {
    for await (const item of items) {
      yield* call.reader.read(item);
    }
  } catch (error) {
    throw call.toError(error, true);
  }
  // The SDKs end the iteration quietly when the signal aborts.
  if (call.signal.aborted) throw providerError('aborted', call.where);
  if (!call.reader.ended) throw providerError('stream_broken', call.where, { detail: `the server closed the stream ${call.unfinished}` });
  yield* call.reader.finish();
}
