/**
 * A fake MCP server for tests, built with the official SDK's `McpServer`.
 *
 * Tools:
 *   add(a, b)      the sum as text
 *   echo(text)     the text back
 *   fail(message?) a result flagged `isError`
 *   slow(ms?)      waits `ms` (default 30 s) or until the call is cancelled
 *   picture()      a text part and a small PNG image part
 *   pid()          the server process id (to check a stdio child is gone)
 *   getenv(name)   an environment variable of the server process ('' if unset)
 *   text.upper(text) upper-case text (a name with a dot, for namespacing)
 *
 * Two ways to run it:
 *   - stdio: `fakeMcpStdioCommand()` gives the command and args that start
 *     `test/fakes/mcp-stdio.ts` under tsx (`node --import <tsx> mcp-stdio.ts`).
 *   - streamable HTTP: `await startFakeMcpHttp()` listens on 127.0.0.1 (free
 *     port) at `/mcp`, one SDK session per client, and records every call and
 *     every request's headers.
 *
 *   const fake = await startFakeMcpHttp({ requiredAuthorization: 'Bearer t' });
 *   ... { name: 'fake', transport: 'streamable_http', url: fake.url } ...
 *   fake.calls   // [{ tool: 'add', args: { a: 2, b: 3 } }]
 *   await fake.close();
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

/** One tool call the fake received. */
export interface FakeMcpCall {
  tool: string;
  args: Record<string, unknown>;
  /** Set for `slow` when the call was cancelled before it finished. */
  cancelled?: boolean;
}

/** A 1x1 PNG, base64. */
const TINY_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

/** An MCP server with the fake tools; calls are appended to `calls`. */
export function createFakeMcpServer(calls: FakeMcpCall[] = []): McpServer {
  const server = new McpServer({ name: 'conclave-fake-mcp', version: '1.0.0' });

  server.registerTool(
    'add',
    { description: 'Add two numbers.', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => {
      calls.push({ tool: 'add', args: { a, b } });
      return { content: [{ type: 'text', text: String(a + b) }] };
    },
  );

  server.registerTool(
    'echo',
    { description: 'Return the text unchanged.', inputSchema: { text: z.string() } },
    async ({ text }) => {
      calls.push({ tool: 'echo', args: { text } });
      return { content: [{ type: 'text', text }] };
    },
  );

  server.registerTool(
    'fail',
    { description: 'Always reports an error.', inputSchema: { message: z.string().optional() } },
    async ({ message }) => {
      calls.push({ tool: 'fail', args: { message } });
      return { isError: true, content: [{ type: 'text', text: message ?? 'the fake tool failed' }] };
    },
  );

  server.registerTool(
    'slow',
    { description: 'Wait, then answer "done".', inputSchema: { ms: z.number().optional() } },
    async ({ ms }, extra) => {
      const call: FakeMcpCall = { tool: 'slow', args: { ms } };
      calls.push(call);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms ?? 30_000);
        extra.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          call.cancelled = true;
          resolve();
        });
      });
      return { content: [{ type: 'text', text: 'done' }] };
    },
  );

  server.registerTool('picture', { description: 'A caption and a tiny image.' }, async () => {
    calls.push({ tool: 'picture', args: {} });
    return {
      content: [
        { type: 'text', text: 'a single pixel' },
        { type: 'image', data: TINY_PNG, mimeType: 'image/png' },
      ],
    };
  });

  server.registerTool('pid', { description: 'The server process id.' }, async () => {
    calls.push({ tool: 'pid', args: {} });
    return { content: [{ type: 'text', text: String(process.pid) }] };
  });

  server.registerTool(
    'getenv',
    { description: 'An environment variable of the server process.', inputSchema: { name: z.string() } },
    async ({ name }) => {
      calls.push({ tool: 'getenv', args: { name } });
      return { content: [{ type: 'text', text: process.env[name] ?? '' }] };
    },
  );

  server.registerTool(
    'text.upper',
    { description: 'Upper-case the text.', inputSchema: { text: z.string() } },
    async ({ text }) => {
      calls.push({ tool: 'text.upper', args: { text } });
      return { content: [{ type: 'text', text: text.toUpperCase() }] };
    },
  );

  return server;
}

// ---------------------------------------------------------------- stdio

/**
 * The command that runs the fake over stdio: this Node binary with tsx's
 * loader (resolved from this project's node_modules, so it works from any
 * working directory) and the entry script next to this file.
 */
export function fakeMcpStdioCommand(): { command: string; args: string[] } {
  const tsxLoader = createRequire(import.meta.url).resolve('tsx');
  const entry = fileURLToPath(new URL('./mcp-stdio.ts', import.meta.url));
  return { command: process.execPath, args: ['--import', pathToFileURL(tsxLoader).href, entry] };
}

// ---------------------------------------------------------------- streamable HTTP

export interface FakeMcpHttp {
  /** `http://127.0.0.1:<port>/mcp` */
  url: string;
  calls: FakeMcpCall[];
  /** The headers of every HTTP request received. */
  requests: IncomingHttpHeaders[];
  close(): Promise<void>;
}

export interface FakeMcpHttpOptions {
  /** Answer 401 unless the `authorization` header is exactly this. */
  requiredAuthorization?: string;
}

export async function startFakeMcpHttp(options: FakeMcpHttpOptions = {}): Promise<FakeMcpHttp> {
  const calls: FakeMcpCall[] = [];
  const requests: IncomingHttpHeaders[] = [];
  const sessions = new Map<string, StreamableHTTPServerTransport>();

  const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const http = createServer((req, res) => {
    void (async () => {
      requests.push(req.headers);
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/mcp') return sendJson(res, 404, { error: 'not found' });
      if (options.requiredAuthorization !== undefined && req.headers.authorization !== options.requiredAuthorization) {
        return sendJson(res, 401, { error: 'unauthorized' });
      }

      const sessionId = req.headers['mcp-session-id'];
      if (typeof sessionId === 'string') {
        const existing = sessions.get(sessionId);
        if (!existing) return sendJson(res, 404, { jsonrpc: '2.0', error: { code: -32001, message: 'unknown session' }, id: null });
        return existing.handleRequest(req, res);
      }

      // No session yet: this must be an initialize request; the SDK checks that.
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, transport);
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await createFakeMcpServer(calls).connect(transport);
      await transport.handleRequest(req, res);
    })().catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(error) });
      else res.end();
    });
  });

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    calls,
    requests,
    close: async () => {
      await Promise.all([...sessions.values()].map((transport) => transport.close().catch(() => {})));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
