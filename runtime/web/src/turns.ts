/**
 * The chat's view model: a turn (one session) as the UI draws it, built from
 * the same events either way — streamed live from the conversation's event
 * log, or replayed from the committed display history of GET /turns (where
 * each message, reasoning block and tool call is one *_CHUNK event).
 */
import type { Turn } from './api.js';

/** The `speaker` on a room persona's events. */
export interface Speaker {
  presetId?: string;
  name?: string;
  handle?: string;
  title?: string;
  avatarUrl?: string;
  color?: string;
}

export interface UsageEntry {
  input_tokens?: number;
  output_tokens?: number;
  cached_tokens?: number;
  reasoning_tokens?: number;
  requests?: number;
  cost_usd?: number;
}

export interface PendingCall {
  tool_call_id: string;
  tool_name: string;
  arguments: string;
  kind: 'approval' | 'question' | 'client';
}

export type ToolStatus = 'running' | 'complete' | 'error' | 'cancelled';

export type Part =
  | { kind: 'text'; key: string; text: string }
  | { kind: 'reasoning'; key: string; text: string }
  | { kind: 'tool'; key: string; name: string; args: string; result: string | null; status: ToolStatus }
  | { kind: 'note'; key: string; tone: 'info' | 'warning' | 'steer'; text: string }
  | { kind: 'awaiting'; key: string; calls: PendingCall[]; questions: string[] }
  | { kind: 'subagent'; key: string; name: string; description: string; state: 'running' | 'finished' | 'failed'; result: string };

export type TurnStatus = 'running' | 'completed' | 'failed' | 'interrupted' | 'awaiting_input' | string;

export interface TurnView {
  sessionId: string;
  type: 'agent' | 'async_subagent';
  status: TurnStatus;
  speaker: Speaker | null;
  presetId: string | null;
  /** The human message that started it: a string, input parts, or null (continuations, answers). undefined: not known yet. */
  input: unknown;
  parts: Part[];
  error: { code: string; message: string } | null;
  usage: Record<string, UsageEntry>;
  /** Milliseconds since the epoch; orders the thread. */
  createdAt: number;
  /** Built from committed history (events for it are ignored). */
  committed: boolean;
}

type Event = { type: string; [field: string]: unknown };

const str = (value: unknown): string => (typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value));

export function emptyTurn(sessionId: string, createdAt: number): TurnView {
  return { sessionId, type: 'agent', status: 'running', speaker: null, presetId: null, input: undefined, parts: [], error: null, usage: {}, createdAt, committed: false };
}

export function fromTurn(turn: Turn): TurnView {
  let view: TurnView = {
    sessionId: turn.session_id,
    type: turn.type,
    status: turn.status,
    speaker: (turn.speaker as Speaker | null) ?? null,
    presetId: typeof turn.speaker?.presetId === 'string' ? turn.speaker.presetId : null,
    input: turn.input ?? null,
    parts: [],
    error: turn.error,
    usage: (turn.usage as Record<string, UsageEntry>) ?? {},
    createdAt: Date.parse(turn.created_at),
    committed: turn.status !== 'running',
  };
  for (const chunk of turn.display) view = applyEvent(view, chunk as Event);
  if (view.status === 'interrupted') view = { ...view, parts: closeTools(view.parts, 'cancelled') };
  return view;
}

function closeTools(parts: Part[], status: ToolStatus): Part[] {
  return parts.map((p) => (p.kind === 'tool' && p.status === 'running' ? { ...p, status } : p));
}

/** Appends `delta` to the part with `key`, or adds a new part made by `make`. */
function appendTo(parts: Part[], key: string, delta: string, make: () => Part): Part[] {
  const index = parts.findIndex((p) => p.key === key);
  if (index === -1) {
    const part = make();
    return [...parts, part];
  }
  const next = parts.slice();
  const part = next[index]!;
  if (part.kind === 'text' || part.kind === 'reasoning') next[index] = { ...part, text: part.text + delta };
  else if (part.kind === 'tool') next[index] = { ...part, args: part.args + delta };
  return next;
}

function updatePart(parts: Part[], key: string, update: (part: Part) => Part): Part[] {
  const index = parts.findIndex((p) => p.key === key);
  if (index === -1) return parts;
  const next = parts.slice();
  next[index] = update(next[index]!);
  return next;
}

