/**
 * /api/bindings: the gateway's map from platform places to conversations.
 * Only service keys (and administrators) use these routes; a service sees the
 * bindings it created. Upsert is race-free (see store/repos/bindings.ts).
 */
import {
  bindingListQuerySchema,
  bindingPatchSchema,
  bindingSchema,
  bindingUpsertSchema,
  idSchema,
  listOf,
} from '../../../shared/protocol/api.js';
import type { BindingRow } from '../../store/schema.js';
import type { Principal } from '../auth.js';
import type { AppContext } from '../context.js';
import { notFound, unprocessable } from '../errors.js';
import { idParams, route, type AnyRoute } from '../route.js';
import { bindingBody } from '../serialize.js';
import { checkConversation, newConversation, viewerOf } from './conversations.js';

/** The owner recorded on bindings: the service itself, or the admin user for the root token. */
const serviceOwner = (p: Principal) => p.serviceUserId ?? p.userId;

export function bindingRoutes(ctx: AppContext): AnyRoute[] {
  const { bindings, conversations } = ctx.repos;

  async function owned(id: string, principal: Principal): Promise<BindingRow> {
    const row = await bindings.get(id);
    if (!row || (!principal.isAdmin && row.userId !== serviceOwner(principal))) throw notFound('binding', id);
    return row;
  }

  return [
    route({
      method: 'put',
      path: '/api/bindings',
      tag: 'bindings',
      summary: 'Get or create the binding of a platform place (creates its conversation when new)',
      access: 'service',
      body: bindingUpsertSchema,
      responses: { 200: bindingSchema, 201: bindingSchema, 422: null },
      handler: async ({ body, principal }) => {
        const existing = await bindings.findByKey(body.platform, body.key);
        if (existing) return { status: 200, body: bindingBody(await owned(existing.id, principal), false) };
        const conversationInput = body.conversation ?? {};
        await checkConversation(ctx, conversationInput);
        const conversation = newConversation(principal, conversationInput);
        conversation.metadata = { platform: body.platform, place: body.key, ...conversation.metadata };
        const result = await bindings.upsert({
          platform: body.platform,
          key: body.key,
          serviceUserId: serviceOwner(principal),
          metadata: body.metadata ?? {},
          conversation,
        });
        return { status: result.created ? 201 : 200, body: bindingBody(result.binding, result.created) };
      },
    }),
    route({
      method: 'get',
      path: '/api/bindings',
      tag: 'bindings',
      summary: 'List bindings (filter by platform, key or conversation)',
      access: 'service',
      query: bindingListQuerySchema,
      responses: { 200: listOf(bindingSchema, 'BindingList') },
      handler: async ({ query, principal }) => {
        const page = await bindings.list(principal.isAdmin ? null : serviceOwner(principal), query);
        return { body: { items: page.items.map((b) => bindingBody(b)), next_cursor: page.nextCursor } };
      },
    }),
    route({
      method: 'get',
      path: '/api/bindings/:id',
      tag: 'bindings',
      summary: 'Get a binding',
      access: 'service',
      params: idParams(idSchema),
      responses: { 200: bindingSchema, 404: null },
      handler: async ({ params, principal }) => ({ body: bindingBody(await owned(params.id, principal)) }),
    }),
    route({
      method: 'patch',
      path: '/api/bindings/:id',
      tag: 'bindings',
      summary: 'Move the rendering cursor, store renderer state, or rebind to another conversation',
      access: 'service',
      params: idParams(idSchema),
      body: bindingPatchSchema,
      responses: { 200: bindingSchema, 404: null, 422: null },
      handler: async ({ params, body, principal }) => {
        const current = await owned(params.id, principal);
        if (body.conversation_id && !(await conversations.getVisible(body.conversation_id, viewerOf(principal)))) {
          throw unprocessable('unknown_conversation', `body.conversation_id: conversation '${body.conversation_id}' was not found`);
        }
        const row = await bindings.update(current.id, {
          ...(body.cursor !== undefined && { cursor: body.cursor }),
          ...(body.state !== undefined && { state: body.state }),
          ...(body.metadata !== undefined && { metadata: body.metadata }),
          ...(body.conversation_id !== undefined && { conversationId: body.conversation_id }),
        });
        if (!row) throw notFound('binding', params.id);
        return { body: bindingBody(row) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/bindings/:id',
      tag: 'bindings',
      summary: 'Delete a binding (the conversation stays)',
      access: 'service',
      params: idParams(idSchema),
      responses: { 204: null, 404: null },
      handler: async ({ params, principal }) => {
        const current = await owned(params.id, principal);
        await bindings.remove(current.id);
        return { status: 204 };
      },
    }),
  ];
}

