/**
 * Retries and fallback models around one streamed model call.
 *
 * `streamWithFallbacks` tries `models[0]`, retrying it with exponential
 * backoff and jitter, then each fallback in turn. The rules:
 *
 *   - Only retryable failures (rate_limited, server_error, timeout,
 *     connection, stream_broken) are retried or fall back. invalid_request,
 *     authentication and not_found are thrown at once: another try or another
 *     model would not fix the request or the key.
 *   - Only before the first part is yielded. Once text has reached the caller
 *     an error is thrown as is, since a retry would repeat what was shown.
 *   - A `retryAfterMs` from the provider replaces the computed backoff; every
 *     wait is capped at `maxDelayMs`.
 *   - Aborting the request's signal ends any wait at once (ProviderError `aborted`).
 *   - Moving to the next model does not wait.
 *   - Every model id is resolved first: an unknown provider (ModelIdError) or
 *     an unconfigured one (ProviderError `authentication`) fails the call
 *     before anything is sent, so a broken fallback shows up at once.
 *
 * The answering model is reported in the stream: right before the first part
 * of the model that answers, one `{ type: 'model', modelId }` part is yielded
 * (a full id like `anthropic:claude-haiku-4-5`).
 */
import type { ProviderRegistry } from './registry.js';
import { ProviderError, type StreamPart, type StreamRequest, providerError } from './types.js';

export interface RetryPolicy {
  /** Tries per model, the first included (3 = one try and two retries). */
  attempts: number;
  /** Backoff before retry n is baseDelayMs × 2^(n-1), times a random 0.5–1. */
  baseDelayMs: number;
  /** No wait is longer than this, retry-after included. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 1_000, maxDelayMs: 30_000 };

export interface AttemptReport {
  modelId: string;
  /** 1 for the first try of this model. */
  attempt: number;
  /** True for models after the first. */
  fallback: boolean;
  /** The failure that led to this attempt; undefined for the very first attempt. */
  previousError?: ProviderError;
  /** How long we waited before this attempt. */
  waitedMs: number;
}

export interface FallbackOptions {
  registry: Pick<ProviderRegistry, 'resolve'>;
  /** Full model ids: the primary, then fallbacks in order. */
  models: string[];
  /** The request without `model`: the same messages go to every model. */
  request: Omit<StreamRequest, 'model'>;
  retry?: Partial<RetryPolicy>;
  /** Called before every attempt, e.g. to log retries and fallbacks. */
  onAttempt?: (report: AttemptReport) => void;
}

/** The wait before retry number `retry` (1-based) after `error`. */
export function backoffDelay(policy: RetryPolicy, retry: number, error: ProviderError, random: () => number = Math.random): number {
  const asked = error.details.retryAfterMs;
  const computed = policy.baseDelayMs * 2 ** (retry - 1) * (0.5 + random() / 2);
  return Math.min(policy.maxDelayMs, asked ?? computed);
}

/** Resolves after `ms`, or rejects with `aborted` as soon as the signal aborts. */
function wait(ms: number, signal: AbortSignal, site: { provider: string; model: string }): Promise<void> {
  const aborted = () => providerError('aborted', site);
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(aborted());
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export async function* streamWithFallbacks(options: FallbackOptions): AsyncGenerator<StreamPart> {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const attempts = Math.max(1, Math.floor(policy.attempts));
  const { signal } = options.request;
  if (options.models.length === 0) throw new Error('streamWithFallbacks needs at least one model id');
  // Resolve every id before spending a call: a typo or an unconfigured
  // fallback fails at once, not in the middle of an outage.
  const targets = options.models.map((modelId) => ({ modelId, ...options.registry.resolve(modelId) }));

  const tried: string[] = [];
  let lastError: ProviderError | undefined;

  for (const [index, { modelId, provider, model }] of targets.entries()) {
    let waitedMs = 0;

    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (signal.aborted) throw providerError('aborted', { provider: provider.name, model });
      options.onAttempt?.({
        modelId,
        attempt,
        fallback: index > 0,
        ...(lastError ? { previousError: lastError } : {}),
        waitedMs,
      });

      let answered = false;
      try {
        for await (const part of provider.stream({ ...options.request, model })) {
          if (!answered) {
            answered = true;
            yield { type: 'model', modelId };
          }
          yield part;
        }
        return;
      } catch (error) {
        // Mid-answer, non-retryable, foreign or cancelled: the caller gets it as is.
        if (answered || !(error instanceof ProviderError) || !error.retryable || signal.aborted) throw error;
        lastError = error;
      }

      if (attempt < attempts) {
        waitedMs = backoffDelay(policy, attempt, lastError);
        await wait(waitedMs, signal, { provider: provider.name, model });
      }
    }
    tried.push(`${modelId} ×${attempts}`);
  }

  // Every model failed with retryable errors: say so, keeping the last error's kind.
  const last = lastError as ProviderError;
  throw new ProviderError(last.kind, `${last.message}; gave up after trying ${tried.join(', ')}`, last.details);
}
