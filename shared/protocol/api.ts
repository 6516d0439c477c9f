/**
 * The HTTP API's request and response bodies as zod schemas (DESIGN.md §8).
 * The runtime validates with them and generates /api/openapi.json from them;
 * the typed client in shared/client parses responses with them.
 *
 * Bodies are snake_case. Request objects are strict: an unknown field is a
 * client mistake and gets a 400 naming it.
 */
import { z } from 'zod';

// ------------------------------------------------------------------ basics

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().describe('snake_case error code'),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** A client-chosen or generated id: lowercase letters, digits, `-` and `_`. */
export const slugSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be 1-64 characters: lowercase letters, digits, - and _');

/** Generated resource ids (uuid) and slugs both fit this. */
export const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, 'is not a valid id');

export const metadataSchema = z
  .record(z.string(), z.unknown())
  .refine((m) => JSON.stringify(m).length <= 16_384, 'must be at most 16 KiB of JSON');

/** `provider:model`, e.g. `openai:gpt-4.1`, `anthropic:claude-sonnet-4-5`, `ollama:llama3.2`. */
export const modelIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*:[^\s]+$/, 'must look like provider:model, e.g. openai:gpt-4.1');

const timestampsShape = {
  created_at: z.string().describe('ISO 8601'),
  updated_at: z.string().describe('ISO 8601'),
};

export const listOf = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() }).meta({ id });

export const pageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(512).optional(),
});

/** A conversation's sessions: oldest first by default; `desc` for the newest first (a cursor pages in the order it came from). */
export const sessionListQuerySchema = pageQuerySchema.extend({
  order: z.enum(['asc', 'desc']).default('asc'),
});

// ------------------------------------------------------------------ presets

export const modelSpecSchema = z.strictObject({
  name: modelIdSchema,
  fallbacks: z.array(modelIdSchema).max(8).default([]),
  settings: z.record(z.string(), z.unknown()).default({}),
});

export const personaSchema = z.strictObject({
  display_name: z.string().min(1).max(80).optional(),
  title: z.string().max(120).optional(),
  avatar_url: z.url().max(2048).optional(),
  color: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour like #3b82f6')
    .optional(),
});

const jsonSchemaObject = z.record(z.string(), z.unknown());
const toolNameSchema = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -');

export const toolSpecSchema = z.union([
  z.strictObject({
    type: z.literal('builtin'),
    name: toolNameSchema,
    requires_approval: z.boolean().optional(),
  }),
  z.strictObject({
    type: z.literal('http'),
    name: toolNameSchema,
    description: z.string().max(2000).optional(),
    parameters: jsonSchemaObject,
    url: z.url(),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
    headers: z.record(z.string(), z.string()).optional().describe('values may reference secrets as ${env:NAME}'),
    timeout_seconds: z.number().min(1).max(300).optional(),
    requires_approval: z.boolean().optional(),
  }),
]);

export const mcpServerSchema = z
  .strictObject({
    name: toolNameSchema,
    transport: z.enum(['stdio', 'streamable_http']),
    url: z.url().optional(),
    command: z.string().min(1).optional(),
    args: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    optional: z.boolean().default(false),
    timeout_seconds: z.number().min(1).max(300).optional(),
  })
  .refine((s) => (s.transport === 'stdio' ? !!s.command : !!s.url), {
    message: 'stdio servers need command; streamable_http servers need url',
  });

export const subagentRefSchema = z.strictObject({
  name: toolNameSchema,
  preset_id: slugSchema,
  description: z.string().max(2000).optional(),
});

const presetFields = {
  name: z.string().min(1).max(200),
  description: z.string().max(4000).optional(),
  /** A `provider:model` string, or the full form with fallbacks and settings. */
  model: z.union([modelIdSchema, modelSpecSchema]),
  system_prompt: z.string().max(200_000).optional(),
  tools: z.array(z.union([toolNameSchema, toolSpecSchema])).max(128).optional(),
  mcp_servers: z.array(mcpServerSchema).max(32).optional(),
  subagents: z.array(subagentRefSchema).max(32).optional(),
  persona: personaSchema.optional(),
  workspace_id: slugSchema.nullable().optional(),
  is_default: z.boolean().optional(),
};

