/**
 * No client input yields a 500. Every route listed in the OpenAPI document is
 * hit with missing and invalid tokens, bad ids, malformed JSON, wrong types,
 * unknown fields and oversized bodies; each answer must be the documented 4xx
 * with a JSON error that names the problem.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startTestRuntime, type ApiResponse, type TestRuntime } from '../support/runtime.js';
import { describeWith } from '../support/services.js';

interface Operation {
  method: string;
  path: string;
  hasBody: boolean;
  needsToken: boolean;
}

let rt: TestRuntime;
let operations: Operation[] = [];

const BAD_IDS = ['x'.repeat(300), '%00', '..%2F..%2Fetc', 'a%20b', '-leading', 'ünï'];

/** Fills `{id}` with a well-formed id that exists nowhere. */
const concrete = (path: string, id = 'does-not-exist') => path.replace(/\{[^}]+\}/g, id);

function expectClientError(res: ApiResponse, statuses: number[], label: string) {
  expect(statuses, `${label} → ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
  expect(res.headers.get('content-type'), label).toMatch(/application\/json/);
  expect(typeof res.body?.error?.code, label).toBe('string');
  expect(res.body.error.message.length, label).toBeGreaterThan(0);
}

beforeAll(async () => {
  rt = await startTestRuntime({ env: { CONCLAVE_BODY_LIMIT: '64kb' } });
  const doc = await rt.api('GET', '/api/openapi.json');
  for (const [path, methods] of Object.entries(doc.body.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(methods)) {
      operations.push({
        method: method.toUpperCase(),
        path,
        hasBody: !!op.requestBody,
        needsToken: !(Array.isArray(op.security) && op.security.length === 0),
      });
    }
  }
});

afterAll(async () => {
  await rt?.close();
});

describe('input sweep over every route', () => {
  it('found the routes to sweep', () => {
    expect(operations.length).toBeGreaterThanOrEqual(20);
    expect(operations.filter((o) => o.hasBody).length).toBeGreaterThanOrEqual(8);
  });

  it('answers 401 without a token, with a malformed header, and with an invalid token', async () => {
    for (const op of operations.filter((o) => o.needsToken)) {
      const path = concrete(op.path);
      const missing = await rt.api(op.method, path, { token: null });
      expectClientError(missing, [401], `${op.method} ${op.path} without token`);
      expect(missing.body.error.code).toBe('missing_token');

      const malformed = await rt.api(op.method, path, { token: null, headers: { authorization: 'Token abc' } });
      expectClientError(malformed, [401], `${op.method} ${op.path} malformed header`);

      const invalid = await rt.api(op.method, path, { token: 'cnk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
      expectClientError(invalid, [401], `${op.method} ${op.path} invalid token`);
      expect(invalid.body.error.code).toBe('invalid_token');
    }
  });

  it('answers 400 or 404 for bad and unknown ids', async () => {
    for (const op of operations.filter((o) => o.path.includes('{'))) {
      for (const bad of BAD_IDS) {
        const res = await rt.api(op.method, concrete(op.path, bad), { body: op.hasBody ? {} : undefined });
        expectClientError(res, [400, 404], `${op.method} ${op.path} with id ${bad}`);
      }
      const unknown = await rt.api(op.method, concrete(op.path), { body: op.hasBody ? {} : undefined });
      // An unknown id is 404, unless the empty body is already invalid (400).
      expectClientError(unknown, [400, 404], `${op.method} ${op.path} unknown id`);
    }
  });

  it('answers 400 invalid_json for malformed JSON', async () => {
    for (const op of operations.filter((o) => o.hasBody)) {
      for (const text of ['{', '{"name": }', "{'single': 1}", '[1,', 'nul']) {
        const res = await rt.api(op.method, concrete(op.path), { body: text });
        expectClientError(res, [400], `${op.method} ${op.path} body ${text}`);
        expect(res.body.error.code).toBe('invalid_json');
      }
    }
  });

  it('answers 400 naming the field for wrong types and unknown fields', async () => {
    for (const op of operations.filter((o) => o.hasBody)) {
      const label = `${op.method} ${op.path}`;
      for (const body of ['[]', '"text"', '42', 'null', 'true']) {
        const res = await rt.api(op.method, concrete(op.path), { body });
        expectClientError(res, [400, 404], `${label} body ${body}`);
        if (res.status === 400) expect(res.body.error.message, label).toMatch(/body/);
      }
      const unknownField = await rt.api(op.method, concrete(op.path), { body: { definitely_not_a_field: 1 } });
      expectClientError(unknownField, [400, 404], `${label} unknown field`);
      // The OpenAI-compatible routes ignore unknown fields, as OpenAI clients send many; ours refuse them.
      const lenient = op.path.startsWith('/v1/');
      if (unknownField.status === 400 && !lenient) expect(unknownField.body.error.message).toContain('body.definitely_not_a_field');

      const wrongTypes = await rt.api(op.method, concrete(op.path), {
        body: { name: 42, title: ['x'], metadata: 'yes', model: 7, platform: 'irc', is_default: 'sometimes' },
      });
      expectClientError(wrongTypes, [400, 404], `${label} wrong types`);
      if (wrongTypes.status === 400) expect(wrongTypes.body.error.details.issues.length).toBeGreaterThan(0);
    }
  });

  it('answers 413 for bodies over the limit', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(70 * 1024) });
    for (const op of operations.filter((o) => o.hasBody)) {
      const res = await rt.api(op.method, concrete(op.path), { body: big });
      expectClientError(res, [413], `${op.method} ${op.path} oversized`);
      expect(res.body.error.code).toBe('payload_too_large');
    }
  });

  it('answers 400 naming the parameter for bad query values', async () => {
    const cases = [
      ['/api/conversations?limit=0', 'query.limit'],
      ['/api/conversations?limit=abc', 'query.limit'],
      ['/api/conversations?status=deleted', 'query.status'],
      ['/api/conversations?metadata=%7Bbroken', 'query.metadata'],
      ['/api/conversations?metadata=%5B1%5D', 'query.metadata'],
      ['/api/conversations?cursor=bm90LWEtY3Vyc29y', 'query.cursor'],
      ['/api/conversations?unknown_param=1', 'query.unknown_param'],
      ['/api/workspaces?metadata=42', 'query.metadata'],
      ['/api/bindings?platform=irc', 'query.platform'],
    ] as const;
    for (const [path, field] of cases) {
      const res = await rt.api('GET', path);
      expectClientError(res, [400], path);
      expect(res.body.error.message, path).toContain(field);
    }
  });

  it('answers 404 JSON for unknown routes and methods', async () => {
    for (const [method, path] of [
      ['GET', '/api/nothing-here'],
      ['POST', '/api/health'],
      ['PUT', '/api/presets'],
      ['GET', '/api/conversations/x/unknown'],
    ] as const) {
      const res = await rt.api(method, path);
      expectClientError(res, [404], `${method} ${path}`);
    }
  });

  it('rejects X-Conclave-User values that are not user ids', async () => {
    for (const value of ['UPPER', 'has space', 'admin', 'x'.repeat(200)]) {
      const res = await rt.api('GET', '/api/conversations', { headers: { 'x-conclave-user': value } });
      expectClientError(res, [400], `x-conclave-user ${value}`);
      expect(res.body.error.message).toContain('x-conclave-user');
    }
  });
});

describe('write rate limit', () => {
  let limited: TestRuntime;
  beforeAll(async () => {
    limited = await startTestRuntime({ env: { CONCLAVE_RATE_LIMIT_PER_MINUTE: '3' } });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('answers 429 with Retry-After once a key exceeds its write budget, and never limits reads', async () => {
    const statuses: number[] = [];
    let last: ApiResponse | undefined;
    for (let i = 0; i < 5; i++) {
      last = await limited.api('POST', '/api/conversations', { body: { title: `n${i}` } });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([201, 201, 201, 429, 429]);
    expect(last!.body.error.code).toBe('rate_limited');
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await limited.api('GET', '/api/conversations')).status).toBe(200);
  });
});

describeWith('redis', 'write rate limit shared through Redis', () => {
  const token = `shared-limit-${randomBytes(8).toString('hex')}`;
  let a: TestRuntime;
  let b: TestRuntime;
  let other: TestRuntime;
  beforeAll(async () => {
    const env = { CONCLAVE_RATE_LIMIT_PER_MINUTE: '3', CONCLAVE_AUTH_TOKEN: token };
    [a, b, other] = await Promise.all([
      startTestRuntime({ eventLog: 'redis', env }),
      startTestRuntime({ eventLog: 'redis', env }),
      startTestRuntime({ eventLog: 'redis', env: { CONCLAVE_RATE_LIMIT_PER_MINUTE: '3' } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), other?.close()]);
  });

  it('counts the writes of one key across processes; another root token has its own count', async () => {
    const write = async (runtime: TestRuntime) => (await runtime.api('POST', '/api/conversations', { body: { title: 'w' } })).status;
    expect([await write(a), await write(b), await write(a)]).toEqual([201, 201, 201]);
    expect([await write(b), await write(a)]).toEqual([429, 429]);
    expect(await write(other)).toBe(201);
  });
});
