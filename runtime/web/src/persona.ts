/**
 * Who is speaking: a persona's name, title, avatar and colour, from the
 * conversation's participants (rooms), the speaker on the events, or the
 * preset's persona (one-agent chats).
 */
import type { Participant } from '../../../shared/protocol/api.js';
import type { Conversation, Preset } from './api.js';
import type { Speaker } from './turns.js';

export interface Persona {
  key: string;
  name: string;
  handle: string | null;
  title: string | null;
  avatarUrl: string | null;
  color: string;
  presetId: string | null;
}

export type { Participant };

/** Distinct, readable-on-both-themes colours for personas without one. */
const PALETTE = ['#6366f1', '#0ea5e9', '#10b981', '#f59e0b', '#ef4444', '#a855f7', '#14b8a6', '#ec4899', '#84cc16', '#f97316'];

export function colorFor(seed: string): string {
  let hash = 0;
  for (let i = 0; i < seed.length; i++) hash = (hash * 31 + seed.charCodeAt(i)) | 0;
  return PALETTE[Math.abs(hash) % PALETTE.length]!;
}

export function participantsOf(conversation: Conversation | null): Participant[] {
  return ((conversation?.participants ?? []) as unknown as Participant[]).filter((p) => p && typeof p.preset_id === 'string');
}

const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : null);

export function personaOfPreset(preset: Preset | undefined, fallbackId: string | null): Persona {
  const persona = (preset?.persona ?? {}) as Record<string, unknown>;
  const id = preset?.id ?? fallbackId ?? 'assistant';
  return {
    key: `preset:${id}`,
    name: str(persona.display_name) ?? preset?.name ?? 'Assistant',
    handle: null,
    title: str(persona.title),
    avatarUrl: str(persona.avatar_url),
    color: str(persona.color) ?? colorFor(id),
    presetId: preset?.id ?? fallbackId,
  };
}

export function personaOfParticipant(p: Participant, preset: Preset | undefined): Persona {
  const base = personaOfPreset(preset, p.preset_id);
  return {
    key: `participant:${p.handle}`,
    name: p.display_name ?? base.name,
    handle: p.handle,
    title: p.title ?? base.title,
    avatarUrl: p.avatar_url ?? base.avatarUrl,
    color: p.color ?? (base.color === colorFor(p.preset_id) ? colorFor(p.handle) : base.color),
    presetId: p.preset_id,
  };
}

/** The persona of a turn. */
export function resolvePersona(
  conversation: Conversation | null,
  presets: Map<string, Preset>,
  speaker: Speaker | null,
  presetId: string | null,
): Persona {
  const participants = participantsOf(conversation);
  const match =
    participants.find((p) => speaker?.handle && p.handle === speaker.handle.replace(/^@/, '')) ??
    participants.find((p) => speaker?.presetId && p.preset_id === speaker.presetId) ??
    participants.find((p) => presetId && p.preset_id === presetId);
  if (match) return personaOfParticipant(match, presets.get(match.preset_id));
  const id = speaker?.presetId ?? presetId ?? conversation?.preset_id ?? null;
  const persona = personaOfPreset(id ? presets.get(id) : undefined, id);
  if (!speaker?.name) return persona;
  return {
    ...persona,
    key: speaker.handle ? `participant:${speaker.handle}` : persona.key,
    name: speaker.name,
    handle: speaker.handle ?? null,
    title: speaker.title ?? persona.title,
    avatarUrl: speaker.avatarUrl ?? persona.avatarUrl,
    color: speaker.color ?? persona.color,
  };
}

export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? `${words[0]![0]}${words[1]![0]}` : (words[0] ?? '?').slice(0, 1);
  return letters.toUpperCase();
}
