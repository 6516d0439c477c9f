/**
 * MCP tool source (runtime/engine/toolsets/mcp.ts) against the fake MCP server
 * (test/fakes/mcp-server.ts), run as a real stdio child and over streamable
 * HTTP: namespaced tool listing, calls, optional and required failures,
 * isError results, abort and timeout, and closing stdio children.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mcpToolSource, resultText, toolName } from '../../runtime/engine/toolsets/mcp.js';
import { ToolFailure, ToolSourceError, type Tool, type ToolContext, type Toolset, type ToolsetContext } from '../../runtime/engine/tools.js';
import type { ConversationRow, McpServerSpec, PresetRow } from '../../runtime/store/schema.js';
import { type FakeMcpHttp, fakeMcpStdioCommand, startFakeMcpHttp } from '../fakes/mcp-server.js';

const TOKEN = 's3cret-token';
let http: FakeMcpHttp;
/** A URL where nothing listens. */
let deadUrl: string;
const opened: Toolset[] = [];

beforeAll(async () => {
  http = await startFakeMcpHttp({ requiredAuthorization: `Bearer ${TOKEN}` });
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  deadUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/mcp`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((toolset) => toolset.close()));
});

afterAll(async () => {
  await http.close();
});

// ---------------------------------------------------------------- helpers

function stdioServer(name: string, extra: Partial<McpServerSpec> = {}): McpServerSpec {
  return { name, transport: 'stdio', ...fakeMcpStdioCommand(), optional: false, ...extra };
}

function httpServer(name: string, extra: Partial<McpServerSpec> = {}): McpServerSpec {
  return {
    name,
    transport: 'streamable_http',
    url: http.url,
    headers: { authorization: 'Bearer ${env:FAKE_MCP_TOKEN}' },
    optional: false,
    ...extra,
  };
}

/** A toolset context around a preset row that has only the MCP servers set. */
function toolsetContext(servers: McpServerSpec[], signal = new AbortController().signal): ToolsetContext {
  const preset = { id: 'mcp-test', name: 'MCP test', mcpServers: servers } as unknown as PresetRow;
  const conversation = { id: 'conv-1', userId: 'user-1' } as unknown as ConversationRow;
  return { preset, conversation, workspace: null, dataDir: '/tmp', env: { FAKE_MCP_TOKEN: TOKEN }, signal };
}

async function open(servers: McpServerSpec[], signal?: AbortSignal): Promise<Toolset> {
  const toolset = await mcpToolSource().open(toolsetContext(servers, signal));
  opened.push(toolset);
  return toolset;
}

function tool(toolset: Toolset, name: string): Tool {
  const found = toolset.tools.find((t) => t.name === name);
  if (!found) throw new Error(`no tool ${name} in ${toolset.tools.map((t) => t.name).join(', ')}`);
  return found;
}

function callContext(signal = new AbortController().signal): ToolContext {
  return { conversationId: 'conv-1', sessionId: 'session-1', userId: 'user-1', signal };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- tests

describe('MCP over stdio', () => {
  it('lists the tools namespaced by server and calls them', async () => {
    const toolset = await open([stdioServer('local')]);
    expect(toolset.warnings).toEqual([]);
    expect(toolset.tools.map((t) => t.name).sort()).toEqual(
      ['local__add', 'local__echo', 'local__fail', 'local__getenv', 'local__picture', 'local__pid', 'local__slow', 'local__text_upper'].sort(),
    );
    const add = tool(toolset, 'local__add');
    expect(add.description).toBe('Add two numbers.');
    expect(add.parameters).toMatchObject({ type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } });
    expect(add.parameters).not.toHaveProperty('$schema');
    expect(await add.execute({ a: 2, b: 3 }, callContext())).toBe('5');
    expect(await tool(toolset, 'local__text_upper').execute({ text: 'hi' }, callContext())).toBe('HI');
  });

  it('passes the spec env to the child with secrets resolved, not the runtime env', async () => {
    const toolset = await open([stdioServer('local', { env: { FAKE_VALUE: 'token=${env:FAKE_MCP_TOKEN}' } })]);
    const getenv = tool(toolset, 'local__getenv');
    expect(await getenv.execute({ name: 'FAKE_VALUE' }, callContext())).toBe(`token=${TOKEN}`);
    expect(await getenv.execute({ name: 'FAKE_MCP_TOKEN' }, callContext())).toBe('');
  });

  it('summarises non-text content', async () => {
    const toolset = await open([stdioServer('local')]);
    const output = await tool(toolset, 'local__picture').execute({}, callContext());
    expect(output).toMatch(/^a single pixel\n\[image image\/png, \d+ bytes\]$/);
  });

  it('turns an isError result into a ToolFailure with its text', async () => {
    const toolset = await open([stdioServer('local')]);
    const failure = await tool(toolset, 'local__fail').execute({ message: 'boom' }, callContext()).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ToolFailure);
    expect((failure as Error).message).toBe('boom');
  });

  it('ends promptly when the call is aborted during a slow tool', async () => {
    const toolset = await open([stdioServer('local')]);
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('stop')), 200);
    await expect(tool(toolset, 'local__slow').execute({ ms: 20_000 }, callContext(controller.signal))).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('fails a call with a ToolFailure after the per-call timeout', async () => {
    const toolset = await open([stdioServer('local', { timeout_seconds: 1 })]);
    const started = Date.now();
    const failure = await tool(toolset, 'local__slow').execute({ ms: 10_000 }, callContext()).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ToolFailure);
    expect((failure as Error).message).toContain("did not answer 'slow' within 1 s");
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('close() ends the stdio child and never throws', async () => {
    const toolset = await open([stdioServer('local')]);
    const pid = Number(await tool(toolset, 'local__pid').execute({}, callContext()));
    expect(pid).toBeGreaterThan(0);
    expect(pid).not.toBe(process.pid);
    expect(isAlive(pid)).toBe(true);
    await toolset.close();
    expect(isAlive(pid)).toBe(false);
    await expect(toolset.close()).resolves.toBeUndefined();
  });
});

describe('MCP over streamable HTTP', () => {
  it('lists and calls tools, sending headers with secrets resolved', async () => {
    const toolset = await open([httpServer('remote')]);
    expect(toolset.warnings).toEqual([]);
    expect(toolset.tools.map((t) => t.name)).toContain('remote__add');
    expect(await tool(toolset, 'remote__add').execute({ a: 40, b: 2 }, callContext())).toBe('42');
    expect(await tool(toolset, 'remote__echo').execute({ text: 'hello' }, callContext())).toBe('hello');
    expect(http.calls).toContainEqual({ tool: 'add', args: { a: 40, b: 2 } });
    expect(http.requests.at(-1)?.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('cancels the server-side call on abort', async () => {
    const toolset = await open([httpServer('remote')]);
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('stop')), 200);
    await expect(tool(toolset, 'remote__slow').execute({ ms: 20_000 }, callContext(controller.signal))).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_000);
    await expect.poll(() => http.calls.filter((c) => c.tool === 'slow').at(-1)?.cancelled).toBe(true);
  });

  it('isError over HTTP is a ToolFailure too', async () => {
    const toolset = await open([httpServer('remote')]);
    await expect(tool(toolset, 'remote__fail').execute({}, callContext())).rejects.toBeInstanceOf(ToolFailure);
  });
});

describe('servers that fail', () => {
  it('skips optional servers that cannot connect, with warnings, and keeps the others', async () => {
    const toolset = await open([
      stdioServer('local'),
      httpServer('remote'),
      { name: 'nocommand', transport: 'stdio', command: '/nonexistent/mcp-server-binary', optional: true },
      { name: 'nohost', transport: 'streamable_http', url: deadUrl, optional: true },
    ]);
    expect(toolset.warnings).toHaveLength(2);
    expect(toolset.warnings[0]).toMatch(/^MCP server 'nocommand' is unavailable and was skipped: .*ENOENT/);
    expect(toolset.warnings[1]).toMatch(/^MCP server 'nohost' is unavailable and was skipped: /);
    expect(toolset.tools.some((t) => t.name.startsWith('nocommand__') || t.name.startsWith('nohost__'))).toBe(false);
    expect(await tool(toolset, 'local__add').execute({ a: 1, b: 1 }, callContext())).toBe('2');
    expect(await tool(toolset, 'remote__add').execute({ a: 2, b: 2 }, callContext())).toBe('4');
  });

  it('skips an optional server that never answers, after its timeout', async () => {
    const started = Date.now();
    const toolset = await open([
      { name: 'mute', transport: 'stdio', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], optional: true, timeout_seconds: 1 },
    ]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(toolset.warnings).toEqual(["MCP server 'mute' is unavailable and was skipped: no answer within 1 s"]);
    expect(toolset.tools).toEqual([]);
  });

  it('throws a ToolSourceError naming a required server that cannot connect', async () => {
    const error = await mcpToolSource()
      .open(toolsetContext([stdioServer('local'), { name: 'broken', transport: 'stdio', command: '/nonexistent/mcp-server-binary', optional: false }]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolSourceError);
    expect((error as Error).message).toMatch(/^MCP server 'broken' is unavailable: .*ENOENT/);
  });

  it('throws a ToolSourceError for a required server that refuses its credentials', async () => {
    const error = await mcpToolSource()
      .open(toolsetContext([httpServer('remote', { headers: { authorization: 'Bearer wrong' } })]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolSourceError);
    expect((error as Error).message).toContain("MCP server 'remote'");
  });

  it('treats an unset secret as a connection failure', async () => {
    const error = await mcpToolSource()
      .open(toolsetContext([httpServer('remote', { headers: { authorization: 'Bearer ${env:MISSING_TOKEN}' } })]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolSourceError);
    expect((error as Error).message).toMatch(/MISSING_TOKEN is not set/);
  });
});

describe('naming and results', () => {
  it('sanitises and truncates tool names', () => {
    expect(toolName('my server', 'do.it/now')).toBe('my_server__do_it_now');
    expect(toolName('s', 'x'.repeat(100))).toHaveLength(64);
  });

  it('describes every kind of content part', () => {
    expect(
      resultText({
        content: [
          { type: 'text', text: 'a' },
          { type: 'audio', data: 'AAAA', mimeType: 'audio/wav' },
          { type: 'resource_link', name: 'doc', uri: 'file:///doc' },
          { type: 'resource', resource: { uri: 'file:///t', text: 'inside' } },
          { type: 'resource', resource: { uri: 'file:///b', mimeType: 'application/pdf', blob: 'AAAA' } },
        ],
      }),
    ).toBe('a\n[audio audio/wav, 3 bytes]\n[resource link doc: file:///doc]\n[resource file:///t]\ninside\n[resource file:///b application/pdf, 3 bytes]');
    expect(resultText({ content: [], structuredContent: { n: 1 } })).toBe('{"n":1}');
  });
});
