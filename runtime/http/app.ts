/**
 * The express application: request ids and logging, JSON parsing with a size
 * limit, authentication and write limits per route, and one error handler
 * that turns every failure into the documented JSON error shape. A client
 * mistake is always a 4xx; only our own faults are 500s, and they are logged.
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { pinoHttp } from 'pino-http';
import { InvalidInputError, isUniqueViolation } from '../store/errors.js';
import { createAuthenticator } from './auth.js';
import type { AppContext } from './context.js';
import { ApiError } from './errors.js';
import { mountRoutes, type AnyRoute } from './route.js';
import { bindingRoutes } from './routes/bindings.js';
import { conversationRoutes } from './routes/conversations.js';
import { keyRoutes } from './routes/keys.js';
import { notificationRoutes } from './routes/notifications.js';
import { openAiRoutes } from './routes/openai-compat.js';
import { presetRoutes } from './routes/presets.js';
import { roomRoutes } from './routes/rooms.js';
import { providerRoutes } from './routes/providers.js';
import { runRoutes } from './routes/runs.js';
import { systemRoutes } from './routes/system.js';
import { workspaceRoutes } from './routes/workspaces.js';
import { webUi } from './web.js';

export function allRoutes(ctx: AppContext): AnyRoute[] {
  const routes: AnyRoute[] = [
    ...systemRoutes(ctx, () => routes),
    ...presetRoutes(ctx),
    ...workspaceRoutes(ctx),
    ...conversationRoutes(ctx),
    ...runRoutes(ctx),
    ...notificationRoutes(ctx),
    ...openAiRoutes(ctx),
    ...roomRoutes(ctx),
    ...bindingRoutes(ctx),
    ...keyRoutes(ctx),
    ...providerRoutes(ctx),
  ];
  return routes;
}

export function createApp(ctx: AppContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use(
    pinoHttp({
      logger: ctx.logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      autoLogging: { ignore: (req) => req.url === '/api/health' },
      customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'debug'),
    }),
  );

  app.use(express.json({ limit: ctx.config.CONCLAVE_BODY_LIMIT, strict: true, type: ['application/json', 'application/*+json'] }));

  const api = express.Router();
  mountRoutes(api, allRoutes(ctx), {
    authenticate: createAuthenticator({ rootToken: ctx.rootToken, users: ctx.repos.users }),
    limitWrites: (principal) => ctx.writeLimiter.limit(principal),
    idempotency: ctx.repos.idempotency,
  });
  app.use(api);
  app.use(webUi({ enabled: ctx.config.CONCLAVE_WEB_UI })); // the web UI at / (runtime/http/web.ts)

  app.use(['/api', '/v1'], (req: Request, _res: Response, next: NextFunction) => {
    next(new ApiError(404, 'not_found', `no route ${req.method} ${req.originalUrl.split('?')[0]}`));
  });

  app.use(errorHandler);
  return app;
}

/** Maps any error to the JSON error shape; logs what is our fault. */
function errorHandler(error: unknown, req: Request, res: Response, _next: NextFunction): void {
  const apiError = toApiError(error);
  if (apiError.status >= 500) req.log?.error({ err: error }, 'request failed');
  if (res.headersSent) {
    res.end();
    return;
  }
  for (const [name, value] of Object.entries(apiError.headers)) res.setHeader(name, value);
  const { code, message, details } = apiError;
  res.status(apiError.status).json({ error: { code, message, ...(details !== undefined && { details }) } });
}

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof InvalidInputError) {
    return new ApiError(400, 'invalid_request', error.message, { issues: [{ path: error.field, message: error.problem }] });
  }
  const bodyError = error as { type?: string; status?: number; limit?: number };
  if (bodyError.type === 'entity.too.large') {
    return new ApiError(413, 'payload_too_large', `the request body is larger than the limit of ${bodyError.limit} bytes`);
  }
  if (bodyError.type === 'entity.parse.failed') {
    return new ApiError(400, 'invalid_json', 'the request body is not valid JSON');
  }
  if (typeof bodyError.type === 'string' && bodyError.status && bodyError.status < 500) {
    // Other body-parser refusals: unsupported charset or encoding, aborted upload.
    return new ApiError(bodyError.status, 'invalid_body', String((error as Error).message));
  }
  if (isUniqueViolation(error)) return new ApiError(409, 'conflict', 'the request conflicts with an existing resource');
  return new ApiError(500, 'internal_error', 'an internal error occurred; it has been logged');
}
