/**
 * The event wire protocol (DESIGN.md §4; docs/events.md): AG-UI 1.0 events
 * from `@ag-ui/core`, plus our envelope fields on every event, plus our
 * CUSTOM event names. Runtime, gateway, web UI and tests share these.
 */
import { EventType, type BaseEvent } from '@ag-ui/core';

export { EventType };

/** Who speaks in a room; absent for one-agent chats. */
export interface Speaker {
  presetId: string;
  name: string;
  handle?: string;
  title?: string;
  avatarUrl?: string;
  color?: string;
}

/** Fields we add to every AG-UI event we emit. */
export interface Envelope {
  conversationId: string;
  sessionId: string;
  /** Position within the session, from 0. */
  seq: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
  speaker?: Speaker;
}

/** An event as stored in the log and sent over SSE. */
export type ConclaveEvent = BaseEvent & Envelope & Record<string, unknown>;

/** Our CUSTOM event names (snake_case), documented in docs/events.md. */
export const CustomName = {
  usage: 'usage',
  steeringReceived: 'steering_received',
  awaitingUser: 'awaiting_user',
  mailboxUpdated: 'mailbox_updated',
  turnStarted: 'turn_started',
  turnSkipped: 'turn_skipped',
  voteCast: 'vote_cast',
  roomFinished: 'room_finished',
  /** A consensus round's or a poll's tally. */
  tally: 'tally',
  compaction: 'compaction',
  /** Sent by the SSE endpoints (never stored) when a cursor can no longer be resumed. */
  streamReset: 'stream_reset',
  /** A session was queued behind the running one. */
  sessionQueued: 'session_queued',
  /** A non-fatal problem the user should see (a model fallback, a skipped tool server). */
  warning: 'warning',
} as const;
export type CustomName = (typeof CustomName)[keyof typeof CustomName];

/** RUN_ERROR codes. */
export const RunErrorCode = {
  interrupted: 'interrupted',
  providerError: 'provider_error',
  toolError: 'tool_error',
  runtimeRestarted: 'runtime_restarted',
  stepLimit: 'step_limit',
  configurationError: 'configuration_error',
  internalError: 'internal_error',
} as const;
export type RunErrorCode = (typeof RunErrorCode)[keyof typeof RunErrorCode];

export const isTerminal = (event: { type?: unknown }): boolean =>
  event.type === EventType.RUN_FINISHED || event.type === EventType.RUN_ERROR;
