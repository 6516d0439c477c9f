/**
 * Rooms: conversations with several personas. A human message (or autopilot,
 * or a poll) starts a run; the orchestrator picks who speaks — by @mentions,
 * @all, or the room's mode — and runs each persona's turn as its own session
 * (events carry `speaker`), one after another. Every chain is bounded: turns
 * per run, mention hops, and a token budget; a room never talks to itself
 * forever.
 *
 * Modes: manual (mentions only), round_robin, relay, debate (rounds, then a
 * judge's verdict), consensus (proposals, ballots, a tally, repeated until a
 * threshold or a round limit, then a facilitator's summary), autopilot (next
 * speaker by rotation, weighted draw or a selector model; stops on a turn
 * limit, a token budget, a stop phrase or tool, or a human message).
 *
 * A run holds the conversation's run lease, so only one process orchestrates
 * a room at a time; its room-level events (turn_started, turn_skipped,
 * vote_cast, room_finished) carry the run id as their sessionId.
 */
import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Input, OnBusy } from '../../shared/protocol/api.js';
import { CustomName, EventType, type Speaker } from '../../shared/protocol/events.js';
import { SessionEmitter } from '../engine/emitter.js';
import { inputText } from '../engine/input.js';
import { ConversationBusy, type RunManager, type StartResult } from '../engine/runs.js';
import type { Bus, EventLog } from '../events/types.js';
import type { Logger } from '../logger.js';
import type { Db } from '../store/database.js';
import { conversations, presets, sessions, type ConversationRow, type Participant, type PresetRow, type SessionRow } from '../store/schema.js';
import { TALLIES, type Ballot, type TallyResult, type VoteMethod } from './tally.js';
import { newOutcome, turnHooks, type TurnOutcome } from './turn.js';

export interface RoomLimits {
  maxTurns: number;
  maxMentionHops: number;
  tokenBudget: number;
}

export const DEFAULT_LIMITS: RoomLimits = { maxTurns: 12, maxMentionHops: 3, tokenBudget: 200_000 };

interface Persona extends Participant {
  name: string;
  preset: PresetRow;
}

type FinishReason =
  | 'done'
  | 'no_speaker'
  | 'turn_limit'
  | 'hop_limit'
  | 'token_budget'
  | 'stop_phrase'
  | 'stopped'
  | 'interrupted'
  | 'awaiting_user'
  | 'human_message'
  | 'consensus'
  | 'no_consensus';

/** The handles a human message mentions (`@alex`, `@all`), in order, limited to the room's participants. */
export function mentionedHandles(text: string, handles: string[]): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:^|[^\w@])@([a-zA-Z0-9_-]{1,32})/g)) {
    const handle = match[1]!.toLowerCase();
    if (handle === 'all') found.push(...handles);
    else if (handles.includes(handle)) found.push(handle);
  }
  return [...new Set(found)];
}

/** A room is a conversation with participants and a mode other than single. */
export const isRoom = (c: Pick<ConversationRow, 'participants' | 'mode'>) => c.participants.length > 0 && c.mode !== 'single';

export class NoSpeaker extends Error {}

interface ActiveRun {
  run: RoomRun;
  done: Promise<void>;
}

export interface RoomDeps {
  db: Db;
  runs: RunManager;
  eventLog: EventLog;
  bus: Bus;
  logger: Logger;
  runnerId: string;
  leaseMs?: number;
  /** Picks the next autopilot speaker with a model (strategy `selector`); null falls back to rotation. */
  selectSpeaker?: (conversation: ConversationRow, candidates: Persona[], preset: PresetRow) => Promise<string | null>;
}

export interface RoomStart {
  runId: string;
  first: StartResult | null;
  status: 'running' | 'queued';
}

export class RoomOrchestrator {
  private readonly active = new Map<string, ActiveRun>();

  constructor(private readonly deps: RoomDeps) {}

