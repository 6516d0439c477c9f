/**
 * A tiny client-side router over the History API (the app has five routes;
 * a routing library would be most of the code). The server answers every
 * non-API path with index.html, so these URLs survive a reload.
 *
 *   /                     conversations (chat placeholder)
 *   /c/:id                a conversation
 *   /admin/presets[/:id]  presets (":id" = "new" for a new one)
 *   /admin/workspaces     workspaces
 *   /admin/keys           API keys
 */
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export type Route =
  | { name: 'home' }
  | { name: 'chat'; id: string }
  | { name: 'presets'; id: string | null }
  | { name: 'workspaces' }
  | { name: 'keys' };

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'c' && parts[1]) return { name: 'chat', id: parts[1] };
  if (parts[0] === 'admin') {
    if (parts[1] === 'workspaces') return { name: 'workspaces' };
    if (parts[1] === 'keys') return { name: 'keys' };
    return { name: 'presets', id: parts[2] ?? null };
  }
  return { name: 'home' };
}

const listeners = new Set<() => void>();

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  for (const listener of listeners) listener();
}

export function useRoute(): Route {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return parseRoute(path);
}

/** An <a> that navigates in-app on a plain click and behaves like a link otherwise. */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={handle} {...rest} />;
}
