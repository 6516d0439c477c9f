/**
 * Runs one session from its stored row to a loop result: loads the history
 * chain (compacting it when it has grown too long), renders the system
 * prompt, opens the session's tools, resolves the calls the previous session
 * left waiting for a person, and runs the agent loop. Committing is the run
 * manager's job.
 */
import { and, eq, inArray } from 'drizzle-orm';
import type { Input } from '../../shared/protocol/api.js';
import { CustomName, EventType, RunErrorCode } from '../../shared/protocol/events.js';
import type { ChatMessage } from '../providers/types.js';
import type { Db } from '../store/database.js';
import { COMMITTED_STATUSES, conversations, sessions, workspaces, type ConversationRow, type PresetRow, type SessionRow } from '../store/schema.js';
import { compactIfNeeded } from './compaction.js';
import type { SessionEmitter } from './emitter.js';
import { buildHistory, sessionChain, type HistorySession } from './history.js';
import { inputText, inputToContent } from './input.js';
import { runAgentLoop, type LoopResult, type ModelStream } from './loop.js';
import { resolvePending, type HumanAnswers } from './pending.js';
import { baseVariables, renderPrompt } from './prompt.js';
import { openSessionTools, type SessionTools } from './session-tools.js';
import type { SteeringQueue } from './steering.js';
import { ToolSourceError, type PendingCall, type Tool, type ToolRegistry, type ToolSource } from './tools.js';

export interface SessionRunnerDeps {
  db: Db;
  registry: ToolRegistry;
  sources: ToolSource[];
  dataDir: string;
  env: Record<string, string | undefined>;
  maxSteps: number;
  compaction: { threshold: number; contextWindow: number };
  modelStream(preset: PresetRow): ModelStream;
}

export interface SessionRun {
  session: SessionRow;
  conversation: ConversationRow;
  preset: PresetRow;
  emitter: SessionEmitter;
  steering: SteeringQueue;
  signal: AbortSignal;
  /** Engine tools for this session (subagents, room tools). */
  extraTools: Tool[];
  /** Appended to the system prompt (a room persona's framing). */
  systemSuffix?: string;
  /** Ends the turn after a round of tool calls when it returns true. */
  shouldStop?: () => boolean;
}

/** A preset's context window: `model.settings.context_window`, or the default. */
function contextWindowOf(preset: PresetRow, fallback: number): number {
  const value = preset.model.settings.context_window;
  return typeof value === 'number' && value > 0 ? value : fallback;
}

const failed = (code: string, message: string): LoopResult => ({
  status: 'failed',
  messages: [],
  finalMessage: null,
  usage: {},
  model: null,
  error: { code, message },
});

