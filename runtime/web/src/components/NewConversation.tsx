/**
 * Start a conversation: with one agent (a preset), as a room of several
 * presets, or from a room template (GET /api/room-templates; hidden with a
 * note when the runtime has none).
 */
import { useEffect, useState, type FormEvent } from 'react';
import { describeError, type Conversation, type RoomTemplate } from '../api.js';
import { useApp } from '../context.js';
import { personaOfPreset } from '../persona.js';
import { Avatar } from './Avatar.js';
import { Dialog } from './Dialog.js';
import { ErrorBox } from './ErrorBox.js';

type Kind = 'agent' | 'room' | 'template';
const MODES = ['manual', 'round_robin', 'relay', 'debate', 'consensus', 'autopilot'] as const;

const handleOf = (id: string) => id.replace(/[^a-z0-9_-]/g, '').slice(0, 32) || 'agent';

export function NewConversation({ open, onClose, onCreated }: { open: boolean; onClose(): void; onCreated(c: Conversation): void }) {
  const { api, presets } = useApp();
  const [kind, setKind] = useState<Kind>('agent');
  const [title, setTitle] = useState('');
  const [presetId, setPresetId] = useState('');
  const [members, setMembers] = useState<string[]>([]);
  const [mode, setMode] = useState<(typeof MODES)[number]>('round_robin');
  const [templates, setTemplates] = useState<RoomTemplate[] | null | undefined>(undefined);
  const [templateId, setTemplateId] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!open) return;
    setError(null);
    setTitle('');
    const preferred = presets.find((p) => p.is_default) ?? presets[0];
    setPresetId((id) => id || preferred?.id || '');
    api
      .roomTemplates()
      .then((list) => {
        setTemplates(list);
        setTemplateId((id) => id || list?.[0]?.id || '');
      })
      .catch(() => setTemplates(null));
  }, [open, api, presets]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const titled = title.trim() ? { title: title.trim() } : {};
      let conversation: Conversation;
      if (kind === 'template') {
        if (!templateId) throw new Error('Choose a template.');
        conversation = await api.createRoomFromTemplate(templateId, title.trim() || undefined);
      } else if (kind === 'room') {
        if (members.length < 2) throw new Error('Choose at least two presets for a room.');
        conversation = await api.client.createConversation({
          ...titled,
          mode,
          participants: members.map((id) => ({ preset_id: id, handle: handleOf(id) })),
        });
      } else {
        conversation = await api.client.createConversation({ ...titled, ...(presetId && { preset_id: presetId }) });
      }
      onCreated(conversation);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={open} title="New conversation" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <div className="segmented" role="group" aria-label="Kind of conversation">
          <button type="button" aria-pressed={kind === 'agent'} onClick={() => setKind('agent')}>
            One agent
          </button>
          <button type="button" aria-pressed={kind === 'room'} onClick={() => setKind('room')}>
            Room
          </button>
          <button type="button" aria-pressed={kind === 'template'} onClick={() => setKind('template')}>
            From template
          </button>
        </div>

        {kind === 'agent' && (
          <fieldset className="choice-list">
            <legend>Preset</legend>
            {presets.length === 0 && <p className="muted">No presets yet: the default preset answers, if there is one. Create presets under Presets.</p>}
            {presets.map((p) => {
              const persona = personaOfPreset(p, p.id);
              return (
                <label key={p.id} className="choice">
                  <input type="radio" name="preset" value={p.id} checked={presetId === p.id} onChange={() => setPresetId(p.id)} />
                  <Avatar persona={persona} size={28} />
                  <span className="choice-text">
                    <strong>{persona.name}</strong>
                    <span className="muted small">
                      {p.model.name}
                      {p.is_default ? ' · default' : ''}
                    </span>
                  </span>
                </label>
              );
            })}
          </fieldset>
        )}

        {kind === 'room' && (
          <>
            <fieldset className="choice-list">
              <legend>Participants</legend>
              {presets.map((p) => {
                const persona = personaOfPreset(p, p.id);
                const checked = members.includes(p.id);
                return (
                  <label key={p.id} className="choice">
                    <input
                      type="checkbox"
                      checked={checked}
                      onChange={() => setMembers((m) => (checked ? m.filter((x) => x !== p.id) : [...m, p.id]))}
                    />
                    <Avatar persona={persona} size={28} />
                    <span className="choice-text">
                      <strong>{persona.name}</strong>
                      <span className="muted small">@{handleOf(p.id)}</span>
                    </span>
                  </label>
                );
              })}
            </fieldset>
            <label className="field">
              <span>Mode</span>
              <select value={mode} onChange={(e) => setMode(e.target.value as (typeof MODES)[number])}>
                {MODES.map((m) => (
                  <option key={m} value={m}>
                    {m.replace('_', ' ')}
                  </option>
                ))}
              </select>
            </label>
          </>
        )}

        {kind === 'template' &&
          (templates === undefined ? (
            <p className="muted">Loading templates…</p>
          ) : templates === null || templates.length === 0 ? (
            <p className="muted">{templates === null ? 'This runtime offers no room templates.' : 'There are no room templates yet.'}</p>
          ) : (
            <fieldset className="choice-list">
              <legend>Template</legend>
              {templates.map((t) => (
                <label key={t.id} className="choice">
                  <input type="radio" name="template" checked={templateId === t.id} onChange={() => setTemplateId(t.id)} />
                  <span className="choice-text">
                    <strong>{t.name}</strong>
                    <span className="muted small">
                      {t.mode.replace('_', ' ')} · {t.participants.map((p) => p.display_name || `@${p.handle}`).join(', ')}
                    </span>
                    {t.description && <span className="small">{t.description}</span>}
                  </span>
                </label>
              ))}
            </fieldset>
          ))}

        <label className="field">
          <span>Title (optional)</span>
          <input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={500} placeholder="Named after the first message when empty" />
        </label>
        <ErrorBox error={error} />
        <div className="actions">
          <button type="button" className="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy || (kind === 'template' && !templates?.length)}>
            {busy ? 'Creating…' : 'Create'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
