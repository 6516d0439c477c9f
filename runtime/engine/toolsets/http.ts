/**
 * HTTP tools: each `{type: 'http'}` entry of a preset's `tools` (plus any
 * extra specs given for one request) becomes a Tool that calls the configured
 * endpoint with the model's arguments.
 *
 *   - Arguments are checked against the spec's JSON Schema (json-schema.ts);
 *     invalid ones fail with every problem listed so the model can fix them.
 *   - GET and DELETE send the arguments as the query string (arrays repeat the
 *     key, objects are JSON); POST, PUT and PATCH send them as a JSON body.
 *   - Header values may reference secrets as `${env:NAME}` (secrets.ts),
 *     resolved at each call from the environment captured when the toolset
 *     opened. A missing variable is a warning when the toolset opens and a
 *     failure naming the variable when the tool is called. Resolved secret
 *     values are redacted from anything returned to the model.
 *   - Each call has a timeout (the spec's timeout_seconds, default 30 s, at
 *     most 300 s) combined with the run's abort signal.
 *   - Redirects are not followed, so headers carrying secrets never go to
 *     another address than the configured one; a 3xx is reported as such.
 *   - A non-2xx status fails with "HTTP <status>: <body excerpt>". A body is
 *     read up to 1 MB and shown up to 50,000 characters, with a note when cut;
 *     a binary body is described, not shown.
 *   - `requires_approval` becomes the tool's `requiresApproval`.
 */
import type { ToolSpec } from '../../store/schema.js';
import { ToolFailure, type Tool, type ToolContext, type ToolSource, type Toolset, type ToolsetContext } from '../tools.js';
import { validateJsonSchema } from './json-schema.js';
import { SecretError, resolveSecretHeaders, resolveSecrets, secretReferences, secretValues } from './secrets.js';

export type HttpToolSpec = Extract<ToolSpec, { type: 'http' }>;

export const HTTP_LIMITS = {
  defaultTimeoutSeconds: 30,
  maxTimeoutSeconds: 300,
  /** Bytes of a response body read at most. */
  maxBodyBytes: 1024 * 1024,
  /** Characters of a successful response shown to the model. */
  maxResponseChars: 50_000,
  /** Characters of an error response quoted in the failure. */
  errorExcerptChars: 2_000,
} as const;

/** Methods whose arguments go into the query string. */
const QUERY_METHODS = new Set(['GET', 'DELETE']);

/**
 * The preset's HTTP tools, then `extraSpecs` (e.g. tools given with one
 * request). A later tool with an already used name is left out with a warning.
 */
export function httpToolSource(extraSpecs: HttpToolSpec[] = []): ToolSource {
  return {
    name: 'http',
    async open(context: ToolsetContext): Promise<Toolset> {
      const specs = [
        ...(context.preset.tools ?? []).filter((spec): spec is HttpToolSpec => spec.type === 'http'),
        ...extraSpecs,
      ];
      const tools: Tool[] = [];
      const warnings: string[] = [];
      const names = new Set<string>();
      for (const spec of specs) {
        if (names.has(spec.name)) {
          warnings.push(`HTTP tool "${spec.name}" is defined twice; the second definition is ignored`);
          continue;
        }
        const problem = specProblem(spec);
        if (problem) {
          warnings.push(`HTTP tool "${spec.name}" is left out: ${problem}`);
          continue;
        }
        warnings.push(...missingSecrets(spec, context.env));
        names.add(spec.name);
        tools.push(httpTool(spec, context.env));
      }
      return { tools, warnings, close: async () => {} };
    },
  };
}

function specProblem(spec: HttpToolSpec): string | null {
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    return 'its url is not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `its url must be http or https, not ${url.protocol}`;
  return null;
}

/** Warnings for secret references that cannot be resolved now (names only, never values). */
function missingSecrets(spec: HttpToolSpec, env: Record<string, string | undefined>): string[] {
  const warnings: string[] = [];
  for (const [header, value] of Object.entries(spec.headers ?? {})) {
    if (secretReferences(value).length === 0) continue;
    try {
      resolveSecrets(value, env);
    } catch (error) {
      if (!(error instanceof SecretError)) throw error;
      warnings.push(`HTTP tool "${spec.name}", header ${header}: ${error.message}; the tool fails until it is set`);
    }
  }
  return warnings;
}

/** The timeout of one call in milliseconds: the spec's, else the default, at most the maximum. */
export function httpTimeoutMs(spec: Pick<HttpToolSpec, 'timeout_seconds'>): number {
  const seconds = spec.timeout_seconds;
  const chosen = typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? seconds : HTTP_LIMITS.defaultTimeoutSeconds;
  return Math.min(chosen, HTTP_LIMITS.maxTimeoutSeconds) * 1000;
}

/** One HTTP tool; `env` supplies the `${env:NAME}` secrets of its headers. */
export function httpTool(spec: HttpToolSpec, env: Record<string, string | undefined>): Tool {
  const method = (spec.method ?? 'POST').toUpperCase(); // rows written before the default existed
  return {
    name: spec.name,
    description: spec.description ?? `Calls ${method} ${spec.url}.`,
    parameters: spec.parameters,
    ...(spec.requires_approval !== undefined ? { requiresApproval: spec.requires_approval } : {}),
    execute: (args, context) => callHttpTool(spec, method, env, args, context),
  };
}

