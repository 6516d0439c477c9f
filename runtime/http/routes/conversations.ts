/**
 * /api/conversations: a user's chats and rooms. Every route answers 404 for a
 * conversation the caller may not see.
 */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import {
  conversationCreateSchema,
  conversationListQuerySchema,
  conversationPatchSchema,
  conversationSchema,
  idSchema,
  listOf,
  sessionListQuerySchema,
  sessionSchema,
} from '../../../shared/protocol/api.js';
import type { ConversationInsert } from '../../store/repos/conversations.js';
import type { ConversationRow } from '../../store/schema.js';
import type { Principal } from '../auth.js';
import type { AppContext } from '../context.js';
import { notFound, unprocessable } from '../errors.js';
import { metadataFilter } from '../query.js';
import { idParams, route, type AnyRoute } from '../route.js';
import { conversationBody, sessionBody } from '../serialize.js';

type ConversationInput = z.output<typeof conversationPatchSchema>;

export const viewerOf = (p: Principal) => ({ userId: p.userId, serviceUserId: p.serviceUserId });

/** Column values from a create or patch body (only the fields sent). */
export function conversationColumns(input: ConversationInput) {
  return {
    ...(input.title !== undefined && { title: input.title }),
    ...(input.metadata !== undefined && { metadata: input.metadata }),
    ...(input.status !== undefined && { status: input.status }),
    ...(input.preset_id !== undefined && { presetId: input.preset_id }),
    ...(input.participants !== undefined && { participants: input.participants }),
    ...(input.mode !== undefined && { mode: input.mode }),
    ...(input.mode_settings !== undefined && { modeSettings: input.mode_settings }),
    ...(input.context !== undefined && { context: input.context }),
    ...(input.workspace_id !== undefined && { workspaceId: input.workspace_id }),
    ...(input.auto_fire !== undefined && { autoFire: input.auto_fire }),
  };
}

/**
 * Checks that referenced presets and workspaces exist and that the mode fits
 * the participants. `current` is the stored conversation when patching.
 */
export async function checkConversation(ctx: AppContext, input: ConversationInput, current?: ConversationRow): Promise<void> {
  const { presets, workspaces } = ctx.repos;
  if (input.preset_id && !(await presets.get(input.preset_id))) {
    throw unprocessable('unknown_preset', `body.preset_id: preset '${input.preset_id}' does not exist`);
  }
  for (const [index, participant] of (input.participants ?? []).entries()) {
    if (!(await presets.get(participant.preset_id))) {
      throw unprocessable(
        'unknown_preset',
        `body.participants.${index}.preset_id: preset '${participant.preset_id}' does not exist`,
      );
    }
  }
  if (input.workspace_id && !(await workspaces.get(input.workspace_id))) {
    throw unprocessable('unknown_workspace', `body.workspace_id: workspace '${input.workspace_id}' does not exist`);
  }
  const mode = input.mode ?? current?.mode;
  const participants = input.participants ?? current?.participants ?? [];
  if (mode === 'single' && participants.length > 1) {
    throw unprocessable('invalid_mode', `body.mode: 'single' allows one participant; use a room mode such as 'round_robin'`);
  }
}

/** New-conversation column values, with defaults: a room's mode is round_robin. */
export function newConversation(principal: Principal, input: z.output<typeof conversationCreateSchema>): ConversationInsert {
  const roomDefault = (input.participants?.length ?? 0) > 0 ? 'round_robin' : 'single';
  return {
    id: randomUUID(),
    userId: principal.userId,
    ...conversationColumns(input),
    mode: input.mode ?? roomDefault,
  };
}

export function conversationRoutes(ctx: AppContext): AnyRoute[] {
  const { conversations, sessions } = ctx.repos;

  async function visible(id: string, principal: Principal): Promise<ConversationRow> {
    const row = await conversations.getVisible(id, viewerOf(principal));
    if (!row) throw notFound('conversation', id);
    return row;
  }

  return [
    route({
      method: 'get',
      path: '/api/conversations',
      tag: 'conversations',
      summary: 'List your conversations, newest first',
      access: 'user',
      query: conversationListQuerySchema,
      responses: { 200: listOf(conversationSchema, 'ConversationList') },
      handler: async ({ query, principal }) => {
        const page = await conversations.list(principal.userId, { ...query, metadata: metadataFilter(query.metadata) });
        return { body: { items: page.items.map(conversationBody), next_cursor: page.nextCursor } };
      },
    }),
    route({
      method: 'post',
      path: '/api/conversations',
      tag: 'conversations',
      summary: 'Create a conversation (one agent, or a room of participants)',
      access: 'user',
      body: conversationCreateSchema,
      idempotent: true,
      responses: { 201: conversationSchema, 422: null },
      handler: async ({ body, principal }) => {
        await checkConversation(ctx, body);
        const row = await conversations.create(newConversation(principal, body));
        return { status: 201, body: conversationBody(row) };
      },
    }),
    route({
      method: 'get',
      path: '/api/conversations/:id',
      tag: 'conversations',
      summary: 'Get a conversation',
      access: 'user',
      params: idParams(idSchema),
      responses: { 200: conversationSchema, 404: null },
      handler: async ({ params, principal }) => ({ body: conversationBody(await visible(params.id, principal)) }),
    }),
    route({
      method: 'patch',
      path: '/api/conversations/:id',
      tag: 'conversations',
      summary: 'Change a conversation (only the fields sent)',
      access: 'user',
      params: idParams(idSchema),
      body: conversationPatchSchema,
      responses: { 200: conversationSchema, 404: null, 422: null },
      handler: async ({ params, body, principal }) => {
        const current = await visible(params.id, principal);
        await checkConversation(ctx, body, current);
        const row = await conversations.update(current.id, conversationColumns(body));
        if (!row) throw notFound('conversation', params.id);
        ctx.runs.notify('conversation_updated', row, { changed: Object.keys(body) });
        return { body: conversationBody(row) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/conversations/:id',
      tag: 'conversations',
      summary: 'Delete a conversation, its sessions and its event log',
      access: 'user',
      params: idParams(idSchema),
      responses: { 204: null, 404: null },
      handler: async ({ params, principal }) => {
        const current = await visible(params.id, principal);
        await conversations.remove(current.id);
        await ctx.eventLog.remove(current.id);
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/api/conversations/:id/sessions',
      tag: 'sessions',
      summary: "A conversation's sessions, oldest first (`order=desc`: newest first)",
      access: 'user',
      params: idParams(idSchema),
      query: sessionListQuerySchema,
      responses: { 200: listOf(sessionSchema, 'SessionList'), 404: null },
      handler: async ({ params, query, principal }) => {
        const conversation = await visible(params.id, principal);
        const page = await sessions.listByConversation(conversation.id, query);
        return { body: { items: page.items.map(sessionBody), next_cursor: page.nextCursor } };
      },
    }),
    route({
      method: 'get',
      path: '/api/sessions/:id',
      tag: 'sessions',
      summary: 'Get a session',
      access: 'user',
      params: idParams(idSchema),
      responses: { 200: sessionSchema, 404: null },
      handler: async ({ params, principal }) => {
        const session = await sessions.getVisible(params.id, viewerOf(principal));
        if (!session) throw notFound('session', params.id);
        return { body: sessionBody(session) };
      },
    }),
  ];
}
