/**
 * The root token: from CONCLAVE_AUTH_TOKEN, or generated on first start and
 * kept in `<data dir>/auth-token` (mode 600) so later starts reuse it.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RootToken {
  token: string;
  /** Where it came from; `generated` means this start created it and should print it. */
  source: 'environment' | 'file' | 'generated';
  path: string | null;
}

export function resolveRootToken(fromEnv: string | undefined, dataDir: string): RootToken {
  if (fromEnv) return { token: fromEnv, source: 'environment', path: null };
  const path = join(dataDir, 'auth-token');
  if (existsSync(path)) {
    const token = readFileSync(path, 'utf8').trim();
    if (token.length >= 16) return { token, source: 'file', path };
  }
  mkdirSync(dataDir, { recursive: true });
  const token = `cnr_${randomBytes(32).toString('base64url')}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { token, source: 'generated', path };
}
