/**
 * The statements every session runs (start, commit, usage, what remains
 * after it), prepared once per run manager: drizzle builds their SQL once
 * instead of on every call, and PostgreSQL parses them once per connection.
 * The run manager (runs.ts) decides when each one runs.
 */
import { and, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../store/database.js';
import { COMMITTED_STATUSES, conversations, mailbox, sessions, type SessionRow, type UsageByModel } from '../store/schema.js';

/*
 * Placeholders are passed to the driver as they are: jsonb values as JSON
 * text (`jsonText`, which keeps null SQL NULL) and timestamps as ISO text.
 */
const param = (name: string) => sql`${sql.placeholder(name)}`;
const jsonb = (name: string) => sql`${sql.placeholder(name)}::jsonb`;
const timestamp = (name: string) => sql`${sql.placeholder(name)}::timestamptz`;
const jsonText = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

/**
 * The id of a conversation's latest committed main session, as a subquery: a
 * new main session's parent, read in the statement that writes the session.
 */
export function latestCommittedId(conversationId: string | SQL) {
  return sql<string | null>`(select ${sessions.id} from ${sessions}
    where ${and(eq(sessions.conversationId, conversationId), eq(sessions.type, 'agent'), inArray(sessions.status, COMMITTED_STATUSES))}
    order by ${sessions.createdAt} desc, ${sessions.id} desc limit 1)`;
}

/** A session to insert as running. */
export interface RunningSession {
  id: string;
  conversationId: string;
  runId: string;
  type: SessionRow['type'];
  presetId: string;
  origin: SessionRow['origin'];
  input?: unknown;
  speaker?: SessionRow['speaker'];
  answers?: SessionRow['answers'];
  clientTools?: SessionRow['clientTools'];
  spawnedBy?: string;
  subagentName?: string;
}

/** What a session's commit writes. */
export interface SessionOutcome {
  status: SessionRow['status'];
  messages: unknown[];
  display: unknown[];
  finalMessage: string | null;
  searchText: string;
  pending: unknown;
  usage: UsageByModel;
  model: string | null;
  error: SessionRow['error'];
}

/** What a conversation still has once a session ended. */
export interface Remains {
  /** Any session running or queued. */
  active: boolean;
  /** A queued main-slot message. */
  queued: boolean;
  /** Undelivered mailbox results. */
  mail: boolean;
}

export function prepareSessionStatements(db: Db, runnerId: string) {
  const insertRunning = db
    .insert(sessions)
    .values({
      id: param('id'),
      conversationId: param('conversationId'),
      runId: param('runId'),
      type: param('type'),
      spawnedBy: param('spawnedBy'),
      subagentName: param('subagentName'),
      presetId: param('presetId'),
      speaker: jsonb('speaker'),
      input: jsonb('input'),
      origin: param('origin'),
      answers: jsonb('answers'),
      clientTools: jsonb('clientTools'),
      // A subagent starts fresh; a main session continues the latest committed one.
      parentSessionId: sql`case when ${param('type')} = 'async_subagent' then null else ${latestCommittedId(param('conversationId'))} end`,
      status: 'running',
      runnerId,
      heartbeatAt: timestamp('now'),
      startedAt: timestamp('now'),
    })
    .returning()
    .prepare('session_insert_running');

  // A conversation's usage totals plus a session's (the `usage` placeholder), per
  // model. The sums are computed from the row being updated, so concurrent
  // sessions of one conversation cannot lose each other's usage. Numbers are
  // float8 like JavaScript's; the cost is rounded to 6 decimals as Math.round would.
  const sum = (field: string) =>
    sql`coalesce((${conversations.usage} -> added.key ->> ${sql.raw(`'${field}'`)})::float8, 0) + (added.value ->> ${sql.raw(`'${field}'`)})::float8`;
  const usagePlusSession = sql`${conversations.usage} || (select jsonb_object_agg(added.key, jsonb_build_object(
    'input_tokens', ${sum('input_tokens')},
    'output_tokens', ${sum('output_tokens')},
    'cached_tokens', ${sum('cached_tokens')},
    'reasoning_tokens', ${sum('reasoning_tokens')},
    'requests', ${sum('requests')},
    'cost_usd', floor((${sum('cost_usd')}) * 1e6 + 0.5) / 1e6))
    from jsonb_each(${jsonb('usage')}) as added)`;

  const addUsage = db
    .update(conversations)
    .set({ usage: usagePlusSession })
    .where(eq(conversations.id, param('conversationId')))
    .prepare('conversation_add_usage');

  // The commit: the session's outcome, guarded by its still running, and — when
  // that update happened and there is usage — the conversation's usage, in one statement.
  const committed = db.$with('committed').as(
    db
      .update(sessions)
      .set({
        status: param('status'),
        messages: jsonb('messages'),
        display: jsonb('display'),
        finalMessage: param('finalMessage'),
        searchText: param('searchText'),
        pending: jsonb('pending'),
        usage: jsonb('usage'),
        model: param('model'),
        error: jsonb('error'),
        finishedAt: timestamp('now'),
        updatedAt: timestamp('now'),
      })
      .where(and(eq(sessions.id, param('id')), eq(sessions.status, 'running')))
      .returning({ id: sessions.id }),
  );
  const usageAdded = db.$with('usage_added').as(
    db
      .update(conversations)
      .set({ usage: usagePlusSession })
      .where(
        and(
          eq(conversations.id, param('conversationId')),
          sql`${jsonb('usage')} <> '{}'::jsonb`,
          sql`exists (select 1 from ${committed})`,
        ),
      ),
  );
  const commit = db.with(committed, usageAdded).select({ id: committed.id }).from(committed).prepare('session_commit');

  const conversationId = param('conversationId');
  const remains = db
    .select({
      active: sql<boolean>`exists (select 1 from ${sessions} where ${and(
        eq(sessions.conversationId, conversationId),
        inArray(sessions.status, ['running', 'queued']),
      )})`,
      queued: sql<boolean>`exists (select 1 from ${sessions} where ${and(
        eq(sessions.conversationId, conversationId),
        eq(sessions.type, 'agent'),
        eq(sessions.status, 'queued'),
      )})`,
      mail: sql<boolean>`exists (select 1 from ${mailbox} where ${and(eq(mailbox.conversationId, conversationId), isNull(mailbox.deliveredTo))})`,
    })
    .from(conversations)
    .where(eq(conversations.id, conversationId))
    .prepare('conversation_remains');

  return {
    /** Inserts a session holding the main slot (a unique violation when another one holds it). */
    async insertRunning(values: RunningSession): Promise<SessionRow> {
      const [row] = await insertRunning.execute({
        ...values,
        spawnedBy: values.spawnedBy ?? null,
        subagentName: values.subagentName ?? null,
        speaker: jsonText(values.speaker),
        input: jsonText(values.input),
        answers: jsonText(values.answers),
        clientTools: jsonText(values.clientTools ?? []),
        now: new Date().toISOString(),
      });
      return row!;
    },

    /**
     * Writes a running session's outcome and adds its usage to the
     * conversation's; false (and nothing written) when it is no longer
     * running (someone else ended it).
     */
    async commit(id: string, conversationId: string, outcome: SessionOutcome): Promise<boolean> {
      const rows = await commit.execute({
        ...outcome,
        id,
        conversationId,
        messages: jsonText(outcome.messages),
        display: jsonText(outcome.display),
        pending: jsonText(outcome.pending),
        usage: jsonText(outcome.usage),
        error: jsonText(outcome.error),
        now: new Date().toISOString(),
      });
      return rows.length > 0;
    },

    /** Adds a session's usage to its conversation's totals (a commit does this itself). */
    async addUsage(conversationId: string, usage: UsageByModel): Promise<void> {
      await addUsage.execute({ conversationId, usage: jsonText(usage) });
    },

    /** What a conversation still has (a conversation deleted meanwhile has nothing). */
    async remains(conversationId: string): Promise<Remains> {
      const [row] = await remains.execute({ conversationId });
      return row ?? { active: false, queued: false, mail: false };
    },
  };
}

export type SessionStatements = ReturnType<typeof prepareSessionStatements>;
