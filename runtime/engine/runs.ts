/**
 * The run manager: starts sessions, applies the busy policy, runs them in the
 * background (session-runner.ts), commits, and handles control (interrupt,
 * steer) locally or — when another runtime process runs the session —
 * through the control bus. It also runs async subagents, delivers their
 * results through the mailbox, recovers sessions orphaned by a dead process,
 * and drains in-flight sessions on shutdown.
 *
 * The busy guard is the database: a unique partial index allows one running
 * main-slot session per conversation, so replicas racing to start a run
 * cannot both win. A 202 is returned only once RUN_STARTED is in the log.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Input, OnBusy } from '../../shared/protocol/api.js';
import { CustomName, EventType, RunErrorCode, type Speaker } from '../../shared/protocol/events.js';
import { previousId, type Bus, type EventLog } from '../events/types.js';
import type { Logger } from '../logger.js';
import type { Db } from '../store/database.js';
import { isUniqueViolation } from '../store/errors.js';
import type { MailboxRepo } from '../store/repos/mailbox.js';
import {
  conversations,
  mailbox,
  presets,
  sessions,
  type ConversationRow,
  type PresetRow,
  type SessionRow,
  type SubagentRef,
  type UsageByModel,
} from '../store/schema.js';
import { SessionEmitter } from './emitter.js';
import { inputText } from './input.js';
import type { LoopResult, ModelStream } from './loop.js';
import { runSession } from './session-runner.js';
import { latestCommittedId, prepareSessionStatements, type RunningSession, type SessionStatements } from './session-statements.js';
import { SteeringQueue } from './steering.js';
import { continuationPrompt, subagentTools } from './subagents.js';
import { ToolFailure, type PendingCall, type Tool, type ToolRegistry, type ToolSource } from './tools.js';

export const CONTROL_CHANNEL = 'control';
export const NOTIFICATIONS_CHANNEL = 'notifications';
const replyChannel = (runnerId: string) => `control-reply:${runnerId}`;

export interface RunManagerDeps {
  db: Db;
  mailbox: MailboxRepo;
  eventLog: EventLog;
  bus: Bus;
  logger: Logger;
  tools: ToolRegistry;
  toolSources: ToolSource[];
  dataDir: string;
  env: Record<string, string | undefined>;
  /** The model call for a preset (retries and fallbacks inside). */
  modelStream(preset: PresetRow): ModelStream;
  /** USD cost of a model's usage. */
  costOf(modelId: string, usage: { inputTokens: number; outputTokens: number; cachedTokens: number; reasoningTokens: number }): number;
  retentionSeconds: number;
  /** Compaction: share of the context window that triggers it, and the window when a preset names none. */
  compaction: { threshold: number; contextWindow: number };
  limits: { maxSteps: number; maxSubagents: number; maxSubagentDepth: number };
  /** Heartbeat and orphan sweep cadence. */
  heartbeatMs?: number;
  staleAfterMs?: number;
  /**
   * The database serves only this process (embedded PGlite): every session
   * found running at start-up is an orphan, whatever its heartbeat says.
   */
  soleProcess?: boolean;
}

export interface Answers {
  approvals: { tool_call_id: string; approved: boolean; reason?: string }[];
  tool_results: { tool_call_id: string; output?: string; error?: string }[];
}

export interface StartRequest {
  conversation: ConversationRow;
  preset: PresetRow;
  /** The message; null when the request only answers pending calls. */
  input: Input | null;
  onBusy: OnBusy;
  speaker?: Speaker | null;
  runId?: string;
  answers?: Answers | null;
  clientTools?: SessionRow['clientTools'];
  origin?: SessionRow['origin'];
  /** A room turn: the persona's extra tools, framing and stop condition (rooms/orchestrator.ts). */
  room?: RoomTurnHooks;
}

/** What a room orchestrator adds to one persona turn. */
export interface RoomTurnHooks {
  tools: Tool[];
  /** Appended to the persona's system prompt. */
  systemSuffix: string;
  /** Checked after each round of tool calls: true ends the turn (opt_out, end of autopilot). */
  shouldStop(): boolean;
}

export interface StartResult {
  status: 'running' | 'queued' | 'steered';
  session: SessionRow;
  runId: string;
  /** A log cursor just before this session's first event (null when it did not start yet). */
  cursor: string | null;
}

/** A busy conversation refused the message (on_busy=reject). */
export class ConversationBusy extends Error {
  constructor(readonly activeSessionId: string) {
    super(`the conversation is busy with session ${activeSessionId}`);
  }
}

