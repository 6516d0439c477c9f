/**
 * The REST API end to end over HTTP, on embedded PGlite and on real
 * PostgreSQL: CRUD of presets, workspaces and conversations, the metadata
 * containment filter, paging, ownership, API keys, bindings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWith } from '../support/services.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';

function apiSuite(database: 'pglite' | 'postgres') {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime({ database });
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('reports health without a token', async () => {
    const res = await rt.api('GET', '/api/health', { token: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', database: { kind: database, status: 'ok' }, event_log: { status: 'ok' } });
  });

  it('creates, lists, gets, patches and deletes presets', async () => {
    const created = await rt.api('POST', '/api/presets', {
      body: { id: 'helper', name: 'Helper', model: 'openai:gpt-4.1', system_prompt: 'Be brief.', tools: ['read_file'], is_default: true },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: 'helper',
      model: { name: 'openai:gpt-4.1', fallbacks: [], settings: {} },
      tools: [{ type: 'builtin', name: 'read_file' }],
      is_default: true,
    });

    const second = await rt.api('POST', '/api/presets', {
      body: { name: 'Critic', model: { name: 'anthropic:claude-sonnet-4-5', fallbacks: ['openai:gpt-4.1'] }, is_default: true },
    });
    expect(second.status).toBe(201);
    expect(second.body.id).toMatch(/^[0-9a-f-]{36}$/);

    // Setting a new default clears the old one.
    const first = await rt.api('GET', '/api/presets/helper');
    expect(first.body.is_default).toBe(false);

    const duplicate = await rt.api('POST', '/api/presets', { body: { id: 'helper', name: 'Again', model: 'openai:x' } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error.code).toBe('already_exists');

    const list = await rt.api('GET', '/api/presets');
    expect(list.body.items.map((p: { id: string }) => p.id)).toEqual([second.body.id, 'helper']);

    const patched = await rt.api('PATCH', '/api/presets/helper', { body: { description: 'Short answers', persona: { color: '#112233' } } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ description: 'Short answers', persona: { color: '#112233' }, name: 'Helper' });

    expect((await rt.api('DELETE', `/api/presets/${second.body.id}`)).status).toBe(204);
    expect((await rt.api('GET', `/api/presets/${second.body.id}`)).status).toBe(404);
    expect((await rt.api('DELETE', `/api/presets/${second.body.id}`)).status).toBe(404);
  });

  it('creates, lists with a metadata filter, patches and deletes workspaces', async () => {
    const a = await rt.api('POST', '/api/workspaces', {
      body: { id: 'site', name: 'Website', folders: [{ path: 'site' }], metadata: { team: 'web', tier: 1 } },
    });
    expect(a.status).toBe(201);
    expect(a.body.folders).toEqual([{ path: 'site', writable: true }]);
    await rt.api('POST', '/api/workspaces', { body: { id: 'api', name: 'API', metadata: { team: 'backend' } } });

    const web = await rt.api('GET', `/api/workspaces?metadata=${encodeURIComponent('{"team":"web"}')}`);
    expect(web.body.items.map((w: { id: string }) => w.id)).toEqual(['site']);

    const patched = await rt.api('PATCH', '/api/workspaces/api', { body: { metadata: { team: 'web' } } });
    expect(patched.body.metadata).toEqual({ team: 'web' });
    const both = await rt.api('GET', `/api/workspaces?metadata=${encodeURIComponent('{"team":"web"}')}`);
    expect(both.body.items).toHaveLength(2);

    expect((await rt.api('DELETE', '/api/workspaces/api')).status).toBe(204);
    expect((await rt.api('GET', '/api/workspaces/api')).status).toBe(404);
  });

  it('creates, lists (metadata, status, q, paging), gets, patches and deletes conversations', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await rt.api('POST', '/api/conversations', {
        body: { title: `Plan ${i}`, preset_id: 'helper', metadata: { project: i % 2 === 0 ? 'apollo' : 'gemini', n: i } },
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ mode: 'single', status: 'active', preset_id: 'helper', user_id: 'admin' });
      ids.push(res.body.id);
    }

    const apollo = await rt.api('GET', `/api/conversations?metadata=${encodeURIComponent('{"project":"apollo"}')}`);
    expect(apollo.body.items.map((c: { id: string }) => c.id)).toEqual([ids[4], ids[2], ids[0]]);

    // Cursor paging walks the whole list once, newest first.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { id: string }[]; next_cursor: string | null } } = await rt.api(
        'GET',
        `/api/conversations?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.body.items.map((c) => c.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    const search = await rt.api('GET', '/api/conversations?q=plan%203');
    expect(search.body.items.map((c: { id: string }) => c.id)).toEqual([ids[3]]);

    const archived = await rt.api('PATCH', `/api/conversations/${ids[1]}`, { body: { status: 'archived', title: 'Old plan' } });
    expect(archived.body).toMatchObject({ status: 'archived', title: 'Old plan' });
    const onlyArchived = await rt.api('GET', '/api/conversations?status=archived');
    expect(onlyArchived.body.items.map((c: { id: string }) => c.id)).toEqual([ids[1]]);

    const got = await rt.api('GET', `/api/conversations/${ids[0]}`);
    expect(got.body.metadata).toEqual({ project: 'apollo', n: 0 });

    expect((await rt.api('DELETE', `/api/conversations/${ids[0]}`)).status).toBe(204);
    expect((await rt.api('GET', `/api/conversations/${ids[0]}`)).status).toBe(404);
  });

  it('creates a room with participants and defaults its mode to round_robin', async () => {
    await rt.api('POST', '/api/presets', { body: { id: 'alex', name: 'Alex', model: 'openai:gpt-4.1' } });
    const room = await rt.api('POST', '/api/conversations', {
      body: {
        title: 'Council',
        participants: [
          { preset_id: 'helper', handle: '@Helper' },
          { preset_id: 'alex', handle: 'alex', color: '#aa0000' },
        ],
        context: 'Plan the launch.',
      },
    });
    expect(room.status).toBe(201);
    expect(room.body.mode).toBe('round_robin');
    expect(room.body.participants.map((p: { handle: string }) => p.handle)).toEqual(['helper', 'alex']);

    const single = await rt.api('PATCH', `/api/conversations/${room.body.id}`, { body: { mode: 'single' } });
    expect(single.status).toBe(422);
    expect(single.body.error.code).toBe('invalid_mode');

    const unknown = await rt.api('POST', '/api/conversations', {
      body: { participants: [{ preset_id: 'nobody', handle: 'x' }] },
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.message).toContain('body.participants.0.preset_id');
  });

  it("hides another user's conversation and refuses revoked keys", async () => {
    const alice = await rt.api('POST', '/api/keys', { body: { name: 'alice laptop', user_id: 'alice' } });
    const bob = await rt.api('POST', '/api/keys', { body: { name: 'bob laptop', user_id: 'bob' } });
    expect(alice.status).toBe(201);
    expect(alice.body.key).toMatch(/^cnk_[0-9a-f]{16}_/);

    const mine = await rt.api('POST', '/api/conversations', { body: { title: 'Alice only' }, token: alice.body.key });
    expect(mine.status).toBe(201);
    expect(mine.body.user_id).toBe('alice');

    const peek = await rt.api('GET', `/api/conversations/${mine.body.id}`, { token: bob.body.key });
    expect(peek.status).toBe(404);
    expect((await rt.api('PATCH', `/api/conversations/${mine.body.id}`, { body: { title: 'x' }, token: bob.body.key })).status).toBe(404);
    expect((await rt.api('DELETE', `/api/conversations/${mine.body.id}`, { token: bob.body.key })).status).toBe(404);
    expect((await rt.api('GET', `/api/conversations/${mine.body.id}/sessions`, { token: bob.body.key })).status).toBe(404);
    const bobsList = await rt.api('GET', '/api/conversations', { token: bob.body.key });
    expect(bobsList.body.items).toEqual([]);

    // Users may not write presets, make service keys, or revoke others' keys.
    expect((await rt.api('POST', '/api/presets', { body: { name: 'x', model: 'openai:x' }, token: bob.body.key })).status).toBe(403);
    expect((await rt.api('POST', '/api/keys', { body: { name: 's', scope: 'service' }, token: bob.body.key })).status).toBe(403);
    expect((await rt.api('DELETE', `/api/keys/${alice.body.id}`, { token: bob.body.key })).status).toBe(404);
    const bobsKeys = await rt.api('GET', '/api/keys', { token: bob.body.key });
    expect(bobsKeys.body.items.map((k: { user_id: string }) => k.user_id)).toEqual(['bob']);
    expect(JSON.stringify(bobsKeys.body)).not.toContain(bob.body.key);

    expect((await rt.api('DELETE', `/api/keys/${alice.body.id}`, { token: alice.body.key })).status).toBe(204);
    const revoked = await rt.api('GET', '/api/conversations', { token: alice.body.key });
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.code).toBe('invalid_token');
  });

  it('lets a service key act for platform users and bind places race-free', async () => {
    const service = await rt.api('POST', '/api/keys', { body: { name: 'gateway', user_id: 'gateway', scope: 'service' } });
    const key = service.body.key as string;
    const asUser = { 'x-conclave-user': 'discord:1001' };

    // Ten racing requests for one new place: one binding, one conversation.
    const racing = await Promise.all(
      Array.from({ length: 10 }, () =>
        rt.api('PUT', '/api/bindings', {
          token: key,
          headers: asUser,
          body: { platform: 'discord', key: 'g1/c1/t1', conversation: { title: 'Thread', preset_id: 'helper' } },
        }),
      ),
    );
    expect(racing.every((r) => r.status === 200 || r.status === 201)).toBe(true);
    expect(racing.filter((r) => r.status === 201)).toHaveLength(1);
    expect(new Set(racing.map((r) => r.body.conversation_id)).size).toBe(1);
    const binding = racing[0]!.body;

    const conversations = await rt.api('GET', `/api/conversations?metadata=${encodeURIComponent('{"place":"g1/c1/t1"}')}`, {
      token: key,
      headers: asUser,
    });
    expect(conversations.body.items).toHaveLength(1);
    expect(conversations.body.items[0].user_id).toBe('discord:1001');

    // Another platform user in the same thread reaches the bound conversation through the service.
    const other = await rt.api('GET', `/api/conversations/${binding.conversation_id}`, {
      token: key,
      headers: { 'x-conclave-user': 'discord:2002' },
    });
    expect(other.status).toBe(200);

    const moved = await rt.api('PATCH', `/api/bindings/${binding.id}`, {
      token: key,
      body: { cursor: '1700000000000-3', state: { message_ids: ['m1', 'm2'] } },
    });
    expect(moved.body).toMatchObject({ cursor: '1700000000000-3', state: { message_ids: ['m1', 'm2'] } });
    const found = await rt.api('GET', '/api/bindings?platform=discord&key=g1%2Fc1%2Ft1', { token: key });
    expect(found.body.items.map((b: { id: string }) => b.id)).toEqual([binding.id]);

    // A user key cannot use bindings, nor act for someone else.
    const plain = await rt.api('POST', '/api/keys', { body: { name: 'carol', user_id: 'carol' } });
    expect((await rt.api('GET', '/api/bindings', { token: plain.body.key })).status).toBe(403);
    expect((await rt.api('GET', '/api/conversations', { token: plain.body.key, headers: asUser })).status).toBe(403);

    expect((await rt.api('DELETE', `/api/bindings/${binding.id}`, { token: key })).status).toBe(204);
    expect((await rt.api('GET', `/api/bindings/${binding.id}`, { token: key })).status).toBe(404);
  });

  it('lists sessions of a conversation and reads one', async () => {
    const conversation = await rt.api('POST', '/api/conversations', { body: { title: 'With sessions' } });
    const { repos } = rt.handle.context;
    const session = await repos.sessions.create({
      id: 'sess-1',
      conversationId: conversation.body.id,
      runId: 'run-1',
      status: 'completed',
      input: [{ type: 'text', text: 'hello' }],
      finalMessage: 'hi there',
    });
    const list = await rt.api('GET', `/api/conversations/${conversation.body.id}/sessions`);
    expect(list.body.items.map((s: { id: string }) => s.id)).toEqual([session.id]);
    const got = await rt.api('GET', `/api/sessions/${session.id}`);
    expect(got.body).toMatchObject({ id: 'sess-1', status: 'completed', final_message: 'hi there', type: 'agent' });
    expect((await rt.api('GET', '/api/sessions/nope')).status).toBe(404);
  });

  it('pages sessions oldest first, or newest first with order=desc', async () => {
    const conversation = await rt.api('POST', '/api/conversations', { body: { title: 'Many sessions' } });
    const { repos } = rt.handle.context;
    for (let i = 1; i <= 5; i++) {
      await repos.sessions.create({ id: `many-${i}`, conversationId: conversation.body.id, runId: `run-many-${i}`, status: 'completed', input: [] });
    }
    const pages = async (order: string) => {
      const ids: string[][] = [];
      let cursor: string | null = null;
      do {
        const query: string = `limit=2&order=${order}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page = await rt.api('GET', `/api/conversations/${conversation.body.id}/sessions?${query}`);
        expect(page.status).toBe(200);
        ids.push(page.body.items.map((s: { id: string }) => s.id));
        cursor = page.body.next_cursor;
      } while (cursor);
      return ids;
    };
    expect(await pages('asc')).toEqual([['many-1', 'many-2'], ['many-3', 'many-4'], ['many-5']]);
    expect(await pages('desc')).toEqual([['many-5', 'many-4'], ['many-3', 'many-2'], ['many-1']]);
    const bad = await rt.api('GET', `/api/conversations/${conversation.body.id}/sessions?order=newest`);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('query.order');
  });

  it('serves an OpenAPI document covering every route', async () => {
    const doc = await rt.api('GET', '/api/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    for (const path of ['/api/presets', '/api/presets/{id}', '/api/conversations', '/api/bindings', '/api/keys/{id}', '/api/health']) {
      expect(Object.keys(doc.body.paths)).toContain(path);
    }
    const create = doc.body.paths['/api/presets'].post;
    expect(create.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/PresetCreate');
    expect(doc.body.components.schemas.PresetCreate.required).toEqual(['name', 'model']);
    // Every reference resolves.
    for (const ref of JSON.stringify(doc.body).match(/#\/components\/schemas\/\w+/g) ?? []) {
      expect(doc.body.components.schemas, ref).toHaveProperty(ref.split('/').pop()!);
    }
  });
}

describe('API on embedded PGlite', () => apiSuite('pglite'));
describeWith('postgres', 'API on real PostgreSQL', () => apiSuite('postgres'));
