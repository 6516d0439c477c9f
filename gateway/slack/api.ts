/**
 * Slack Web API calls for the Slack adapter. This file owns how a call is
 * made and retried: one @slack/web-api WebClient with the SDK's own retries
 * turned off (`retries: 0`, `rejectRateLimitedCalls: true`), and these rules
 * instead:
 *
 * - 429 (`ratelimited`): wait `Retry-After`, then call again, as often as it
 *   takes — text is never dropped. The wait is shared: every caller of the
 *   same method (per channel for chat.postMessage, whose limit is per
 *   channel) waits for the same gate, plus a little jitter, so a burst of
 *   streams that hit the limit together does not come back together and
 *   hit it again (the "429 storm"). Other methods are not paused (the SDK's
 *   own handling pauses its whole queue).
 * - Network errors, timeouts and 5xx: retried (3 times, backing off) only
 *   for calls that are safe to repeat (`idempotent`). Creating calls
 *   (chat.postMessage, chat.startStream) and appends (chat.appendStream)
 *   are NOT repeated blindly — a lost response may mean the call happened,
 *   and repeating it would post or append twice (the duplicate-reply
 *   complaint in gateway-anchors §4). Their callers decide.
 * - Slack errors (`ok: false`) are thrown as the SDK's WebAPIPlatformError;
 *   `slackErrorCode(error)` reads the code.
 *
 * - `toPlatformError` classifies a failure for the bridge (PlatformError in
 *   gateway/bridge/platform.ts): gone → not_found, no permission →
 *   forbidden, refused payload → invalid, the rest (network, 5xx, unknown
 *   Slack errors) → other.
 *
 * Imports: @slack/web-api and the platform seam.
 */
import { ErrorCode, WebClient, type Logger as SlackLogger, type WebAPICallResult } from '@slack/web-api';
import { PlatformError } from '../bridge/platform.js';

export type Json = Record<string, any>;

export interface CallOptions {
  /** Safe to repeat after a network error or 5xx (the call has the same effect twice). */
  idempotent?: boolean;
  /** Which rate-limit gate the call waits on; defaults to the method name. */
  rateKey?: string;
}

/** Logger shape the gateway uses (pino-compatible). */
export interface AdapterLogger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

export const silentLogger: AdapterLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Raised for calls made (or waiting) when the adapter stops. */
export class SlackAdapterStopped extends Error {
  readonly code = 'adapter_stopped';
  constructor() {
    super('the Slack adapter was stopped');
    this.name = 'SlackAdapterStopped';
  }
}

/** The Slack error code (`channel_not_found`, `message_not_in_streaming_state`, …) of a failed call, if it was one. */
export function slackErrorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; data?: { error?: unknown } } | null;
  if (e && e.code === ErrorCode.PlatformError && typeof e.data?.error === 'string') return e.data.error;
  return undefined;
}

const NOT_FOUND = new Set(['message_not_found', 'channel_not_found', 'thread_not_found', 'user_not_found', 'no_such_subteam', 'is_archived', 'channel_is_archived']);
const FORBIDDEN = new Set([
  'not_in_channel', 'cant_update_message', 'cant_delete_message', 'edit_window_closed', 'missing_scope', 'not_allowed',
  'not_allowed_token_type', 'restricted_action', 'restricted_action_read_only_channel', 'restricted_action_thread_only_channel',
  'restricted_action_non_threadable_channel', 'ekm_access_denied', 'access_denied', 'no_permission', 'not_authed', 'invalid_auth',
  'account_inactive', 'token_revoked', 'team_access_not_granted', 'message_not_owned_by_app', 'user_not_in_channel',
]);
const INVALID = new Set([
  'msg_too_long', 'no_text', 'markdown_text_conflict', 'invalid_blocks', 'invalid_blocks_format', 'msg_blocks_too_long', 'invalid_arguments',
  'invalid_name', 'invalid_metadata_format', 'invalid_metadata_schema', 'metadata_too_large', 'too_many_attachments', 'invalid_chunks',
  'streaming_state_conflict', 'invalid_thread_ts',
]);

