/**
 * Runs and their streams: post a message (202, or the run's SSE with
 * `Accept: text/event-stream`), follow a conversation's or a session's events,
 * interrupt, steer, read turns, fork, export.
 */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { z } from 'zod';
import {
  conversationSchema,
  forkSchema,
  forkResultSchema,
  idSchema,
  interruptResultSchema,
  listOf,
  mailboxMessageSchema,
  messageCreateSchema,
  pageQuerySchema,
  runAcceptedSchema,
  slugSchema,
  steerResultSchema,
  steerSchema,
  turnSchema,
  type Input,
  type OnBusy,
} from '../../../shared/protocol/api.js';
import { inputText } from '../../engine/input.js';
import { isRoom } from '../../rooms/orchestrator.js';
import { ConversationBusy, ShuttingDown, type Answers, type StartRequest, type StartResult } from '../../engine/runs.js';
import type { ConversationRow, MailboxRow, PresetRow, SessionRow } from '../../store/schema.js';
import type { Principal } from '../auth.js';
import type { AppContext } from '../context.js';
import { ApiError, notFound, unprocessable } from '../errors.js';
import { idParams, route, type AnyRoute } from '../route.js';
import { conversationBody } from '../serialize.js';
import { replayFinishedSession, resumeCursor, streamLog } from '../sse.js';
import { viewerOf } from './conversations.js';
import { startRoomRun } from './rooms.js';

const FINISHED = new Set<SessionRow['status']>(['completed', 'failed', 'interrupted', 'awaiting_input']);

export const turnBody = (s: SessionRow) => ({
  session_id: s.id,
  run_id: s.runId,
  parent_session_id: s.parentSessionId,
  type: s.type,
  status: s.status,
  speaker: s.speaker ?? null,
  input: s.input ?? null,
  display: s.display as Record<string, unknown>[],
  final_message: s.finalMessage,
  error: s.error ?? null,
  usage: s.usage,
  created_at: s.createdAt.toISOString(),
});

const wantsStream = (req: Request) => (req.headers.accept ?? '').includes('text/event-stream');

