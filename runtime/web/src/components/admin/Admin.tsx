/** Administration: presets, workspaces, API keys. Writes need an administrator's token; others get the API's 403 shown. */
import type { ReactNode } from 'react';
import { Link, type Route } from '../../router.js';
import { Keys } from './Keys.js';
import { PresetEditor } from './PresetEditor.js';
import { Presets } from './Presets.js';
import { Workspaces } from './Workspaces.js';

/** The links to the administration sections, the current one marked; the caller supplies the <nav>. */
export function AdminLinks({ route }: { route: Route }) {
  return (
    <>
      <Link href="/admin/presets" aria-current={route.name === 'presets' ? 'page' : undefined}>
        Presets
      </Link>
      <Link href="/admin/workspaces" aria-current={route.name === 'workspaces' ? 'page' : undefined}>
        Workspaces
      </Link>
      <Link href="/admin/keys" aria-current={route.name === 'keys' ? 'page' : undefined}>
        API keys
      </Link>
    </>
  );
}

export function AdminScreen({ route, menuButton }: { route: Route; menuButton: ReactNode }) {
  return (
    <div className="admin">
      <header className="admin-head">
        {menuButton}
        <nav aria-label="Administration sections" className="tabs">
          <AdminLinks route={route} />
        </nav>
      </header>
      <div className="admin-body">
        {route.name === 'presets' && (route.id ? <PresetEditor key={route.id} id={route.id === 'new' ? null : route.id} /> : <Presets />)}
        {route.name === 'workspaces' && <Workspaces />}
        {route.name === 'keys' && <Keys />}
      </div>
    </div>
  );
}

/** Field errors from a 400's details.issues, as "path: message" lines. */
export function issuesOf(error: unknown): string[] {
  const details = (error as { details?: { issues?: { path: string; message: string }[] } })?.details;
  return Array.isArray(details?.issues) ? details.issues.map((i) => `${i.path}: ${i.message}`) : [];
}