  /** A human message to a room: starts a run, or applies the busy policy to the one in progress. */
  async message(conversation: ConversationRow, input: Input, onBusy: OnBusy): Promise<RoomStart> {
    const local = this.active.get(conversation.id);
    if (local || (await this.leaseHeld(conversation.id))) {
      if (onBusy === 'reject') throw new ConversationBusy(local?.run.runId ?? 'a room run');
      if (onBusy === 'interrupt') {
        await this.stop(conversation.id);
      } else if (local) {
        local.run.interject(input);
        return { runId: local.run.runId, first: null, status: 'queued' };
      } else {
        throw new ConversationBusy('a room run on another runtime process');
      }
    }
    return this.begin(conversation, { kind: 'message', input });
  }

  /** Starts autopilot: the personas talk by themselves about `topic` until a stop condition. */
  async autopilot(conversation: ConversationRow, topic: string | null): Promise<RoomStart> {
    if (this.active.has(conversation.id) || (await this.leaseHeld(conversation.id))) throw new ConversationBusy('a room run');
    return this.begin(conversation, { kind: 'autopilot', input: topic });
  }

  /** Opens a poll every persona votes in. */
  async poll(conversation: ConversationRow, poll: { question: string; options: string[]; method: VoteMethod }): Promise<RoomStart> {
    if (this.active.has(conversation.id) || (await this.leaseHeld(conversation.id))) throw new ConversationBusy('a room run');
    return this.begin(conversation, { kind: 'poll', input: null, poll });
  }

  /** Stops the room's run (any process) and whatever persona is speaking. */
  async stop(conversationId: string): Promise<boolean> {
    const local = this.active.get(conversationId);
    local?.run.stop();
    await this.deps.bus.publish('room-control', { kind: 'stop', conversationId }).catch(() => undefined);
    await this.deps.runs.interruptConversation(conversationId);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (this.active.has(conversationId) || (await this.leaseHeld(conversationId)))) {
      await new Promise((r) => setTimeout(r, 25));
    }
    return !!local;
  }

  async start(): Promise<void> {
    await this.deps.bus.subscribe('room-control', (message) => {
      if (message.kind === 'stop') this.active.get(String(message.conversationId))?.run.stop();
    });
  }

  private async begin(conversation: ConversationRow, trigger: RunTrigger): Promise<RoomStart> {
    const personas = await this.personas(conversation);
    const runId = randomUUID();
    if (!(await this.acquireLease(conversation.id, runId))) throw new ConversationBusy('a room run');
    const run = new RoomRun(this.deps, conversation, personas, runId);
    let firstStarted!: (start: StartResult | null) => void;
    const first = new Promise<StartResult | null>((resolve) => (firstStarted = resolve));
    const renew = setInterval(() => void this.renewLease(conversation.id, runId), (this.deps.leaseMs ?? 15_000) / 3);
    renew.unref();
    const done = run
      .execute(trigger, firstStarted)
      .catch((error: unknown) => {
        this.deps.logger.error({ err: error, conversationId: conversation.id }, 'room run failed');
        firstStarted(null);
      })
      .finally(async () => {
        clearInterval(renew);
        this.active.delete(conversation.id);
        await this.releaseLease(conversation.id, runId).catch(() => undefined);
      });
    this.active.set(conversation.id, { run, done });
    const started = await first;
    if (!started && run.noSpeaker) {
      await done;
      throw new NoSpeaker(
        conversation.mode === 'manual'
          ? 'this room is in manual mode: mention someone (e.g. @' + (personas[0]?.handle ?? 'alex') + ') or @all'
          : 'nobody can speak in this room',
      );
    }
    return { runId, first: started, status: 'running' };
  }

  /** Waits for the room's current run to end (tests, shutdown). */
  async settled(conversationId: string): Promise<void> {
    await this.active.get(conversationId)?.done;
  }

  private async personas(conversation: ConversationRow): Promise<Persona[]> {
    const out: Persona[] = [];
    for (const participant of conversation.participants) {
      const preset = await this.deps.db.query.presets.findFirst({ where: eq(presets.id, participant.preset_id) });
      if (!preset) continue;
      out.push({ ...participant, preset, name: participant.display_name ?? preset.persona.display_name ?? preset.name });
    }
    return out;
  }

  // ------------------------------------------------------------- the run lease

  private async acquireLease(conversationId: string, runId: string): Promise<boolean> {
    const lease = { run_id: runId, runner_id: this.deps.runnerId, expires_at: new Date(Date.now() + (this.deps.leaseMs ?? 15_000)).toISOString() };
    const rows = await this.deps.db
      .update(conversations)
      .set({ runLease: lease })
      .where(
        and(
          eq(conversations.id, conversationId),
          sql`(${conversations.runLease} is null or (${conversations.runLease}->>'expires_at')::timestamptz < now())`,
        ),
      )
      .returning({ id: conversations.id });
    return rows.length > 0;
  }

  private async renewLease(conversationId: string, runId: string): Promise<void> {
    const expires = new Date(Date.now() + (this.deps.leaseMs ?? 15_000)).toISOString();
    await this.deps.db
      .update(conversations)
      .set({ runLease: sql`jsonb_set(${conversations.runLease}, '{expires_at}', to_jsonb(${expires}::text))` })
      .where(and(eq(conversations.id, conversationId), sql`${conversations.runLease}->>'run_id' = ${runId}`))
      .catch(() => undefined);
  }

  private async releaseLease(conversationId: string, runId: string): Promise<void> {
    await this.deps.db
      .update(conversations)
      .set({ runLease: null })
      .where(and(eq(conversations.id, conversationId), sql`${conversations.runLease}->>'run_id' = ${runId}`));
  }

  private async leaseHeld(conversationId: string): Promise<boolean> {
    const row = await this.deps.db.query.conversations.findFirst({ where: eq(conversations.id, conversationId) });
    return !!row?.runLease && Date.parse(row.runLease.expires_at) > Date.now();
  }
}

