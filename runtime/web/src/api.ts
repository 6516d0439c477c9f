/**
 * The UI's access to the runtime: the shared typed client (shared/client,
 * the same one the gateway and CLI use; it needs only fetch and streams) for
 * the routes it covers, and a few direct calls for the rest (mailbox, fire,
 * room templates, sessions by id). Errors are ConclaveApiError throughout.
 *
 * The token (root token or API key) lives in localStorage.
 */
import { ConclaveApiError, ConclaveClient } from '../../../shared/client/index.js';
import { errorFromResponse } from '../../../shared/client/errors.js';
import type { Conversation, RoomTemplate } from '../../../shared/client/index.js';

export { ConclaveApiError };
export type {
  ApiKey,
  ApiKeyCreated,
  Conversation,
  ConversationCreate,
  Page,
  Preset,
  PresetCreate,
  RunAccepted,
  Turn,
  Workspace,
  WorkspaceCreate,
} from '../../../shared/client/index.js';

const TOKEN_KEY = 'conclave.token';

export function storedToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* private mode: the token lives for this page only */
  }
}

export interface MailboxMessage {
  id: string;
  kind: 'subagent_result' | 'subagent_failed';
  subagent_name: string;
  content: string;
  created_at: string;
}

export type { RoomTemplate };

export interface SessionInfo {
  id: string;
  preset_id: string | null;
  speaker: Record<string, unknown> | null;
  input: unknown;
  type: 'agent' | 'async_subagent';
  status: string;
  created_at: string;
}

/** The API of one signed-in token. */
export class Api {
  readonly client: ConclaveClient;
  readonly origin: string;

  constructor(readonly token: string, origin = window.location.origin) {
    this.origin = origin;
    this.client = new ConclaveClient({ baseUrl: origin, token, timeoutMs: 30_000 });
  }

  /** A call the typed client has no method for; JSON in, JSON out. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.origin}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          Accept: 'application/json',
          Authorization: `Bearer ${this.token}`,
          ...(body !== undefined && { 'Content-Type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
    } catch (cause) {
      throw new ConclaveApiError({ status: 0, code: 'network_error', message: `${method} ${path}: the runtime did not answer`, cause });
    }
    const text = await response.text();
    if (!response.ok) throw errorFromResponse(response, text, method, url);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  pendingMailbox(conversationId: string) {
    return this.call<{ items: MailboxMessage[] }>('GET', `/api/conversations/${enc(conversationId)}/mailbox?pending_only=true&limit=50`);
  }
  /** Starts or stops a room's autopilot. */
  autopilot(conversationId: string, action: 'start' | 'stop', topic?: string) {
    return this.call<unknown>('POST', `/api/conversations/${enc(conversationId)}/autopilot`, { action, ...(topic && { topic }) });
  }
  fire(conversationId: string) {
    return this.call<{ session_id: string; status: string }>('POST', `/api/conversations/${enc(conversationId)}/fire`, {});
  }
  session(sessionId: string) {
    return this.call<SessionInfo>('GET', `/api/sessions/${enc(sessionId)}`);
  }
  /** Room templates; null when this runtime has none (404). */
  async roomTemplates(): Promise<RoomTemplate[] | null> {
    try {
      return (await this.call<{ items: RoomTemplate[] }>('GET', '/api/room-templates')).items;
    } catch (error) {
      if (error instanceof ConclaveApiError && (error.status === 404 || error.status === 405)) return null;
      throw error;
    }
  }
  createRoomFromTemplate(templateId: string, title?: string) {
    return this.call<Conversation>('POST', `/api/room-templates/${enc(templateId)}/rooms`, title ? { title } : {});
  }
  /** The notifications stream URL (EventSource cannot send headers). */
  notificationsUrl(): string {
    return `${this.origin}/api/notifications?access_token=${encodeURIComponent(this.token)}`;
  }
}

const enc = encodeURIComponent;

/** A message a person can read, for any error. */
export function describeError(error: unknown): string {
  if (error instanceof ConclaveApiError) {
    if (error.status === 0) return 'The runtime did not answer. Check that it is running.';
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
