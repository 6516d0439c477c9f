/**
 * An OpenAI-compatible endpoint, so any OpenAI client can talk to a Conclave
 * agent: `POST /v1/chat/completions` (streaming and not) where `model` names a
 * preset, and `GET /v1/models` listing presets. Each request is stateless, as
 * in OpenAI's API: it becomes a fresh conversation whose earlier messages are
 * seeded from the request, then one run answers the last user message with
 * the preset's model, prompt and tools.
 *
 * Request bodies are validated leniently (unknown OpenAI fields are ignored)
 * because clients send many options we do not use.
 */
import { randomUUID } from 'node:crypto';
import type { Response } from 'express';
import { z } from 'zod';
import { EventType, isTerminal } from '../../../shared/protocol/events.js';
import type { ChatMessage } from '../../providers/types.js';
import { sessions, type ConversationRow, type SessionRow } from '../../store/schema.js';
import type { AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import { route, type AnyRoute } from '../route.js';

const contentSchema = z.union([
  z.string(),
  z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
  z.null(),
]);

const chatRequestSchema = z
  .looseObject({
    model: z.string().min(1).max(200),
    messages: z
      .array(
        z.looseObject({
          role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
          content: contentSchema.optional(),
          name: z.string().optional(),
        }),
      )
      .min(1)
      .max(1000),
    stream: z.boolean().optional(),
    stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  })
  .meta({ id: 'ChatCompletionRequest' });

type ChatRequest = z.infer<typeof chatRequestSchema>;

const textOf = (content: z.infer<typeof contentSchema> | undefined): string =>
  typeof content === 'string' ? content : (content ?? []).flatMap((p) => (p.text ? [p.text] : [])).join('\n');

/** The request's messages as context text, seeded history and the new input. */
function splitRequest(request: ChatRequest): { context: string; history: ChatMessage[]; input: string } {
  const system = request.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textOf(m.content));
  const dialogue = request.messages.filter((m) => m.role === 'user' || m.role === 'assistant');
  const last = dialogue[dialogue.length - 1];
  if (!last || last.role !== 'user') {
    throw new ApiError(400, 'invalid_request', 'body.messages: the last non-system message must be from the user', {
      issues: [{ path: 'body.messages', message: 'the last non-system message must be from the user' }],
    });
  }
  const history = dialogue.slice(0, -1).map((m): ChatMessage => ({ role: m.role as 'user' | 'assistant', content: textOf(m.content) }));
  return { context: system.join('\n\n'), history, input: textOf(last.content) };
}

const completionId = () => `chatcmpl-${randomUUID().replace(/-/g, '')}`;

export function openAiRoutes(ctx: AppContext): AnyRoute[] {
  const { repos, runs, eventLog } = ctx;

  /** Follows the conversation's log for one session, calling `onEvent` until its terminal event. */
  async function followSession(res: Response, conversationId: string, sessionId: string, after: string | null, onEvent: (event: Record<string, any>) => void): Promise<void> {
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    for await (const item of eventLog.follow(conversationId, { after, signal: abort.signal })) {
      if ('reset' in item || item.event.sessionId !== sessionId) continue;
      onEvent(item.event);
      if (isTerminal(item.event)) break;
    }
    abort.abort();
  }

  return [
    route({
      method: 'get',
      path: '/v1/models',
      tag: 'openai',
      summary: 'Presets as OpenAI models',
      access: 'user',
      responses: { 200: null },
      handler: async () => ({
        body: {
          object: 'list',
          data: (await repos.presets.list()).map((p) => ({ id: p.id, object: 'model', created: Math.floor(p.createdAt.getTime() / 1000), owned_by: 'conclave' })),
        },
      }),
    }),
    route({
      method: 'post',
      path: '/v1/chat/completions',
      tag: 'openai',
      summary: 'OpenAI-compatible chat completion answered by a preset (model = preset id)',
      access: 'user',
      body: chatRequestSchema,
      responses: { 200: null, 404: null },
      handler: async ({ body, principal, res }) => {
        const preset = await repos.presets.get(body.model);
        if (!preset) throw new ApiError(404, 'model_not_found', `body.model: there is no preset '${body.model}'; GET /v1/models lists them`);
        const { context, history, input } = splitRequest(body);
        const conversation: ConversationRow = await repos.conversations.create({
          id: randomUUID(),
          userId: principal.userId,
          title: input.slice(0, 60),
          presetId: preset.id,
          context,
          metadata: { source: 'openai_compatible' },
          autoFire: false,
        });
        if (history.length > 0) {
          // The client's earlier messages become one committed turn the run continues from.
          await ctx.database.db.insert(sessions).values({
            id: randomUUID(),
            conversationId: conversation.id,
            runId: randomUUID(),
            presetId: preset.id,
            status: 'completed',
            messages: history,
            origin: 'message',
          });
        }
        const started = await runs.startRun({ conversation, preset, input, onBusy: 'reject' });
        const id = completionId();
        const created = Math.floor(Date.now() / 1000);
        const usageOf = async (session: SessionRow['id']) => {
          const row = await repos.sessions.get(session);
          const totals = Object.values(row?.usage ?? {}).reduce(
            (sum, u) => ({ prompt_tokens: sum.prompt_tokens + u.input_tokens, completion_tokens: sum.completion_tokens + u.output_tokens }),
            { prompt_tokens: 0, completion_tokens: 0 },
          );
          return { ...totals, total_tokens: totals.prompt_tokens + totals.completion_tokens };
        };

        if (!body.stream) {
          let text = '';
          let failure: string | null = null;
          await followSession(res, conversation.id, started.session.id, started.cursor, (event) => {
            if (event.type === EventType.TEXT_MESSAGE_CONTENT) text += String(event.delta);
            if (event.type === EventType.RUN_ERROR) failure = String(event.message);
          });
          if (failure) throw new ApiError(503, 'run_failed', failure);
          return {
            body: {
              id,
              object: 'chat.completion',
              created,
              model: preset.id,
              choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop', logprobs: null }],
              usage: await usageOf(started.session.id),
            },
          };
        }

        res.status(200);
        res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
        res.setHeader('Cache-Control', 'no-cache, no-transform');
        res.flushHeaders();
        const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
          res.write(
            `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: preset.id, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] })}\n\n`,
          );
        chunk({ role: 'assistant', content: '' });
        let failure: string | null = null;
        await followSession(res, conversation.id, started.session.id, started.cursor, (event) => {
          if (event.type === EventType.TEXT_MESSAGE_CONTENT) chunk({ content: String(event.delta) });
          if (event.type === EventType.RUN_ERROR) failure = String(event.message);
        });
        if (failure) {
          res.write(`data: ${JSON.stringify({ error: { message: failure, type: 'server_error', code: 'run_failed' } })}\n\n`);
        } else {
          chunk({}, 'stop');
          if (body.stream_options?.include_usage) {
            res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: preset.id, choices: [], usage: await usageOf(started.session.id) })}\n\n`);
          }
        }
        res.write('data: [DONE]\n\n');
        res.end();
        return undefined;
      },
    }),
  ];
}