export async function runSession(deps: SessionRunnerDeps, run: SessionRun): Promise<LoopResult> {
  const { session, conversation, preset, emitter, signal } = run;
  let tools: SessionTools | null = null;
  try {
    const stream = deps.modelStream(preset);
    const committed = await committedSessions(deps.db, conversation.id, session.parentSessionId);

    let summary =
      conversation.summary && conversation.summaryThroughSessionId
        ? { text: conversation.summary, throughSessionId: conversation.summaryThroughSessionId }
        : null;
    const compacted = await compactIfNeeded({
      chain: sessionChain(committed, session.parentSessionId, summary?.throughSessionId),
      previousSummary: summary?.text ?? null,
      contextWindow: contextWindowOf(preset, deps.compaction.contextWindow),
      threshold: deps.compaction.threshold,
      stream,
      emitter,
      signal,
    });
    if (compacted) {
      summary = { text: compacted.summary, throughSessionId: compacted.throughSessionId };
      await deps.db
        .update(conversations)
        .set({ summary: compacted.summary, summaryThroughSessionId: compacted.throughSessionId })
        .where(eq(conversations.id, conversation.id));
    }
    const viewer = session.speaker?.handle ? { handle: session.speaker.handle } : null;
    const history = buildHistory(committed, session.parentSessionId, { summary, viewer });

    const workspaceId = conversation.workspaceId ?? preset.workspaceId;
    const workspace = workspaceId ? ((await deps.db.select().from(workspaces).where(eq(workspaces.id, workspaceId)))[0] ?? null) : null;
    const system = withContext(preset.systemPrompt, conversation.context, renderPrompt(
      preset.systemPrompt,
      baseVariables(new Date(), {
        conversation_title: conversation.title,
        preset_name: preset.name,
        model: preset.model.name,
        room_context: conversation.context,
        workspace: workspace ? `${workspace.name}: ${workspace.folders.map((f) => f.path).join(', ')}` : '',
      }),
    ));

    tools = await openSessionTools({
      registry: deps.registry,
      sources: deps.sources,
      context: { preset, conversation, workspace, dataDir: deps.dataDir, env: deps.env, signal },
      extra: run.extraTools,
      clientTools: session.clientTools,
    });
    for (const warning of tools.warnings) {
      emitter.emit({ type: EventType.CUSTOM, name: CustomName.warning, value: { message: warning } });
    }
    const toolContext = { conversationId: conversation.id, sessionId: session.id, userId: conversation.userId };

    // Answers to what the previous session asked a person, then the new message.
    const input: ChatMessage[] = [];
    let textUsed = false;
    const parent = committed.find((s) => s.id === session.parentSessionId);
    const pending = (parent?.status === 'awaiting_input' ? (parent.pending as { calls?: PendingCall[] } | null)?.calls : undefined) ?? [];
    if (pending.length > 0) {
      const answers: HumanAnswers = {
        approvals: (session.answers?.approvals ?? []) as HumanAnswers['approvals'],
        toolResults: (session.answers?.tool_results ?? []) as HumanAnswers['toolResults'],
        text: session.input ? inputText(session.input as Input) : null,
      };
      const resolution = await resolvePending(pending, answers, new Map(tools.tools.map((t) => [t.name, t])), {
        emitter,
        signal,
        toolContext,
      });
      input.push(...resolution.messages);
      textUsed = resolution.textUsed;
    }
    if (session.input && !textUsed) input.push({ role: 'user', content: inputToContent(session.input as Input) });
    // A model must answer a user turn: when nobody new spoke (a room persona's turn), say whose turn it is.
    const lastRole = (input.at(-1) ?? history.at(-1))?.role;
    if (lastRole !== 'user' && lastRole !== 'tool') input.push({ role: 'user', content: '(It is your turn to speak.)' });

    return await runAgentLoop({
      emitter,
      stream,
      system: run.systemSuffix ? `${system}\n\n${run.systemSuffix}`.trim() : system,
      shouldStop: run.shouldStop,
      history,
      input,
      tools: tools.tools,
      toolContext,
      steering: run.steering,
      signal,
      maxSteps: deps.maxSteps,
    });
  } catch (error) {
    if (error instanceof ToolSourceError) return failed(RunErrorCode.toolError, error.message);
    throw error;
  } finally {
    await tools?.close();
  }
}

/**
 * The conversation's committed sessions, which the history chain is built
 * from; none to read when the session has no parent (a first message).
 */
async function committedSessions(db: Db, conversationId: string, parentSessionId: string | null): Promise<HistorySession[]> {
  if (!parentSessionId) return [];
  return db
    .select({
      id: sessions.id,
      parentSessionId: sessions.parentSessionId,
      status: sessions.status,
      messages: sessions.messages,
      speaker: sessions.speaker,
      origin: sessions.origin,
      pending: sessions.pending,
      usage: sessions.usage,
    })
    .from(sessions)
    .where(and(eq(sessions.conversationId, conversationId), inArray(sessions.status, COMMITTED_STATUSES)));
}

/** The conversation's context text goes into every prompt: where the template puts it, else at the end. */
function withContext(template: string, context: string, rendered: string): string {
  if (!context.trim() || /\{\{\s*room_context\s*\}\}/.test(template)) return rendered;
  return rendered ? `${rendered}\n\n${context}` : context;
}
