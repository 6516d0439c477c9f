/** Display compression, prompt templates, history chains and the steering queue. */
import { describe, expect, it } from 'vitest';
import { compressEvents } from '../../runtime/engine/display.js';
import { buildHistory, sessionChain } from '../../runtime/engine/history.js';
import { renderPrompt } from '../../runtime/engine/prompt.js';
import { SteeringQueue } from '../../runtime/engine/steering.js';
import type { SessionRow } from '../../runtime/store/schema.js';

describe('display compression', () => {
  it('turns streams into one chunk per message, reasoning block and tool call, keeping order', () => {
    const events = [
      { type: 'RUN_STARTED' },
      { type: 'REASONING_START', messageId: 'r1' },
      { type: 'REASONING_MESSAGE_START', messageId: 'r1', role: 'reasoning' },
      { type: 'REASONING_MESSAGE_CONTENT', messageId: 'r1', delta: 'think ' },
      { type: 'REASONING_MESSAGE_CONTENT', messageId: 'r1', delta: 'hard' },
      { type: 'REASONING_MESSAGE_END', messageId: 'r1' },
      { type: 'REASONING_END', messageId: 'r1' },
      { type: 'TEXT_MESSAGE_START', messageId: 'm1', role: 'assistant' },
      { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'Hel' },
      { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'lo' },
      { type: 'TEXT_MESSAGE_END', messageId: 'm1' },
      { type: 'CUSTOM', name: 'usage', value: { n: 1 } },
      { type: 'TOOL_CALL_START', toolCallId: 't1', toolCallName: 'current_time', parentMessageId: 'm1' },
      { type: 'TOOL_CALL_ARGS', toolCallId: 't1', delta: '{"a"' },
      { type: 'TOOL_CALL_ARGS', toolCallId: 't1', delta: ':1}' },
      { type: 'TOOL_CALL_END', toolCallId: 't1' },
      { type: 'TOOL_CALL_RESULT', toolCallId: 't1', messageId: 'm1', content: 'now', conversationId: 'c', sessionId: 's', seq: 9 },
      { type: 'CUSTOM', name: 'steering_received', value: { text: 'faster' } },
      { type: 'CUSTOM', name: 'usage', value: { n: 2 } },
      { type: 'RUN_FINISHED' },
    ];
    expect(compressEvents(events)).toEqual([
      { type: 'REASONING_MESSAGE_CHUNK', messageId: 'r1', delta: 'think hard' },
      { type: 'TEXT_MESSAGE_CHUNK', messageId: 'm1', role: 'assistant', delta: 'Hello' },
      { type: 'TOOL_CALL_CHUNK', toolCallId: 't1', toolCallName: 'current_time', parentMessageId: 'm1', delta: '{"a":1}' },
      { type: 'TOOL_CALL_RESULT', toolCallId: 't1', messageId: 'm1', content: 'now' },
      { type: 'CUSTOM', name: 'steering_received', value: { text: 'faster' } },
      { type: 'CUSTOM', name: 'usage', value: { n: 2 } },
    ]);
  });

  it('flushes blocks left open by an interrupt', () => {
    const chunks = compressEvents([
      { type: 'TEXT_MESSAGE_START', messageId: 'm1', role: 'assistant' },
      { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'partial' },
    ]);
    expect(chunks).toEqual([{ type: 'TEXT_MESSAGE_CHUNK', messageId: 'm1', role: 'assistant', delta: 'partial' }]);
  });
});

describe('prompt templates', () => {
  it('fills known variables and blanks unknown ones', () => {
    expect(renderPrompt('Today is {{date}}; {{ conversation_title }}.{{nope}}', { date: '2026-11-22', conversation_title: 'Plans' })).toBe(
      'Today is 2026-11-22; Plans.',
    );
  });
});

describe('history chains', () => {
  const session = (id: string, parent: string | null, text: string) =>
    ({
      id,
      parentSessionId: parent,
      messages: [
        { role: 'user', content: `q ${text}` },
        { role: 'assistant', content: `a ${text}` },
      ],
    }) as unknown as SessionRow;

  it('walks from the head to the root, oldest first, ignoring other branches', () => {
    const all = [session('a', null, '1'), session('b', 'a', '2'), session('x', 'a', 'other'), session('c', 'b', '3')];
    expect(sessionChain(all, 'c').map((s) => s.id)).toEqual(['a', 'b', 'c']);
    expect(buildHistory(all, 'c').map((m) => m.content)).toEqual(['q 1', 'a 1', 'q 2', 'a 2', 'q 3', 'a 3']);
  });

  it('replaces everything up to the compaction point with its summary', () => {
    const all = [session('a', null, '1'), session('b', 'a', '2'), session('c', 'b', '3')];
    const history = buildHistory(all, 'c', { summary: { text: 'they said 1 and 2', throughSessionId: 'b' } });
    expect(history[0]!.content).toContain('they said 1 and 2');
    expect(history.slice(2).map((m) => m.content)).toEqual(['q 3', 'a 3']);
  });
});

describe('steering queue', () => {
  it('holds steering until drained and refuses it once closed', () => {
    const queue = new SteeringQueue();
    expect(queue.push('one')).toBe(true);
    expect(queue.closeIfEmpty()).toBe(false);
    expect(queue.drain()).toEqual(['one']);
    expect(queue.closeIfEmpty()).toBe(true);
    expect(queue.push('late')).toBe(false);
  });
});
