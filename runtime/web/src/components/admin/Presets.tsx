import { useEffect, useState } from 'react';
import { useApp } from '../../context.js';
import { describeError } from '../../api.js';
import { personaOfPreset } from '../../persona.js';
import { Link } from '../../router.js';
import { Avatar } from '../Avatar.js';
import { IconPlus } from '../icons.js';
import { ErrorBox } from '../ErrorBox.js';

export function Presets() {
  const { presets, reloadPresets } = useApp();
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    reloadPresets().catch((e: unknown) => setError(describeError(e)));
  }, [reloadPresets]);
  return (
    <section aria-labelledby="presets-title" className="admin-section">
      <div className="section-head">
        <h1 id="presets-title">Presets</h1>
        <Link href="/admin/presets/new" className="button primary">
          <IconPlus /> New preset
        </Link>
      </div>
      <p className="muted">An agent: its model (with fallbacks), system prompt, tools, MCP servers, subagents and persona.</p>
      <ErrorBox error={error} />
      {presets.length === 0 && !error && <p className="muted">No presets yet.</p>}
      <ul className="card-list">
        {presets.map((p) => {
          const persona = personaOfPreset(p, p.id);
          return (
            <li key={p.id}>
              <Link href={`/admin/presets/${encodeURIComponent(p.id)}`} className="card card-link">
                <Avatar persona={persona} size={40} />
                <span className="card-text">
                  <strong>
                    {persona.name}
                    {p.is_default && <span className="tag">default</span>}
                  </strong>
                  <span className="muted small">
                    {p.id} · {p.model.name}
                    {p.model.fallbacks.length > 0 ? ` (+${p.model.fallbacks.length} fallback${p.model.fallbacks.length > 1 ? 's' : ''})` : ''}
                  </span>
                  {p.description && <span className="small clamp">{p.description}</span>}
                </span>
              </Link>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
