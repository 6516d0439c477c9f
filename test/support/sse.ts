/**
 * Reads SSE streams in tests: collects a session's events until its terminal
 * event, or follows a conversation until a condition holds.
 */
import { createParser } from 'eventsource-parser';
import { isTerminal } from '../../shared/protocol/events.js';

export interface SseItem {
  id: string | null;
  event: Record<string, any>;
}

/** Reads an SSE response body until `until` returns true or the stream ends. */
export async function readSse(
  response: Response,
  until: (item: SseItem, all: SseItem[]) => boolean = () => false,
): Promise<SseItem[]> {
  if (!response.body) throw new Error('response has no body');
  const items: SseItem[] = [];
  let done = false;
  const parser = createParser({
    onEvent(message) {
      if (done) return;
      const item = { id: message.id ?? null, event: JSON.parse(message.data) };
      items.push(item);
      if (until(item, items)) done = true;
    },
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    while (!done) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return items;
}

export async function openSse(url: string, token: string, headers: Record<string, string> = {}): Promise<Response> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...headers } });
  if (response.status !== 200) throw new Error(`SSE ${url} answered ${response.status}: ${await response.text()}`);
  return response;
}

/** A session's events up to and including its terminal event. */
export async function sessionEvents(baseUrl: string, token: string, sessionId: string): Promise<SseItem[]> {
  const response = await openSse(`${baseUrl}/api/sessions/${sessionId}/events`, token);
  return readSse(response, (item) => isTerminal(item.event));
}

/** The concatenated text deltas of some events. */
export const textOf = (items: SseItem[]) =>
  items
    .filter((i) => i.event.type === 'TEXT_MESSAGE_CONTENT')
    .map((i) => i.event.delta)
    .join('');
