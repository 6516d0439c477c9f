/**
 * /api/keys: API keys. Users create, list and revoke their own; administrators
 * may create keys for any user (created if missing), service keys, and see or
 * revoke every key. The key itself appears once, in the create response.
 */
import { z } from 'zod';
import { keyCreateSchema, keyCreatedSchema, keySchema, listOf } from '../../../shared/protocol/api.js';
import type { AppContext } from '../context.js';
import { forbidden, notFound } from '../errors.js';
import { idParams, route, type AnyRoute } from '../route.js';
import { keyBody } from '../serialize.js';

const keyIdSchema = z.string().regex(/^[0-9a-f]{16}$/, 'is not a key id');

export function keyRoutes(ctx: AppContext): AnyRoute[] {
  const { users } = ctx.repos;
  return [
    route({
      method: 'get',
      path: '/api/keys',
      tag: 'keys',
      summary: 'List API keys (yours; every key for administrators)',
      access: 'user',
      responses: { 200: listOf(keySchema, 'ApiKeyList') },
      handler: async ({ principal }) => {
        const rows = await users.listKeys(principal.isAdmin ? null : principal.userId);
        return { body: { items: rows.map(keyBody), next_cursor: null } };
      },
    }),
    route({
      method: 'post',
      path: '/api/keys',
      tag: 'keys',
      summary: 'Create an API key (the key is shown once)',
      access: 'user',
      body: keyCreateSchema,
      responses: { 201: keyCreatedSchema, 403: null },
      handler: async ({ body, principal }) => {
        const forOther = body.user_id !== undefined && body.user_id !== principal.userId;
        if (!principal.isAdmin && (forOther || body.scope === 'service' || body.admin)) {
          throw forbidden('only administrators may create keys for other users, service keys, or administrators');
        }
        const user = await users.ensure(body.user_id ?? principal.userId, { isAdmin: body.admin ?? false });
        const expiresAt = body.expires_in_days ? new Date(Date.now() + body.expires_in_days * 86_400_000) : null;
        const { row, key } = await users.createKey({ userId: user.id, name: body.name, scope: body.scope, expiresAt });
        return { status: 201, body: { ...keyBody(row), key } };
      },
    }),
    route({
      method: 'delete',
      path: '/api/keys/:id',
      tag: 'keys',
      summary: 'Revoke an API key',
      access: 'user',
      params: idParams(keyIdSchema),
      responses: { 204: null, 404: null },
      handler: async ({ params, principal }) => {
        const key = await users.getKey(params.id);
        if (!key || key.revokedAt || (!principal.isAdmin && key.userId !== principal.userId)) throw notFound('key', params.id);
        await users.revokeKey(key.id);
        return { status: 204 };
      },
    }),
  ];
}
