/**
 * Authentication: who is asking. A request carries `Authorization: Bearer
 * <token>` (or `?access_token=` on GET, for browsers' EventSource). The token
 * is the root token or an API key. Root and service keys may act for a named
 * user with `X-Conclave-User`; that user is created on first use and is never
 * an administrator.
 */
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { UsersRepo } from '../store/repos/users.js';
import { ROOT_USER_ID, secretsEqual } from '../store/repos/users.js';
import { ApiError } from './errors.js';

export interface Principal {
  /** The user whose data the request reads and writes. */
  userId: string;
  isAdmin: boolean;
  /** `service`: the root token and service keys, which may act for users and manage bindings. */
  scope: 'user' | 'service';
  /** The API key used; null for the root token. */
  keyId: string | null;
  /** For service principals: the service's own user id (owner of its bindings). */
  serviceUserId: string | null;
  /** Bucket for rate limiting. */
  rateKey: string;
}

export const ACT_AS_HEADER = 'x-conclave-user';
const USER_ID = /^[a-z0-9][a-z0-9:._@-]{0,127}$/;
const TOUCH_INTERVAL_MS = 60_000;

function presentedToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError(401, 'invalid_token', 'the Authorization header must be "Bearer <token>"');
    return match[1];
  }
  const query = req.query.access_token;
  if (req.method === 'GET' && typeof query === 'string' && query.length > 0) return query;
  return undefined;
}

export function createAuthenticator(deps: { rootToken: string; users: UsersRepo }) {
  const lastTouched = new Map<string, number>();
  // Processes sharing a root token share its rate limit; runtimes with different ones do not.
  const rootRateKey = `root:${createHash('sha256').update(deps.rootToken).digest('hex').slice(0, 16)}`;

  async function baseline(token: string): Promise<Principal> {
    if (secretsEqual(token, deps.rootToken)) {
      return { userId: ROOT_USER_ID, isAdmin: true, scope: 'service', keyId: null, serviceUserId: ROOT_USER_ID, rateKey: rootRateKey };
    }
    const check = await deps.users.checkKey(token);
    if (!check) throw new ApiError(401, 'invalid_token', 'the token is not valid, has expired, or was revoked');
    const now = Date.now();
    if ((lastTouched.get(check.key.id) ?? 0) < now - TOUCH_INTERVAL_MS) {
      lastTouched.set(check.key.id, now);
      void deps.users.touchKey(check.key.id).catch(() => undefined);
    }
    return {
      userId: check.user.id,
      isAdmin: check.user.isAdmin,
      scope: check.key.scope,
      keyId: check.key.id,
      serviceUserId: check.key.scope === 'service' ? check.user.id : null,
      rateKey: `key:${check.key.id}`,
    };
  }

  return async function authenticate(req: Request): Promise<Principal> {
    const token = presentedToken(req);
    if (!token) {
      throw new ApiError(401, 'missing_token', 'send "Authorization: Bearer <token>" (a root token or an API key)');
    }
    const principal = await baseline(token);
    const actAs = req.headers[ACT_AS_HEADER];
    if (actAs === undefined) return principal;
    if (principal.scope !== 'service') {
      throw new ApiError(403, 'forbidden', `only the root token and service keys may send ${ACT_AS_HEADER}`);
    }
    if (typeof actAs !== 'string' || !USER_ID.test(actAs) || actAs === ROOT_USER_ID) {
      throw new ApiError(400, 'invalid_request', `headers.${ACT_AS_HEADER}: must be a lowercase user id such as discord:1234`, {
        issues: [{ path: `headers.${ACT_AS_HEADER}`, message: 'must be a lowercase user id' }],
      });
    }
    await deps.users.ensure(actAs);
    return { ...principal, userId: actAs, isAdmin: false, rateKey: `${principal.rateKey}:${actAs}` };
  };
}