/** A failure as the bridge's PlatformError (the Slack code and the original error kept in the message and `cause`). */
export function toPlatformError(error: unknown, what: string): PlatformError | SlackAdapterStopped {
  if (error instanceof PlatformError || error instanceof SlackAdapterStopped) return error;
  const code = slackErrorCode(error);
  const kind = code === undefined ? 'other' : NOT_FOUND.has(code) ? 'not_found' : FORBIDDEN.has(code) ? 'forbidden' : INVALID.has(code) ? 'invalid' : 'other';
  const detail = code ?? (error instanceof Error ? error.message : String(error));
  return new PlatformError(kind, `slack ${what} failed: ${detail}`, { cause: error });
}

/** True when the call may or may not have reached Slack (connection lost, timeout, 5xx). */
export function isAmbiguousFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === ErrorCode.RequestError || code === ErrorCode.HTTPError;
}

function isRateLimited(error: unknown): error is { retryAfter: number } {
  return (error as { code?: unknown } | null)?.code === ErrorCode.RateLimitedError;
}

/** A sleep that ends early (rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new SlackAdapterStopped());
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new SlackAdapterStopped());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const NETWORK_RETRIES = 3;
const NETWORK_BACKOFF_MS = 500;
/** Added to every Retry-After wait, at random, so waiting callers spread out. */
const RATE_LIMIT_JITTER_MS = 250;

export interface SlackApiOptions {
  token: string;
  /** Web API base, with the trailing slash (`https://slack.com/api/`). */
  apiUrl: string;
  logger: AdapterLogger;
  /** Aborted when the adapter stops: waits end and new calls fail. */
  signal: AbortSignal;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
}

export class SlackApi {
  readonly client: WebClient;
  private readonly blockedUntil = new Map<string, number>();
  private readonly logger: AdapterLogger;
  private readonly signal: AbortSignal;
  /** How many 429s were waited out (for logs and tests). */
  rateLimitWaits = 0;

  constructor(options: SlackApiOptions) {
    this.logger = options.logger;
    this.signal = options.signal;
    this.client = new WebClient(options.token, {
      slackApiUrl: options.apiUrl,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      allowAbsoluteUrls: false,
      timeout: options.timeoutMs ?? 30_000,
      logger: sdkLogger(options.logger),
    });
  }

  /** Calls a Web API method under the rules at the top of this file. */
  async call(method: string, args: Json, options: CallOptions = {}): Promise<WebAPICallResult & Json> {
    const rateKey = options.rateKey ?? method;
    let networkFailures = 0;
    for (;;) {
      if (this.signal.aborted) throw new SlackAdapterStopped();
      const wait = (this.blockedUntil.get(rateKey) ?? 0) - Date.now();
      if (wait > 0) await sleep(wait + Math.random() * RATE_LIMIT_JITTER_MS, this.signal);
      try {
        return (await this.client.apiCall(method, args)) as WebAPICallResult & Json;
      } catch (error) {
        if (isRateLimited(error)) {
          const retryAfterMs = Math.max(1, error.retryAfter) * 1000;
          const until = Date.now() + retryAfterMs;
          if (until > (this.blockedUntil.get(rateKey) ?? 0)) this.blockedUntil.set(rateKey, until);
          this.rateLimitWaits += 1;
          this.logger.warn({ method, retryAfterSec: error.retryAfter }, 'slack rate limit: waiting Retry-After before calling again');
          continue;
        }
        if (options.idempotent && isAmbiguousFailure(error) && networkFailures < NETWORK_RETRIES) {
          networkFailures += 1;
          this.logger.warn({ method, attempt: networkFailures, err: String(error) }, 'slack call failed; retrying');
          await sleep(NETWORK_BACKOFF_MS * 2 ** (networkFailures - 1), this.signal);
          continue;
        }
        throw error;
      }
    }
  }
}

/** @slack/web-api's logger interface over ours (the SDK's info chatter goes to debug). */
export function sdkLogger(logger: AdapterLogger, name = 'slack'): SlackLogger {
  const text = (parts: unknown[]) => parts.map((p) => (typeof p === 'string' ? p : p instanceof Error ? p.message : JSON.stringify(p))).join(' ');
  let level = 'info' as ReturnType<SlackLogger['getLevel']>;
  return {
    debug: (...parts: unknown[]) => logger.debug({ source: name }, text(parts)),
    info: (...parts: unknown[]) => logger.debug({ source: name }, text(parts)),
    warn: (...parts: unknown[]) => logger.warn({ source: name }, text(parts)),
    error: (...parts: unknown[]) => logger.error({ source: name }, text(parts)),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