/** The runtime is shutting down and accepts no new runs. */
export class ShuttingDown extends Error {}

interface LiveSession {
  session: SessionRow;
  abort: AbortController;
  steering: SteeringQueue;
  done: Promise<void>;
  room?: RoomTurnHooks;
}

type ControlMessage =
  | { kind: 'interrupt'; sessionId: string }
  | { kind: 'steer'; sessionId: string; text: string; requestId: string; replyTo: string }
  | { kind: 'reply'; requestId: string; accepted: boolean };

export class RunManager {
  readonly runnerId = randomUUID();
  private readonly live = new Map<string, LiveSession>();
  private readonly replies = new Map<string, (accepted: boolean) => void>();
  private readonly timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => Promise<void>)[] = [];
  private accepting = true;

  private readonly statements: SessionStatements;

  constructor(private readonly deps: RunManagerDeps) {
    this.statements = prepareSessionStatements(deps.db, this.runnerId);
  }

  /** Subscribes to the control bus, recovers orphans, and starts the heartbeat. */
  async start(): Promise<void> {
    const { bus } = this.deps;
    this.unsubscribe.push(await bus.subscribe(CONTROL_CHANNEL, (m) => void this.onControl(m as ControlMessage)));
    this.unsubscribe.push(await bus.subscribe(replyChannel(this.runnerId), (m) => this.onReply(m as ControlMessage)));
    await this.recoverOrphans(this.deps.soleProcess ? 0 : undefined);
    const heartbeat = setInterval(() => void this.heartbeat(), this.deps.heartbeatMs ?? 5000);
    heartbeat.unref();
    this.timers.push(heartbeat);
  }

  get liveCount(): number {
    return this.live.size;
  }

  /** Resolves with the committed row once a session this process runs has ended. */
  async settled(sessionId: string): Promise<SessionRow | undefined> {
    await this.live.get(sessionId)?.done;
    return this.deps.db.query.sessions.findFirst({ where: eq(sessions.id, sessionId) });
  }

  // ------------------------------------------------------------- starting

  async startRun(request: StartRequest): Promise<StartResult> {
    if (!this.accepting) throw new ShuttingDown('the runtime is shutting down');
    const runId = request.runId ?? randomUUID();
    const started = await this.tryStart(request, runId);
    if (started) return started;

    const active = await this.activeSession(request.conversation.id);
    switch (request.onBusy) {
      case 'reject':
        throw new ConversationBusy(active?.id ?? 'unknown');
      case 'steer': {
        if (active && request.input && (await this.steerSession(active, inputText(request.input)))) {
          return { status: 'steered', session: active, runId: active.runId, cursor: null };
        }
        return this.queue(request, runId);
      }
      case 'queue':
        return this.queue(request, runId);
      case 'interrupt': {
        if (active) {
          await this.interruptSession(active);
          await this.waitUntilIdle(request.conversation.id, 10_000);
        }
        const again = await this.tryStart(request, runId);
        return again ?? this.queue(request, runId);
      }
    }
  }

  private sessionValues(request: StartRequest, runId: string): RunningSession {
    return {
      id: randomUUID(),
      conversationId: request.conversation.id,
      runId,
      type: 'agent',
      presetId: request.preset.id,
      speaker: request.speaker ?? null,
      input: request.input,
      answers: request.answers ?? null,
      clientTools: request.clientTools ?? [],
      origin: request.origin ?? 'message',
    };
  }

  /** Inserts a running session; null when the slot is taken. */
  private async tryStart(request: StartRequest, runId: string): Promise<StartResult | null> {
    const session = await this.insertRunning({ ...this.sessionValues(request, runId) });
    if (!session) return null;
    const cursor = await this.launch(session, request.conversation, request.preset, request.room);
    return { status: 'running', session, runId, cursor };
  }

  /** Inserts a session holding the main slot; null when another one holds it. */
  private async insertRunning(values: RunningSession): Promise<SessionRow | null> {
    try {
      return await this.statements.insertRunning(values);
    } catch (error) {
      if (isUniqueViolation(error)) return null;
      throw error;
    }
  }

  private async queue(request: StartRequest, runId: string): Promise<StartResult> {
    const [row] = await this.deps.db
      .insert(sessions)
      .values({ ...this.sessionValues(request, runId), status: 'queued' })
      .returning();
    // The running session may have finished meanwhile.
    const promoted = await this.promoteQueued(request.conversation.id);
    const session = promoted?.id === row!.id ? promoted : row!;
    return { status: session.status === 'running' ? 'running' : 'queued', session, runId, cursor: null };
  }

  /** Starts the oldest queued session of a conversation if the slot is free. */
  async promoteQueued(conversationId: string): Promise<SessionRow | null> {
    if (!this.accepting) return null;
    const { db } = this.deps;
    // Most sessions end with nothing queued behind them: one cheap look first.
    const queued = await db
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.conversationId, conversationId), eq(sessions.type, 'agent'), eq(sessions.status, 'queued')))
      .limit(1);
    if (queued.length === 0) return null;
    let promoted: SessionRow | undefined;
    try {
      const rows = await db
        .update(sessions)
        .set({
          status: 'running',
          runnerId: this.runnerId,
          heartbeatAt: new Date(),
          startedAt: new Date(),
          parentSessionId: latestCommittedId(conversationId),
          updatedAt: new Date(),
        })
        .where(
          eq(
            sessions.id,
            sql`(select ${sessions.id} from ${sessions} where ${sessions.conversationId} = ${conversationId}
                 and ${sessions.type} = 'agent' and ${sessions.status} = 'queued'
                 order by ${sessions.createdAt} asc limit 1)`,
          ),
        )
        .returning();
      promoted = rows[0];
    } catch (error) {
      if (isUniqueViolation(error)) return null;
      throw error;
    }
    if (!promoted) return null;
    const conversation = await this.conversation(conversationId);
    const preset = await this.preset(promoted.presetId);
    if (!conversation || !preset) {
      await this.failWithEvent(promoted, RunErrorCode.configurationError, 'the preset or conversation of this queued message no longer exists');
      return null;
    }
    await this.launch(promoted, conversation, preset);
    return promoted;
  }

  /**
   * Appends RUN_STARTED (so the stream exists), registers the session, and
   * runs it in the background. Returns a cursor just before RUN_STARTED.
   */
  private async launch(session: SessionRow, conversation: ConversationRow, preset: PresetRow, room?: RoomTurnHooks): Promise<string | null> {
    const subagent = session.type === 'async_subagent';
    const emitter = new SessionEmitter({
      log: this.deps.eventLog,
      conversationId: conversation.id,
      sessionId: session.id,
      speaker: session.speaker ?? null,
      extra: subagent ? { subagentRunId: session.id } : undefined,
    });
    emitter.emit({ type: EventType.RUN_STARTED, threadId: conversation.id, runId: session.id, protocolVersion: '1.0' });
    if (subagent) {
      emitter.emit({
        type: EventType.SUBAGENT_STARTED,
        name: session.subagentName ?? preset.name,
        description: preset.description || undefined,
        parentSessionId: session.spawnedBy,
      });
    }
    const live: LiveSession = { session, abort: new AbortController(), steering: new SteeringQueue(), done: Promise.resolve(), room };
    this.live.set(session.id, live);
    try {
      await emitter.flush();
    } catch (error) {
      this.live.delete(session.id);
      await this.failWithEvent(session, RunErrorCode.internalError, 'the event log is unavailable');
      throw error;
    }
    this.notify('session_started', conversation, { session_id: session.id, type: session.type });
    live.done = this.execute(live, emitter, conversation, preset).catch(async (error: unknown) => {
      const reason = error instanceof Error ? error.message.slice(0, 300) : String(error);
      this.deps.logger.error({ sessionId: session.id, reason }, 'session crashed');
      // Never leave it running: fail it with a terminal event.
      this.live.delete(session.id);
      await this.failWithEvent(session, RunErrorCode.internalError, 'the runtime failed while finishing this session; it has been logged').catch(
        () => undefined,
      );
    });
    return emitter.lastId ? previousId(emitter.lastId) : null;
  }

  // ------------------------------------------------------------- running

  private async execute(live: LiveSession, emitter: SessionEmitter, conversation: ConversationRow, preset: PresetRow): Promise<void> {
    const { session } = live;
    let result: LoopResult;
    try {
      result = await runSession(
        {
          db: this.deps.db,
          registry: this.deps.tools,
          sources: this.deps.toolSources,
          dataDir: this.deps.dataDir,
          env: this.deps.env,
          maxSteps: this.deps.limits.maxSteps,
          compaction: this.deps.compaction,
          modelStream: this.deps.modelStream,
        },
        {
          session,
          conversation,
          preset,
          emitter,
          steering: live.steering,
          signal: live.abort.signal,
          extraTools: [...subagentTools(preset.subagents, this.subagentHost(session, conversation)), ...(live.room?.tools ?? [])],
          systemSuffix: live.room?.systemSuffix,
          shouldStop: live.room?.shouldStop,
        },
      );
    } catch (error) {
      this.deps.logger.error({ err: error, sessionId: session.id }, 'session failed inside the runtime');
      result = {
        status: live.abort.signal.aborted ? 'interrupted' : 'failed',
        messages: [],
        finalMessage: null,
        usage: {},
        model: null,
        error: { code: RunErrorCode.internalError, message: 'the runtime failed while running this session; it has been logged' },
      };
    }
    await this.commit(live, emitter, conversation, result);
  }

  private async commit(live: LiveSession, emitter: SessionEmitter, conversation: ConversationRow, result: LoopResult): Promise<void> {
    const { db } = this.deps;
    const { session } = live;
    // Steering that arrives from here on is refused (the caller starts a new run).
    const leftover = live.steering.closeIfEmpty() ? [] : live.steering.drain();
    live.steering.closeIfEmpty();

    const usage = this.pricedUsage(result);
    if (Object.keys(usage).length > 0) emitter.emit({ type: EventType.CUSTOM, name: CustomName.usage, value: usage });

    const interrupted = result.status === 'interrupted';
    let error = interrupted
      ? { code: RunErrorCode.interrupted, message: 'the run was interrupted; partial output was kept' }
      : (result.error ?? null);
    const pending = result.status === 'awaiting_input' ? (result.pending ?? []) : [];
    if (pending.length > 0) emitter.emit({ type: EventType.CUSTOM, name: CustomName.awaitingUser, value: awaitingValue(pending) });
    if (session.type === 'async_subagent') {
      emitter.emit(
        result.status === 'completed'
          ? { type: EventType.SUBAGENT_FINISHED, result: result.finalMessage, outcome: { type: 'success' } }
          : { type: EventType.SUBAGENT_ERROR, code: error?.code ?? 'failed', message: error?.message ?? 'the subagent did not finish' },
      );
    }
    try {
      await emitter.flush();
    } catch (appendError) {
      this.deps.logger.error({ err: appendError, sessionId: session.id }, 'events could not be appended');
    }
    let stillOurs: boolean;
    try {
      stillOurs = await this.statements.commit(session.id, conversation.id, {
        status: result.status,
        messages: result.messages,
        display: emitter.display.chunks(),
        finalMessage: result.status === 'completed' ? result.finalMessage : null,
        searchText: searchTextOf(session, result),
        pending: pending.length > 0 ? { calls: pending } : null,
        usage,
        model: result.model,
        error,
      });
    } catch (saveError) {
      // The session must still end: fail it with a short record and a terminal event.
      const reason = saveError instanceof Error ? saveError.message.slice(0, 300) : 'unknown error';
      this.deps.logger.error({ sessionId: session.id, reason }, 'the session could not be saved');
      error = { code: RunErrorCode.internalError, message: 'the session finished but could not be saved; it has been logged' };
      const committed = await db
        .update(sessions)
        .set({ status: 'failed', error, usage, model: result.model, finishedAt: new Date(), updatedAt: new Date() })
        .where(and(eq(sessions.id, session.id), eq(sessions.status, 'running')))
        .returning({ id: sessions.id });
      stillOurs = committed.length > 0;
      if (stillOurs && Object.keys(usage).length > 0) await this.statements.addUsage(conversation.id, usage);
    }

    if (stillOurs && session.type === 'async_subagent') {
      await this.deps.mailbox.post({
        conversationId: conversation.id,
        sourceSessionId: session.id,
        kind: result.status === 'completed' ? 'subagent_result' : 'subagent_failed',
        subagentName: session.subagentName ?? 'agent',
        content: result.status === 'completed' ? (result.finalMessage ?? '') : `Error (${error?.code}): ${error?.message}`,
      });
      emitter.emit({
        type: EventType.CUSTOM,
        name: CustomName.mailboxUpdated,
        value: { pending: await this.deps.mailbox.pendingCount(conversation.id), from_session_id: session.id },
      });
      this.notify('mailbox_updated', conversation, { session_id: session.id });
    }
    if (stillOurs) {
      if (error) emitter.emit({ type: EventType.RUN_ERROR, code: error.code, message: error.message });
      else {
        emitter.emit({
          type: EventType.RUN_FINISHED,
          threadId: conversation.id,
          runId: session.id,
          result: { final_message: result.finalMessage },
          outcome: pending.length > 0 ? { type: 'interrupt', interrupts: pending.map(interruptOf) } : { type: 'success' },
        });
      }
      await emitter.flush().catch((e: unknown) => this.deps.logger.error({ err: e }, 'terminal event could not be appended'));
    }
    this.live.delete(session.id);

    if (pending.length > 0) this.notify('awaiting_user', conversation, { session_id: session.id, calls: pending });
    this.notify(result.status === 'completed' || result.status === 'awaiting_input' ? 'session_finished' : 'session_failed', conversation, {
      session_id: session.id,
      status: result.status,
    });
    const after = await this.statements.remains(conversation.id);
    if (!after.active) await this.retain(conversation.id);

    const requeue = leftover.length > 0 && !interrupted && session.type === 'agent';
    if (requeue) {
      await db.insert(sessions).values({
        id: randomUUID(),
        conversationId: conversation.id,
        runId: randomUUID(),
        type: 'agent',
        presetId: session.presetId,
        speaker: session.speaker,
        status: 'queued',
        input: leftover.join('\n'),
        origin: 'steer',
      });
    }
    if (requeue || after.queued || after.mail) await this.afterSlotFreed(conversation.id);
  }

  /** Whatever waits for the main slot: queued messages first, then mailbox results. */
  private async afterSlotFreed(conversationId: string): Promise<void> {
    try {
      await this.promoteQueued(conversationId);
      await this.deliverMailbox(conversationId);
    } catch (error) {
      this.deps.logger.error({ err: error, conversationId }, 'could not start the next run');
    }
  }

  private pricedUsage(result: LoopResult): UsageByModel {
    const usage: UsageByModel = {};
    for (const [model, u] of Object.entries(result.usage)) {
      usage[model] = {
        input_tokens: u.inputTokens,
        output_tokens: u.outputTokens,
        cached_tokens: u.cachedTokens,
        reasoning_tokens: u.reasoningTokens,
        requests: u.requests,
        cost_usd: this.deps.costOf(model, u),
      };
    }
    return usage;
  }

  /** Starts the retention window once nothing in the conversation runs. */
  private async retainIfIdle(conversationId: string): Promise<void> {
    if (!(await this.statements.remains(conversationId)).active) await this.retain(conversationId);
  }

  private async retain(conversationId: string): Promise<void> {
    await this.deps.eventLog.retain(conversationId, this.deps.retentionSeconds).catch(() => undefined);
  }

  // ------------------------------------------------------------- subagents and the mailbox

  private subagentHost(session: SessionRow, conversation: ConversationRow) {
    return {
      spawn: (ref: SubagentRef, instruction: string) => this.spawnSubagent(session, conversation, ref, instruction),
      list: () =>
        this.deps.db
          .select()
          .from(sessions)
          .where(and(eq(sessions.conversationId, conversation.id), eq(sessions.type, 'async_subagent')))
          .orderBy(desc(sessions.createdAt)),
      steer: async (agentId: string, text: string) => {
        const target = await this.subagentOf(conversation.id, agentId);
        return !!target && target.status === 'running' && (await this.steerSession(target, text));
      },
      cancel: async (agentId: string) => {
        const target = await this.subagentOf(conversation.id, agentId);
        if (!target || target.status !== 'running') return false;
        await this.interruptSession(target);
        return true;
      },
    };
  }

  private async subagentOf(conversationId: string, id: string): Promise<SessionRow | undefined> {
    return this.deps.db.query.sessions.findFirst({
      where: and(eq(sessions.id, id), eq(sessions.conversationId, conversationId), eq(sessions.type, 'async_subagent')),
    });
  }

  /** Starts a background session in the same conversation; it never takes the main slot. */
  async spawnSubagent(parent: SessionRow, conversation: ConversationRow, ref: SubagentRef, instruction: string): Promise<SessionRow> {
    const { db, limits } = this.deps;
    if (!this.accepting) throw new ToolFailure('the runtime is shutting down; no agents can be started now');
    let depth = 1;
    for (let at: SessionRow | undefined = parent; at?.type === 'async_subagent' && at.spawnedBy; depth++) {
      at = await db.query.sessions.findFirst({ where: eq(sessions.id, at.spawnedBy) });
    }
    if (depth > limits.maxSubagentDepth) {
      throw new ToolFailure(`agents may nest ${limits.maxSubagentDepth} deep at most; do this task yourself`);
    }
    const running = await db
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.conversationId, conversation.id), eq(sessions.type, 'async_subagent'), eq(sessions.status, 'running')));
    if (running.length >= limits.maxSubagents) {
      throw new ToolFailure(`${running.length} agents are already running (the limit is ${limits.maxSubagents}); wait for results first`);
    }
    const preset = await this.preset(ref.preset_id);
    if (!preset) throw new ToolFailure(`agent ${ref.name} uses preset '${ref.preset_id}', which does not exist`);
    const session = await this.insertRunning({
      id: randomUUID(),
      conversationId: conversation.id,
      runId: parent.runId,
      type: 'async_subagent',
      spawnedBy: parent.id,
      subagentName: ref.name,
      presetId: preset.id,
      input: instruction,
      origin: 'subagent',
    });
    if (!session) throw new Error('a subagent session could not be inserted');
    await this.launch(session, conversation, preset);
    return session;
  }

  /**
   * Hands pending mailbox results to the conversation: steered into the
   * running main session when there is one, otherwise (with auto_fire) as a
   * continuation run. Claims are atomic, so each result is delivered once.
   */
  async deliverMailbox(conversationId: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      if ((await this.deps.mailbox.pendingCount(conversationId)) === 0) return;
      const active = await this.activeSession(conversationId);
      if (active) {
        const claimed = await this.deps.mailbox.claimPending(conversationId, active.id);
        if (claimed.length === 0) return;
        if (await this.steerSession(active, continuationPrompt(claimed))) return;
        // It was finishing: put the results back and look again.
        await this.deps.mailbox.release(
          claimed.map((m) => m.id),
          active.id,
        );
        await this.waitUntilIdle(conversationId, 2000);
        continue;
      }
      const conversation = await this.conversation(conversationId);
      if (!conversation?.autoFire) return;
      // Fan-in: while siblings of the finished agents still run, wait for the last one.
      if (await this.siblingsStillRunning(conversationId)) return;
      await this.fireMailbox(conversation);
      return;
    }
  }

  /** Whether a subagent spawned by the same session as a pending result is still running. */
  private async siblingsStillRunning(conversationId: string): Promise<boolean> {
    const rows = await this.deps.db
      .select({ id: sessions.id })
      .from(sessions)
      .where(
        and(
          eq(sessions.conversationId, conversationId),
          eq(sessions.type, 'async_subagent'),
          eq(sessions.status, 'running'),
          sql`${sessions.spawnedBy} in (select s.spawned_by from ${mailbox} m join ${sessions} s on s.id = m.source_session_id
              where m.conversation_id = ${conversationId} and m.delivered_to is null)`,
        ),
      )
      .limit(1);
    return rows.length > 0;
  }

  /**
   * Drains every pending mailbox message into one continuation run. Null when
   * the main slot is busy (the running session's end fires again) or nothing
   * is pending.
   */
  async fireMailbox(conversation: ConversationRow, presetId?: string): Promise<StartResult | null> {
    const { db } = this.deps;
    const [first] = await db
      .select()
      .from(mailbox)
      .where(and(eq(mailbox.conversationId, conversation.id), isNull(mailbox.deliveredTo)))
      .orderBy(asc(mailbox.createdAt))
      .limit(1);
    if (!first) return null;
    const preset = await this.continuationPreset(conversation, first.sourceSessionId, presetId);
    if (!preset) return null;
    const runId = randomUUID();
    const session = await this.insertRunning({
      id: randomUUID(),
      conversationId: conversation.id,
      runId,
      type: 'agent',
      presetId: preset.id,
      origin: 'mailbox',
    });
    if (!session) return null;
    const claimed = await this.deps.mailbox.claimPending(conversation.id, session.id);
    if (claimed.length === 0) {
      // Another process delivered them first; give the slot back untouched.
      await db.delete(sessions).where(eq(sessions.id, session.id));
      return null;
    }
    const input = continuationPrompt(claimed);
    await db.update(sessions).set({ input }).where(eq(sessions.id, session.id));
    const started = { ...session, input };
    const cursor = await this.launch(started, conversation, preset);
    return { status: 'running', session: started, runId, cursor };
  }

  /** The preset of the session that spawned the first result's subagent, else the conversation's. */
  private async continuationPreset(conversation: ConversationRow, sourceSessionId: string, presetId?: string): Promise<PresetRow | undefined> {
    if (presetId) return this.preset(presetId);
    const source = await this.deps.db.query.sessions.findFirst({ where: eq(sessions.id, sourceSessionId) });
    const spawner = source?.spawnedBy ? await this.deps.db.query.sessions.findFirst({ where: eq(sessions.id, source.spawnedBy) }) : undefined;
    return (
      (await this.preset(spawner?.presetId ?? null)) ??
      (await this.preset(conversation.presetId)) ??
      (await this.deps.db.query.presets.findFirst({ where: eq(presets.isDefault, true) }))
    );
  }

  // ------------------------------------------------------------- control

  /** Interrupts every running session of a conversation (subagents too); returns how many. */
  async interruptConversation(conversationId: string): Promise<number> {
    const running = await this.deps.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.conversationId, conversationId), eq(sessions.status, 'running')));
    for (const session of running) await this.interruptSession(session);
    return running.length;
  }

  async interruptSession(session: SessionRow): Promise<void> {
    const live = this.live.get(session.id);
    if (live) {
      live.abort.abort();
      return;
    }
    await this.deps.bus.publish(CONTROL_CHANNEL, { kind: 'interrupt', sessionId: session.id });
  }

  /**
   * Steers a running session, wherever it runs. False when it no longer
   * accepts steering (it is finishing, or it is gone): the caller then starts
   * a new run with the text.
   */
  async steerSession(session: SessionRow, text: string): Promise<boolean> {
    const live = this.live.get(session.id);
    if (live) return live.steering.push(text);
    const requestId = randomUUID();
    const answer = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.replies.delete(requestId);
        resolve(false);
      }, 3000);
      this.replies.set(requestId, (accepted) => {
        clearTimeout(timer);
        this.replies.delete(requestId);
        resolve(accepted);
      });
    });
    await this.deps.bus.publish(CONTROL_CHANNEL, {
      kind: 'steer',
      sessionId: session.id,
      text,
      requestId,
      replyTo: replyChannel(this.runnerId),
    });
    return answer;
  }

  private async onControl(message: ControlMessage): Promise<void> {
    if (message.kind === 'interrupt') {
      this.live.get(message.sessionId)?.abort.abort();
    } else if (message.kind === 'steer') {
      const live = this.live.get(message.sessionId);
      if (!live) return; // Not ours: the process that runs it answers.
      const accepted = live.steering.push(message.text);
      await this.deps.bus.publish(message.replyTo, { kind: 'reply', requestId: message.requestId, accepted });
    }
  }

  private onReply(message: ControlMessage): void {
    if (message.kind === 'reply') this.replies.get(message.requestId)?.(message.accepted);
  }

  async activeSession(conversationId: string): Promise<SessionRow | undefined> {
    return this.deps.db.query.sessions.findFirst({
      where: and(eq(sessions.conversationId, conversationId), eq(sessions.type, 'agent'), eq(sessions.status, 'running')),
    });
  }

  private async conversation(id: string): Promise<ConversationRow | undefined> {
    return this.deps.db.query.conversations.findFirst({ where: eq(conversations.id, id) });
  }

  private async preset(id: string | null | undefined): Promise<PresetRow | undefined> {
    return id ? this.deps.db.query.presets.findFirst({ where: eq(presets.id, id) }) : undefined;
  }

  private async waitUntilIdle(conversationId: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!(await this.activeSession(conversationId))) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Account-level notifications (GET /api/notifications), for the conversation's owner. */
  notify(type: string, conversation: Pick<ConversationRow, 'id' | 'userId'>, extra: Record<string, unknown> = {}): void {
    void this.deps.bus
      .publish(NOTIFICATIONS_CHANNEL, { type, user_id: conversation.userId, conversation_id: conversation.id, at: Date.now(), ...extra })
      .catch(() => undefined);
  }

  // ------------------------------------------------------------- lifecycle

  private async heartbeat(): Promise<void> {
    try {
      if (this.live.size > 0) {
        await this.deps.db
          .update(sessions)
          .set({ heartbeatAt: new Date() })
          .where(and(eq(sessions.runnerId, this.runnerId), eq(sessions.status, 'running')));
      }
      await this.recoverOrphans();
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'heartbeat failed');
    }
  }

  /**
   * Sessions marked running whose process stopped beating its heart are
   * failed with RUN_ERROR `runtime_restarted`.
   */
  async recoverOrphans(staleAfterMs = this.deps.staleAfterMs ?? 15_000): Promise<number> {
    const staleBefore = new Date(Date.now() - staleAfterMs + 1);
    const orphans = await this.deps.db
      .select()
      .from(sessions)
      .where(
        and(
          eq(sessions.status, 'running'),
          sql`(${sessions.runnerId} is distinct from ${this.runnerId})`,
          sql`(${sessions.heartbeatAt} is null or ${lt(sessions.heartbeatAt, staleBefore)})`,
        ),
      )
      .orderBy(asc(sessions.createdAt));
    for (const session of orphans) {
      const failed = await this.failWithEvent(
        session,
        RunErrorCode.runtimeRestarted,
        'the runtime process running this session stopped; send the message again to retry',
      );
      if (failed) {
        this.deps.logger.warn({ sessionId: session.id }, 'recovered a session orphaned by a stopped process');
        await this.afterSlotFreed(session.conversationId);
      }
    }
    return orphans.length;
  }

  /** Marks a running session failed and appends its terminal event; false if someone else finished it. */
  private async failWithEvent(session: SessionRow, code: string, message: string): Promise<boolean> {
    const rows = await this.deps.db
      .update(sessions)
      .set({ status: 'failed', error: { code, message }, finishedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(sessions.id, session.id), inArray(sessions.status, ['running', 'queued'])))
      .returning({ id: sessions.id });
    if (rows.length === 0) return false;
    const seq = await this.nextSeq(session);
    await this.deps.eventLog.append(session.conversationId, [
      {
        type: EventType.RUN_ERROR,
        code,
        message,
        conversationId: session.conversationId,
        sessionId: session.id,
        seq,
        timestamp: Date.now(),
        ...(session.speaker ? { speaker: session.speaker } : {}),
        ...(session.type === 'async_subagent' ? { subagentRunId: session.id } : {}),
      },
    ]);
    if (session.type === 'async_subagent') {
      await this.deps.mailbox.post({
        conversationId: session.conversationId,
        sourceSessionId: session.id,
        kind: 'subagent_failed',
        subagentName: session.subagentName ?? 'agent',
        content: `Error (${code}): ${message}`,
      });
    }
    await this.retainIfIdle(session.conversationId);
    return true;
  }

  /** The seq after the last event a session has in the log. */
  private async nextSeq(session: SessionRow): Promise<number> {
    const { entries } = await this.deps.eventLog.read(session.conversationId, null);
    let seq = -1;
    for (const { event } of entries) if (event.sessionId === session.id && typeof event.seq === 'number') seq = Math.max(seq, event.seq);
    return seq + 1;
  }

  /** Stops accepting runs, waits for running sessions up to the timeout, then interrupts the rest. */
  async drain(timeoutMs: number): Promise<void> {
    this.accepting = false;
    const all = () => Promise.all([...this.live.values()].map((l) => l.done));
    const timedOut = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), timeoutMs).unref()),
    ]);
    if (timedOut) {
      for (const live of this.live.values()) live.abort.abort();
      await all();
    }
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    for (const unsubscribe of this.unsubscribe) await unsubscribe().catch(() => undefined);
  }
}

