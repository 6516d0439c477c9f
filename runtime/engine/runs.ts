/**
 * The run manager: starts sessions, applies the busy policy, runs the agent
 * loop in the background, commits, and handles control (interrupt, steer)
 * locally or — when another runtime process runs the session — through the
 * control bus. Also recovers sessions orphaned by a dead process and drains
 * in-flight sessions on shutdown.
 *
 * The busy guard is the database: a unique partial index allows one running
 * main-slot session per conversation, so replicas racing to start a run
 * cannot both win. A 202 is returned only once RUN_STARTED is in the log.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Input, OnBusy } from '../../shared/protocol/api.js';
import { CustomName, EventType, RunErrorCode, type Speaker } from '../../shared/protocol/events.js';
import { previousId, type Bus, type EventLog } from '../events/types.js';
import type { Logger } from '../logger.js';
import type { ChatMessage, ContentPart } from '../providers/types.js';
import type { Db } from '../store/database.js';
import { isUniqueViolation } from '../store/errors.js';
import {
  conversations,
  sessions,
  type ConversationRow,
  type PresetRow,
  type SessionRow,
  type UsageByModel,
} from '../store/schema.js';
import { compressEvents } from './display.js';
import { SessionEmitter } from './emitter.js';
import { compactIfNeeded } from './compaction.js';
import { buildHistory, HISTORY_STATUSES, sessionChain } from './history.js';
import { runAgentLoop, type LoopResult, type ModelStream } from './loop.js';
import { baseVariables, renderPrompt } from './prompt.js';
import { SteeringQueue } from './steering.js';
import type { ToolRegistry } from './tools.js';

export const CONTROL_CHANNEL = 'control';
const replyChannel = (runnerId: string) => `control-reply:${runnerId}`;

export interface RunManagerDeps {
  db: Db;
  eventLog: EventLog;
  bus: Bus;
  logger: Logger;
  tools: ToolRegistry;
  /** The model call for a preset (retries and fallbacks inside). */
  modelStream(preset: PresetRow): ModelStream;
  /** USD cost of a model's usage. */
  costOf(modelId: string, usage: { inputTokens: number; outputTokens: number; cachedTokens: number; reasoningTokens: number }): number;
  retentionSeconds: number;
  /** Compaction: share of the context window that triggers it, and the window when a preset names none. */
  compaction: { threshold: number; contextWindow: number };
  maxSteps?: number;
  /** Heartbeat and orphan sweep cadence. */
  heartbeatMs?: number;
  staleAfterMs?: number;
  /**
   * The database serves only this process (embedded PGlite): every session
   * found running at start-up is an orphan, whatever its heartbeat says.
   */
  soleProcess?: boolean;
}

export interface StartRequest {
  conversation: ConversationRow;
  preset: PresetRow;
  input: Input;
  onBusy: OnBusy;
  speaker?: Speaker | null;
  runId?: string;
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
}

type ControlMessage =
  | { kind: 'interrupt'; sessionId: string }
  | { kind: 'steer'; sessionId: string; text: string; requestId: string; replyTo: string }
  | { kind: 'reply'; requestId: string; accepted: boolean };

/** Input (text or parts) → the user message content the providers take. */
export function inputToContent(input: Input): string | ContentPart[] {
  if (typeof input === 'string') return input;
  return input.map((part): ContentPart => {
    if (part.type === 'text') return { type: 'text', text: part.text };
    if (part.type === 'image') return { type: 'image', url: part.url, data: part.data, mimeType: part.mime_type };
    return { type: 'file', url: part.url, data: part.data, mimeType: part.mime_type, name: part.name };
  });
}

/** The text of an input, for titles and steering. */
export function inputText(input: Input): string {
  if (typeof input === 'string') return input;
  return input
    .map((p) => (p.type === 'text' ? p.text : p.type === 'image' ? '[image]' : `[file${p.name ? ` ${p.name}` : ''}]`))
    .join('\n');
}