type RunTrigger =
  | { kind: 'message'; input: Input }
  | { kind: 'autopilot'; input: string | null }
  | { kind: 'poll'; input: null; poll: { question: string; options: string[]; method: VoteMethod } };

interface Turn {
  session: SessionRow;
  outcome: TurnOutcome;
  text: string;
}

/** One run of a room: the turns one trigger causes. */
class RoomRun {
  private turns = 0;
  private hops = 0;
  private tokens = 0;
  private stopped = false;
  private finished = false;
  private readonly interjections: Input[] = [];
  private readonly emitter: SessionEmitter;
  private readonly settings: Record<string, unknown>;
  private readonly limits: RoomLimits;
  private firstStarted: ((start: StartResult | null) => void) | null = null;
  noSpeaker = false;

  constructor(
    private readonly deps: RoomDeps,
    private readonly conversation: ConversationRow,
    private readonly personas: Persona[],
    readonly runId: string,
  ) {
    this.emitter = new SessionEmitter({ log: deps.eventLog, conversationId: conversation.id, sessionId: runId, extra: { runId } });
    this.settings = conversation.modeSettings;
    const number = (key: string, fallback: number) => (typeof this.settings[key] === 'number' ? (this.settings[key] as number) : fallback);
    // Planned modes get room for their whole plan (plus mention hand-overs); autopilot defaults to 10 turns.
    const n = personas.length;
    const planned =
      conversation.mode === 'consensus'
        ? number('max_rounds', 3) * 2 * n + 1
        : conversation.mode === 'debate'
          ? number('rounds', 2) * n + 1
          : n;
    this.limits = {
      maxTurns: number('max_turns', conversation.mode === 'autopilot' ? 10 : Math.max(DEFAULT_LIMITS.maxTurns, planned + DEFAULT_LIMITS.maxMentionHops)),
      maxMentionHops: number('max_mention_hops', DEFAULT_LIMITS.maxMentionHops),
      tokenBudget: number('token_budget', DEFAULT_LIMITS.tokenBudget),
    };
  }

  stop(): void {
    this.stopped = true;
  }

  interject(input: Input): void {
    this.interjections.push(input);
  }

