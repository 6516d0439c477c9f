/**
 * Route definitions: each route declares its method, path, access level and
 * zod schemas for params, query and body, plus its responses. One definition
 * drives request validation (a 400 naming the field), the handler's typed
 * input, Idempotency-Key handling for the routes that declare it, and the
 * OpenAPI document (./openapi.ts).
 */
import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import type { IdempotencyRepo } from '../store/repos/idempotency.js';
import type { Principal } from './auth.js';
import { ApiError, validationError } from './errors.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** public: no token; user: any valid token; admin: administrators; service: service keys and administrators. */
export type Access = 'public' | 'user' | 'admin' | 'service';

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface HandlerInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  req: Request;
  res: Response;
  /**
   * For handlers that write the response themselves (streams) on an
   * idempotent route: what a repeat of this request gets instead.
   */
  replyForRepeats(reply: Reply): void;
}

export interface RouteDef<P = unknown, Q = unknown, B = unknown> {
  method: Method;
  /** Express path, e.g. `/api/presets/:id`. */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /**
   * Honours an `Idempotency-Key` header: the first answer (2xx) is stored and
   * a repeat with the same key and body gets it again (see docs/api.md).
   */
  idempotent?: boolean;
  /** Response schemas by status, for the OpenAPI document; null for no body. */
  responses: Record<number, z.ZodType | null | 'text/event-stream'>;
  /**
   * Returns the reply, or undefined when the handler wrote the response itself
   * (streams).
   */
  handler(input: HandlerInput<P, Q, B>): Promise<Reply | undefined>;
}

/** Identity helper that keeps the schema types flowing into the handler. */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  def: RouteDef<P, Q, B>,
): RouteDef<P, Q, B> {
  return def;
}

export type AnyRoute = RouteDef<any, any, any>;

export interface MountOptions {
  /** Authenticates the request (sets res.locals.principal) or throws. */
  authenticate: (req: Request) => Promise<Principal>;
  /** Called for write routes after authentication; rejects with 429 when over the limit. */
  limitWrites: (principal: Principal) => Promise<void>;
  /** Where idempotent routes keep their first answers. */
  idempotency: IdempotencyStore;
}

/** The part of the idempotency-key repository routes use. */
export type IdempotencyStore = Pick<IdempotencyRepo, 'claim' | 'complete' | 'release'>;

/** The header of idempotent routes: 1-255 visible ASCII characters, chosen by the client. */
const idempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 visible ASCII characters')
    .optional(),
});

const WRITE_METHODS: Method[] = ['post', 'put', 'patch', 'delete'];

export function mountRoutes(router: Router, routes: AnyRoute[], options: MountOptions): void {
  for (const def of routes) {
    router[def.method](def.path, async (req: Request, res: Response, next: NextFunction) => {
      try {
        const principal = def.access === 'public' ? anonymous : await options.authenticate(req);
        if (def.access === 'admin' && !principal.isAdmin) {
          throw new ApiError(403, 'forbidden', 'this route needs an administrator token or key');
        }
        if (def.access === 'service' && !principal.isAdmin && principal.scope !== 'service') {
          throw new ApiError(403, 'forbidden', 'this route needs a service key or an administrator');
        }
        if (WRITE_METHODS.includes(def.method) && def.access !== 'public') await options.limitWrites(principal);

        const params = parse('params', def.params, req.params);
        // access_token is authentication, not part of any route's query.
        const { access_token: _token, ...rawQuery } = req.query;
        const query = parse('query', def.query, rawQuery);
        const body = def.body ? parse('body', def.body, req.body) : undefined;
        const input = { params, query, body, principal, req, res };
        const key = def.idempotent ? (parse('headers', idempotencyHeaders, req.headers)['idempotency-key'] ?? null) : null;
        if (key === null) send(res, await def.handler({ ...input, replyForRepeats: () => undefined }));
        else await handleOnce(def, input, key, options.idempotency);
      } catch (error) {
        next(error);
      }
    });
  }
}

/**
 * Runs an idempotent route's handler for the first request with `key`, and
 * answers repeats with what it answered (see store/repos/idempotency.ts).
 */
async function handleOnce(def: AnyRoute, input: Omit<HandlerInput<unknown, unknown, unknown>, 'replyForRepeats'>, key: string, store: IdempotencyStore): Promise<void> {
  const { req, res, principal } = input;
  const fingerprint = createHash('sha256').update(`${req.method} ${req.path}\n${JSON.stringify(req.body ?? null)}`).digest('hex');
  const claim = await store.claim(principal.userId, key, fingerprint);
  if (claim.state === 'done') return send(res, { status: claim.status, body: claim.body ?? undefined, headers: { 'Idempotent-Replayed': 'true' } });
  if (claim.state === 'in_progress') {
    throw new ApiError(409, 'idempotency_key_in_use', 'headers.idempotency-key: a request with this key is still being handled; retry shortly');
  }
  if (claim.state === 'other_request') {
    throw new ApiError(422, 'idempotency_key_reused', 'headers.idempotency-key: this key was used for a different request');
  }
  const complete = (reply: Reply) => store.complete(principal.userId, key, reply.status ?? 200, reply.body);
  // A streaming handler names its answer for repeats before it streams: stored at once.
  let completing: Promise<void> | null = null;
  let reply: Reply | undefined;
  try {
    reply = await def.handler({ ...input, replyForRepeats: (r) => void (completing ??= complete(r)) });
  } catch (error) {
    if (!completing) await store.release(principal.userId, key);
    throw error;
  }
  if (completing) await completing;
  else if (reply && (reply.status ?? 200) < 300) await complete(reply);
  else await store.release(principal.userId, key); // failed: a retry may act
  send(res, reply);
}

/** Writes a handler's reply; nothing when the handler wrote the response itself. */
function send(res: Response, reply: Reply | undefined): void {
  if (!reply || res.headersSent) return;
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  const status = reply.status ?? 200;
  if (reply.body === undefined) res.status(status).end();
  else res.status(status).json(reply.body);
}

function parse<T>(where: 'params' | 'query' | 'body' | 'headers', schema: z.ZodType<T> | undefined, value: unknown): T {
  if (!schema) return {} as T;
  // A missing or non-JSON body reaches us as undefined: report it as the body being wrong.
  const input = where === 'body' && value === undefined ? undefined : value;
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(where, result.error);
  return result.data;
}

/** The principal of public routes. */
const anonymous: Principal = {
  userId: 'anonymous',
  isAdmin: false,
  scope: 'user',
  keyId: null,
  serviceUserId: null,
  rateKey: 'anonymous',
};

/** Params schema for routes with one `:id`. */
export const idParams = (idSchema: z.ZodType<string>) => z.object({ id: idSchema });
