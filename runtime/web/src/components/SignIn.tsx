import { useState, type FormEvent } from 'react';
import { Api, describeError, ConclaveApiError } from '../api.js';

export function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn(token: string): void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const value = token.trim();
    if (!value) {
      setError('Enter a token or an API key.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await new Api(value).client.listConversations({ limit: 1 });
      onSignedIn(value);
    } catch (e) {
      setError(e instanceof ConclaveApiError && e.status === 401 ? 'That token is not valid, has expired, or was revoked.' : describeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin" id="main">
      <form className="card signin-card" onSubmit={submit} aria-labelledby="signin-title" noValidate>
        <div className="brand brand-large">
          <img src="/favicon.svg" alt="" width={36} height={36} />
          <span>Conclave</span>
        </div>
        <h1 id="signin-title">Sign in</h1>
        <p className="muted">
          Use the root token (printed at the first start and saved in <code>data/auth-token</code>) or an API key (<code>cnk_…</code>).
        </p>
        {notice && (
          <p className="alert alert-warning" role="status">
            Signed out: {notice}
          </p>
        )}
        <label htmlFor="token">Token or API key</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="current-password"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'signin-error' : undefined}
          autoFocus
        />
        {error && (
          <p id="signin-error" className="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
