/** Workspaces: named sets of folders an agent may read and write through its file tools. */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { describeError, type Workspace } from '../../api.js';
import { useApp } from '../../context.js';
import { ConfirmDialog, Dialog } from '../Dialog.js';
import { IconPlus } from '../icons.js';
import { ErrorBox } from '../ErrorBox.js';
import { issuesOf } from './Admin.js';

interface Folder {
  path: string;
  description: string;
  writable: boolean;
}
interface Form {
  id: string;
  name: string;
  description: string;
  folders: Folder[];
}

const blank = (): Form => ({ id: '', name: '', description: '', folders: [{ path: '', description: '', writable: true }] });

export function Workspaces() {
  const { api } = useApp();
  const [items, setItems] = useState<Workspace[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ id: string | null; form: Form } | null>(null);
  const [deleting, setDeleting] = useState<Workspace | null>(null);

  const load = useCallback(async () => {
    try {
      setItems((await api.client.listWorkspaces({ limit: 200 })).items);
    } catch (e) {
      setError(describeError(e));
    }
  }, [api]);
  useEffect(() => {
    void load();
  }, [load]);

  const remove = async () => {
    if (!deleting) return;
    try {
      await api.client.deleteWorkspace(deleting.id);
      setDeleting(null);
      await load();
    } catch (e) {
      setDeleting(null);
      setError(describeError(e));
    }
  };

  return (
    <section className="admin-section" aria-labelledby="ws-title">
      <div className="section-head">
        <h1 id="ws-title">Workspaces</h1>
        <button type="button" className="button primary" onClick={() => setEditing({ id: null, form: blank() })}>
          <IconPlus /> New workspace
        </button>
      </div>
      <p className="muted">Folders an agent may read and write with its file tools. Relative paths live under the data directory.</p>
      <ErrorBox error={error} />
      {items?.length === 0 && <p className="muted">No workspaces yet.</p>}
      <ul className="card-list">
        {items?.map((w) => (
          <li key={w.id} className="card">
            <span className="card-text">
              <strong>{w.name}</strong>
              <span className="muted small">
                {w.id} · {w.folders.length} folder{w.folders.length === 1 ? '' : 's'}
              </span>
              {w.folders.map((f) => (
                <code key={f.path} className="small folder">
                  {f.path}
                  {f.writable ? '' : ' (read-only)'}
                </code>
              ))}
            </span>
            <span className="card-actions">
              <button
                type="button"
                className="button ghost small"
                onClick={() =>
                  setEditing({
                    id: w.id,
                    form: { id: w.id, name: w.name, description: w.description, folders: w.folders.map((f) => ({ path: f.path, description: f.description ?? '', writable: f.writable })) },
                  })
                }
                aria-label={`Edit ${w.name}`}
              >
                Edit
              </button>
              <button type="button" className="button danger-ghost small" onClick={() => setDeleting(w)} aria-label={`Delete ${w.name}`}>
                Delete
              </button>
            </span>
          </li>
        ))}
      </ul>
      {editing && (
        <WorkspaceDialog
          initial={editing}
          onClose={() => setEditing(null)}
          onSaved={async () => {
            setEditing(null);
            await load();
          }}
        />
      )}
      <ConfirmDialog open={deleting !== null} title="Delete workspace?" action="Delete" onCancel={() => setDeleting(null)} onConfirm={() => void remove()}>
        Delete <strong>{deleting?.name}</strong>? The folders on disk are kept.
      </ConfirmDialog>
    </section>
  );
}

function WorkspaceDialog({ initial, onClose, onSaved }: { initial: { id: string | null; form: Form }; onClose(): void; onSaved(): Promise<void> }) {
  const { api } = useApp();
  const [form, setForm] = useState(initial.form);
  const [error, setError] = useState<string | null>(null);
  const [issues, setIssues] = useState<string[]>([]);
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm({ ...form, [k]: v });

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setIssues([]);
    const body = {
      name: form.name.trim(),
      description: form.description,
      folders: form.folders.filter((f) => f.path.trim()).map((f) => ({ path: f.path.trim(), writable: f.writable, ...(f.description.trim() && { description: f.description.trim() }) })),
    };
    try {
      if (initial.id) await api.client.patchWorkspace(initial.id, body);
      else await api.client.createWorkspace({ ...body, ...(form.id.trim() && { id: form.id.trim() }) });
      await onSaved();
    } catch (err) {
      setError(describeError(err));
      setIssues(issuesOf(err));
    }
  };

  return (
    <Dialog open title={initial.id ? 'Edit workspace' : 'New workspace'} onClose={onClose} wide>
      <form onSubmit={save} className="stack" noValidate>
        <div className="grid-2">
          <label className="field">
            <span>Name</span>
            <input value={form.name} onChange={(e) => set('name', e.target.value)} required />
          </label>
          <label className="field">
            <span>Id {initial.id ? '' : '(optional)'}</span>
            <input value={form.id} onChange={(e) => set('id', e.target.value)} disabled={!!initial.id} spellCheck={false} />
          </label>
        </div>
        <label className="field">
          <span>Description</span>
          <input value={form.description} onChange={(e) => set('description', e.target.value)} />
        </label>
        <fieldset className="form-section">
          <legend>Folders</legend>
          {form.folders.map((f, i) => {
            const update = (patch: Partial<Folder>) => set('folders', form.folders.map((x, j) => (j === i ? { ...x, ...patch } : x)));
            return (
              <div key={i} className="row-card" role="group" aria-label={`Folder ${i + 1}`}>
                <div className="grid-2">
                  <label className="field">
                    <span>Path</span>
                    <input value={f.path} onChange={(e) => update({ path: e.target.value })} spellCheck={false} className="mono" />
                  </label>
                  <label className="field">
                    <span>Description</span>
                    <input value={f.description} onChange={(e) => update({ description: e.target.value })} />
                  </label>
                </div>
                <div className="row-actions">
                  <label className="check">
                    <input type="checkbox" checked={f.writable} onChange={(e) => update({ writable: e.target.checked })} />
                    <span>Writable</span>
                  </label>
                  <button type="button" className="button ghost small" onClick={() => set('folders', form.folders.filter((_, j) => j !== i))}>
                    Remove
                  </button>
                </div>
              </div>
            );
          })}
          <button type="button" className="button small" onClick={() => set('folders', [...form.folders, { path: '', description: '', writable: true }])}>
            Add folder
          </button>
        </fieldset>
        <ErrorBox error={error} issues={issues} />
        <div className="actions">
          <button type="button" className="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary">
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}
