/**
 * HTTP tools against a local node:http server: argument validation, query
 * string versus JSON body by method, `${env:NAME}` header secrets (resolved,
 * missing, redacted), timeouts, aborts, non-2xx statuses, redirects and body
 * truncation. Also the secret resolver and the schema checker on their own.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ToolFailure, type Tool, type ToolContext, type ToolsetContext } from '../../runtime/engine/tools.js';
import { HTTP_LIMITS, httpTimeoutMs, httpToolSource, type HttpToolSpec } from '../../runtime/engine/toolsets/http.js';
import { validateJsonSchema } from '../../runtime/engine/toolsets/json-schema.js';
import { SecretError, resolveSecrets } from '../../runtime/engine/toolsets/secrets.js';
import type { ConversationRow, PresetRow, ToolSpec } from '../../runtime/store/schema.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let server: http.Server;
let baseUrl: string;
let seen: Seen[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const url = new URL(req.url ?? '/', 'http://localhost');
      switch (url.pathname) {
        case '/echo':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ method: req.method, query: url.search, body, auth: req.headers.authorization ?? null }));
          return;
        case '/slow': {
          const timer = setTimeout(() => res.end('finally'), 5_000);
          res.on('close', () => clearTimeout(timer));
          return;
        }
        case '/missing':
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('no such city');
          return;
        case '/broken':
          res.writeHead(503);
          res.end();
          return;
        case '/big':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('y'.repeat(HTTP_LIMITS.maxResponseChars + 10_000));
          return;
        case '/huge':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('z'.repeat(HTTP_LIMITS.maxBodyBytes + 1000));
          return;
        case '/image':
          res.writeHead(200, { 'content-type': 'image/png' });
          res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]));
          return;
        case '/empty':
          res.writeHead(204);
          res.end();
          return;
        case '/redirect':
          res.writeHead(302, { location: 'http://elsewhere.invalid/steal' });
          res.end();
          return;
        default:
          res.writeHead(500);
          res.end('unexpected path');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen = [];
});

const weatherSchema = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1 },
    days: { type: 'integer', minimum: 1, maximum: 14 },
    units: { type: 'string', enum: ['metric', 'imperial'] },
    tags: { type: 'array', items: { type: 'string' } },
  },
  required: ['city'],
  additionalProperties: false,
};

function spec(overrides: Partial<HttpToolSpec> & { name: string }): HttpToolSpec {
  return {
    type: 'http',
    parameters: weatherSchema,
    url: `${baseUrl}/echo`,
    method: 'POST',
    ...overrides,
  };
}

function toolsetContext(tools: ToolSpec[], env: Record<string, string | undefined> = {}): ToolsetContext {
  return {
    preset: { tools } as unknown as PresetRow,
    conversation: {} as unknown as ConversationRow,
    workspace: null,
    dataDir: '/nonexistent',
    env,
    signal: new AbortController().signal,
  };
}

function callContext(signal = new AbortController().signal): ToolContext {
  return { conversationId: 'c1', sessionId: 's1', userId: 'u1', signal };
}

async function openOne(toolSpec: HttpToolSpec, env: Record<string, string | undefined> = {}): Promise<{ tool: Tool; warnings: string[] }> {
  const toolset = await httpToolSource().open(toolsetContext([toolSpec], env));
  const tool = toolset.tools[0];
  if (!tool) throw new Error(`no tool (warnings: ${toolset.warnings.join('; ')})`);
  return { tool, warnings: toolset.warnings };
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ToolFailure);
  return (error as ToolFailure).message;
}

describe('HTTP tool source', () => {
  it('makes one tool per http entry, copying description, schema and requires_approval', async () => {
    const toolset = await httpToolSource([spec({ name: 'extra' })]).open(
      toolsetContext([
        { type: 'builtin', name: 'current_time' },
        spec({ name: 'weather', description: 'Weather forecast', requires_approval: true }),
        spec({ name: 'plain', method: 'GET' }),
        spec({ name: 'weather', description: 'duplicate' }),
        spec({ name: 'bad_url', url: 'ftp://example.com/x' }),
      ]),
    );
    expect(toolset.tools.map((tool) => tool.name)).toEqual(['weather', 'plain', 'extra']);
    const [weather, plain] = toolset.tools;
    expect(weather?.description).toBe('Weather forecast');
    expect(weather?.requiresApproval).toBe(true);
    expect(weather?.parameters).toEqual(weatherSchema);
    expect(plain?.description).toBe(`Calls GET ${baseUrl}/echo.`);
    expect(plain?.requiresApproval).toBeUndefined();
    expect(toolset.warnings).toEqual([
      'HTTP tool "weather" is defined twice; the second definition is ignored',
      'HTTP tool "bad_url" is left out: its url must be http or https, not ftp:',
    ]);
  });

  it('bounds the timeout: default 30 s, at most 300 s', () => {
    expect(httpTimeoutMs({})).toBe(30_000);
    expect(httpTimeoutMs({ timeout_seconds: 5 })).toBe(5_000);
    expect(httpTimeoutMs({ timeout_seconds: 10_000 })).toBe(300_000);
    expect(httpTimeoutMs({ timeout_seconds: -1 })).toBe(30_000);
  });
});

describe('arguments', () => {
  it('rejects invalid arguments with messages naming the fields, without calling the service', async () => {
    const { tool } = await openOne(spec({ name: 'weather' }));
    const message = await failure(
      tool.execute({ days: 'three', units: 'kelvin', tags: ['ok', 3], extra: true }, callContext()),
    );
    expect(message).toMatch(/^invalid arguments for weather: /);
    expect(message).toContain('city is required');
    expect(message).toContain('days must be an integer (got string)');
    expect(message).toContain('units must be one of "metric", "imperial" (got "kelvin")');
    expect(message).toContain('tags[1] must be a string (got integer)');
    expect(message).toContain('extra is not an allowed argument (allowed: city, days, units, tags)');
    expect(await failure(tool.execute({ city: 'Oslo', days: 20 }, callContext()))).toContain('days must be at most 14');
    expect(seen).toEqual([]);
  });

  it('sends GET and DELETE arguments as the query string', async () => {
    for (const method of ['GET', 'DELETE'] as const) {
      const { tool } = await openOne(spec({ name: 'q', method, url: `${baseUrl}/echo?fixed=1` }));
      const output = await tool.execute({ city: 'São Paulo', days: 3, tags: ['a', 'b'] }, callContext());
      const echoed = JSON.parse(output) as { method: string; query: string; body: string };
      expect(echoed.method).toBe(method);
      expect(echoed.body).toBe('');
      const query = new URLSearchParams(echoed.query);
      expect(query.get('fixed')).toBe('1');
      expect(query.get('city')).toBe('São Paulo');
      expect(query.get('days')).toBe('3');
      expect(query.getAll('tags')).toEqual(['a', 'b']);
    }
  });

  it('sends POST, PUT and PATCH arguments as a JSON body', async () => {
    for (const method of ['POST', 'PUT', 'PATCH'] as const) {
      const { tool } = await openOne(spec({ name: 'b', method }));
      const output = await tool.execute({ city: 'Oslo', units: 'metric' }, callContext());
      const echoed = JSON.parse(output) as { method: string; query: string; body: string };
      expect(echoed.method).toBe(method);
      expect(echoed.query).toBe('');
      expect(JSON.parse(echoed.body)).toEqual({ city: 'Oslo', units: 'metric' });
      expect(seen.at(-1)?.headers['content-type']).toBe('application/json');
    }
  });
});

describe('secrets in headers', () => {
  it('resolves ${env:NAME} in header values and redacts the value from results', async () => {
    const { tool, warnings } = await openOne(
      spec({ name: 'auth', headers: { Authorization: 'Bearer ${env:WEATHER_TOKEN}', 'X-Plain': 'visible' } }),
      { WEATHER_TOKEN: 's3cret-token-value' },
    );
    expect(warnings).toEqual([]);
    const output = await tool.execute({ city: 'Oslo' }, callContext());
    expect(seen.at(-1)?.headers.authorization).toBe('Bearer s3cret-token-value');
    expect(seen.at(-1)?.headers['x-plain']).toBe('visible');
    expect(output).not.toContain('s3cret-token-value');
    expect(JSON.parse(output)).toMatchObject({ auth: 'Bearer [redacted]' });
  });

  it('names a missing variable, at open and at call, without calling the service', async () => {
    const { tool, warnings } = await openOne(
      spec({ name: 'auth', headers: { Authorization: 'Bearer ${env:MISSING_TOKEN}' } }),
      { OTHER: 'x' },
    );
    expect(warnings).toEqual([
      'HTTP tool "auth", header Authorization: environment variable MISSING_TOKEN is not set (referenced as ${env:MISSING_TOKEN}); the tool fails until it is set',
    ]);
    const message = await failure(tool.execute({ city: 'Oslo' }, callContext()));
    expect(message).toBe(
      'auth is not configured correctly: header Authorization: environment variable MISSING_TOKEN is not set (referenced as ${env:MISSING_TOKEN})',
    );
    expect(seen).toEqual([]);
  });

  it('resolveSecrets substitutes every reference and reports problems by name only', () => {
    const env = { A: 'alpha', B: 'beta', EMPTY: '' };
    expect(resolveSecrets('${env:A}-${env:B}-${env:A}', env)).toBe('alpha-beta-alpha');
    expect(resolveSecrets('no references', env)).toBe('no references');
    expect(() => resolveSecrets('x ${env:NOPE}', env)).toThrow(SecretError);
    expect(() => resolveSecrets('x ${env:NOPE}', env)).toThrow('environment variable NOPE is not set');
    expect(() => resolveSecrets('${env:EMPTY}', env)).toThrow('environment variable EMPTY is not set');
    expect(() => resolveSecrets('${env:1BAD}', env)).toThrow(/malformed secret reference/);
    try {
      resolveSecrets('${env:A} ${env:NOPE}', env);
    } catch (error) {
      expect((error as Error).message).not.toContain('alpha');
    }
  });
});

describe('calls', () => {
  it('honours the timeout', async () => {
    const { tool } = await openOne(spec({ name: 'slow', url: `${baseUrl}/slow`, timeout_seconds: 0.3 }));
    const started = Date.now();
    expect(await failure(tool.execute({ city: 'Oslo' }, callContext()))).toBe('slow: no response within 0.3 s (timed out)');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('honours the abort signal', async () => {
    const { tool } = await openOne(spec({ name: 'slow', url: `${baseUrl}/slow` }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    expect(await failure(tool.execute({ city: 'Oslo' }, callContext(controller.signal)))).toBe('slow: request cancelled');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('maps non-2xx statuses to failures with a body excerpt', async () => {
    const missing = await openOne(spec({ name: 'm', url: `${baseUrl}/missing` }));
    expect(await failure(missing.tool.execute({ city: 'Atlantis' }, callContext()))).toBe('HTTP 404: no such city');
    const broken = await openOne(spec({ name: 'b', url: `${baseUrl}/broken` }));
    expect(await failure(broken.tool.execute({ city: 'Oslo' }, callContext()))).toBe('HTTP 503: Service Unavailable');
  });

  it('does not follow redirects', async () => {
    const { tool } = await openOne(spec({ name: 'r', url: `${baseUrl}/redirect`, headers: { 'X-Key': 'k' } }));
    expect(await failure(tool.execute({ city: 'Oslo' }, callContext()))).toMatch(
      /^HTTP 302: redirect to http:\/\/elsewhere.invalid\/steal not followed/,
    );
    expect(seen).toHaveLength(1);
  });

  it('reports connection failures', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { tool } = await openOne(spec({ name: 'down', url: `http://127.0.0.1:${port}/x` }));
    expect(await failure(tool.execute({ city: 'Oslo' }, callContext()))).toMatch(/^down: request failed: ECONNREFUSED/);
  });

  it('truncates long bodies with a note, describes binary ones and empty ones', async () => {
    const big = await openOne(spec({ name: 'big', url: `${baseUrl}/big`, method: 'GET' }));
    const output = await big.tool.execute({ city: 'Oslo' }, callContext());
    expect(output).toMatch(/\[response truncated: showing the first 50000 of 60000 characters\]$/);
    expect(output.length).toBeLessThan(HTTP_LIMITS.maxResponseChars + 200);

    const huge = await openOne(spec({ name: 'huge', url: `${baseUrl}/huge`, method: 'GET' }));
    expect(await huge.tool.execute({ city: 'Oslo' }, callContext())).toMatch(
      /showing the first 50000 of more than 1048576 characters\]$/,
    );

    const image = await openOne(spec({ name: 'img', url: `${baseUrl}/image`, method: 'GET' }));
    expect(await image.tool.execute({ city: 'Oslo' }, callContext())).toBe('(binary response: image/png, 7 bytes; not shown)');

    const empty = await openOne(spec({ name: 'empty', url: `${baseUrl}/empty`, method: 'DELETE' }));
    expect(await empty.tool.execute({ city: 'Oslo' }, callContext())).toBe('HTTP 204 (empty response)');
  });
});

describe('the schema checker', () => {
  it('handles nested objects, combinators, const and boolean schemas', () => {
    const schema = {
      type: 'object',
      properties: {
        filter: {
          type: 'object',
          properties: { tag: { type: 'string', pattern: '^[a-z]+$' } },
          required: ['tag'],
        },
        id: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
        kind: { const: 'report' },
        nothing: false,
        ratio: { type: ['number', 'null'], exclusiveMinimum: 0 },
        list: { type: 'array', minItems: 1, maxItems: 2 },
      },
    };
    expect(validateJsonSchema(schema, { filter: { tag: 'abc' }, id: 3, kind: 'report', ratio: null, list: [1] })).toEqual([]);
    expect(
      validateJsonSchema(schema, { filter: { tag: 'ABC' }, id: true, kind: 'other', nothing: 1, ratio: 0, list: [] }),
    ).toEqual([
      'filter.tag must match the pattern ^[a-z]+$',
      'id does not match any of the allowed forms',
      'kind must be "report"',
      'nothing is not allowed',
      'ratio must be greater than 0',
      'list must have at least 1 items',
    ]);
    expect(validateJsonSchema(schema, { filter: {} })).toEqual(['filter.tag is required']);
    expect(validateJsonSchema(schema, 'text')).toEqual(['the arguments must be an object (got string)']);
    expect(validateJsonSchema({ type: 'object', properties: { a: { $ref: '#/x' } } }, { a: 1 })).toEqual([]);
  });
});
