/**
 * The durable data model (DESIGN.md §1, §3), schema-first: drizzle-kit
 * generates the SQL in migrations/ from this file, and the same migrations
 * run on PGlite and on real PostgreSQL.
 *
 * Column names are snake_case in SQL and camelCase in TypeScript. JSON columns
 * carry their TypeScript shape through `$type`; the API validates them with zod
 * before they reach the database.
 */
import { sql } from 'drizzle-orm';
import {
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
};

// ---------------------------------------------------------------- shapes

export interface ModelSpec {
  /** `provider:model`, e.g. `openai:gpt-4.1`. */
  name: string;
  /** Tried in order on 429/5xx/timeouts/connection errors only. */
  fallbacks: string[];
  /** Provider settings passed through (temperature, max_tokens, ...). */
  settings: Record<string, unknown>;
}

export interface PersonaSpec {
  display_name?: string;
  title?: string;
  avatar_url?: string;
  color?: string;
}

export interface SubagentRef {
  name: string;
  preset_id: string;
  description?: string;
}

export interface McpServerSpec {
  name: string;
  transport: 'stdio' | 'streamable_http';
  url?: string;
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  headers?: Record<string, string>;
  optional: boolean;
  timeout_seconds?: number;
}

/** A tool entry on a preset: a built-in tool by name, or an HTTP tool. */
export type ToolSpec =
  | { type: 'builtin'; name: string; requires_approval?: boolean }
  | {
      type: 'http';
      name: string;
      description?: string;
      parameters: Record<string, unknown>;
      url: string;
      method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
      headers?: Record<string, string>;
      timeout_seconds?: number;
      requires_approval?: boolean;
    };

export interface WorkspaceFolder {
  path: string;
  description?: string;
  writable: boolean;
}

export type { Participant };

export const CONVERSATION_MODES = ['single', 'manual', 'round_robin', 'relay', 'debate', 'consensus', 'autopilot'] as const;
export type ConversationMode = (typeof CONVERSATION_MODES)[number];

export const CONVERSATION_STATUSES = ['active', 'archived'] as const;
export type ConversationStatus = (typeof CONVERSATION_STATUSES)[number];

export const SESSION_STATUSES = ['queued', 'running', 'awaiting_input', 'completed', 'failed', 'interrupted'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];
/** Statuses of sessions whose output belongs to the conversation's history (and can be forked from). */
export const COMMITTED_STATUSES: SessionStatus[] = ['completed', 'interrupted', 'awaiting_input'];

export const SESSION_TYPES = ['agent', 'async_subagent'] as const;
export type SessionType = (typeof SESSION_TYPES)[number];

/** Who speaks in a room (the wire type, shared with the event protocol). */
export type { Speaker } from '../../shared/protocol/events.js';
import type { Participant } from '../../shared/protocol/api.js';
import type { Speaker } from '../../shared/protocol/events.js';

/** Token usage of one model; summed per session and per conversation. */
export interface ModelUsage {
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  requests: number;
  cost_usd: number;
}
export type UsageByModel = Record<string, ModelUsage>;

// ---------------------------------------------------------------- identity

export const users = pgTable('users', {
  /** A slug: `admin`, `alice`, or `discord:1234` for users a service acts for. */
  id: text('id').primaryKey(),
  displayName: text('display_name').notNull(),
  isAdmin: boolean('is_admin').notNull().default(false),
  isActive: boolean('is_active').notNull().default(true),
  ...timestamps,
});

export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** SHA-256 of the whole key, hex. The key itself is shown once and never stored. */
    keyHash: text('key_hash').notNull(),
    /** The first characters of the key, to recognise it in lists. */
    keyPrefix: text('key_prefix').notNull(),
    /** A `service` key may act on behalf of a named user (X-Conclave-User). */
    scope: text('scope', { enum: ['user', 'service'] }).notNull().default('user'),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
    ...timestamps,
  },
  (t) => [uniqueIndex('api_keys_hash_uq').on(t.keyHash), index('api_keys_user_idx').on(t.userId)],
);

// ---------------------------------------------------------------- agents