async function callHttpTool(
  spec: HttpToolSpec,
  method: string,
  env: Record<string, string | undefined>,
  args: Record<string, unknown>,
  context: ToolContext,
): Promise<string> {
  const problems = validateJsonSchema(spec.parameters, args);
  if (problems.length > 0) {
    throw new ToolFailure(`invalid arguments for ${spec.name}: ${problems.join('; ')}`);
  }

  let headers: Record<string, string>;
  try {
    headers = resolveSecretHeaders(spec.headers ?? {}, env);
  } catch (error) {
    if (error instanceof SecretError) throw new ToolFailure(`${spec.name} is not configured correctly: ${error.message}`);
    throw error;
  }
  const redact = redactor(secretValues(spec.headers ?? {}, env));

  const url = new URL(spec.url);
  let body: string | undefined;
  if (QUERY_METHODS.has(method)) {
    appendQuery(url, args);
  } else {
    body = JSON.stringify(args);
    if (!hasHeader(headers, 'content-type')) headers['content-type'] = 'application/json';
  }
  if (!hasHeader(headers, 'user-agent')) headers['user-agent'] = 'conclave-http-tool';

  const timeoutMs = httpTimeoutMs(spec);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([context.signal, timeout]);

  let response: Response;
  let read: { text: string; bytes: number; truncated: boolean };
  try {
    response = await fetch(url, { method, headers, body, signal, redirect: 'manual' });
    read = await readBody(response);
  } catch (error) {
    if (context.signal.aborted) throw new ToolFailure(`${spec.name}: request cancelled`);
    if (timeout.aborted) throw new ToolFailure(`${spec.name}: no response within ${timeoutMs / 1000} s (timed out)`);
    throw new ToolFailure(redact(`${spec.name}: request failed: ${describeFetchError(error)}`));
  }

  const contentType = response.headers.get('content-type') ?? '';
  const shown = isTextual(contentType)
    ? read.text
    : `(binary response: ${contentType}, ${read.bytes}${read.truncated ? '+' : ''} bytes; not shown)`;

  if (response.status >= 300 && response.status < 400) {
    const location = response.headers.get('location');
    throw new ToolFailure(
      redact(`HTTP ${response.status}: redirect${location ? ` to ${location}` : ''} not followed (redirects are not followed for HTTP tools)`),
    );
  }
  if (!response.ok) {
    const excerpt = shown.trim();
    const text = excerpt === '' ? response.statusText || 'no body' : cut(excerpt, HTTP_LIMITS.errorExcerptChars);
    throw new ToolFailure(redact(`HTTP ${response.status}: ${text}`));
  }

  if (shown === '') return `HTTP ${response.status} (empty response)`;
  let output = shown;
  if (output.length > HTTP_LIMITS.maxResponseChars) {
    output = `${output.slice(0, HTTP_LIMITS.maxResponseChars)}\n\n[response truncated: showing the first ${HTTP_LIMITS.maxResponseChars} of ${read.truncated ? 'more than ' : ''}${shown.length} characters]`;
  } else if (read.truncated) {
    output += `\n\n[response truncated: only the first ${HTTP_LIMITS.maxBodyBytes} bytes were read]`;
  }
  return redact(output);
}

/** Adds the arguments to a URL's query: arrays repeat the key, objects become JSON, null is left out. */
function appendQuery(url: URL, args: Record<string, unknown>): void {
  const asString = (value: unknown): string =>
    typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) if (item !== undefined && item !== null) url.searchParams.append(key, asString(item));
    } else {
      url.searchParams.append(key, asString(value));
    }
  }
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

/** Reads a body up to HTTP_LIMITS.maxBodyBytes; the rest is not downloaded. */
async function readBody(response: Response): Promise<{ text: string; bytes: number; truncated: boolean }> {
  if (!response.body) return { text: '', bytes: 0, truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const room = HTTP_LIMITS.maxBodyBytes - bytes;
    if (value.length > room) {
      chunks.push(value.subarray(0, room));
      bytes += room;
      truncated = true;
      await reader.cancel().catch(() => {});
      break;
    }
    chunks.push(value);
    bytes += value.length;
  }
  return { text: new TextDecoder().decode(Buffer.concat(chunks)), bytes, truncated };
}

function isTextual(contentType: string): boolean {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === '' || type.startsWith('text/')) return true;
  return /json|xml|javascript|ecmascript|yaml|csv|graphql|x-www-form-urlencoded|x-ndjson/.test(type);
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… [${text.length - max} more characters]` : text;
}

/** Replaces resolved secret values (4+ characters) with [redacted]. */
function redactor(secrets: string[]): (text: string) => string {
  const values = secrets.filter((value) => value.length >= 4).sort((a, b) => b.length - a.length);
  return (text) => values.reduce((result, value) => result.split(value).join('[redacted]'), text);
}
