/**
 * GET /api/openapi.json: the OpenAPI 3.1 document, generated from the route
 * definitions and their zod schemas, so it cannot drift from what the server
 * validates.
 */
import { z } from 'zod';
import { errorBodySchema } from '../../shared/protocol/api.js';
import type { AnyRoute } from './route.js';

type JsonSchema = Record<string, unknown>;

/**
 * Converts one zod schema; schemas named with `.meta({ id })` move into
 * `components` (shared by every route) and are referenced from there.
 */
function converter(components: Record<string, JsonSchema>) {
  return (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const json = z.toJSONSchema(schema, { io, unrepresentable: 'any', reused: 'inline' }) as JsonSchema;
    const text = JSON.stringify(json).replaceAll('"#/$defs/', '"#/components/schemas/');
    const { $schema: _drop, $defs, ...rest } = JSON.parse(text) as JsonSchema & { $defs?: Record<string, JsonSchema> };
    Object.assign(components, $defs ?? {});
    return rest;
  };
}

function parameters(toSchema: ReturnType<typeof converter>, schema: z.ZodType | undefined, location: 'path' | 'query') {
  if (!schema) return [];
  const json = toSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || (json.required ?? []).includes(name),
    schema: property,
    ...(typeof property.description === 'string' && { description: property.description }),
  }));
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No content', 400: 'Invalid request', 401: 'Missing or invalid token',
  403: 'Forbidden', 404: 'Not found', 409: 'Conflict', 413: 'Body too large', 422: 'Unprocessable', 429: 'Rate limited',
  503: 'Unavailable',
};

const IDEMPOTENCY_KEY_PARAMETER = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  schema: { type: 'string', minLength: 1, maxLength: 255 },
  description:
    'Makes a retry safe: the first answer (2xx) is kept for 24 h and a repeat with the same key and body gets it again (header Idempotent-Replayed: true) instead of acting twice. The same key with another body: 422 idempotency_key_reused; while the first is still handled: 409 idempotency_key_in_use.',
};

export function openApiDocument(routes: AnyRoute[], version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  const schemas: Record<string, JsonSchema> = {};
  const toSchema = converter(schemas);
  const errorSchema = toSchema(errorBodySchema, 'output');
  for (const def of routes) {
    const path = def.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(def.responses)) {
      const code = Number(status);
      const description = STATUS_TEXT[code] ?? 'Response';
      if (schema === 'text/event-stream') responses[status] = { description, content: { 'text/event-stream': {} } };
      else if (schema) responses[status] = { description, content: { 'application/json': { schema: toSchema(schema, 'output') } } };
      else if (code >= 400) responses[status] = { description, content: { 'application/json': { schema: errorSchema } } };
      else responses[status] = { description };
    }
    if (def.body || def.query || def.params) responses['400'] ??= { description: STATUS_TEXT[400], content: { 'application/json': { schema: errorSchema } } };
    if (def.access !== 'public') responses['401'] = { description: STATUS_TEXT[401], content: { 'application/json': { schema: errorSchema } } };
    paths[path] ??= {};
    paths[path][def.method] = {
      summary: def.summary,
      tags: [def.tag],
      ...(def.access === 'public' ? { security: [] } : {}),
      ...(def.access === 'admin' && { description: 'Needs an administrator token or key.' }),
      ...(def.access === 'service' && { description: 'Needs a service key or an administrator.' }),
      parameters: [
        ...parameters(toSchema, def.params, 'path'),
        ...parameters(toSchema, def.query, 'query'),
        ...(def.idempotent ? [IDEMPOTENCY_KEY_PARAMETER] : []),
      ],
      ...(def.body && {
        requestBody: { required: true, content: { 'application/json': { schema: toSchema(def.body, 'input') } } },
      }),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Conclave API', version, description: 'Agent runtime: conversations, sessions, events, bindings.' },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