export const presets = pgTable(
  'presets',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    model: jsonb('model').$type<ModelSpec>().notNull(),
    systemPrompt: text('system_prompt').notNull().default(''),
    tools: jsonb('tools').$type<ToolSpec[]>().notNull().default([]),
    mcpServers: jsonb('mcp_servers').$type<McpServerSpec[]>().notNull().default([]),
    subagents: jsonb('subagents').$type<SubagentRef[]>().notNull().default([]),
    persona: jsonb('persona').$type<PersonaSpec>().notNull().default({}),
    workspaceId: text('workspace_id').references(() => workspaces.id, { onDelete: 'set null' }),
    isDefault: boolean('is_default').notNull().default(false),
    ...timestamps,
  },
  (t) => [uniqueIndex('presets_one_default_uq').on(t.isDefault).where(sql`${t.isDefault}`)],
);

export const workspaces = pgTable('workspaces', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  description: text('description').notNull().default(''),
  folders: jsonb('folders').$type<WorkspaceFolder[]>().notNull().default([]),
  metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
  ...timestamps,
});

// ---------------------------------------------------------------- conversations

export const conversations = pgTable(
  'conversations',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    title: text('title').notNull().default(''),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    status: text('status', { enum: CONVERSATION_STATUSES }).notNull().default('active'),
    /** The agent of a one-agent chat; null for a room. */
    presetId: text('preset_id').references(() => presets.id, { onDelete: 'set null' }),
    participants: jsonb('participants').$type<Participant[]>().notNull().default([]),
    mode: text('mode', { enum: CONVERSATION_MODES }).notNull().default('single'),
    /** Mode options and chain limits (rounds, turn limits, vote method, ...). */
    modeSettings: jsonb('mode_settings').$type<Record<string, unknown>>().notNull().default({}),
    /** Room context text, put into every persona's system prompt. */
    context: text('context').notNull().default(''),
    workspaceId: text('workspace_id').references(() => workspaces.id, { onDelete: 'set null' }),
    /** Fire the mailbox by itself when the main slot is idle. */
    autoFire: boolean('auto_fire').notNull().default(true),
    /** Compaction summary of older turns, and the last session it covers. */
    summary: text('summary'),
    summaryThroughSessionId: text('summary_through_session_id'),
    usage: jsonb('usage').$type<UsageByModel>().notNull().default({}),
    forkedFrom: jsonb('forked_from').$type<{ conversation_id: string; session_id: string } | null>(),
    /**
     * A room run in progress holds this lease (renewed while it runs), so two
     * processes never orchestrate the same room at once.
     */
    runLease: jsonb('run_lease').$type<{ run_id: string; runner_id: string; expires_at: string } | null>(),
    ...timestamps,
  },
  (t) => [
    index('conversations_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('conversations_metadata_idx').using('gin', t.metadata),
  ],
);

export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    conversationId: text('conversation_id').notNull().references(() => conversations.id, { onDelete: 'cascade' }),
    /** The session before this one (a DAG: forks share ancestors). */
    parentSessionId: text('parent_session_id'),
    /** Groups the sessions one incoming message started (a room's turns). */
    runId: text('run_id').notNull(),
    type: text('type', { enum: SESSION_TYPES }).notNull().default('agent'),
    /** For async subagents: the session that spawned it. */
    spawnedBy: text('spawned_by'),
    subagentName: text('subagent_name'),
    presetId: text('preset_id'),
    speaker: jsonb('speaker').$type<Speaker | null>(),
    status: text('status', { enum: SESSION_STATUSES }).notNull().default('queued'),
    input: jsonb('input').$type<unknown>(),
    /** What started it: a human message, a mailbox continuation, a room turn, ... */
    origin: text('origin', { enum: ['message', 'mailbox', 'subagent', 'room', 'steer'] }).notNull().default('message'),
    /** Answers to the previous session's pending calls (approvals, client tool results). */
    answers: jsonb('answers').$type<{ approvals: unknown[]; tool_results: unknown[] } | null>(),
    /** Client-side tools declared by the request (run by the client, answered by the next request). */
    clientTools: jsonb('client_tools').$type<{ name: string; description: string; parameters: Record<string, unknown> }[]>()
      .notNull()
      .default([]),
    /** New provider-neutral LLM messages this session added to the history. */
    messages: jsonb('messages').$type<unknown[]>().notNull().default([]),
    /** Display history: one chunk per message / tool call, compressed at commit. */
    display: jsonb('display').$type<unknown[]>().notNull().default([]),
    finalMessage: text('final_message'),
    /** The input and output text, for full-text search (set at commit). */
    searchText: text('search_text'),
    /** Tool calls awaiting approval or results (human in the loop). */
    pending: jsonb('pending').$type<unknown>(),
    /** The model that actually answered, after fallbacks. */
    model: text('model'),
    usage: jsonb('usage').$type<UsageByModel>().notNull().default({}),
    error: jsonb('error').$type<{ code: string; message: string } | null>(),
    /** The runtime process running it, and its last sign of life. */
    runnerId: text('runner_id'),
    heartbeatAt: timestamp('heartbeat_at', { withTimezone: true, mode: 'date' }),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
    ...timestamps,
  },
  (t) => [
    index('sessions_conversation_created_idx').on(t.conversationId, t.createdAt),
    /**
     * The busy guard: at most one main-slot session (type agent) running per
     * conversation. Enforced by the database, so replicas racing to start a
     * run cannot both win. Queued sessions wait outside the slot.
     */
    uniqueIndex('sessions_one_running_agent_uq')
      .on(t.conversationId)
      .where(sql`${t.type} = 'agent' and ${t.status} = 'running'`),
    index('sessions_status_idx').on(t.status),
    index('sessions_search_idx').using('gin', sql`to_tsvector('english', coalesce(${t.searchText}, ''))`),
  ],
);

