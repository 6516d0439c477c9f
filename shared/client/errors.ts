/**
 * The client's one error type. Every failure of a request made through
 * ./index.ts or ./sse.ts surfaces as a ConclaveApiError:
 *
 * - the runtime answered with an error: `status` is the HTTP status and
 *   `code`, `message`, `details` come from its body
 *   `{"error": {"code", "message", "details"?}}` (a body of another shape
 *   gives `code` "http_<status>");
 * - no answer: `status` 0 and `code` "network_error" or "timeout";
 * - an answer that breaks the API contract: `code` "invalid_response" (a body
 *   that does not match the schema) or "invalid_event" (an SSE event that is
 *   not a JSON object with a `type`).
 *
 * `retryAfterMs` carries the Retry-After header (429 and 503 answers), and
 * `retryable` says whether trying again later may succeed.
 */
import { errorBodySchema } from '../protocol/api.js';

export interface ConclaveApiErrorInit {
  status: number;
  code: string;
  message: string;
  details?: unknown;
  retryAfterMs?: number | null;
  method?: string;
  url?: string;
  requestId?: string | null;
  cause?: unknown;
}

export class ConclaveApiError extends Error {
  /** The HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** A snake_case code, e.g. "not_found", "conversation_busy", "rate_limited", "network_error". */
  readonly code: string;
  readonly details: unknown;
  /** From Retry-After, in milliseconds; null when absent. */
  readonly retryAfterMs: number | null;
  readonly method: string | undefined;
  readonly url: string | undefined;
  /** The runtime's X-Request-Id of the failed request, for its logs. */
  readonly requestId: string | null;

  constructor(init: ConclaveApiErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'ConclaveApiError';
    this.status = init.status;
    this.code = init.code;
    this.details = init.details;
    this.retryAfterMs = init.retryAfterMs ?? null;
    this.method = init.method;
    this.url = init.url;
    this.requestId = init.requestId ?? null;
  }

  /** No answer, a timeout, 408, 429 or a 5xx: the same request may succeed later. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/** Builds the error for a non-2xx response whose body text has been read. */
export function errorFromResponse(response: Response, bodyText: string, method: string, url: string): ConclaveApiError {
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    json = undefined;
  }
  const parsed = errorBodySchema.safeParse(json);
  const common = {
    status: response.status,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
    method,
    url,
    requestId: response.headers.get('x-request-id'),
  };
  if (parsed.success) {
    const { code, message, details } = parsed.data.error;
    return new ConclaveApiError({ ...common, code, message, details });
  }
  const excerpt = bodyText.trim().slice(0, 200);
  return new ConclaveApiError({
    ...common,
    code: `http_${response.status}`,
    message: `${method} ${url} failed with HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`,
  });
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
