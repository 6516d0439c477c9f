/**
 * The client's request and response types, derived from the API schemas in
 * shared/protocol/api.ts (request bodies are the schemas' input types, so
 * fields with defaults are optional; responses are their output types), plus
 * the response schemas the API file does not name (pages, export).
 */
import { z } from 'zod';
import {
  autopilotStoppedSchema,
  bindingListQuerySchema,
  bindingPatchSchema,
  bindingUpsertSchema,
  conversationCreateSchema,
  conversationPatchSchema,
  conversationSchema,
  conversationStatuses,
  forkResultSchema,
  forkSchema,
  healthSchema,
  interruptResultSchema,
  keyCreateSchema,
  keyCreatedSchema,
  keySchema,
  messageCreateSchema,
  presetCreateSchema,
  presetPatchSchema,
  roomFromTemplateSchema,
  roomTemplateSchema,
  runAcceptedSchema,
  steerResultSchema,
  steerSchema,
  turnSchema,
  workspaceCreateSchema,
  workspacePatchSchema,
} from '../protocol/api.js';

export { autopilotStoppedSchema, forkResultSchema, roomTemplateSchema, steerResultSchema };

export type { Binding, Conversation, Preset, Session, Workspace } from '../protocol/api.js';

// Request bodies.
export type PresetCreate = z.input<typeof presetCreateSchema>;
export type PresetPatch = z.input<typeof presetPatchSchema>;
export type WorkspaceCreate = z.input<typeof workspaceCreateSchema>;
export type WorkspacePatch = z.input<typeof workspacePatchSchema>;
export type ConversationCreate = z.input<typeof conversationCreateSchema>;
export type ConversationPatch = z.input<typeof conversationPatchSchema>;
export type MessageCreate = z.input<typeof messageCreateSchema>;
export type Steer = z.input<typeof steerSchema>;
export type Fork = z.input<typeof forkSchema>;
export type BindingUpsert = z.input<typeof bindingUpsertSchema>;
export type BindingPatch = z.input<typeof bindingPatchSchema>;
export type KeyCreate = z.input<typeof keyCreateSchema>;

// Query parameters.
export interface PageQuery {
  limit?: number;
  cursor?: string;
}
export interface SessionListQuery extends PageQuery {
  /** `desc`: newest first (default `asc`, oldest first). */
  order?: 'asc' | 'desc';
}
export interface ConversationListQuery extends PageQuery {
  /** Conversations whose metadata contains this object. */
  metadata?: Record<string, unknown>;
  status?: (typeof conversationStatuses)[number];
  /** Search text. */
  q?: string;
}
export interface WorkspaceListQuery extends PageQuery {
  metadata?: Record<string, unknown>;
}
export type BindingListQuery = Omit<z.input<typeof bindingListQuerySchema>, 'limit'> & { limit?: number };

// Responses.
export type RunAccepted = z.output<typeof runAcceptedSchema>;
export type Turn = z.output<typeof turnSchema>;
export type InterruptResult = z.output<typeof interruptResultSchema>;
export type ApiKey = z.output<typeof keySchema>;
export type ApiKeyCreated = z.output<typeof keyCreatedSchema>;
export type Health = z.output<typeof healthSchema>;

/** One page of a list; pass `next_cursor` as `cursor` for the next page (null: no more). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next_cursor: z.string().nullable() });

export type SteerResult = z.output<typeof steerResultSchema>;

export type ForkResult = z.output<typeof forkResultSchema>;

export const exportJsonSchema = z.object({ conversation: conversationSchema, turns: z.array(turnSchema) });
export type ConversationExport = z.output<typeof exportJsonSchema>;

// Rooms.
export type RoomTemplate = z.output<typeof roomTemplateSchema>;

/** Body of `POST /api/room-templates/:id/rooms`. */
export type RoomFromTemplate = z.input<typeof roomFromTemplateSchema>;

export type AutopilotStopped = z.output<typeof autopilotStoppedSchema>;

/** Body of `POST /api/conversations/:id/polls`. */
export interface PollCreate {
  question: string;
  /** 2–20 distinct options. */
  options: string[];
  method?: 'approval' | 'ranked';
}