export const mailbox = pgTable(
  'mailbox',
  {
    id: text('id').primaryKey(),
    conversationId: text('conversation_id').notNull().references(() => conversations.id, { onDelete: 'cascade' }),
    sourceSessionId: text('source_session_id').notNull().references(() => sessions.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: ['subagent_result', 'subagent_failed'] }).notNull(),
    subagentName: text('subagent_name').notNull(),
    content: text('content').notNull(),
    /** The session that consumed it; null while pending. */
    deliveredTo: text('delivered_to'),
    deliveredAt: timestamp('delivered_at', { withTimezone: true, mode: 'date' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('mailbox_conversation_idx').on(t.conversationId, t.createdAt)],
);

// ---------------------------------------------------------------- gateway

export const bindings = pgTable(
  'bindings',
  {
    id: text('id').primaryKey(),
    platform: text('platform', { enum: ['discord', 'slack'] }).notNull(),
    /** Platform-unique place: e.g. `guild/channel/thread` or `team/channel/thread_ts`. */
    key: text('key').notNull(),
    conversationId: text('conversation_id').notNull().references(() => conversations.id, { onDelete: 'cascade' }),
    /** The service user that created it. */
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    /** Last conversation event rendered to the platform. */
    cursor: text('cursor'),
    /** Renderer state of the turn in flight (platform message ids, ...). */
    state: jsonb('state').$type<Record<string, unknown>>().notNull().default({}),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    ...timestamps,
  },
  (t) => [uniqueIndex('bindings_platform_key_uq').on(t.platform, t.key), index('bindings_conversation_idx').on(t.conversationId)],
);

// ---------------------------------------------------------------- requests

/**
 * Idempotency keys: the first answer to a write sent with an
 * `Idempotency-Key` header, so a repeat gets it again instead of acting twice.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: text('user_id').notNull(),
    key: text('key').notNull(),
    /** Hash of the method, path and body the key was first used with. */
    fingerprint: text('fingerprint').notNull(),
    /** The answer; both null while the first request is being handled. */
    status: integer('status'),
    body: jsonb('body').$type<unknown>(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.key] }), index('idempotency_keys_created_idx').on(t.createdAt)],
);

export const schema = { users, apiKeys, presets, workspaces, conversations, sessions, mailbox, bindings, idempotencyKeys };
export type Schema = typeof schema;

export type UserRow = typeof users.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type PresetRow = typeof presets.$inferSelect;
export type WorkspaceRow = typeof workspaces.$inferSelect;
export type ConversationRow = typeof conversations.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type MailboxRow = typeof mailbox.$inferSelect;
export type BindingRow = typeof bindings.$inferSelect;
export type IdempotencyKeyRow = typeof idempotencyKeys.$inferSelect;
