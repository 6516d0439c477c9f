/** API keys: create (the key is shown once, with Copy) and revoke. */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { describeError, type ApiKey, type ApiKeyCreated } from '../../api.js';
import { useApp } from '../../context.js';
import { ConfirmDialog, Dialog } from '../Dialog.js';
import { ErrorBox } from '../ErrorBox.js';
import { issuesOf } from './Admin.js';

const date = (iso: string | null) => (iso ? new Date(iso).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' }) : '—');

export function Keys() {
  const { api } = useApp();
  const [items, setItems] = useState<ApiKey[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [issues, setIssues] = useState<string[]>([]);
  const [name, setName] = useState('');
  const [userId, setUserId] = useState('');
  const [scope, setScope] = useState<'user' | 'service'>('user');
  const [days, setDays] = useState('');
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [copied, setCopied] = useState(false);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);

  const load = useCallback(async () => {
    try {
      setItems((await api.client.listKeys()).items);
    } catch (e) {
      setError(describeError(e));
    }
  }, [api]);
  useEffect(() => {
    void load();
  }, [load]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setIssues([]);
    try {
      const key = await api.client.createKey({
        name: name.trim(),
        scope,
        ...(userId.trim() && { user_id: userId.trim() }),
        ...(days.trim() && { expires_in_days: Number(days) }),
      });
      setCreated(key);
      setCopied(false);
      setName('');
      setUserId('');
      setDays('');
      await load();
    } catch (err) {
      setError(describeError(err));
      setIssues(issuesOf(err));
    }
  };

  const revoke = async () => {
    if (!revoking) return;
    try {
      await api.client.revokeKey(revoking.id);
      setRevoking(null);
      await load();
    } catch (e) {
      setRevoking(null);
      setError(describeError(e));
    }
  };

  const copy = async () => {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };

  return (
    <section className="admin-section" aria-labelledby="keys-title">
      <div className="section-head">
        <h1 id="keys-title">API keys</h1>
      </div>
      <p className="muted">Keys sign in to this UI and the API. Administrators may create keys for other users and service keys (for the gateway).</p>

      <form className="card key-form" onSubmit={create} aria-label="Create an API key" noValidate>
        <div className="grid-4">
          <label className="field">
            <span>Name</span>
            <input value={name} onChange={(e) => setName(e.target.value)} required placeholder="alice laptop" />
          </label>
          <label className="field">
            <span>User (optional)</span>
            <input value={userId} onChange={(e) => setUserId(e.target.value)} placeholder="you" spellCheck={false} />
          </label>
          <label className="field">
            <span>Scope</span>
            <select value={scope} onChange={(e) => setScope(e.target.value as 'user' | 'service')}>
              <option value="user">user</option>
              <option value="service">service</option>
            </select>
          </label>
          <label className="field">
            <span>Expires in days</span>
            <input type="number" min={1} max={3650} value={days} onChange={(e) => setDays(e.target.value)} placeholder="never" />
          </label>
        </div>
        <div className="actions">
          <button type="submit" className="button primary" disabled={!name.trim()}>
            Create key
          </button>
        </div>
      </form>

      <ErrorBox error={error} issues={issues} />

      {items && items.length === 0 && <p className="muted">No keys yet.</p>}
      {items && items.length > 0 && (
        <div className="table-scroll">
          <table className="data-table">
            <caption className="visually-hidden">API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">User</th>
                <th scope="col">Scope</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((k) => (
                <tr key={k.id} data-revoked={k.revoked_at ? true : undefined}>
                  <th scope="row">{k.name}</th>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>{k.user_id}</td>
                  <td>{k.scope}</td>
                  <td>{date(k.last_used_at)}</td>
                  <td>{date(k.expires_at)}</td>
                  <td className="cell-actions">
                    {k.revoked_at ? (
                      <span className="muted small">revoked</span>
                    ) : (
                      <button type="button" className="button danger-ghost small" onClick={() => setRevoking(k)} aria-label={`Revoke ${k.name}`}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <Dialog open={created !== null} title="Your new API key" onClose={() => setCreated(null)}>
        <p>
          Copy it now: it is shown <strong>only once</strong>.
        </p>
        <div className="secret">
          <code aria-label="The new API key">{created?.key}</code>
          <button type="button" className="button primary small" onClick={() => void copy()}>
            {copied ? 'Copied' : 'Copy'}
          </button>
        </div>
        <p className="muted small" role="status">
          {copied ? 'Copied to the clipboard.' : ''}
        </p>
        <div className="actions">
          <button type="button" className="button ghost" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      </Dialog>
      <ConfirmDialog open={revoking !== null} title="Revoke key?" action="Revoke" onCancel={() => setRevoking(null)} onConfirm={() => void revoke()}>
        Revoke <strong>{revoking?.name}</strong>? Anything using it stops working at once.
      </ConfirmDialog>
    </section>
  );
}
