/**
 * Reading a provider's answer as server-sent events
 * (runtime/providers/sse-events.ts): events split across chunks, a character
 * split across chunks, named events, and an unfinished last event.
 */
import { describe, expect, it } from 'vitest';
import { serverSentEvents } from '../../runtime/providers/sse-events.js';

async function eventsOf(chunks: (string | Uint8Array)[]) {
  async function* body() {
    for (const chunk of chunks) yield chunk;
  }
  const batches = [];
  for await (const batch of serverSentEvents(body())) batches.push(batch.map((e) => ({ event: e.event, data: e.data })));
  return batches;
}

describe('serverSentEvents', () => {
  it('gives one batch per chunk that completes events, joining events split across chunks', async () => {
    const batches = await eventsOf(['data: {"a":', '1}\n', '\n', 'data: 2\n\nevent: ping\ndata: {}\n\n']);
    expect(batches).toEqual([[{ event: undefined, data: '{"a":1}' }], [{ event: undefined, data: '2' }, { event: 'ping', data: '{}' }]]);
  });

  it('decodes a character whose bytes are split across chunks', async () => {
    const bytes = new TextEncoder().encode('data: ⟨ü⟩\n\n');
    const batches = await eventsOf([bytes.slice(0, 7), bytes.slice(7)]);
    expect(batches).toEqual([[{ event: undefined, data: '⟨ü⟩' }]]);
  });

  it('drops a last event that never got its blank line', async () => {
    expect(await eventsOf(['data: done\n\n', 'data: cut off'])).toEqual([[{ event: undefined, data: 'done' }]]);
  });
});
