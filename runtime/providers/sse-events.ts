/**
 * A provider's streamed answer as server-sent events, read straight from the
 * response body with eventsource-parser.
 *
 * The SDKs' own readers wrap every chunk in three async generators and copy
 * its bytes twice; reading the body here, in one loop, costs a fraction of
 * that per streamed token (docs/decisions.md, "Provider transport"). The
 * adapters still use their SDK for everything else, and turn each event into
 * the SDK's own types and errors (`SdkStreamCall.wire`).
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export type { EventSourceMessage as ServerSentEvent };

/**
 * The events of a body, one array per chunk read (often one event, sometimes
 * none or several). Leaving the loop early closes the body.
 */
export async function* serverSentEvents(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<EventSourceMessage[]> {
  let events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    if (events.length === 0) continue;
    const batch = events;
    events = [];
    yield batch;
  }
  // A last event without its blank line stays unfinished and is dropped, as
  // the SDKs drop it.
  const rest = decoder.decode();
  if (rest) parser.feed(rest);
  if (events.length > 0) yield events;
}
