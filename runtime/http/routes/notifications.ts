/**
 * GET /api/notifications: SSE of account-level events for the caller's own
 * conversations — session_started, session_finished, session_failed,
 * awaiting_user, mailbox_updated, conversation_updated. Live only (no resume):
 * a client that reconnects refetches state from the REST routes.
 */
import { NOTIFICATIONS_CHANNEL } from '../../engine/runs.js';
import type { AppContext } from '../context.js';
import { route, type AnyRoute } from '../route.js';
import { openSse } from '../sse.js';

export function notificationRoutes(ctx: AppContext): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/notifications',
      tag: 'runs',
      summary: "SSE of account-level events for the caller's conversations",
      access: 'user',
      responses: { 200: 'text/event-stream' },
      handler: async ({ principal, res }) => {
        openSse(res);
        const heartbeat = setInterval(() => res.write(': ping\n\n'), ctx.sseHeartbeatMs);
        const unsubscribe = await ctx.bus.subscribe(NOTIFICATIONS_CHANNEL, (message) => {
          if (message.user_id !== principal.userId) return;
          const { user_id: _owner, ...event } = message;
          res.write(`data: ${JSON.stringify(event)}\n\n`);
        });
        await new Promise<void>((resolve) => res.once('close', resolve));
        clearInterval(heartbeat);
        await unsubscribe();
        return undefined;
      },
    }),
  ];
}
