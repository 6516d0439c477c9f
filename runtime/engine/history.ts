/**
 * Builds the model's view of a conversation: the chain of committed sessions
 * from the parent back to the root (or to the compaction point, whose summary
 * stands in for everything before it), each contributing the messages it
 * added. Failed sessions are not in the chain: their parent's successor is
 * chosen from committed sessions only.
 */
import type { ChatMessage } from '../providers/types.js';
import type { SessionRow } from '../store/schema.js';

/** What the history, compaction and pending answers read of a committed session. */
export type HistorySession = Pick<SessionRow, 'id' | 'parentSessionId' | 'status' | 'messages' | 'speaker' | 'origin' | 'pending' | 'usage'>;

export interface HistoryOptions {
  /** Compaction: the summary, and the last session it covers. */
  summary?: { text: string; throughSessionId: string } | null;
  /**
   * In rooms, the persona whose prompt this is: its own turns stay assistant
   * turns; other personas' lines become named user turns (`[Sam]: …`) without
   * their tool calls, so no persona ever sees itself speaking as someone else.
   */
  viewer?: { handle: string } | null;
}

/** The messages a session contributes to the history, as the viewer sees them. */
function asSeenBy(session: HistorySession, viewer: { handle: string } | null | undefined): ChatMessage[] {
  const messages = session.messages as ChatMessage[];
  const speaker = session.speaker;
  if (!viewer || !speaker?.handle || speaker.handle === viewer.handle) return messages;
  return messages.flatMap((message): ChatMessage[] => {
    // A moderator's instruction to another persona (origin room) is not part of this persona's view.
    if (message.role === 'user') return session.origin === 'room' ? [] : [message];
    if (message.role === 'assistant' && message.content.trim()) return [{ role: 'user', content: `[${speaker.name}]: ${message.content}` }];
    return [];
  });
}

/** The sessions on the chain ending at `headId`, oldest first. */
export function sessionChain(sessions: HistorySession[], headId: string | null, stopAt?: string): HistorySession[] {
  const byId = new Map(sessions.map((s) => [s.id, s]));
  const chain: HistorySession[] = [];
  const seen = new Set<string>();
  for (let id = headId; id && !seen.has(id); ) {
    seen.add(id);
    if (id === stopAt) break;
    const session = byId.get(id);
    if (!session) break;
    chain.push(session);
    id = session.parentSessionId;
  }
  return chain.reverse();
}

export function buildHistory(sessions: HistorySession[], headId: string | null, options: HistoryOptions = {}): ChatMessage[] {
  const summary = options.summary ?? null;
  const chain = sessionChain(sessions, headId, summary?.throughSessionId);
  const messages: ChatMessage[] = [];
  if (summary) {
    messages.push({ role: 'user', content: `Summary of the conversation so far:\n\n${summary.text}` });
    messages.push({ role: 'assistant', content: 'Understood. I will continue from that summary.' });
  }
  for (const session of chain) messages.push(...asSeenBy(session, options.viewer));
  return messages;
}
