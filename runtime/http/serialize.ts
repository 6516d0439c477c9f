/**
 * Row → API body conversions (camelCase columns to snake_case fields, dates to
 * ISO strings). One function per resource, used by every route that returns it.
 */
import type { ApiKeyRow, BindingRow, ConversationRow, PresetRow, SessionRow, WorkspaceRow } from '../store/schema.js';

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
const stamps = (row: { createdAt: Date; updatedAt: Date }) => ({
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
});

export const presetBody = (p: PresetRow) => ({
  id: p.id,
  name: p.name,
  description: p.description,
  model: p.model,
  system_prompt: p.systemPrompt,
  tools: p.tools,
  mcp_servers: p.mcpServers,
  subagents: p.subagents,
  persona: p.persona,
  workspace_id: p.workspaceId,
  is_default: p.isDefault,
  ...stamps(p),
});

export const workspaceBody = (w: WorkspaceRow) => ({
  id: w.id,
  name: w.name,
  description: w.description,
  folders: w.folders,
  metadata: w.metadata,
  ...stamps(w),
});

export const conversationBody = (c: ConversationRow) => ({
  id: c.id,
  user_id: c.userId,
  title: c.title,
  metadata: c.metadata,
  status: c.status,
  preset_id: c.presetId,
  participants: c.participants,
  mode: c.mode,
  mode_settings: c.modeSettings,
  context: c.context,
  workspace_id: c.workspaceId,
  auto_fire: c.autoFire,
  summary: c.summary,
  usage: c.usage,
  forked_from: c.forkedFrom ?? null,
  ...stamps(c),
});

export const sessionBody = (s: SessionRow) => ({
  id: s.id,
  conversation_id: s.conversationId,
  parent_session_id: s.parentSessionId,
  run_id: s.runId,
  type: s.type,
  spawned_by: s.spawnedBy,
  subagent_name: s.subagentName,
  preset_id: s.presetId,
  speaker: s.speaker ?? null,
  status: s.status,
  input: s.input ?? null,
  final_message: s.finalMessage,
  pending: s.pending ?? null,
  model: s.model,
  usage: s.usage,
  error: s.error ?? null,
  started_at: iso(s.startedAt),
  finished_at: iso(s.finishedAt),
  ...stamps(s),
});

export const bindingBody = (b: BindingRow, created?: boolean) => ({
  id: b.id,
  platform: b.platform,
  key: b.key,
  conversation_id: b.conversationId,
  user_id: b.userId,
  cursor: b.cursor,
  state: b.state,
  metadata: b.metadata,
  ...(created === undefined ? {} : { created }),
  ...stamps(b),
});

export const keyBody = (k: ApiKeyRow) => ({
  id: k.id,
  user_id: k.userId,
  name: k.name,
  prefix: k.keyPrefix,
  scope: k.scope,
  expires_at: iso(k.expiresAt),
  revoked_at: iso(k.revokedAt),
  last_used_at: iso(k.lastUsedAt),
  ...stamps(k),
});