export const presetCreateSchema = z.strictObject({ id: slugSchema.optional(), ...presetFields }).meta({ id: 'PresetCreate' });
export const presetPatchSchema = z.strictObject(presetFields).partial().meta({ id: 'PresetPatch' });

export const presetSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    model: z.object({ name: z.string(), fallbacks: z.array(z.string()), settings: z.record(z.string(), z.unknown()) }),
    system_prompt: z.string(),
    tools: z.array(z.unknown()),
    mcp_servers: z.array(z.unknown()),
    subagents: z.array(z.unknown()),
    persona: z.record(z.string(), z.unknown()),
    workspace_id: z.string().nullable(),
    is_default: z.boolean(),
    ...timestampsShape,
  })
  .meta({ id: 'Preset' });
export type Preset = z.infer<typeof presetSchema>;

// ------------------------------------------------------------------ workspaces

export const workspaceFolderSchema = z.strictObject({
  path: z.string().min(1).max(4096).describe('absolute, or relative to CONCLAVE_DATA_DIR/workspaces'),
  description: z.string().max(2000).optional(),
  writable: z.boolean().default(true),
});

const workspaceFields = {
  name: z.string().min(1).max(200),
  description: z.string().max(4000).optional(),
  folders: z.array(workspaceFolderSchema).max(32).optional(),
  metadata: metadataSchema.optional(),
};

export const workspaceCreateSchema = z
  .strictObject({ id: slugSchema.optional(), ...workspaceFields })
  .meta({ id: 'WorkspaceCreate' });
export const workspacePatchSchema = z.strictObject(workspaceFields).partial().meta({ id: 'WorkspacePatch' });

export const workspaceSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    folders: z.array(z.object({ path: z.string(), description: z.string().optional(), writable: z.boolean() })),
    metadata: z.record(z.string(), z.unknown()),
    ...timestampsShape,
  })
  .meta({ id: 'Workspace' });
export type Workspace = z.infer<typeof workspaceSchema>;

// ------------------------------------------------------------------ conversations

export const conversationModes = ['single', 'manual', 'round_robin', 'relay', 'debate', 'consensus', 'autopilot'] as const;
export const conversationStatuses = ['active', 'archived'] as const;

export const handleSchema = z
  .string()
  .regex(/^@?[a-z0-9][a-z0-9_-]{0,31}$/i, 'must be 1-32 letters, digits, _ or -, optionally starting with @')
  .transform((h) => h.replace(/^@/, '').toLowerCase());

export const participantSchema = z.strictObject({
  preset_id: slugSchema,
  handle: handleSchema,
  display_name: z.string().min(1).max(80).optional(),
  title: z.string().max(120).optional(),
  avatar_url: z.url().max(2048).optional(),
  color: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour like #3b82f6')
    .optional(),
  weight: z.number().min(0).max(1000).optional(),
  side: z.string().max(80).optional(),
});
/** A persona in a room: its preset and how it is shown; weight for autopilot's weighted draw, side for debates. */
export type Participant = z.output<typeof participantSchema>;

const participantsSchema = z
  .array(participantSchema)
  .max(16)
  .refine((ps) => new Set(ps.map((p) => p.handle)).size === ps.length, 'handles must be unique');

const conversationFields = {
  title: z.string().max(500).optional(),
  metadata: metadataSchema.optional(),
  preset_id: slugSchema.nullable().optional(),
  participants: participantsSchema.optional(),
  mode: z.enum(conversationModes).optional(),
  mode_settings: z.record(z.string(), z.unknown()).optional(),
  context: z.string().max(20_000).optional(),
  workspace_id: slugSchema.nullable().optional(),
  auto_fire: z.boolean().optional(),
};