  async execute(trigger: RunTrigger, started: (start: StartResult | null) => void): Promise<void> {
    this.firstStarted = started;
    let reason: FinishReason = 'done';
    let result: unknown;
    try {
      if (trigger.kind === 'poll') ({ reason, result } = await this.runPoll(trigger.poll));
      else if (trigger.kind === 'autopilot') reason = await this.runAutopilot(trigger.input);
      else {
        const resumed = await this.resumeAfterQuestion(trigger.input);
        if (resumed) reason = resumed;
        else {
          const text = inputText(trigger.input);
          const mentioned = mentionedHandles(text, this.handles());
          if (this.conversation.mode === 'autopilot') reason = await this.runAutopilot(null, trigger.input);
          else if (mentioned.length > 0) reason = await this.runQueue(mentioned, trigger.input);
          else ({ reason, result } = await this.runMode(trigger.input));
        }
      }
    } finally {
      this.firstStarted?.(null);
      this.firstStarted = null;
      if (reason === 'no_speaker' && this.turns === 0) this.noSpeaker = true;
      this.emit(CustomName.roomFinished, { run_id: this.runId, mode: this.conversation.mode, reason, turns: this.turns, tokens: this.tokens, ...(result ? { result } : {}) });
      await this.emitter.flush().catch(() => undefined);
      this.deps.runs.notify('room_finished', this.conversation, { run_id: this.runId, reason });
    }
  }

  private handles(): string[] {
    return this.personas.map((p) => p.handle);
  }

  private persona(handle: string): Persona | undefined {
    return this.personas.find((p) => p.handle === handle);
  }

  private emit(name: string, value: unknown): void {
    this.emitter.emit({ type: EventType.CUSTOM, name, value });
  }

  /** Why the run must stop before another turn, if it must. */
  private limitReached(): FinishReason | null {
    if (this.stopped) return 'stopped';
    if (this.turns >= this.limits.maxTurns) return 'turn_limit';
    if (this.tokens >= this.limits.tokenBudget) return 'token_budget';
    return null;
  }

  // ------------------------------------------------------------- one turn

  /**
   * One persona's turn. `input` is a human message (origin `message`, seen by
   * everyone) or, with `moderator`, an instruction for this persona only
   * (origin `room`, hidden from the others' view).
   */
  private async turn(
    handle: string,
    input: Input | null,
    options: { ballot?: { options: string[]; method: VoteMethod; question: string }; canEnd?: boolean; moderator?: boolean } = {},
  ): Promise<Turn | null> {
    const persona = this.persona(handle);
    if (!persona) return null;
    const outcome = newOutcome();
    const hooks = turnHooks({ self: persona, others: this.personas.filter((p) => p.handle !== handle), ...options }, outcome);
    const speaker: Speaker = {
      presetId: persona.preset.id,
      name: persona.name,
      handle: persona.handle,
      ...(persona.title && { title: persona.title }),
      ...((persona.avatar_url ?? persona.preset.persona.avatar_url) && { avatarUrl: persona.avatar_url ?? persona.preset.persona.avatar_url }),
      ...((persona.color ?? persona.preset.persona.color) && { color: persona.color ?? persona.preset.persona.color }),
    };
    this.turns += 1;
    this.emit(CustomName.turnStarted, { run_id: this.runId, handle, name: persona.name, turn: this.turns });
    const start = await this.startWhenFree({ persona, input, speaker, hooks, origin: input !== null && !options.moderator ? 'message' : 'room' });
    if (!start) return null;
    this.firstStarted?.(start);
    this.firstStarted = null;
    const session = (await this.deps.runs.settled(start.session.id)) ?? start.session;
    for (const usage of Object.values(session.usage)) this.tokens += usage.input_tokens + usage.output_tokens;
    if (outcome.optedOut) this.emit(CustomName.turnSkipped, { run_id: this.runId, handle, reason: outcome.optOutReason ?? null });
    if (outcome.ballot) {
      this.emit(CustomName.voteCast, { run_id: this.runId, voter: handle, choices: outcome.ballot });
    }
    if (session.status === 'interrupted') this.stopped = true;
    return { session, outcome, text: outcome.optedOut ? '' : (session.finalMessage ?? '') };
  }

