/**
 * The app: sign-in (a token or API key, kept in localStorage; `?token=` in
 * the address signs in and is removed from it), then the shell — the
 * conversation sidebar and the routed screen.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { Api, describeError, storedToken, storeToken, ConclaveApiError } from '../api.js';
import { AppProvider } from '../context.js';
import { navigate, useRoute } from '../router.js';
import { AdminScreen } from './admin/Admin.js';
import { Chat } from './Chat.js';
import { IconMenu } from './icons.js';
import { Sidebar } from './Sidebar.js';
import { SignIn } from './SignIn.js';

/** Takes `?token=` out of the address bar (without a reload or a history entry). */
function takeTokenFromUrl(): string | null {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (!token) return null;
  url.searchParams.delete('token');
  window.history.replaceState(null, '', `${url.pathname}${url.search}${url.hash}`);
  return token;
}

export function App() {
  const [token, setToken] = useState<string | null>(() => {
    const fromUrl = takeTokenFromUrl();
    if (fromUrl) storeToken(fromUrl);
    return fromUrl ?? storedToken();
  });
  const [expired, setExpired] = useState<string | null>(null);

  // A stored token that no longer works sends the user back to sign-in.
  useEffect(() => {
    if (!token) return;
    let cancelled = false;
    new Api(token).client.listConversations({ limit: 1 }).catch((error: unknown) => {
      if (cancelled) return;
      if (error instanceof ConclaveApiError && error.status === 401) {
        storeToken(null);
        setToken(null);
        setExpired(describeError(error));
      }
    });
    return () => {
      cancelled = true;
    };
  }, [token]);

  const signOut = () => {
    storeToken(null);
    setToken(null);
    setExpired(null);
    navigate('/', { replace: true });
  };

  if (!token) {
    return (
      <SignIn
        notice={expired}
        onSignedIn={(t) => {
          storeToken(t);
          setExpired(null);
          setToken(t);
        }}
      />
    );
  }
  return (
    <AppProvider token={token} signOut={signOut}>
      <Shell />
    </AppProvider>
  );
}

function Shell() {
  const route = useRoute();
  const [navOpen, setNavOpen] = useState(false);

  // Close the phone drawer whenever the screen changes.
  const routeKey = JSON.stringify(route);
  useEffect(() => setNavOpen(false), [routeKey]);
  // The drawer takes focus when it opens and gives it back to the menu button when it closes.
  const wasOpen = useRef(false);
  useEffect(() => {
    if (navOpen) document.querySelector<HTMLButtonElement>('#sidebar .nav-close')?.focus();
    else if (wasOpen.current) document.querySelector<HTMLButtonElement>('.nav-toggle')?.focus();
    wasOpen.current = navOpen;
  }, [navOpen]);
  useEffect(() => {
    if (!navOpen) return;
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && setNavOpen(false);
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [navOpen]);

  const openNav = () => setNavOpen(true);
  const menuButton = (
    <button type="button" className="icon-button nav-toggle" onClick={openNav} aria-label="Open conversations" aria-expanded={navOpen} aria-controls="sidebar">
      <IconMenu />
    </button>
  );

  return (
    <div className="shell" data-route={route.name} data-nav-open={navOpen || undefined}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Sidebar id="sidebar" route={route} onClose={() => setNavOpen(false)} />
      {navOpen && <div className="backdrop" onClick={() => setNavOpen(false)} aria-hidden="true" />}
      <main id="main" className="main" tabIndex={-1}>
        {route.name === 'chat' ? (
          <Chat key={route.id} id={route.id} menuButton={menuButton} />
        ) : route.name === 'home' ? (
          <Home menuButton={menuButton} />
        ) : (
          <AdminScreen route={route} menuButton={menuButton} />
        )}
      </main>
    </div>
  );
}

function Home({ menuButton }: { menuButton: ReactNode }) {
  return (
    <div className="home">
      <header className="topbar only-narrow">{menuButton}</header>
      <div className="empty-state">
        <h1>Conclave</h1>
        <p>Pick a conversation, or start a new one with an agent or a room of personas.</p>
      </div>
    </div>
  );
}