export const conversationCreateSchema = z.strictObject(conversationFields).meta({ id: 'ConversationCreate' });
export const conversationPatchSchema = z
  .strictObject({ ...conversationFields, status: z.enum(conversationStatuses).optional() })
  .meta({ id: 'ConversationPatch' });

export const conversationSchema = z
  .object({
    id: z.string(),
    user_id: z.string(),
    title: z.string(),
    metadata: z.record(z.string(), z.unknown()),
    status: z.enum(conversationStatuses),
    preset_id: z.string().nullable(),
    participants: z.array(z.record(z.string(), z.unknown())),
    mode: z.enum(conversationModes),
    mode_settings: z.record(z.string(), z.unknown()),
    context: z.string(),
    workspace_id: z.string().nullable(),
    auto_fire: z.boolean(),
    summary: z.string().nullable(),
    usage: z.record(z.string(), z.unknown()),
    forked_from: z.object({ conversation_id: z.string(), session_id: z.string() }).nullable(),
    ...timestampsShape,
  })
  .meta({ id: 'Conversation' });
export type Conversation = z.infer<typeof conversationSchema>;

export const conversationListQuerySchema = pageQuerySchema.extend({
  limit: z.coerce.number().int().min(1).max(200).default(20),
  metadata: z
    .string()
    .max(16_384)
    .optional()
    .describe('JSON object; conversations whose metadata contains it'),
  status: z.enum(conversationStatuses).optional(),
  q: z.string().max(500).optional().describe('search text'),
});

// ------------------------------------------------------------------ sessions

export const sessionSchema = z
  .object({
    id: z.string(),
    conversation_id: z.string(),
    parent_session_id: z.string().nullable(),
    run_id: z.string(),
    type: z.enum(['agent', 'async_subagent']),
    spawned_by: z.string().nullable(),
    subagent_name: z.string().nullable(),
    preset_id: z.string().nullable(),
    speaker: z.record(z.string(), z.unknown()).nullable(),
    status: z.enum(['queued', 'running', 'awaiting_input', 'completed', 'failed', 'interrupted']),
    input: z.unknown(),
    final_message: z.string().nullable(),
    pending: z.unknown(),
    model: z.string().nullable(),
    usage: z.record(z.string(), z.unknown()),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    ...timestampsShape,
  })
  .meta({ id: 'Session' });
export type Session = z.infer<typeof sessionSchema>;

// ------------------------------------------------------------------ bindings

export const platformSchema = z.enum(['discord', 'slack']);

export const bindingUpsertSchema = z
  .strictObject({
    platform: platformSchema,
    key: z.string().min(1).max(512).describe('platform-unique place, e.g. guild/channel/thread'),
    metadata: metadataSchema.optional(),
    conversation: conversationCreateSchema.optional().describe('used only when the binding is created'),
  })
  .meta({ id: 'BindingUpsert' });

export const bindingPatchSchema = z
  .strictObject({
    cursor: z.string().max(64).nullable().optional(),
    state: z
      .record(z.string(), z.unknown())
      .refine((s) => JSON.stringify(s).length <= 65_536, 'must be at most 64 KiB of JSON')
      .optional(),
    metadata: metadataSchema.optional(),
    conversation_id: idSchema.optional().describe('rebind the place to another conversation'),
  })
  .meta({ id: 'BindingPatch' });

export const bindingSchema = z
  .object({
    id: z.string(),
    platform: platformSchema,
    key: z.string(),
    conversation_id: z.string(),
    user_id: z.string(),
    cursor: z.string().nullable(),
    state: z.record(z.string(), z.unknown()),
    metadata: z.record(z.string(), z.unknown()),
    created: z.boolean().optional().describe('true when this request created it'),
    ...timestampsShape,
  })
  .meta({ id: 'Binding' });
export type Binding = z.infer<typeof bindingSchema>;

