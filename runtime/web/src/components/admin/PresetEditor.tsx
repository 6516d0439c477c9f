/**
 * Create or edit a preset: general, model (with fallbacks and settings),
 * system prompt, tools, MCP servers, subagents, and the persona's look
 * (display name, title, avatar URL, colour) with a live preview.
 */
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { describeError, type Preset, type PresetCreate, type Workspace } from '../../api.js';
import { useApp } from '../../context.js';
import { colorFor } from '../../persona.js';
import { navigate } from '../../router.js';
import { Avatar } from '../Avatar.js';
import { ConfirmDialog } from '../Dialog.js';
import { ErrorBox } from '../ErrorBox.js';
import { issuesOf } from './Admin.js';

const BUILTIN_TOOLS = [
  { name: 'current_time', label: 'current_time — the date and time' },
  { name: 'ask_user', label: 'ask_user — ask the people a question and wait' },
];

interface McpRow {
  name: string;
  transport: 'stdio' | 'streamable_http';
  url: string;
  command: string;
  args: string;
  optional: boolean;
  headers: string;
}
interface SubagentRow {
  name: string;
  preset_id: string;
  description: string;
}

interface Form {
  id: string;
  name: string;
  description: string;
  model: string;
  fallbacks: string;
  settings: string;
  system_prompt: string;
  builtins: string[];
  otherTools: string;
  toolSpecs: string;
  mcp: McpRow[];
  subagents: SubagentRow[];
  display_name: string;
  title: string;
  avatar_url: string;
  color: string;
  workspace_id: string;
  is_default: boolean;
}

const blankForm = (): Form => ({
  id: '',
  name: '',
  description: '',
  model: 'openai:gpt-4.1',
  fallbacks: '',
  settings: '',
  system_prompt: '',
  builtins: ['current_time'],
  otherTools: '',
  toolSpecs: '',
  mcp: [],
  subagents: [],
  display_name: '',
  title: '',
  avatar_url: '',
  color: '',
  workspace_id: '',
  is_default: false,
});

function formOf(p: Preset): Form {
  // Tools come back normalised: a plain built-in is {type:'builtin', name}; show it as a name.
  const plain = (t: unknown): string | null => {
    if (typeof t === 'string') return t;
    const spec = t as { type?: string; name?: string; requires_approval?: boolean };
    return spec.type === 'builtin' && typeof spec.name === 'string' && !spec.requires_approval ? spec.name : null;
  };
  const names = p.tools.map(plain).filter((n): n is string => n !== null);
  const specs = p.tools.filter((t) => plain(t) === null);
  const persona = p.persona as Record<string, string | undefined>;
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    model: p.model.name,
    fallbacks: p.model.fallbacks.join('\n'),
    settings: Object.keys(p.model.settings).length ? JSON.stringify(p.model.settings, null, 2) : '',
    system_prompt: p.system_prompt,
    builtins: names.filter((n) => BUILTIN_TOOLS.some((b) => b.name === n)),
    otherTools: names.filter((n) => !BUILTIN_TOOLS.some((b) => b.name === n)).join(', '),
    toolSpecs: specs.length ? JSON.stringify(specs, null, 2) : '',
    mcp: (p.mcp_servers as Record<string, unknown>[]).map((s) => ({
      name: String(s.name ?? ''),
      transport: s.transport === 'stdio' ? 'stdio' : 'streamable_http',
      url: String(s.url ?? ''),
      command: String(s.command ?? ''),
      args: Array.isArray(s.args) ? (s.args as string[]).join(' ') : '',
      optional: s.optional === true,
      headers: s.headers ? JSON.stringify(s.headers) : '',
    })),
    subagents: (p.subagents as Record<string, unknown>[]).map((s) => ({
      name: String(s.name ?? ''),
      preset_id: String(s.preset_id ?? ''),
      description: String(s.description ?? ''),
    })),
    display_name: persona.display_name ?? '',
    title: persona.title ?? '',
    avatar_url: persona.avatar_url ?? '',
    color: persona.color ?? '',
    workspace_id: p.workspace_id ?? '',
    is_default: p.is_default,
  };
}

class FormError extends Error {}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new FormError(`${what} is not valid JSON.`);
  }
}

