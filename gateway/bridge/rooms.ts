/**
 * Rooms in the gateway: what the chat shows of a room run besides the
 * personas' own turns, and the small pieces of text the room commands use.
 * Pure functions; ./subscription.ts and ./room-commands.ts call them.
 *
 * Room-level events (turn_started, turn_skipped, vote_cast, tally,
 * room_finished; docs/events.md) belong to a run, not a session: their
 * `sessionId` is the run id. They are never rendered as a turn. Only
 * `room_finished` can show something:
 * - `consensus` / `no_consensus`: the result as a short table, the winner
 *   and the counts per option in every round (Discord: a code block, whose
 *   monospace keeps the columns; Slack: a Markdown table, which its
 *   `markdown_text` renders);
 * - a poll's result (reason `done` with `result.poll`): the same, one column;
 * - `stopped` / `interrupted`, `turn_limit`, `hop_limit`, `token_budget`,
 *   `stop_phrase`, `human_message`: one short line;
 * - `done`, `no_speaker`, `awaiting_user`: nothing (the personas' messages,
 *   the runtime's refusal or the persona's question already say it).
 *
 * Mentions: the runtime routes a human message by `@handle`. People may
 * write a persona's display name instead (`@Ada Lovelace`, `@Ada`);
 * `mapPersonaMentions` rewrites those to the handle before the message is
 * sent. Platform user mentions (`<@123>`) are left alone: personas are not
 * platform users.
 */
import { CustomName, EventType, type ConclaveEvent } from '../../shared/protocol/events.js';
import type { PlatformName } from './platform.js';

/** CUSTOM events that belong to a room run rather than to a persona's session. */
export const ROOM_EVENT_NAMES: ReadonlySet<string> = new Set([
  CustomName.turnStarted,
  CustomName.turnSkipped,
  CustomName.voteCast,
  CustomName.tally,
  CustomName.roomFinished,
]);

/** Tools the runtime gives personas to steer the room; running them is not shown as a status line. */
export const ROOM_TOOL_NAMES: ReadonlySet<string> = new Set(['mention', 'opt_out', 'vote', 'end_conversation']);

/** The room modes `/mode` offers, with a few words each. */
export const ROOM_MODES: Readonly<Record<string, string>> = {
  manual: 'only the personas you @mention speak',
  round_robin: 'everyone speaks once, in order',
  relay: 'each persona builds on the previous one',
  debate: 'rounds between the sides, then a judge’s verdict',
  consensus: 'proposals, ballots and a tally until the group agrees',
  autopilot: 'the personas talk by themselves (start it with /autopilot start)',
};

export function isRoomEvent(event: ConclaveEvent): boolean {
  return event.type === EventType.CUSTOM && typeof event.name === 'string' && ROOM_EVENT_NAMES.has(event.name);
}

/** One vote tally as the runtime reports it (runtime/rooms/tally.ts). */
interface Tally {
  method?: unknown;
  counts?: unknown;
  winner?: unknown;
  share?: unknown;
  reached?: unknown;
}

/**
 * What a `room_finished` event shows, or null for nothing. `names` maps
 * handles to display names (from the run's turn_started events), for the
 * table's rows.
 */
export function roomFinishedText(platform: PlatformName, value: Record<string, unknown>, names: ReadonlyMap<string, string> = new Map()): string | null {
  const reason = typeof value.reason === 'string' ? value.reason : '';
  const result = value.result && typeof value.result === 'object' ? (value.result as Record<string, unknown>) : null;
  const turns = typeof value.turns === 'number' ? value.turns : null;
  const tokens = typeof value.tokens === 'number' ? value.tokens : null;
  switch (reason) {
    case 'consensus':
    case 'no_consensus':
      return result ? consensusText(platform, reason === 'consensus', result, names) : null;
    case 'done':
      return result && typeof result.poll === 'string' ? pollText(platform, result) : null;
    case 'stopped':
    case 'interrupted':
      return '⏹️ Room stopped.';
    case 'turn_limit':
      return `⏱️ Turn limit reached${turns !== null ? ` (${turns} turns)` : ''}.`;
    case 'hop_limit':
      return '🔁 Mention hand-over limit reached.';
    case 'token_budget':
      return `💰 Token budget reached${tokens !== null ? ` (${tokens.toLocaleString('en-US')} tokens)` : ''}.`;
    case 'stop_phrase':
      return '🏁 Autopilot ended: the stop phrase was said.';
    case 'human_message':
      return '⏸️ Autopilot ended after your message.';
    default:
      return null;
  }
}