export const bindingListQuerySchema = pageQuerySchema.extend({
  platform: platformSchema.optional(),
  key: z.string().max(512).optional(),
  conversation_id: idSchema.optional(),
});

// ------------------------------------------------------------------ keys

export const keyCreateSchema = z
  .strictObject({
    name: z.string().min(1).max(200),
    user_id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9:._@-]{0,127}$/, 'must be a lowercase user id')
      .optional()
      .describe('admins only: the user the key belongs to (created if missing)'),
    admin: z.boolean().optional().describe('admins only: make a new user an administrator'),
    scope: z.enum(['user', 'service']).default('user').describe('admins only: service keys may act for other users'),
    expires_in_days: z.number().int().min(1).max(3650).optional(),
  })
  .meta({ id: 'KeyCreate' });

export const keySchema = z
  .object({
    id: z.string(),
    user_id: z.string(),
    name: z.string(),
    prefix: z.string(),
    scope: z.enum(['user', 'service']),
    expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    last_used_at: z.string().nullable(),
    ...timestampsShape,
  })
  .meta({ id: 'ApiKey' });
export const keyCreatedSchema = keySchema
  .extend({ key: z.string().describe('shown once; store it now') })
  .meta({ id: 'ApiKeyCreated' });

// ------------------------------------------------------------------ health

export const healthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    database: z.object({ kind: z.enum(['postgres', 'pglite']), status: z.enum(['ok', 'error']) }),
    event_log: z.object({ kind: z.enum(['memory', 'redis']), status: z.enum(['ok', 'error']) }),
    version: z.string(),
  })
  .meta({ id: 'Health' });

// ------------------------------------------------------------------ runs

export const inputPartSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text'), text: z.string().min(1).max(200_000) }),
  z
    .strictObject({
      type: z.literal('image'),
      url: z.url().optional(),
      data: z.base64().optional().describe('base64 bytes'),
      mime_type: z.string().regex(/^image\/[\w.+-]+$/, 'must be an image MIME type').optional(),
    })
    .refine((p) => !!p.url !== !!p.data, 'give exactly one of url or data')
    .refine((p) => !p.data || !!p.mime_type, 'data needs mime_type'),
  z
    .strictObject({
      type: z.literal('file'),
      url: z.url().optional(),
      data: z.base64().optional().describe('base64 bytes'),
      mime_type: z.string().max(200).optional(),
      name: z.string().max(500).optional(),
    })
    .refine((p) => !!p.url !== !!p.data, 'give exactly one of url or data'),
]);
export type InputPart = z.infer<typeof inputPartSchema>;

/** A message's input: plain text, or a list of parts. */
export const inputSchema = z.union([z.string().min(1).max(200_000), z.array(inputPartSchema).min(1).max(64)]);
export type Input = z.infer<typeof inputSchema>;

export const onBusySchema = z.enum(['reject', 'steer', 'queue', 'interrupt']);
export type OnBusy = z.infer<typeof onBusySchema>;

export const approvalSchema = z.strictObject({
  tool_call_id: z.string().min(1).max(200),
  approved: z.boolean(),
  reason: z.string().max(2000).optional(),
});

export const toolResultSchema = z
  .strictObject({
    tool_call_id: z.string().min(1).max(200),
    output: z.string().max(200_000).optional(),
    error: z.string().max(20_000).optional(),
  })
  .refine((r) => r.output !== undefined || r.error !== undefined, 'give output or error');

export const clientToolSchema = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
  description: z.string().max(4000).default(''),
  parameters: z.record(z.string(), z.unknown()).default({ type: 'object', properties: {} }),
});