/** The form as an API body (create) — PATCH takes the same fields without id. */
function bodyOf(f: Form): PresetCreate {
  const fallbacks = f.fallbacks
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
  const settings = f.settings.trim() ? (parseJson(f.settings, 'Model settings') as Record<string, unknown>) : {};
  const model = fallbacks.length || Object.keys(settings).length ? { name: f.model.trim(), fallbacks, settings } : f.model.trim();
  const specs = f.toolSpecs.trim() ? parseJson(f.toolSpecs, 'Tool definitions') : [];
  if (!Array.isArray(specs)) throw new FormError('Tool definitions must be a JSON array.');
  const tools = [
    ...f.builtins,
    ...f.otherTools
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean),
    ...specs,
  ];
  const persona: Record<string, string> = {};
  if (f.display_name.trim()) persona.display_name = f.display_name.trim();
  if (f.title.trim()) persona.title = f.title.trim();
  if (f.avatar_url.trim()) persona.avatar_url = f.avatar_url.trim();
  if (f.color.trim()) persona.color = f.color.trim();
  return {
    ...(f.id.trim() && { id: f.id.trim() }),
    name: f.name.trim(),
    description: f.description,
    model,
    system_prompt: f.system_prompt,
    tools: tools as PresetCreate['tools'],
    mcp_servers: f.mcp.map((m) => ({
      name: m.name.trim(),
      transport: m.transport,
      ...(m.transport === 'stdio'
        ? { command: m.command.trim(), ...(m.args.trim() && { args: m.args.trim().split(/\s+/) }) }
        : { url: m.url.trim() }),
      optional: m.optional,
      ...(m.headers.trim() && { headers: parseJson(m.headers, `Headers of ${m.name || 'an MCP server'}`) as Record<string, string> }),
    })),
    subagents: f.subagents.map((s) => ({ name: s.name.trim(), preset_id: s.preset_id, ...(s.description.trim() && { description: s.description.trim() }) })),
    persona,
    workspace_id: f.workspace_id || null,
    is_default: f.is_default,
  };
}

function Section({ title, children, hint }: { title: string; hint?: string; children: ReactNode }) {
  return (
    <fieldset className="form-section">
      <legend>{title}</legend>
      {hint && <p className="muted small section-hint">{hint}</p>}
      {children}
    </fieldset>
  );
}

