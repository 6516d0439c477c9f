/**
 * Rooms: templates (one call creates a room of personas), autopilot start and
 * stop, and polls every persona votes in. Messages to a room go through
 * POST /api/conversations/:id/messages like any other conversation.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  autopilotStoppedSchema,
  conversationSchema,
  idSchema,
  roomFromTemplateSchema,
  roomTemplateSchema,
  runAcceptedSchema,
} from '../../../shared/protocol/api.js';
import { ConversationBusy, ShuttingDown } from '../../engine/runs.js';
import { isRoom, NoSpeaker, type RoomStart } from '../../rooms/orchestrator.js';
import { ROOM_TEMPLATES } from '../../rooms/templates.js';
import type { ConversationRow } from '../../store/schema.js';
import type { Principal } from '../auth.js';
import type { AppContext } from '../context.js';
import { ApiError, notFound, unprocessable } from '../errors.js';
import { idParams, route, type AnyRoute } from '../route.js';
import { conversationBody } from '../serialize.js';
import { viewerOf } from './conversations.js';

const autopilotSchema = z
  .strictObject({ action: z.enum(['start', 'stop']), topic: z.string().max(20_000).optional() })
  .meta({ id: 'Autopilot' });

const pollSchema = z
  .strictObject({
    question: z.string().min(1).max(2000),
    options: z.array(z.string().min(1).max(200)).min(2).max(20),
    method: z.enum(['approval', 'ranked']).default('approval'),
  })
  .refine((p) => new Set(p.options).size === p.options.length, 'options must be distinct')
  .meta({ id: 'Poll' });

/** Runs a room operation (message, autopilot, poll), mapping its refusals to API errors, and answers 202's body. */
export async function startRoomRun(conversation: ConversationRow, operation: () => Promise<RoomStart>) {
  let start: RoomStart;
  try {
    start = await operation();
  } catch (error) {
    if (error instanceof NoSpeaker) throw unprocessable('no_speaker', error.message);
    if (error instanceof ConversationBusy) {
      throw new ApiError(409, 'conversation_busy', 'the room is busy with a run; send on_busy=queue or interrupt, or stop it first');
    }
    if (error instanceof ShuttingDown) throw new ApiError(503, 'shutting_down', 'the runtime is shutting down; retry in a moment');
    throw error;
  }
  const cursor = start.first?.cursor ?? null;
  const url = `/api/conversations/${conversation.id}/events${cursor ? `?after=${cursor}` : ''}`;
  return {
    conversation_id: conversation.id,
    session_id: start.first?.session.id ?? null,
    run_id: start.runId,
    status: start.status,
    events_url: url,
    conversation_events_url: url,
    cursor,
  };
}

export function roomRoutes(ctx: AppContext): AnyRoute[] {
  const { repos, rooms } = ctx;

  async function room(id: string, principal: Principal): Promise<ConversationRow> {
    const row = await repos.conversations.getVisible(id, viewerOf(principal));
    if (!row) throw notFound('conversation', id);
    if (!isRoom(row)) throw unprocessable('not_a_room', 'this conversation has no participants; add participants and a mode first');
    return row;
  }

  return [
    route({
      method: 'get',
      path: '/api/room-templates',
      tag: 'rooms',
      summary: 'Room templates: ready-made sets of personas',
      access: 'user',
      responses: { 200: z.object({ items: z.array(roomTemplateSchema), next_cursor: z.null() }) },
      handler: async () => ({
        body: {
          items: ROOM_TEMPLATES.map((t) => ({
            id: t.id,
            name: t.name,
            description: t.description,
            mode: t.mode,
            mode_settings: t.mode_settings,
            context: t.context,
            participants: t.participants.map(({ handle, display_name, title, color, model }) => ({ handle, display_name, title, color, model })),
          })),
          next_cursor: null,
        },
      }),
    }),
    route({
      method: 'post',
      path: '/api/room-templates/:id/rooms',
      tag: 'rooms',
      summary: 'Create a room from a template (its persona presets are created on first use)',
      access: 'user',
      params: idParams(idSchema),
      body: roomFromTemplateSchema,
      responses: { 201: conversationSchema, 404: null },
      handler: async ({ params, body, principal }) => {
        const template = ROOM_TEMPLATES.find((t) => t.id === params.id);
        if (!template) throw notFound('room template', params.id);
        const participants = [];
        for (const persona of template.participants) {
          const presetId = `${template.id}-${persona.handle}`;
          if (!(await repos.presets.get(presetId))) {
            await repos.presets
              .create({
                id: presetId,
                name: `${persona.display_name} (${persona.title})`,
                description: `${template.name}: ${persona.title}`,
                model: { name: body.models?.[persona.handle] ?? persona.model, fallbacks: [], settings: {} },
                systemPrompt: persona.system_prompt,
                tools: [{ type: 'builtin', name: 'ask_user' }],
                persona: { display_name: persona.display_name, title: persona.title, color: persona.color },
              })
              .catch(() => undefined); // created meanwhile by a concurrent request
          }
          participants.push({
            preset_id: presetId,
            handle: persona.handle,
            display_name: persona.display_name,
            title: persona.title,
            color: persona.color,
            ...(persona.side && { side: persona.side }),
          });
        }
        const row = await repos.conversations.create({
          id: randomUUID(),
          userId: principal.userId,
          title: body.title ?? template.name,
          participants,
          mode: template.mode,
          modeSettings: template.mode_settings,
          context: body.context ?? template.context,
          metadata: { ...body.metadata, template: template.id },
        });
        return { status: 201, body: conversationBody(row) };
      },
    }),
    route({
      method: 'post',
      path: '/api/conversations/:id/autopilot',
      tag: 'rooms',
      summary: 'Start or stop autopilot: the personas talk by themselves',
      access: 'user',
      params: idParams(idSchema),
      body: autopilotSchema,
      responses: { 202: runAcceptedSchema, 200: autopilotStoppedSchema, 409: null, 422: null },
      handler: async ({ params, body, principal }) => {
        const conversation = await room(params.id, principal);
        if (body.action === 'stop') return { body: { stopped: await rooms.stop(conversation.id) } };
        return { status: 202, body: await startRoomRun(conversation, () => rooms.autopilot(conversation, body.topic ?? null)) };
      },
    }),
    route({
      method: 'post',
      path: '/api/conversations/:id/polls',
      tag: 'rooms',
      summary: 'Open a poll every persona votes in; the result is a room_finished event',
      access: 'user',
      params: idParams(idSchema),
      body: pollSchema,
      responses: { 202: runAcceptedSchema, 409: null, 422: null },
      handler: async ({ params, body, principal }) => {
        const conversation = await room(params.id, principal);
        return { status: 202, body: await startRoomRun(conversation, () => rooms.poll(conversation, body)) };
      },
    }),
  ];
}