/** A preset's context window: `model.settings.context_window`, or the default. */
function contextWindowOf(preset: PresetRow, fallback: number): number {
  const value = preset.model.settings.context_window;
  return typeof value === 'number' && value > 0 ? value : fallback;
}

export class RunManager {
  readonly runnerId = randomUUID();
  private readonly live = new Map<string, LiveSession>();
  private readonly replies = new Map<string, (accepted: boolean) => void>();
  private readonly timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => Promise<void>)[] = [];
  private accepting = true;

  constructor(private readonly deps: RunManagerDeps) {}

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

  isLocal(sessionId: string): boolean {
    return this.live.has(sessionId);
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
        if (active && (await this.steerSession(active, inputText(request.input)))) {
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

  /** Inserts a running session; null when the slot is taken. */
  private async tryStart(request: StartRequest, runId: string): Promise<StartResult | null> {
    const parent = await this.latestCommitted(request.conversation.id);
    let session: SessionRow;
    try {
      const [row] = await this.deps.db
        .insert(sessions)
        .values({
          id: randomUUID(),
          conversationId: request.conversation.id,
          parentSessionId: parent?.id ?? null,
          runId,
          type: 'agent',
          presetId: request.preset.id,
          speaker: request.speaker ?? null,
          status: 'running',
          input: request.input,
          runnerId: this.runnerId,
          heartbeatAt: new Date(),
          startedAt: new Date(),
        })
        .returning();
      session = row!;
    } catch (error) {
      if (isUniqueViolation(error)) return null;
      throw error;
    }
    const cursor = await this.launch(session, request.conversation, request.preset);
    return { status: 'running', session, runId, cursor };
  }

  private async queue(request: StartRequest, runId: string): Promise<StartResult> {
    const [row] = await this.deps.db
      .insert(sessions)
      .values({
        id: randomUUID(),
        conversationId: request.conversation.id,
        runId,
        type: 'agent',
        presetId: request.preset.id,
        speaker: request.speaker ?? null,
        status: 'queued',
        input: request.input,
      })
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
    const parent = await this.latestCommitted(conversationId);
    let promoted: SessionRow | undefined;
    try {
      const rows = await db
        .update(sessions)
        .set({
          status: 'running',
          runnerId: this.runnerId,
          heartbeatAt: new Date(),
          startedAt: new Date(),
          parentSessionId: parent?.id ?? null,
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
    const conversation = await db.query.conversations.findFirst({ where: eq(conversations.id, conversationId) });
    const preset = promoted.presetId ? await db.query.presets.findFirst({ where: (p, { eq: e }) => e(p.id, promoted!.presetId!) }) : undefined;
    if (!conversation || !preset) {
      await this.failUnstartable(promoted, 'the preset or conversation of this queued message no longer exists');
      return null;
    }
    await this.launch(promoted, conversation, preset);
    return promoted;
  }

  /**
   * Appends RUN_STARTED (so the stream exists), registers the session, and
   * runs the loop in the background. Returns the log id before RUN_STARTED.
   */
  private async launch(session: SessionRow, conversation: ConversationRow, preset: PresetRow): Promise<string | null> {
    const { eventLog } = this.deps;
    const emitter = new SessionEmitter({
      log: eventLog,
      conversationId: conversation.id,
      sessionId: session.id,
      speaker: session.speaker ?? null,
    });
    emitter.emit({ type: EventType.RUN_STARTED, threadId: conversation.id, runId: session.id, protocolVersion: '1.0' });
    const abort = new AbortController();
    const steering = new SteeringQueue();
    const live: LiveSession = { session, abort, steering, done: Promise.resolve() };
    this.live.set(session.id, live);
    try {
      await emitter.flush();
    } catch (error) {
      this.live.delete(session.id);
      await this.failUnstartable(session, 'the event log is unavailable');
      throw error;
    }
    live.done = this.execute(live, emitter, conversation, preset).catch((error: unknown) => {
      this.deps.logger.error({ err: error, sessionId: session.id }, 'session crashed');
    });
    return emitter.lastId ? previousId(emitter.lastId) : null;
  }

  // ------------------------------------------------------------- running

  private async execute(live: LiveSession, emitter: SessionEmitter, conversation: ConversationRow, preset: PresetRow): Promise<void> {
    const { session } = live;
    let result: LoopResult;
    try {
      const stream = this.deps.modelStream(preset);
      const all = await this.deps.db.select().from(sessions).where(eq(sessions.conversationId, conversation.id));
      const committed = all.filter((s) => HISTORY_STATUSES.includes(s.status));
      let summary =
        conversation.summary && conversation.summaryThroughSessionId
          ? { text: conversation.summary, throughSessionId: conversation.summaryThroughSessionId }
          : null;
      const compacted = await compactIfNeeded({
        chain: sessionChain(committed, session.parentSessionId, summary?.throughSessionId),
        previousSummary: summary?.text ?? null,
        contextWindow: contextWindowOf(preset, this.deps.compaction.contextWindow),
        threshold: this.deps.compaction.threshold,
        stream,
        emitter,
        signal: live.abort.signal,
      });
      if (compacted) {
        summary = { text: compacted.summary, throughSessionId: compacted.throughSessionId };
        await this.deps.db
          .update(conversations)
          .set({ summary: compacted.summary, summaryThroughSessionId: compacted.throughSessionId })
          .where(eq(conversations.id, conversation.id));
      }
      const history = buildHistory(committed, session.parentSessionId, { summary });
      const system = renderPrompt(
        preset.systemPrompt,
        baseVariables(new Date(), {
          conversation_title: conversation.title,
          preset_name: preset.name,
          model: preset.model.name,
          room_context: conversation.context,
        }),
      );
      const selected = this.deps.tools.select(preset.tools.filter((t) => t.type === 'builtin').map((t) => t.name));
      if (selected.unknown.length > 0) {
        emitter.emit({
          type: EventType.CUSTOM,
          name: CustomName.warning,
          value: { message: `unknown tools skipped: ${selected.unknown.join(', ')}` },
        });
      }
      const input: ChatMessage[] = [{ role: 'user', content: inputToContent(session.input as Input) }];
      result = await runAgentLoop({
        emitter,
        stream,
        system,
        history,
        input,
        tools: selected.tools,
        toolContext: { conversationId: conversation.id, sessionId: session.id, userId: conversation.userId },
        steering: live.steering,
        signal: live.abort.signal,
        maxSteps: this.deps.maxSteps ?? 25,
      });
    } catch (error) {
      this.deps.logger.error({ err: error, sessionId: session.id }, 'agent loop failed');
      result = {
        status: 'failed',
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
    const { db, eventLog, bus } = this.deps;
    const { session } = live;
    // Steering that arrives from here on starts a new run instead.
    const leftover = live.steering.closeIfEmpty() ? [] : live.steering.drain();
    live.steering.closeIfEmpty();

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
    if (Object.keys(usage).length > 0) emitter.emit({ type: EventType.CUSTOM, name: CustomName.usage, value: usage });

    const interrupted = result.status === 'interrupted';
    const error = interrupted
      ? { code: RunErrorCode.interrupted, message: 'the run was interrupted; partial output was kept' }
      : result.error ?? null;
    try {
      await emitter.flush();
    } catch (appendError) {
      this.deps.logger.error({ err: appendError, sessionId: session.id }, 'events could not be appended');
    }
    const committed = await db
      .update(sessions)
      .set({
        status: result.status,
        messages: result.messages,
        display: compressEvents(emitter.history),
        finalMessage: result.status === 'completed' ? result.finalMessage : null,
        searchText: [inputText(session.input as Input), ...result.messages.flatMap((m) => (m.role === 'assistant' && m.content ? [m.content] : []))].join('\n'),
        usage,
        model: result.model,
        error,
        finishedAt: new Date(),
        updatedAt: new Date(),
      })
      .where(and(eq(sessions.id, session.id), eq(sessions.status, 'running')))
      .returning({ id: sessions.id });
    if (committed.length > 0 && Object.keys(usage).length > 0) await this.addConversationUsage(conversation.id, usage);

    if (committed.length > 0) {
      if (error) emitter.emit({ type: EventType.RUN_ERROR, code: error.code, message: error.message });
      else emitter.emit({ type: EventType.RUN_FINISHED, threadId: conversation.id, runId: session.id, result: { final_message: result.finalMessage } });
      await emitter.flush().catch((e: unknown) => this.deps.logger.error({ err: e }, 'terminal event could not be appended'));
    }
    this.live.delete(session.id);

    await bus
      .publish('notifications', {
        type: result.status === 'completed' ? 'session_finished' : 'session_failed',
        user_id: conversation.userId,
        conversation_id: conversation.id,
        session_id: session.id,
        status: result.status,
      })
      .catch(() => undefined);
    await this.retainIfIdle(conversation.id);

    if (leftover.length > 0 && !interrupted) {
      await db.insert(sessions).values({
        id: randomUUID(),
        conversationId: conversation.id,
        runId: randomUUID(),
        type: 'agent',
        presetId: session.presetId,
        speaker: session.speaker,
        status: 'queued',
        input: leftover.join('\n'),
      });
    }
    await this.promoteQueued(conversation.id).catch((e: unknown) => this.deps.logger.error({ err: e }, 'could not start a queued session'));
  }

  private async addConversationUsage(conversationId: string, usage: UsageByModel): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      const [row] = await tx
        .select({ usage: conversations.usage })
        .from(conversations)
        .where(eq(conversations.id, conversationId))
        .for('update');
      if (!row) return;
      const total: UsageByModel = { ...row.usage };
      for (const [model, u] of Object.entries(usage)) {
        const t = total[model] ?? { input_tokens: 0, output_tokens: 0, cached_tokens: 0, reasoning_tokens: 0, requests: 0, cost_usd: 0 };
        total[model] = {
          input_tokens: t.input_tokens + u.input_tokens,
          output_tokens: t.output_tokens + u.output_tokens,
          cached_tokens: t.cached_tokens + u.cached_tokens,
          reasoning_tokens: t.reasoning_tokens + u.reasoning_tokens,
          requests: t.requests + u.requests,
          cost_usd: Math.round((t.cost_usd + u.cost_usd) * 1e6) / 1e6,
        };
      }
      await tx.update(conversations).set({ usage: total }).where(eq(conversations.id, conversationId));
    });
  }

  /** Starts the retention window once nothing in the conversation runs. */
  private async retainIfIdle(conversationId: string): Promise<void> {
    const running = await this.deps.db
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.conversationId, conversationId), inArray(sessions.status, ['running', 'queued'])))
      .limit(1);
    if (running.length === 0) await this.deps.eventLog.retain(conversationId, this.deps.retentionSeconds).catch(() => undefined);
  }

  /** Marks a session that never ran as failed, with its terminal event. */
  private async failUnstartable(session: SessionRow, message: string): Promise<void> {
    await this.failWithEvent(session, RunErrorCode.internalError, message);
  }

  // ------------------------------------------------------------- control

  /** Interrupts every running session of a conversation; returns how many. */
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

  private async latestCommitted(conversationId: string): Promise<SessionRow | undefined> {
    return this.deps.db.query.sessions.findFirst({
      where: and(eq(sessions.conversationId, conversationId), eq(sessions.type, 'agent'), inArray(sessions.status, HISTORY_STATUSES)),
      orderBy: [desc(sessions.createdAt), desc(sessions.id)],
    });
  }

  private async waitUntilIdle(conversationId: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!(await this.activeSession(conversationId))) return;
      await new Promise((r) => setTimeout(r, 25));
    }
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
        await this.promoteQueued(session.conversationId);
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
      },
    ]);
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
