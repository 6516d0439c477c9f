/**
 * Route definitions: each route declares its method, path, access level and
 * zod schemas for params, query and body, plus its responses. One definition
 * drives three things: request validation (a 400 naming the field), the
 * handler's typed input, and the OpenAPI document (./openapi.ts).
 */
import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
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
  /** Called for write routes after authentication; throws 429 when over the limit. */
  limitWrites: (principal: Principal) => void;
}

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
        if (WRITE_METHODS.includes(def.method) && def.access !== 'public') options.limitWrites(principal);

        const params = parse('params', def.params, req.params);
        // access_token is authentication, not part of any route's query.
        const { access_token: _token, ...rawQuery } = req.query;
        const query = parse('query', def.query, rawQuery);
        const body = def.body ? parse('body', def.body, req.body) : undefined;
        const reply = await def.handler({ params, query, body, principal, req, res });
        if (!reply || res.headersSent) return;
        for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
        const status = reply.status ?? 200;
        if (reply.body === undefined) res.status(status).end();
        else res.status(status).json(reply.body);
      } catch (error) {
        next(error);
      }
    });
  }
}

function parse<T>(where: 'params' | 'query' | 'body', schema: z.ZodType<T> | undefined, value: unknown): T {
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