/** Applies one event (live or from display history) to a turn. */
export function applyEvent(view: TurnView, event: Event): TurnView {
  const speaker = event.speaker as Speaker | undefined;
  let turn = speaker && !view.speaker ? { ...view, speaker, presetId: view.presetId ?? speaker.presetId ?? null } : view;
  const parts = turn.parts;
  switch (event.type) {
    case 'RUN_STARTED':
      return { ...turn, status: 'running', committed: false };
    case 'TEXT_MESSAGE_START':
    case 'TEXT_MESSAGE_CONTENT':
    case 'TEXT_MESSAGE_CHUNK': {
      const id = str(event.messageId);
      const delta = str(event.delta);
      if (event.type === 'TEXT_MESSAGE_START' && parts.some((p) => p.key === `text:${id}`)) return turn;
      return { ...turn, parts: appendTo(parts, `text:${id}`, delta, () => ({ kind: 'text', key: `text:${id}`, text: delta })) };
    }
    case 'REASONING_MESSAGE_START':
    case 'REASONING_MESSAGE_CONTENT':
    case 'REASONING_MESSAGE_CHUNK': {
      const id = str(event.messageId);
      const delta = str(event.delta);
      if (event.type === 'REASONING_MESSAGE_START' && parts.some((p) => p.key === `reasoning:${id}`)) return turn;
      return { ...turn, parts: appendTo(parts, `reasoning:${id}`, delta, () => ({ kind: 'reasoning', key: `reasoning:${id}`, text: delta })) };
    }
    case 'TOOL_CALL_START':
    case 'TOOL_CALL_ARGS':
    case 'TOOL_CALL_CHUNK': {
      const id = str(event.toolCallId);
      const delta = str(event.delta);
      const key = `tool:${id}`;
      if (event.type === 'TOOL_CALL_START' && parts.some((p) => p.key === key)) return turn;
      return {
        ...turn,
        parts: appendTo(parts, key, delta, () => ({
          kind: 'tool',
          key,
          name: str(event.toolCallName) || 'tool',
          args: delta,
          result: null,
          status: 'running',
        })),
      };
    }
    case 'TOOL_CALL_RESULT': {
      const key = `tool:${str(event.toolCallId)}`;
      const status = (['complete', 'error', 'cancelled'].includes(str(event.status)) ? str(event.status) : 'complete') as ToolStatus;
      return { ...turn, parts: updatePart(parts, key, (p) => (p.kind === 'tool' ? { ...p, result: str(event.content), status } : p)) };
    }
    case 'SUBAGENT_STARTED':
      return {
        ...turn,
        parts: [...parts, { kind: 'subagent', key: 'subagent', name: str(event.name) || 'subagent', description: str(event.description), state: 'running', result: '' }],
      };
    case 'SUBAGENT_FINISHED':
    case 'SUBAGENT_ERROR': {
      const failed = event.type === 'SUBAGENT_ERROR';
      return {
        ...turn,
        parts: updatePart(parts, 'subagent', (p) =>
          p.kind === 'subagent' ? { ...p, state: failed ? 'failed' : 'finished', result: failed ? str(event.message) : str(event.result) } : p,
        ),
      };
    }
    case 'CUSTOM':
      return applyCustom(turn, event);
    case 'RUN_FINISHED': {
      const outcome = event.outcome as { type?: string } | undefined;
      turn = { ...turn, status: outcome?.type === 'interrupt' ? 'awaiting_input' : 'completed' };
      return { ...turn, parts: closeTools(turn.parts, 'complete') };
    }
    case 'RUN_ERROR': {
      const code = str(event.code) || 'error';
      return {
        ...turn,
        status: code === 'interrupted' ? 'interrupted' : 'failed',
        error: { code, message: str(event.message) },
        parts: closeTools(parts, code === 'interrupted' ? 'cancelled' : 'error'),
      };
    }
    default:
      return turn;
  }
}

function applyCustom(turn: TurnView, event: Event): TurnView {
  const value = (event.value ?? {}) as Record<string, unknown>;
  const seq = typeof event.seq === 'number' ? event.seq : turn.parts.length;
  const note = (tone: 'info' | 'warning' | 'steer', text: string): TurnView => ({
    ...turn,
    parts: [...turn.parts, { kind: 'note', key: `note:${seq}:${turn.parts.length}`, tone, text }],
  });
  switch (event.name) {
    case 'usage':
      return { ...turn, usage: value as Record<string, UsageEntry> };
    case 'steering_received':
      return note('steer', str(value.text));
    case 'warning':
      return note('warning', str(value.message));
    case 'compaction':
      return note('info', 'Earlier turns were summarised to fit the context window.');
    case 'mailbox_updated':
      return note('info', 'A background agent left a result in the mailbox.');
    case 'awaiting_user': {
      const calls = Array.isArray(value.calls) ? (value.calls as PendingCall[]) : [];
      const questions = Array.isArray(value.questions) ? value.questions.map(str) : [];
      return { ...turn, parts: [...turn.parts.filter((p) => p.kind !== 'awaiting'), { kind: 'awaiting', key: 'awaiting', calls, questions }] };
    }
    default:
      return turn;
  }
}