/** Text kept for full-text search: bounded, since a tsvector holds at most 1 MB. */
const SEARCH_TEXT_LIMIT = 100_000;

function searchTextOf(session: SessionRow, result: LoopResult): string {
  const parts = [session.input ? inputText(session.input as Input) : ''];
  for (const m of result.messages) if (m.role === 'assistant' && m.content) parts.push(m.content);
  return parts.join('\n').slice(0, SEARCH_TEXT_LIMIT);
}

/** The CUSTOM awaiting_user value: what the people are asked. */
function awaitingValue(pending: PendingCall[]) {
  return {
    calls: pending,
    questions: pending.filter((p) => p.kind === 'question').map((p) => questionOf(p)),
  };
}

function questionOf(call: PendingCall): string {
  try {
    return String((JSON.parse(call.arguments) as { question?: unknown }).question ?? '');
  } catch {
    return '';
  }
}

/** AG-UI's interrupt entry for a pending call. */
function interruptOf(call: PendingCall) {
  const reason = call.kind === 'approval' ? 'tool_approval' : call.kind === 'question' ? 'question' : 'client_tool';
  return {
    id: call.tool_call_id,
    reason,
    toolCallId: call.tool_call_id,
    ...(call.kind === 'question' && { message: questionOf(call) }),
    ...(call.kind === 'approval' && { message: `approve ${call.tool_name}(${call.arguments.slice(0, 500)})?` }),
  };
}