function consensusText(platform: PlatformName, reached: boolean, result: Record<string, unknown>, names: ReadonlyMap<string, string>): string {
  const rounds = (Array.isArray(result.rounds) ? result.rounds : []).filter((r): r is Tally => !!r && typeof r === 'object');
  const last = rounds.at(-1);
  const winner = typeof result.winner === 'string' ? result.winner : null;
  const method = typeof result.method === 'string' ? result.method : typeof last?.method === 'string' ? last.method : null;
  const threshold = typeof result.threshold === 'number' ? result.threshold : null;
  const label = (handle: string) => {
    const name = names.get(handle);
    return name && name.toLowerCase() !== handle ? `${name} (@${handle})` : `@${handle}`;
  };
  const details = [
    method && `${method} voting`,
    threshold !== null && `threshold ${percent(threshold)}`,
    `${rounds.length} round${rounds.length === 1 ? '' : 's'}`,
  ].filter(Boolean);
  let head: string;
  if (reached && winner) {
    const share = typeof last?.share === 'number' ? `, ${percent(last.share)} of ballots` : '';
    head = `🤝 **Consensus: ${label(winner)}**${share} · ${details.join(' · ')}`;
  } else {
    const best = typeof last?.winner === 'string' ? last.winner : null;
    const closest = best && typeof last?.share === 'number' ? ` · closest: ${label(best)}, ${percent(last.share)} of ballots` : '';
    head = `🤷 **No consensus**${closest} · ${details.join(' · ')}`;
  }
  if (rounds.length === 0) return head;
  // Rows: every option of any round, most votes in the last round first.
  const counts = rounds.map((r) => countsOf(r.counts));
  const options = [...new Set(counts.flatMap((c) => Object.keys(c)))];
  const final = counts.at(-1) ?? {};
  options.sort((a, b) => (final[b] ?? 0) - (final[a] ?? 0) || a.localeCompare(b));
  const header = ['Proposal', ...rounds.map((_r, i) => `Round ${i + 1}`)];
  const rows = options.map((option) => [
    `${label(option)}${option === winner ? ' ✓' : ''}`,
    ...counts.map((c) => (option in c ? String(c[option]) : '–')),
  ]);
  return `${head}\n${table(platform, header, rows)}`;
}

function pollText(platform: PlatformName, result: Record<string, unknown>): string {
  const counts = countsOf(result.counts);
  const winner = typeof result.winner === 'string' ? result.winner : null;
  const options = Object.keys(counts).sort((a, b) => (counts[b] ?? 0) - (counts[a] ?? 0) || a.localeCompare(b));
  const outcome = winner ? `winner: **${winner}**` : 'no winner';
  const head = `🗳️ **Poll:** ${String(result.poll)} · ${outcome}`;
  if (options.length === 0) return head;
  const rows = options.map((option) => [`${option}${option === winner ? ' ✓' : ''}`, String(counts[option] ?? 0)]);
  return `${head}\n${table(platform, ['Option', 'Votes'], rows)}`;
}

function countsOf(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!value || typeof value !== 'object') return out;
  for (const [key, count] of Object.entries(value as Record<string, unknown>)) {
    if (typeof count === 'number') out[key] = count;
  }
  return out;
}

function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}

/**
 * A small table: Discord gets a code block with padded columns (it renders
 * no Markdown tables), Slack a Markdown table. The first column is text, the
 * others are numbers (right-aligned).
 */
export function table(platform: PlatformName, header: string[], rows: string[][]): string {
  if (platform === 'slack') {
    const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
    const rule = `|${header.map((_h, i) => (i === 0 ? '---' : '---:')).join('|')}|`;
    return [line(header), rule, ...rows.map(line)].join('\n');
  }
  const all = [header, ...rows];
  const widths = header.map((_h, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const pad = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return ['```', pad(header), rule, ...rows.map(pad), '```'].join('\n');
}

/** A room participant as the gateway needs it (from the conversation's `participants`). */
export interface RoomPersona {
  handle: string;
  presetId: string;
  name: string | null;
  title: string | null;
}

/** The participants of a conversation, normalised; entries without a handle are skipped. */
export function roomPersonas(participants: ReadonlyArray<Record<string, unknown>>): RoomPersona[] {
  const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : null);
  const out: RoomPersona[] = [];
  for (const p of participants) {
    const handle = text(p.handle);
    if (!handle) continue;
    out.push({ handle, presetId: text(p.preset_id) ?? '', name: text(p.display_name), title: text(p.title) });
  }
  return out;
}

/**
 * Rewrites `@Display Name` (or its first word) to `@handle` for the room's
 * personas, so a message routes to whom it names. `@handle` itself, `@all`
 * and anything that names nobody are left as they are. Longer names are
 * tried first (`@Ada Lovelace` before `@Ada`); case is ignored.
 */
export function mapPersonaMentions(text: string, personas: readonly RoomPersona[]): string {
  if (!text.includes('@')) return text;
  const aliases: Array<{ alias: string; handle: string }> = [];
  for (const persona of personas) {
    if (!persona.name) continue;
    const full = persona.name.toLowerCase();
    const first = full.split(/\s+/)[0] ?? full;
    for (const alias of new Set([full, first])) {
      if (alias !== persona.handle.toLowerCase() && alias !== 'all') aliases.push({ alias, handle: persona.handle });
    }
  }
  if (aliases.length === 0) return text;
  // An alias that two personas share (two "Sam"s) names nobody in particular.
  const owners = new Map<string, Set<string>>();
  for (const { alias, handle } of aliases) owners.set(alias, (owners.get(alias) ?? new Set()).add(handle));
  const usable = aliases.filter(({ alias }) => owners.get(alias)?.size === 1).sort((a, b) => b.alias.length - a.alias.length);
  const handles = new Set(personas.map((p) => p.handle.toLowerCase()));
  return text.replace(/(?<![\w@])@([^\s@][^@\n]*)/g, (whole, rest: string) => {
    const lower = rest.toLowerCase();
    // `@handle…` already routes (the runtime reads the handle up to the first non-handle character).
    const handle = /^[a-z0-9_-]+/.exec(lower)?.[0];
    if (handle && handles.has(handle)) return whole;
    for (const { alias, handle: target } of usable) {
      if (!lower.startsWith(alias)) continue;
      const after = rest.slice(alias.length);
      if (after !== '' && /^[\w-]/.test(after)) continue; // `@Samantha` is not `@Sam`
      return `@${target}${after}`;
    }
    return whole;
  });
}