/** The text of a message input (string or parts). */
export function inputText(input: unknown): string {
  if (typeof input === 'string') return input;
  if (Array.isArray(input)) {
    return input
      .map((part: { type?: string; text?: string; name?: string }) =>
        part.type === 'text' ? (part.text ?? '') : part.type === 'image' ? '[image]' : `[file${part.name ? `: ${part.name}` : ''}]`,
      )
      .join('\n');
  }
  return '';
}

/** Sums per-model usage. */
export function totalUsage(usage: Record<string, UsageEntry>): Required<UsageEntry> {
  const total = { input_tokens: 0, output_tokens: 0, cached_tokens: 0, reasoning_tokens: 0, requests: 0, cost_usd: 0 };
  for (const entry of Object.values(usage ?? {})) {
    if (!entry || typeof entry !== 'object') continue;
    total.input_tokens += entry.input_tokens ?? 0;
    total.output_tokens += entry.output_tokens ?? 0;
    total.cached_tokens += entry.cached_tokens ?? 0;
    total.reasoning_tokens += entry.reasoning_tokens ?? 0;
    total.requests += entry.requests ?? 0;
    total.cost_usd += entry.cost_usd ?? 0;
  }
  return total;
}

export const formatTokens = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(n >= 100_000 ? 0 : 1)}k` : String(n));
export const formatCost = (usd: number) => (usd === 0 ? '$0' : usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`);

/** CUSTOM events of a room run (not of one session): their sessionId is the run's id. */
export const ROOM_EVENTS = new Set(['turn_started', 'turn_skipped', 'vote_cast', 'room_finished', 'tally']);

export interface RoomNote {
  key: string;
  at: number;
  tone: 'info' | 'warning';
  text: string;
}

const FINISH_TEXT: Record<string, string> = {
  done: '',
  no_speaker: 'Nobody was addressed: mention a persona with @handle.',
  turn_limit: 'The room stopped at its turn limit.',
  hop_limit: 'The room stopped at its mention hop limit.',
  token_budget: 'The room stopped at its token budget.',
  stop_phrase: 'The room ended on its stop phrase.',
  stopped: 'The room was stopped.',
  interrupted: 'The room was interrupted.',
  awaiting_user: '',
  human_message: '',
  consensus: 'Consensus reached.',
  no_consensus: 'No consensus was reached.',
};

/** A line for the thread from a room event; null when there is nothing to say. */
export function roomNote(event: { name?: unknown; value?: unknown; sessionId?: unknown; seq?: unknown; timestamp?: unknown }, nameOf: (handle: string) => string): RoomNote | null {
  const value = (event.value ?? {}) as Record<string, unknown>;
  const key = `${str(event.sessionId)}:${str(event.seq)}`;
  const at = typeof event.timestamp === 'number' ? event.timestamp : Date.now();
  const make = (text: string, tone: 'info' | 'warning' = 'info'): RoomNote | null => (text ? { key, at, tone, text } : null);
  switch (event.name) {
    case 'turn_skipped':
      return make(`${nameOf(str(value.handle))} passed${value.reason ? `: ${str(value.reason)}` : '.'}`);
    case 'vote_cast':
      return make(`${nameOf(str(value.voter))} voted: ${Array.isArray(value.choices) ? value.choices.map(str).join(', ') : ''}`);
    case 'tally': {
      const counts = (value.counts ?? {}) as Record<string, number>;
      const list = Object.entries(counts)
        .sort((a, b) => b[1] - a[1])
        .map(([option, n]) => `${option} ${n}`)
        .join(' · ');
      const winner = value.winner ? ` Winner: ${str(value.winner)}${value.reached ? '' : ' (below the threshold)'}.` : ' No winner.';
      return make(`Tally${value.round ? ` (round ${str(value.round)})` : ''}: ${list}.${winner}`);
    }
    case 'room_finished': {
      const reason = str(value.reason);
      const text = FINISH_TEXT[reason] ?? `The room finished (${reason}).`;
      const result = value.result as { winner?: unknown } | undefined;
      return make(result?.winner ? `${text} Result: ${str(result.winner)}.`.trim() : text, reason === 'no_speaker' ? 'warning' : 'info');
    }
    default:
      return null;
  }
}
