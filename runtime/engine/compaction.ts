/**
 * Compaction: when a conversation's prompt grows past a share of the model's
 * context window, the older turns are summarised by the same model into a
 * stored summary that later prompts use instead (history.ts). The newest turn
 * stays verbatim. Emits a CUSTOM `compaction` event; a failed summary is a
 * warning, never a failed run.
 */
import { CustomName, EventType } from '../../shared/protocol/events.js';
import type { ChatMessage } from '../providers/types.js';
import type { SessionEmitter } from './emitter.js';
import type { HistorySession } from './history.js';
import type { ModelStream } from './loop.js';

const SUMMARY_PROMPT =
  'You compress conversations. Write a faithful summary of the conversation below for your own later use: ' +
  'the user’s goals, facts and decisions, names, numbers, open questions and anything promised. ' +
  'Write plain prose and lists, no preamble.';

export interface CompactionInput {
  /** The committed chain the next prompt would contain, oldest first. */
  chain: HistorySession[];
  /** The summary in force, if any (it is folded into the new one). */
  previousSummary: string | null;
  contextWindow: number;
  /** Share of the context window that triggers compaction (0–1]. */
  threshold: number;
  stream: ModelStream;
  emitter: SessionEmitter;
  signal: AbortSignal;
}

export interface Compaction {
  summary: string;
  throughSessionId: string;
}

/** Tokens the next prompt will take, from the last call's reported usage or, lacking it, the text size. */
export function estimatePromptTokens(chain: HistorySession[]): number {
  const last = chain[chain.length - 1];
  const reported = last ? Object.values(last.usage).reduce((n, u) => Math.max(n, u.input_tokens + u.output_tokens), 0) : 0;
  if (reported > 0) return reported;
  return Math.ceil(JSON.stringify(chain.map((s) => s.messages)).length / 4);
}

function transcript(chain: HistorySession[], previousSummary: string | null): string {
  const lines: string[] = [];
  if (previousSummary) lines.push(`Earlier summary:\n${previousSummary}\n`);
  for (const session of chain) {
    for (const message of session.messages as ChatMessage[]) {
      const text = typeof message.content === 'string' ? message.content : message.content.map((p) => (p.type === 'text' ? p.text : `[${p.type}]`)).join(' ');
      if (message.role === 'tool') lines.push(`Tool ${message.toolName} returned: ${text.slice(0, 2000)}`);
      else if (message.role === 'assistant') {
        const name = session.speaker?.name ?? 'Assistant';
        if (text) lines.push(`${name}: ${text}`);
        for (const call of message.toolCalls ?? []) lines.push(`${name} called ${call.name}(${call.arguments.slice(0, 500)})`);
      } else if (message.role === 'user') lines.push(`User: ${text}`);
    }
  }
  return lines.join('\n');
}

export async function compactIfNeeded(input: CompactionInput): Promise<Compaction | null> {
  const estimated = estimatePromptTokens(input.chain);
  if (input.chain.length < 2 || estimated < input.threshold * input.contextWindow) return null;
  const older = input.chain.slice(0, -1);
  const through = older[older.length - 1]!;
  let summary = '';
  try {
    const messages: ChatMessage[] = [
      { role: 'system', content: SUMMARY_PROMPT },
      { role: 'user', content: transcript(older, input.previousSummary) },
    ];
    for await (const part of input.stream({ messages, tools: [], signal: input.signal })) {
      if (part.type === 'text-delta') summary += part.delta;
    }
  } catch (error) {
    if (input.signal.aborted) throw error;
    input.emitter.emit({
      type: EventType.CUSTOM,
      name: CustomName.warning,
      value: { message: `the conversation could not be compacted (${(error as Error).message}); continuing with the full history` },
    });
    return null;
  }
  if (!summary.trim()) return null;
  input.emitter.emit({
    type: EventType.CUSTOM,
    name: CustomName.compaction,
    value: {
      summarized_sessions: older.length,
      through_session_id: through.id,
      estimated_tokens: estimated,
      context_window: input.contextWindow,
      summary_characters: summary.length,
    },
  });
  return { summary: summary.trim(), throughSessionId: through.id };
}
