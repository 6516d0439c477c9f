/** Helpers for query-string values that need more than a zod type. */
import { ApiError } from './errors.js';

/** Parses the `metadata` containment filter: a JSON object, or a 400 naming the field. */
export function metadataFilter(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const message = 'must be a JSON object, e.g. {"source":"discord"}';
    throw new ApiError(400, 'invalid_request', `query.metadata: ${message}`, { issues: [{ path: 'query.metadata', message }] });
  }
  return value as Record<string, unknown>;
}