export function PresetEditor({ id }: { id: string | null }) {
  const { api, presets, reloadPresets } = useApp();
  const [form, setForm] = useState<Form | null>(id ? null : blankForm());
  const [workspaces, setWorkspaces] = useState<Workspace[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [issues, setIssues] = useState<string[]>([]);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);

  useEffect(() => {
    if (id) api.client.getPreset(id).then((p) => setForm(formOf(p)), (e: unknown) => setError(describeError(e)));
    api.client.listWorkspaces({ limit: 200 }).then((page) => setWorkspaces(page.items), () => undefined);
  }, [api, id]);

  if (!form) {
    return <p className="muted admin-section">{error ?? 'Loading…'}</p>;
  }
  const set = <K extends keyof Form>(key: K, value: Form[K]) => setForm({ ...form, [key]: value });
  const previewColor = /^#[0-9a-f]{6}$/i.test(form.color) ? form.color : colorFor(form.id || form.name || 'preset');

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setIssues([]);
    setSaved(null);
    try {
      const body = bodyOf(form);
      if (id) {
        const { id: _ignored, ...patch } = body;
        const preset = await api.client.patchPreset(id, patch);
        setForm(formOf(preset));
        setSaved('Saved.');
      } else {
        const preset = await api.client.createPreset(body);
        await reloadPresets();
        navigate(`/admin/presets/${encodeURIComponent(preset.id)}`, { replace: true });
        return;
      }
      await reloadPresets();
    } catch (e) {
      setError(e instanceof FormError ? e.message : describeError(e));
      setIssues(issuesOf(e));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (!id) return;
    try {
      await api.client.deletePreset(id);
      await reloadPresets();
      navigate('/admin/presets');
    } catch (e) {
      setConfirming(false);
      setError(describeError(e));
    }
  };

  return (
    <form className="admin-section editor" onSubmit={save} aria-labelledby="editor-title" noValidate>
      <div className="section-head">
        <h1 id="editor-title">{id ? `Preset ${form.name || id}` : 'New preset'}</h1>
        <div className="persona-preview" aria-label="Persona preview">
          <Avatar persona={{ name: form.display_name || form.name || '?', avatarUrl: form.avatar_url || null, color: previewColor }} size={40} />
          <span>
            <strong>{form.display_name || form.name || 'Unnamed'}</strong>
            {form.title && <span className="muted small"> · {form.title}</span>}
          </span>
        </div>
      </div>

      <Section title="General">
        <div className="grid-2">
          <label className="field">
            <span>Name</span>
            <input value={form.name} onChange={(e) => set('name', e.target.value)} required maxLength={200} />
          </label>
          <label className="field">
            <span>Id {id ? '' : '(optional)'}</span>
            <input value={form.id} onChange={(e) => set('id', e.target.value)} disabled={!!id} placeholder="helper" pattern="[a-z0-9][a-z0-9_-]*" aria-describedby={id ? undefined : 'id-hint'} />
            {!id && (
              <span id="id-hint" className="muted small">
                Lowercase letters, digits, - and _. Generated when empty.
              </span>
            )}
          </label>
        </div>
        <label className="field">
          <span>Description</span>
          <input value={form.description} onChange={(e) => set('description', e.target.value)} maxLength={4000} />
        </label>
        <div className="grid-2">
          <label className="field">
            <span>Workspace</span>
            <select value={form.workspace_id} onChange={(e) => set('workspace_id', e.target.value)}>
              <option value="">None</option>
              {workspaces.map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name}
                </option>
              ))}
            </select>
          </label>
          <label className="check">
            <input type="checkbox" checked={form.is_default} onChange={(e) => set('is_default', e.target.checked)} />
            <span>Default preset (answers conversations that name none)</span>
          </label>
        </div>
      </Section>

      <Section title="Model" hint="provider:model, e.g. openai:gpt-4.1, anthropic:claude-sonnet-4-5, ollama:llama3.2. Fallbacks are tried in order after 429s, 5xx, timeouts and connection errors.">
        <label className="field">
          <span>Model</span>
          <input value={form.model} onChange={(e) => set('model', e.target.value)} required spellCheck={false} />
        </label>
        <div className="grid-2">
          <label className="field">
            <span>Fallbacks (one per line)</span>
            <textarea rows={3} value={form.fallbacks} onChange={(e) => set('fallbacks', e.target.value)} spellCheck={false} />
          </label>
          <label className="field">
            <span>Settings (JSON, optional)</span>
            <textarea rows={3} value={form.settings} onChange={(e) => set('settings', e.target.value)} spellCheck={false} placeholder='{"temperature": 0.2}' className="mono" />
          </label>
        </div>
      </Section>

      <Section title="System prompt" hint="Placeholders: {{date}}, {{datetime}}, {{conversation_title}}, {{preset_name}}, {{model}}, {{room_context}}.">
        <label className="field">
          <span className="visually-hidden">System prompt</span>
          <textarea rows={8} value={form.system_prompt} onChange={(e) => set('system_prompt', e.target.value)} aria-label="System prompt" />
        </label>
      </Section>

      <Section title="Tools">
        <div className="checks">
          {BUILTIN_TOOLS.map((t) => (
            <label key={t.name} className="check">
              <input
                type="checkbox"
                checked={form.builtins.includes(t.name)}
                onChange={(e) => set('builtins', e.target.checked ? [...form.builtins, t.name] : form.builtins.filter((n) => n !== t.name))}
              />
              <span>
                <code>{t.label.split(' — ')[0]}</code> — {t.label.split(' — ')[1]}
              </span>
            </label>
          ))}
        </div>
        <label className="field">
          <span>Other tool names (comma-separated)</span>
          <input value={form.otherTools} onChange={(e) => set('otherTools', e.target.value)} spellCheck={false} />
        </label>
        <details className="advanced">
          <summary>Tool definitions: HTTP tools, approval rules (JSON)</summary>
          <label className="field">
            <span className="visually-hidden">Tool definitions</span>
            <textarea
              rows={6}
              className="mono"
              value={form.toolSpecs}
              onChange={(e) => set('toolSpecs', e.target.value)}
              spellCheck={false}
              placeholder='[{"type":"http","name":"weather","url":"https://…","parameters":{"type":"object","properties":{}}}]'
              aria-label="Tool definitions (JSON)"
            />
          </label>
        </details>
      </Section>

      <Section title="MCP servers">
        {form.mcp.length === 0 && <p className="muted small">None.</p>}
        {form.mcp.map((m, i) => {
          const update = (patch: Partial<McpRow>) => set('mcp', form.mcp.map((x, j) => (j === i ? { ...x, ...patch } : x)));
          return (
            <div key={i} className="row-card" role="group" aria-label={`MCP server ${i + 1}`}>
              <div className="grid-3">
                <label className="field">
                  <span>Name</span>
                  <input value={m.name} onChange={(e) => update({ name: e.target.value })} spellCheck={false} />
                </label>
                <label className="field">
                  <span>Transport</span>
                  <select value={m.transport} onChange={(e) => update({ transport: e.target.value as McpRow['transport'] })}>
                    <option value="streamable_http">Streamable HTTP</option>
                    <option value="stdio">stdio</option>
                  </select>
                </label>
                {m.transport === 'stdio' ? (
                  <label className="field">
                    <span>Command</span>
                    <input value={m.command} onChange={(e) => update({ command: e.target.value })} spellCheck={false} />
                  </label>
                ) : (
                  <label className="field">
                    <span>URL</span>
                    <input type="url" value={m.url} onChange={(e) => update({ url: e.target.value })} spellCheck={false} />
                  </label>
                )}
              </div>
              <div className="grid-2">
                {m.transport === 'stdio' ? (
                  <label className="field">
                    <span>Arguments (space-separated)</span>
                    <input value={m.args} onChange={(e) => update({ args: e.target.value })} spellCheck={false} />
                  </label>
                ) : (
                  <label className="field">
                    <span>Headers (JSON, optional)</span>
                    <input value={m.headers} onChange={(e) => update({ headers: e.target.value })} spellCheck={false} placeholder='{"Authorization":"Bearer ${env:TOKEN}"}' className="mono" />
                  </label>
                )}
                <div className="row-actions">
                  <label className="check">
                    <input type="checkbox" checked={m.optional} onChange={(e) => update({ optional: e.target.checked })} />
                    <span>Optional (a failure only warns)</span>
                  </label>
                  <button type="button" className="button ghost small" onClick={() => set('mcp', form.mcp.filter((_, j) => j !== i))}>
                    Remove
                  </button>
                </div>
              </div>
            </div>
          );
        })}
        <button type="button" className="button small" onClick={() => set('mcp', [...form.mcp, { name: '', transport: 'streamable_http', url: '', command: '', args: '', optional: false, headers: '' }])}>
          Add MCP server
        </button>
      </Section>

      <Section title="Subagents" hint="Other presets this agent may hand tasks to (in the background, reporting to the mailbox).">
        {form.subagents.length === 0 && <p className="muted small">None.</p>}
        {form.subagents.map((s, i) => {
          const update = (patch: Partial<SubagentRow>) => set('subagents', form.subagents.map((x, j) => (j === i ? { ...x, ...patch } : x)));
          return (
            <div key={i} className="row-card" role="group" aria-label={`Subagent ${i + 1}`}>
              <div className="grid-3">
                <label className="field">
                  <span>Tool name</span>
                  <input value={s.name} onChange={(e) => update({ name: e.target.value })} spellCheck={false} />
                </label>
                <label className="field">
                  <span>Preset</span>
                  <select value={s.preset_id} onChange={(e) => update({ preset_id: e.target.value })}>
                    <option value="">Choose…</option>
                    {presets
                      .filter((p) => p.id !== id)
                      .map((p) => (
                        <option key={p.id} value={p.id}>
                          {p.name}
                        </option>
                      ))}
                  </select>
                </label>
                <label className="field">
                  <span>Description</span>
                  <input value={s.description} onChange={(e) => update({ description: e.target.value })} />
                </label>
              </div>
              <button type="button" className="button ghost small" onClick={() => set('subagents', form.subagents.filter((_, j) => j !== i))}>
                Remove
              </button>
            </div>
          );
        })}
        <button type="button" className="button small" onClick={() => set('subagents', [...form.subagents, { name: '', preset_id: '', description: '' }])}>
          Add subagent
        </button>
      </Section>

      <Section title="Persona" hint="How the agent appears in the web UI, rooms, Discord and Slack.">
        <div className="grid-2">
          <label className="field">
            <span>Display name</span>
            <input value={form.display_name} onChange={(e) => set('display_name', e.target.value)} maxLength={80} />
          </label>
          <label className="field">
            <span>Title</span>
            <input value={form.title} onChange={(e) => set('title', e.target.value)} maxLength={120} />
          </label>
          <label className="field">
            <span>Avatar URL</span>
            <input type="url" value={form.avatar_url} onChange={(e) => set('avatar_url', e.target.value)} placeholder="https://…" />
          </label>
          <div className="field">
            <label htmlFor="persona-color">Colour</label>
            <div className="color-field">
              <input type="color" value={previewColor} onChange={(e) => set('color', e.target.value)} aria-label="Pick a colour" />
              <input id="persona-color" value={form.color} onChange={(e) => set('color', e.target.value)} placeholder={previewColor} spellCheck={false} className="mono" />
            </div>
          </div>
        </div>
      </Section>

      <ErrorBox error={error} issues={issues} />
      <div className="actions sticky-actions">
        {saved && (
          <span className="muted" role="status">
            {saved}
          </span>
        )}
        {id && (
          <button type="button" className="button danger-ghost" onClick={() => setConfirming(true)}>
            Delete
          </button>
        )}
        <button type="button" className="button ghost" onClick={() => navigate('/admin/presets')}>
          Back
        </button>
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Saving…' : id ? 'Save' : 'Create preset'}
        </button>
      </div>

      <ConfirmDialog open={confirming} title="Delete preset?" action="Delete" onCancel={() => setConfirming(false)} onConfirm={() => void remove()}>
        Delete <strong>{form.name}</strong>? Conversations that use it will need another preset.
      </ConfirmDialog>
    </form>
  );
}
