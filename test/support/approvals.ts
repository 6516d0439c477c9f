/**
 * Fixtures for tool calls that wait for a person's approval: a preset whose
 * one tool needs it, and a fake model that calls that tool for every person's
 * message and then reports what the tool said.
 */
import type { PresetCreate } from '../../shared/client/index.js';
import type { FakeOpenAI } from '../fakes/openai.js';

export const GUARDED_PRESET: PresetCreate = {
  id: 'guarded',
  name: 'Guarded',
  model: { name: 'openai:gpt-test', fallbacks: [], settings: {} },
  tools: [{ type: 'builtin', name: 'current_time', requires_approval: true }],
};

/** Each person's message gets a `current_time` call (ids call_1, call_2, …); a tool result gets "The tool said: <result>". */
export function callToolThenReport(openai: FakeOpenAI): void {
  let call = 0;
  openai.onRequest((req) => {
    const last = req.body.messages.at(-1);
    return last?.role === 'tool' ? { text: `The tool said: ${String(last.content)}` } : { toolCalls: [{ id: `call_${++call}`, name: 'current_time', arguments: '{}' }] };
  });
}
