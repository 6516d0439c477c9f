/**
 * API errors: one class carrying status, snake_case code, a message a person
 * can act on, and optional details. The error middleware turns it into
 * `{"error": {"code", "message", "details"?}}` (DESIGN.md §8).
 */
import type { z } from 'zod';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what: string, id?: string) =>
  new ApiError(404, 'not_found', id ? `${what} '${id}' was not found` : `${what} was not found`);

export const conflict = (code: string, message: string, details?: unknown) => new ApiError(409, code, message, details);

export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);

export const unprocessable = (code: string, message: string, details?: unknown) =>
  new ApiError(422, code, message, details);

/** A 400 naming every field zod rejected, in `where.path: message` form. */
export function validationError(where: 'body' | 'query' | 'params' | 'headers', error: z.ZodError): ApiError {
  const issues = error.issues.map((issue) => {
    const path = [where, ...issue.path.map(String)].join('.');
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : undefined;
    const fullPath = keys ? keys.map((k) => `${path}.${k}`).join(', ') : path;
    const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
    return { path: fullPath, message };
  });
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new ApiError(400, 'invalid_request', summary, { issues });
}
