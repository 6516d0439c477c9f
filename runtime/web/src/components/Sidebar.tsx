/**
 * The conversation list: search (`q`), active/archived, live activity dots
 * (from GET /api/notifications), cursor paging ("Load more"), and the new
 * conversation dialog. Below it: admin links, theme and sign-out.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { describeError, type Conversation } from '../api.js';
import { useApp } from '../context.js';
import { participantsOf } from '../persona.js';
import { Link, navigate, type Route } from '../router.js';
import { useTheme } from '../theme.js';
import { AdminLinks } from './admin/Admin.js';
import { IconClose, IconMoon, IconPlus, IconSearch, IconSun } from './icons.js';
import { NewConversation } from './NewConversation.js';
import { ErrorBox } from './ErrorBox.js';

const PAGE = 30;

export function relativeTime(iso: string): string {
  const then = Date.parse(iso);
  const seconds = Math.round((Date.now() - then) / 1000);
  if (seconds < 60) return 'now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  if (seconds < 7 * 86_400) return `${Math.floor(seconds / 86_400)}d`;
  return new Date(then).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

export function Sidebar({ id, route, onClose }: { id: string; route: Route; onClose(): void }) {
  const { api, activity, onNotification, reconnects, signOut } = useApp();
  const [theme, toggleTheme] = useTheme();
  const [query, setQuery] = useState('');
  const [q, setQ] = useState('');
  const [status, setStatus] = useState<'active' | 'archived'>('active');
  const [items, setItems] = useState<Conversation[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const generation = useRef(0);

  // Debounce typing into the search box.
  useEffect(() => {
    const timer = setTimeout(() => setQ(query.trim()), 250);
    return () => clearTimeout(timer);
  }, [query]);

  const load = useCallback(
    async (more: boolean) => {
      const mine = more ? generation.current : ++generation.current;
      setLoading(true);
      try {
        const page = await api.client.listConversations({ limit: PAGE, status, ...(q && { q }), ...(more && cursor ? { cursor } : {}) });
        if (mine !== generation.current) return;
        setItems((old) => (more ? [...old, ...page.items.filter((c) => !old.some((o) => o.id === c.id))] : page.items));
        setCursor(page.next_cursor);
        setError(null);
      } catch (e) {
        if (mine === generation.current) setError(describeError(e));
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [api, status, q, cursor],
  );

  // Reload from the first page when the filters change or notifications reconnect.
  const loadFirst = useRef(load);
  loadFirst.current = load;
  useEffect(() => {
    void loadFirst.current(false);
  }, [api, status, q, reconnects]);

  // Screens that create, fork, rename or archive say so.
  useEffect(() => {
    const reload = () => void loadFirst.current(false);
    window.addEventListener('conclave:conversations-changed', reload);
    return () => window.removeEventListener('conclave:conversations-changed', reload);
  }, []);

  // New conversations, titles and activity arrive as notifications.
  useEffect(
    () =>
      onNotification((n) => {
        if (n.type !== 'session_started' && n.type !== 'conversation_updated' && n.type !== 'session_finished') return;
        setItems((old) => {
          if (!old.some((c) => c.id === n.conversation_id)) {
            void loadFirst.current(false);
            return old;
          }
          // A known one: refresh its title and time.
          api.client
            .getConversation(n.conversation_id)
            .then((fresh) => setItems((list) => list.map((c) => (c.id === fresh.id ? fresh : c))))
            .catch(() => undefined);
          return old;
        });
      }),
    [api, onNotification],
  );

  const currentId = route.name === 'chat' ? route.id : null;
  const created = (conversation: Conversation) => {
    setCreating(false);
    setItems((old) => [conversation, ...old.filter((c) => c.id !== conversation.id)]);
    navigate(`/c/${encodeURIComponent(conversation.id)}`);
  };

  return (
    <aside id={id} className="sidebar" aria-label="Conversations and settings">
      <div className="sidebar-head">
        <Link href="/" className="brand">
          <img src="/favicon.svg" alt="" width={26} height={26} />
          <span>Conclave</span>
        </Link>
        <div className="sidebar-head-actions">
          <button
            type="button"
            className="icon-button"
            onClick={toggleTheme}
            aria-label={theme === 'dark' ? 'Switch to light theme' : 'Switch to dark theme'}
            title={theme === 'dark' ? 'Light theme' : 'Dark theme'}
          >
            {theme === 'dark' ? <IconSun /> : <IconMoon />}
          </button>
          <button type="button" className="icon-button only-narrow nav-close" onClick={onClose} aria-label="Close conversations">
            <IconClose />
          </button>
        </div>
      </div>

      <button type="button" className="button primary new-button" onClick={() => setCreating(true)}>
        <IconPlus /> New conversation
      </button>

      <div className="filters">
        <label className="search">
          <span className="visually-hidden">Search conversations</span>
          <IconSearch />
          <input type="search" placeholder="Search" value={query} onChange={(e) => setQuery(e.target.value)} />
        </label>
        <div className="segmented" role="group" aria-label="Show conversations">
          {(['active', 'archived'] as const).map((s) => (
            <button key={s} type="button" aria-pressed={status === s} onClick={() => setStatus(s)}>
              {s === 'active' ? 'Active' : 'Archived'}
            </button>
          ))}
        </div>
      </div>

      <nav className="conversation-list" aria-label="Conversation list" aria-busy={loading}>
        <ErrorBox error={error} />
        <ul>
          {items.map((c) => {
            const act = activity.get(c.id);
            const room = participantsOf(c).length > 1;
            return (
              <li key={c.id}>
                <Link href={`/c/${encodeURIComponent(c.id)}`} className="conversation-link" aria-current={c.id === currentId ? 'page' : undefined}>
                  <span className="conversation-title">{c.title || 'New conversation'}</span>
                  <span className="conversation-meta">
                    {act && (
                      <span className={`activity-dot activity-${act}`} role="img" aria-label={act === 'running' ? 'Replying' : 'Waiting for you'} />
                    )}
                    {room && <span className="tag">room</span>}
                    <time dateTime={c.updated_at}>{relativeTime(c.updated_at)}</time>
                  </span>
                </Link>
              </li>
            );
          })}
        </ul>
        {!loading && items.length === 0 && !error && <p className="muted list-empty">{q ? 'No conversation matches.' : status === 'archived' ? 'Nothing archived.' : 'No conversations yet.'}</p>}
        {cursor && (
          <button type="button" className="button ghost load-more" onClick={() => void load(true)} disabled={loading}>
            {loading ? 'Loading…' : 'Load more'}
          </button>
        )}
      </nav>

      <div className="sidebar-foot">
        <nav aria-label="Administration" className="admin-links">
          <AdminLinks route={route} />
        </nav>
        <button type="button" className="link-button" onClick={signOut}>
          Sign out
        </button>
      </div>

      <NewConversation open={creating} onClose={() => setCreating(false)} onCreated={created} />
    </aside>
  );
}