export const messageCreateSchema = z
  .strictObject({
    input: inputSchema.optional().describe('the message; also the answer to a pending ask_user question'),
    on_busy: onBusySchema.default('reject'),
    preset_id: slugSchema.optional().describe('answer with this preset instead of the conversation’s'),
    approvals: z.array(approvalSchema).max(64).optional().describe('answers to tool calls awaiting approval'),
    tool_results: z.array(toolResultSchema).max(64).optional().describe('results of client-side tool calls'),
    client_tools: z.array(clientToolSchema).max(64).optional().describe('tools the client runs itself'),
  })
  .refine((m) => m.input !== undefined || (m.approvals?.length ?? 0) > 0 || (m.tool_results?.length ?? 0) > 0, {
    message: 'send input, approvals or tool_results',
    path: ['input'],
  })
  .meta({ id: 'MessageCreate' });

export const runAcceptedSchema = z
  .object({
    conversation_id: z.string(),
    session_id: z.string().nullable().describe('the first session; null when a room run took the message for later'),
    run_id: z.string(),
    status: z.enum(['running', 'queued', 'steered']),
    events_url: z.string().describe('SSE of this session; add ?after=<cursor> to resume'),
    conversation_events_url: z.string(),
    /** The log id just before this session's first event: resume the conversation stream after it. */
    cursor: z.string().nullable(),
  })
  .meta({ id: 'RunAccepted' });

export const steerSchema = z.strictObject({ input: inputSchema }).meta({ id: 'Steer' });

export const steerResultSchema = z.object({ session_id: z.string(), steered: z.boolean() });

export const interruptResultSchema = z
  .object({ conversation_id: z.string().optional(), session_id: z.string().optional(), interrupted: z.number().int() })
  .meta({ id: 'InterruptResult' });

export const forkSchema = z
  .strictObject({
    session_id: idSchema.optional().describe('fork point; default: the latest committed session'),
    title: z.string().max(500).optional(),
    input: inputSchema.optional().describe('start a run in the new conversation at once'),
  })
  .meta({ id: 'Fork' });

export const forkResultSchema = z.object({ conversation: conversationSchema, run: runAcceptedSchema.nullable() });

export const turnSchema = z
  .object({
    session_id: z.string(),
    run_id: z.string(),
    parent_session_id: z.string().nullable(),
    type: z.enum(['agent', 'async_subagent']),
    status: z.string(),
    speaker: z.record(z.string(), z.unknown()).nullable(),
    input: z.unknown(),
    display: z.array(z.record(z.string(), z.unknown())),
    final_message: z.string().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    usage: z.record(z.string(), z.unknown()),
    created_at: z.string(),
  })
  .meta({ id: 'Turn' });

export const mailboxMessageSchema = z
  .object({
    id: z.string(),
    conversation_id: z.string(),
    source_session_id: z.string(),
    kind: z.enum(['subagent_result', 'subagent_failed']),
    subagent_name: z.string(),
    content: z.string(),
    delivered_to: z.string().nullable(),
    delivered_at: z.string().nullable(),
    created_at: z.string(),
  })
  .meta({ id: 'MailboxMessage' });

// ---------------------------------------------------------------- rooms

/** One persona of a room template. */
export const roomTemplatePersonaSchema = z.object({
  handle: z.string(),
  display_name: z.string(),
  title: z.string(),
  color: z.string(),
  model: z.string(),
});

/** A room template: `GET /api/room-templates`. */
export const roomTemplateSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    mode: z.string(),
    mode_settings: z.record(z.string(), z.unknown()),
    context: z.string(),
    participants: z.array(roomTemplatePersonaSchema),
  })
  .meta({ id: 'RoomTemplate' });

/** Body of `POST /api/room-templates/:id/rooms`. */
export const roomFromTemplateSchema = z
  .strictObject({
    title: z.string().max(500).optional(),
    context: z.string().max(20_000).optional().describe('replaces the template’s context'),
    models: z.record(z.string(), modelIdSchema).optional().describe('model per persona handle, for personas created now'),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'RoomFromTemplate' });

/** Answer of `POST /api/conversations/:id/autopilot {action: "stop"}`. */
export const autopilotStoppedSchema = z.object({ stopped: z.boolean() });
