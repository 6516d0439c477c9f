/** /api/health (no token) and /api/openapi.json. */
import { healthSchema } from '../../../shared/protocol/api.js';
import type { AppContext } from '../context.js';
import { openApiDocument } from '../openapi.js';
import { route, type AnyRoute } from '../route.js';

export function systemRoutes(ctx: AppContext, allRoutes: () => AnyRoute[]): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/health',
      tag: 'system',
      summary: 'Status of the database and the event log (no token needed)',
      access: 'public',
      responses: { 200: healthSchema, 503: healthSchema },
      handler: async () => {
        const [database, eventLog] = await Promise.all([ctx.database.health(), ctx.eventLog.health()]);
        const ok = database === 'ok' && eventLog === 'ok';
        return {
          status: ok ? 200 : 503,
          body: {
            status: ok ? 'ok' : 'degraded',
            database: { kind: ctx.database.kind, status: database },
            event_log: { kind: ctx.eventLog.kind, status: eventLog },
            version: ctx.version,
          },
        };
      },
    }),
    route({
      method: 'get',
      path: '/api/openapi.json',
      tag: 'system',
      summary: 'This API as an OpenAPI 3.1 document',
      access: 'user',
      responses: { 200: null },
      handler: async () => ({ body: openApiDocument(allRoutes(), ctx.version) }),
    }),
  ];
}