  /** Starts a persona's session once the main slot is free (a previous session may still be committing). */
  private async startWhenFree(turn: {
    persona: Persona;
    input: Input | null;
    speaker: Speaker;
    hooks: ReturnType<typeof turnHooks>;
    origin: 'message' | 'room';
  }): Promise<StartResult | null> {
    const deadline = Date.now() + 30_000;
    while (!this.stopped) {
      try {
        return await this.deps.runs.startRun({
          conversation: this.conversation,
          preset: turn.persona.preset,
          input: turn.input,
          onBusy: 'reject',
          speaker: turn.speaker,
          runId: this.runId,
          origin: turn.origin,
          room: turn.hooks,
        });
      } catch (error) {
        if (!(error instanceof ConversationBusy) || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    return null;
  }

  /** After a turn: its end state decides whether the run goes on. */
  private afterTurn(turn: Turn | null): FinishReason | null {
    if (!turn) return this.stopped ? 'stopped' : null;
    if (turn.session.status === 'interrupted' || this.stopped) return 'interrupted';
    if (turn.session.status === 'awaiting_input') return 'awaiting_user';
    return null;
  }

  // ------------------------------------------------------------- mentions, round robin, relay

  /** Speaks through a queue of handles, following mention hand-overs within the hop limit. */
  private async runQueue(queue: string[], firstInput: Input | null, prompt?: (handle: string, index: number, previous: string | null) => string | null): Promise<FinishReason> {
    let input = firstInput;
    let previous: string | null = null;
    for (let index = 0; queue.length > 0; index++) {
      const limit = this.limitReached();
      if (limit) return limit;
      const handle = queue.shift()!;
      const note = prompt?.(handle, index, previous) ?? null;
      const turn = await this.turn(handle, input ?? note, { moderator: input === null });
      input = null;
      const end = this.afterTurn(turn);
      if (end === 'awaiting_user') {
        await this.rememberRemaining(turn!.session, queue);
        return end;
      }
      if (end) return end;
      if (!turn) continue;
      previous = handle;
      if (turn.outcome.addressedHuman) return 'done';
      const mentions = turn.outcome.mentions.filter((m) => m !== handle);
      if (mentions.length > 0) {
        if (this.hops >= this.limits.maxMentionHops) return 'hop_limit';
        this.hops += 1;
        queue.unshift(...mentions.filter((m) => !queue.includes(m)));
      }
      const interjection = this.interjections.shift();
      if (interjection) {
        // A human spoke during the run: answered next, by whom they mention or the next in line.
        const mentioned = mentionedHandles(inputText(interjection), this.handles());
        const next = mentioned.length > 0 ? mentioned : [queue[0] ?? this.handles()[0]!];
        queue.unshift(...next.filter((h, i) => i > 0 || !queue.includes(h)));
        input = interjection;
      }
    }
    return 'done';
  }

  private async runMode(input: Input): Promise<{ reason: FinishReason; result?: unknown }> {
    const all = this.handles();
    switch (this.conversation.mode) {
      case 'manual':
        return { reason: 'no_speaker' };
      case 'relay':
        return {
          reason: await this.runQueue([...all], input, (_h, i, previous) => (i > 0 && previous ? `Build on @${previous}'s contribution, then pass it on.` : null)),
        };
      case 'debate':
        return { reason: await this.runDebate(input) };
      case 'consensus':
        return this.runConsensus(input);
      default:
        return { reason: await this.runQueue([...all], input) };
    }
  }

  // ------------------------------------------------------------- debate

  private async runDebate(input: Input): Promise<FinishReason> {
    const judgeHandle = typeof this.settings.judge === 'string' ? this.settings.judge : this.personas.find((p) => p.side === 'judge')?.handle;
    const debaters = this.personas.filter((p) => p.handle !== judgeHandle);
    const rounds = typeof this.settings.rounds === 'number' ? this.settings.rounds : 2;
    let first: Input | null = input;
    for (let round = 1; round <= rounds; round++) {
      for (const debater of debaters) {
        const limit = this.limitReached();
        if (limit) return limit;
        const side = debater.side ?? debater.handle;
        const note = round === 1 ? `Round 1: give your opening argument for the side "${side}".` : `Round ${round}: answer the other side's points.`;
        const turn = await this.turn(debater.handle, first ?? note, { moderator: first === null });
        first = null;
        const end = this.afterTurn(turn);
        if (end) return end;
      }
    }
    if (judgeHandle && !this.limitReached()) {
      const end = this.afterTurn(
        await this.turn(judgeHandle, 'The debate is over. As the judge, give your verdict: which side argued better, and why.', { moderator: true }),
      );
      if (end) return end;
    }
    return 'done';
  }

  // ------------------------------------------------------------- consensus and polls

  private method(): VoteMethod {
    return this.settings.method === 'ranked' ? 'ranked' : 'approval';
  }

  private threshold(): number {
    return typeof this.settings.threshold === 'number' ? this.settings.threshold : 0.5;
  }

  /** Every persona votes once; returns the ballots cast. */
  private async ballotRound(question: string, options: string[], round: number): Promise<{ ballots: Ballot[]; end: FinishReason | null }> {
    const ballots: Ballot[] = [];
    const method = this.method();
    for (const persona of this.personas) {
      const limit = this.limitReached();
      if (limit) return { ballots, end: limit };
      const instruction =
        method === 'approval'
          ? `Round ${round} ballot: "${question}". Call the vote tool with every option you approve of: ${options.join(', ')}.`
          : `Round ${round} ballot: "${question}". Call the vote tool ranking the options, best first: ${options.join(', ')}.`;
      const turn = await this.turn(persona.handle, instruction, { ballot: { options, method, question }, moderator: true });
      const end = this.afterTurn(turn);
      if (end) return { ballots, end };
      if (turn?.outcome.ballot) ballots.push({ voter: persona.handle, choices: turn.outcome.ballot });
    }
    return { ballots, end: null };
  }

  private async runConsensus(input: Input): Promise<{ reason: FinishReason; result?: unknown }> {
    const maxRounds = typeof this.settings.max_rounds === 'number' ? this.settings.max_rounds : 3;
    const facilitator = typeof this.settings.facilitator === 'string' && this.persona(this.settings.facilitator) ? this.settings.facilitator : this.handles()[0]!;
    const question = inputText(input);
    let first: Input | null = input;
    let last: TallyResult | null = null;
    const history: TallyResult[] = [];
    for (let round = 1; round <= maxRounds; round++) {
      const proposals: string[] = [];
      for (const persona of this.personas) {
        const limit = this.limitReached();
        if (limit) return { reason: limit, result: { rounds: history } };
        const note =
          round === 1
            ? 'Propose your answer in one or two sentences. The group will vote on the proposals.'
            : `No proposal reached the threshold (${JSON.stringify(last?.counts)}). Restate or revise your proposal briefly.`;
        const turn = await this.turn(persona.handle, first ?? note, { moderator: first === null });
        first = null;
        const end = this.afterTurn(turn);
        if (end) return { reason: end, result: { rounds: history } };
        if (turn && !turn.outcome.optedOut) proposals.push(persona.handle);
      }
      const { ballots, end } = await this.ballotRound(question, proposals, round);
      if (end) return { reason: end, result: { rounds: history } };
      last = TALLIES[this.method()](proposals, ballots, this.threshold());
      history.push(last);
      this.emit(CustomName.tally, { run_id: this.runId, round, ...last });
      if (last.reached) break;
    }
    const agreed = last?.reached ? last.winner : null;
    const summary = agreed
      ? `The group agreed on @${agreed}'s proposal (${Math.round((last!.share) * 100)}% of ballots). As facilitator, summarise the agreed outcome.`
      : 'The group did not reach the threshold. As facilitator, summarise where the group stands and the main disagreements.';
    if (!this.limitReached()) await this.turn(facilitator, summary, { moderator: true });
    return {
      reason: agreed ? 'consensus' : 'no_consensus',
      result: { winner: agreed, method: this.method(), threshold: this.threshold(), rounds: history },
    };
  }

  private async runPoll(poll: { question: string; options: string[]; method: VoteMethod }): Promise<{ reason: FinishReason; result?: unknown }> {
    const ballots: Ballot[] = [];
    for (const persona of this.personas) {
      const limit = this.limitReached();
      if (limit) return { reason: limit };
      const instruction = `Poll: "${poll.question}". Vote with the vote tool (${poll.method === 'approval' ? 'every option you approve of' : 'rank the options, best first'}): ${poll.options.join(', ')}.`;
      const turn = await this.turn(persona.handle, instruction, { ballot: { ...poll }, moderator: true });
      const end = this.afterTurn(turn);
      if (end) return { reason: end };
      if (turn?.outcome.ballot) ballots.push({ voter: persona.handle, choices: turn.outcome.ballot });
    }
    const tally = TALLIES[poll.method](poll.options, ballots, this.threshold());
    this.emit(CustomName.tally, { run_id: this.runId, round: 1, ...tally });
    return { reason: 'done', result: { poll: poll.question, ballots, ...tally } };
  }

  // ------------------------------------------------------------- autopilot

  private async runAutopilot(topic: string | null, humanInput: Input | null = null): Promise<FinishReason> {
    const stopPhrase = typeof this.settings.stop_phrase === 'string' ? this.settings.stop_phrase.toLowerCase() : null;
    const pace = typeof this.settings.pace_ms === 'number' ? this.settings.pace_ms : 0;
    const onHuman = this.settings.on_human === 'redirect' ? 'redirect' : 'stop';
    let last: string | null = null;
    let input: Input | null = humanInput ?? (topic ? `Talk among yourselves about: ${topic}` : null);
    let answeringHuman = humanInput !== null;
    // The topic is for everyone: it is said once, like a human message.
    for (;;) {
      const limit = this.limitReached();
      if (limit) return limit;
      const mentioned = input && answeringHuman ? mentionedHandles(inputText(input), this.handles()) : [];
      const handle: string = mentioned[0] ?? (await this.nextSpeaker(last));
      const turn = await this.turn(handle, input, { canEnd: true });
      input = null;
      const end = this.afterTurn(turn);
      if (end) return end;
      if (!turn) return 'done';
      last = handle;
      if (turn.outcome.endRequested) return 'done';
      if (stopPhrase && turn.text.toLowerCase().includes(stopPhrase)) return 'stop_phrase';
      if (answeringHuman && onHuman === 'stop') return 'human_message';
      answeringHuman = false;
      const interjection = this.interjections.shift();
      if (interjection) {
        // A human message is answered next; then the loop stops or takes it as the new direction.
        input = interjection;
        answeringHuman = true;
        continue;
      }
      if (pace > 0) await new Promise((r) => setTimeout(r, pace));
    }
  }

  /** Rotation, weighted draw or a selector model; never the same persona twice in a row when others exist. */
  private async nextSpeaker(last: string | null): Promise<string> {
    const candidates = this.personas.filter((p) => p.handle !== last || this.personas.length === 1);
    const strategy = this.settings.strategy;
    if (strategy === 'weighted') {
      const total = candidates.reduce((sum, p) => sum + (p.weight ?? 1), 0);
      let draw = Math.random() * total;
      for (const p of candidates) {
        draw -= p.weight ?? 1;
        if (draw <= 0) return p.handle;
      }
      return candidates.at(-1)!.handle;
    }
    if (strategy === 'selector' && this.deps.selectSpeaker) {
      const selectorId = typeof this.settings.selector_preset === 'string' ? this.settings.selector_preset : this.personas[0]!.preset.id;
      const selector = await this.deps.db.query.presets.findFirst({ where: eq(presets.id, selectorId) });
      const chosen = selector ? await this.deps.selectSpeaker(this.conversation, candidates, selector).catch(() => null) : null;
      if (chosen && candidates.some((p) => p.handle === chosen)) return chosen;
    }
    const order = this.handles();
    const index = last ? order.indexOf(last) : -1;
    return order[(index + 1) % order.length]!;
  }

  // ------------------------------------------------------------- ask_user

  /** Keeps the rest of the plan on a turn that waits for a person. */
  private async rememberRemaining(session: SessionRow, remaining: string[]): Promise<void> {
    const pending = (session.pending ?? {}) as Record<string, unknown>;
    await this.deps.db
      .update(sessions)
      .set({ pending: { ...pending, room_remaining: remaining } })
      .where(eq(sessions.id, session.id));
  }

  /**
   * When the room's last turn asked the humans something (ask_user), their
   * message answers that persona, and the run resumes with the speakers who
   * had not spoken yet.
   */
  private async resumeAfterQuestion(input: Input): Promise<FinishReason | null> {
    const [last] = await this.deps.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.conversationId, this.conversation.id), eq(sessions.type, 'agent')))
      .orderBy(sql`${sessions.createdAt} desc`)
      .limit(1);
    if (!last || last.status !== 'awaiting_input' || !last.speaker?.handle) return null;
    const remaining = ((last.pending as { room_remaining?: string[] } | null)?.room_remaining ?? []).filter((h) => this.persona(h));
    return this.runQueue([last.speaker.handle, ...remaining], input);
  }
}