export function runRoutes(ctx: AppContext): AnyRoute[] {
  const { repos, runs, rooms, eventLog } = ctx;

  async function visible(id: string, principal: Principal): Promise<ConversationRow> {
    const row = await repos.conversations.getVisible(id, viewerOf(principal));
    if (!row) throw notFound('conversation', id);
    return row;
  }

  async function visibleSession(id: string, principal: Principal): Promise<SessionRow> {
    const session = await repos.sessions.getVisible(id, viewerOf(principal));
    if (!session) throw notFound('session', id);
    return session;
  }

  /** The preset that answers: the message's, the conversation's, the first participant's, or the default. */
  async function answeringPreset(conversation: ConversationRow, presetId?: string): Promise<PresetRow> {
    const id = presetId ?? conversation.presetId ?? conversation.participants[0]?.preset_id;
    const preset = id ? await repos.presets.get(id) : await repos.presets.getDefault();
    if (!preset) {
      throw unprocessable(
        id ? 'unknown_preset' : 'no_preset',
        id ? `body.preset_id: preset '${id}' does not exist` : 'this conversation has no preset and there is no default preset; send preset_id',
      );
    }
    return preset;
  }

  function accepted(conversation: ConversationRow, result: StartResult) {
    const sessionUrl = `/api/sessions/${result.session.id}/events`;
    const conversationUrl = `/api/conversations/${conversation.id}/events`;
    return {
      conversation_id: conversation.id,
      session_id: result.session.id,
      run_id: result.runId,
      status: result.status,
      events_url: sessionUrl,
      conversation_events_url: result.cursor ? `${conversationUrl}?after=${result.cursor}` : conversationUrl,
      cursor: result.cursor,
    };
  }

  /** Starts a run, mapping engine refusals to API errors. */
  async function start(
    conversation: ConversationRow,
    input: Input | null,
    onBusy: OnBusy,
    options: { presetId?: string; answers?: Answers | null; clientTools?: StartRequest['clientTools'] } = {},
  ): Promise<StartResult> {
    const preset = await answeringPreset(conversation, options.presetId);
    if (!conversation.title && input) {
      const text = inputText(input).replace(/\s+/g, ' ').trim();
      const title = text.length > 60 ? `${text.slice(0, 57)}...` : text;
      await repos.conversations.setTitle(conversation.id, title);
      conversation.title = title;
    }
    try {
      return await runs.startRun({ conversation, preset, input, onBusy, answers: options.answers, clientTools: options.clientTools });
    } catch (error) {
      if (error instanceof ConversationBusy) {
        throw new ApiError(409, 'conversation_busy', `the conversation is busy with session ${error.activeSessionId}; send on_busy=steer, queue or interrupt, or wait`, {
          active_session_id: error.activeSessionId,
        });
      }
      if (error instanceof ShuttingDown) throw new ApiError(503, 'shutting_down', 'the runtime is shutting down; retry on another replica or in a moment');
      throw error;
    }
  }

  /** Streams one session's events (used by the session stream and by streamed posts). */
  async function streamSession(res: Response, current: SessionRow, after: string | null): Promise<void> {
    if (FINISHED.has(current.status)) return replayFinishedSession(res, eventLog, current.conversationId, current.id, after, ctx.sseHeartbeatMs);
    return streamLog(res, {
      log: eventLog,
      key: current.conversationId,
      after,
      heartbeatMs: ctx.sseHeartbeatMs,
      filter: (event) => event.sessionId === current.id,
      endAfterTerminalOf: current.id,
    });
  }

  return [
    route({
      method: 'post',
      path: '/api/conversations/:id/messages',
      tag: 'runs',
      summary: 'Send a message: starts a run (202), or streams it when Accept is text/event-stream',
      access: 'user',
      params: idParams(idSchema),
      body: messageCreateSchema,
      idempotent: true,
      responses: { 202: runAcceptedSchema, 200: 'text/event-stream', 404: null, 409: null, 422: null, 503: null },
      handler: async ({ params, body, principal, req, res, replyForRepeats }) => {
        const conversation = await visible(params.id, principal);
        if (isRoom(conversation)) {
          if (!body.input) throw unprocessable('input_required', 'body.input: a room needs a message (approvals go to one-agent conversations)');
          return { status: 202, body: await startRoomRun(conversation, () => rooms.message(conversation, body.input!, body.on_busy)) };
        }
        const answers = body.approvals || body.tool_results ? { approvals: body.approvals ?? [], tool_results: body.tool_results ?? [] } : null;
        const result = await start(conversation, body.input ?? null, body.on_busy, {
          presetId: body.preset_id,
          answers,
          clientTools: body.client_tools,
        });
        const reply = { status: 202, body: accepted(conversation, result) };
        if (wantsStream(req) && result.status !== 'steered') {
          replyForRepeats(reply);
          await streamSession(res, result.session, result.cursor);
          return undefined;
        }
        return reply;
      },
    }),
    route({
      method: 'get',
      path: '/api/conversations/:id/events',
      tag: 'runs',
      summary: "SSE of the conversation's event log; resumable; follows live",
      access: 'user',
      params: idParams(idSchema),
      query: z.strictObject({ after: z.string().max(64).optional() }),
      responses: { 200: 'text/event-stream', 404: null },
      handler: async ({ params, principal, req, res }) => {
        const conversation = await visible(params.id, principal);
        await streamLog(res, { log: eventLog, key: conversation.id, after: resumeCursor(req), heartbeatMs: ctx.sseHeartbeatMs });
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/api/sessions/:id/events',
      tag: 'runs',
      summary: "SSE of one session's events; ends after its terminal event",
      access: 'user',
      params: idParams(idSchema),
      query: z.strictObject({ after: z.string().max(64).optional() }),
      responses: { 200: 'text/event-stream', 404: null },
      handler: async ({ params, principal, req, res }) => {
        const session = await visibleSession(params.id, principal);
        await streamSession(res, session, resumeCursor(req));
        return undefined;
      },
    }),
    route({
      method: 'post',
      path: '/api/conversations/:id/interrupt',
      tag: 'runs',
      summary: 'Interrupt everything running in the conversation',
      access: 'user',
      params: idParams(idSchema),
      responses: { 200: interruptResultSchema, 404: null },
      handler: async ({ params, principal }) => {
        const conversation = await visible(params.id, principal);
        const running = await runs.interruptConversation(conversation.id);
        const room = isRoom(conversation) ? await rooms.stop(conversation.id) : false;
        return { body: { conversation_id: conversation.id, interrupted: running + (room && running === 0 ? 1 : 0) } };
      },
    }),
    route({
      method: 'post',
      path: '/api/sessions/:id/interrupt',
      tag: 'runs',
      summary: 'Interrupt one session',
      access: 'user',
      params: idParams(idSchema),
      responses: { 200: interruptResultSchema, 404: null },
      handler: async ({ params, principal }) => {
        const session = await visibleSession(params.id, principal);
        if (session.status !== 'running') return { body: { session_id: session.id, interrupted: 0 } };
        await runs.interruptSession(session);
        return { body: { session_id: session.id, interrupted: 1 } };
      },
    }),
    route({
      method: 'post',
      path: '/api/conversations/:id/steer',
      tag: 'runs',
      summary: 'Steer the running session (or start a run when none accepts it)',
      access: 'user',
      params: idParams(idSchema),
      body: steerSchema,
      responses: { 202: runAcceptedSchema, 404: null, 422: null },
      handler: async ({ params, body, principal }) => {
        const conversation = await visible(params.id, principal);
        const result = await start(conversation, body.input, 'steer');
        return { status: 202, body: accepted(conversation, result) };
      },
    }),
    route({
      method: 'post',
      path: '/api/sessions/:id/steer',
      tag: 'runs',
      summary: 'Steer one running session',
      access: 'user',
      params: idParams(idSchema),
      body: steerSchema,
      responses: { 200: steerResultSchema, 404: null, 409: null },
      handler: async ({ params, body, principal }) => {
        const session = await visibleSession(params.id, principal);
        if (session.status !== 'running' || !(await runs.steerSession(session, inputText(body.input)))) {
          throw new ApiError(409, 'session_not_running', `session ${session.id} is not running; send a message to the conversation instead`);
        }
        return { body: { session_id: session.id, steered: true } };
      },
    }),
    route({
      method: 'get',
      path: '/api/conversations/:id/turns',
      tag: 'history',
      summary: 'Display history, newest turn first; page with next_cursor',
      access: 'user',
      params: idParams(idSchema),
      query: pageQuerySchema,
      responses: { 200: listOf(turnSchema, 'TurnList'), 404: null },
      handler: async ({ params, query, principal }) => {
        const conversation = await visible(params.id, principal);
        const page = await repos.sessions.turns(conversation.id, query);
        return { body: { items: page.items.map(turnBody), next_cursor: page.nextCursor } };
      },
    }),
    route({
      method: 'post',
      path: '/api/conversations/:id/fork',
      tag: 'history',
      summary: 'Fork into a new conversation from any committed session',
      access: 'user',
      params: idParams(idSchema),
      body: forkSchema,
      responses: { 201: forkResultSchema, 404: null, 422: null },
      handler: async ({ params, body, principal }) => {
        const source = await visible(params.id, principal);
        const fork = await repos.sessions.fork({
          source,
          fromSessionId: body.session_id ?? null,
          newConversationId: randomUUID(),
          userId: principal.userId,
          title: body.title ?? (source.title ? `${source.title} (fork)` : 'Fork'),
        });
        if (!fork) {
          throw unprocessable(
            'no_fork_point',
            body.session_id
              ? `body.session_id: session '${body.session_id}' is not a committed session of this conversation`
              : 'this conversation has no committed session to fork from',
          );
        }
        const run = body.input ? accepted(fork, await start(fork, body.input, 'reject')) : null;
        return { status: 201, body: { conversation: conversationBody(fork), run } };
      },
    }),
    route({
      method: 'get',
      path: '/api/conversations/:id/mailbox',
      tag: 'mailbox',
      summary: "Results left by the conversation's background agents, oldest first",
      access: 'user',
      params: idParams(idSchema),
      query: pageQuerySchema.extend({ pending_only: z.enum(['true', 'false']).optional().transform((v) => v === 'true') }),
      responses: { 200: listOf(mailboxMessageSchema, 'MailboxList'), 404: null },
      handler: async ({ params, query, principal }) => {
        const conversation = await visible(params.id, principal);
        const page = await repos.mailbox.list(conversation.id, query);
        return { body: { items: page.items.map(mailboxBody), next_cursor: page.nextCursor } };
      },
    }),
    route({
      method: 'post',
      path: '/api/conversations/:id/fire',
      tag: 'mailbox',
      summary: 'Deliver every pending mailbox result in one continuation run',
      access: 'user',
      params: idParams(idSchema),
      body: z.strictObject({ preset_id: slugSchema.optional() }).optional(),
      responses: { 202: runAcceptedSchema, 404: null, 409: null, 422: null },
      handler: async ({ params, body, principal }) => {
        const conversation = await visible(params.id, principal);
        if ((await repos.mailbox.pendingCount(conversation.id)) === 0) {
          throw unprocessable('mailbox_empty', 'there are no pending mailbox results to deliver');
        }
        const result = await runs.fireMailbox(conversation, body?.preset_id);
        if (!result) {
          const active = await runs.activeSession(conversation.id);
          throw new ApiError(409, 'conversation_busy', 'the conversation is busy; the results are delivered when the running session ends', {
            active_session_id: active?.id,
          });
        }
        return { status: 202, body: accepted(conversation, result) };
      },
    }),
    route({
      method: 'get',
      path: '/api/conversations/:id/export',
      tag: 'history',
      summary: 'Export the conversation as Markdown or JSON',
      access: 'user',
      params: idParams(idSchema),
      query: z.strictObject({ format: z.enum(['markdown', 'json']).default('markdown') }),
      responses: { 200: null, 404: null },
      handler: async ({ params, query, principal, res }) => {
        const conversation = await visible(params.id, principal);
        const all = await repos.sessions.allTurns(conversation.id);
        if (query.format === 'json') {
          return { body: { conversation: conversationBody(conversation), turns: all.map(turnBody) } };
        }
        res.setHeader('Content-Type', 'text/markdown; charset=utf-8');
        res.setHeader('Content-Disposition', `attachment; filename="conversation-${conversation.id}.md"`);
        res.status(200).send(exportMarkdown(conversation, all));
        return undefined;
      },
    }),
  ];
}

const mailboxBody = (m: MailboxRow) => ({
  id: m.id,
  conversation_id: m.conversationId,
  source_session_id: m.sourceSessionId,
  kind: m.kind,
  subagent_name: m.subagentName,
  content: m.content,
  delivered_to: m.deliveredTo,
  delivered_at: m.deliveredAt?.toISOString() ?? null,
  created_at: m.createdAt.toISOString(),
});

function exportMarkdown(conversation: ConversationRow, turns: SessionRow[]): string {
  const lines = [`# ${conversation.title || 'Conversation'}`, '', `Exported ${new Date().toISOString()}`, ''];
  for (const turn of turns) {
    const input = turn.input as Input | null;
    if (input) lines.push(`**You:** ${inputText(input)}`, '');
    const who = turn.speaker?.name ?? 'Assistant';
    for (const chunk of turn.display as Record<string, unknown>[]) {
      if (chunk.type === 'TEXT_MESSAGE_CHUNK') lines.push(`**${who}:** ${String(chunk.delta)}`, '');
      else if (chunk.type === 'TOOL_CALL_CHUNK') lines.push(`> tool \`${String(chunk.toolCallName)}\` ${String(chunk.delta)}`, '');
      else if (chunk.type === 'TOOL_CALL_RESULT') lines.push(`> result: ${String(chunk.content).slice(0, 2000)}`, '');
    }
    if (turn.error) lines.push(`_${turn.status}: ${turn.error.message}_`, '');
  }
  return lines.join('\n');
}
