/**
 * Turns an exception from an official provider SDK into a ProviderError. The
 * `openai` and `@anthropic-ai/sdk` packages are generated alike and throw the
 * same family of classes (user abort, connection timeout, connection error,
 * API error); each adapter passes its SDK's classes and says how to read an
 * API error's own words, so both classify failures the same way.
 */
import { errorKindForStatus, providerError, ProviderError, retryAfterMsFrom, type FailureSite, type ProviderErrorKind } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ErrorClass<T> = new (...args: any[]) => T;

/** The API error shape both SDKs share. */
export interface SdkApiError extends Error {
  status: number | undefined;
  headers: Headers | undefined | null;
}

export interface SdkErrorClasses<E extends SdkApiError> {
  userAbort: ErrorClass<Error>;
  connectionTimeout: ErrorClass<Error>;
  connection: ErrorClass<Error>;
  api: ErrorClass<E>;
}

export interface SdkErrorReading<E extends SdkApiError> {
  /** The server's own words for an API error with an HTTP status. */
  detail(error: E): string | undefined;
  /** An API error without an HTTP status: an error reported inside the stream. */
  inStream(error: E, started: boolean): { kind: ProviderErrorKind; detail: string };
}

export function sdkErrorToProviderError<E extends SdkApiError>(
  error: unknown,
  where: FailureSite,
  signal: AbortSignal,
  context: { timeoutMs: number; started: boolean },
  classes: SdkErrorClasses<E>,
  reading: SdkErrorReading<E>,
): ProviderError {
  if (error instanceof ProviderError) return error;
  if (signal.aborted || error instanceof classes.userAbort) return providerError('aborted', where);
  if (error instanceof classes.connectionTimeout) return providerError('timeout', where, { timeoutMs: context.timeoutMs });
  if (error instanceof classes.connection) {
    const cause = error.cause instanceof Error ? error.cause.message : error.message;
    return providerError(context.started ? 'stream_broken' : 'connection', where, { detail: cause });
  }
  if (error instanceof classes.api) {
    if (typeof error.status === 'number') {
      const retryAfterMs = retryAfterMsFrom(error.headers);
      const detail = reading.detail(error);
      return providerError(errorKindForStatus(error.status), where, {
        status: error.status,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        ...(detail !== undefined ? { detail } : {}),
      });
    }
    const { kind, detail } = reading.inStream(error, context.started);
    return providerError(kind, where, { detail });
  }
  // A cut connection (`terminated`, or Node's `aborted` as node-fetch.ts renames it) or unreadable JSON.
  const detail = error instanceof Error ? error.message : String(error);
  return providerError(context.started ? 'stream_broken' : 'connection', where, { detail });
}
