/**
 * MCP tools: connects to every MCP server a preset lists (`preset.mcpServers`)
 * with the official MCP SDK client, over stdio (a child process) or streamable
 * HTTP, and offers each server tool to the model as `<server>__<tool>`.
 *
 * - Servers connect in parallel. Connecting and listing tools share one
 *   deadline: `timeout_seconds` (default 15 s), also cut short by the session
 *   signal.
 * - A server that cannot be reached or listed is skipped with a warning when
 *   it is `optional`; otherwise opening fails with a ToolSourceError naming it
 *   (and the servers already connected are closed again).
 * - A call uses the call's abort signal and a timeout of `timeout_seconds`
 *   (default 60 s). Text parts of the result are joined; other parts are
 *   summarised in brackets. A result flagged `isError` becomes a ToolFailure.
 * - Header and env values may name secrets as `${env:NAME}`, resolved from
 *   the toolset context's environment by ./secrets.ts; an unset one makes the
 *   server unavailable, and resolved values are redacted from failure reasons. A stdio child gets the SDK's small
 *   default environment (PATH, HOME, ...) plus the spec's `env`, never the
 *   whole runtime environment.
 * - `close()` closes every client (stdio children are ended) and never throws.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerSpec } from '../../store/schema.js';
import { ToolFailure, ToolSourceError, type Tool, type ToolSource, type Toolset, type ToolsetContext } from '../tools.js';
import { resolveSecretHeaders, resolveSecrets, secretValues } from './secrets.js';

const DEFAULT_CONNECT_TIMEOUT_SECONDS = 15;
const DEFAULT_CALL_TIMEOUT_SECONDS = 60;
/** Tool names providers accept: letters, digits, `_` and `-`, at most 64 characters. */
const MAX_TOOL_NAME_LENGTH = 64;
/** Guards against a server whose `nextCursor` never ends. */
const MAX_LIST_PAGES = 100;
/** How much of a stdio server's stderr is kept to explain a failed start. */
const STDERR_TAIL_CHARS = 2000;

/** The tool source for a preset's MCP servers. */
export function mcpToolSource(): ToolSource {
  return {
    name: 'mcp',
    open: openMcpToolset,
  };
}

/** One connected server: its client, and its tools as the model sees them. */
interface ConnectedServer {
  spec: McpServerSpec;
  client: Client;
  tools: McpToolInfo[];
}

/** The parts of an MCP tool listing this file uses. */
interface McpToolInfo {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

async function openMcpToolset(context: ToolsetContext): Promise<Toolset> {
  const specs = context.preset.mcpServers;
  const warnings: string[] = [];
  if (specs.length === 0) return { tools: [], warnings, close: async () => {} };

  const outcomes = await Promise.allSettled(specs.map((spec) => connectServer(spec, context)));
  const connected: ConnectedServer[] = [];
  const failures: { spec: McpServerSpec; reason: string }[] = [];
  outcomes.forEach((outcome, index) => {
    const spec = specs[index]!;
    if (outcome.status === 'fulfilled') connected.push(outcome.value);
    else failures.push({ spec, reason: errorMessage(outcome.reason) });
  });

  const closeAll = async (): Promise<void> => {
    await Promise.all(connected.map((server) => closeQuietly(server.client)));
  };

  if (context.signal.aborted) {
    await closeAll();
    throw context.signal.reason instanceof Error ? context.signal.reason : new Error('cancelled while connecting MCP servers');
  }

  const required = failures.find((failure) => !failure.spec.optional);
  if (required) {
    await closeAll();
    throw new ToolSourceError(`MCP server '${required.spec.name}' is unavailable: ${required.reason}`);
  }
  for (const failure of failures) {
    warnings.push(`MCP server '${failure.spec.name}' is unavailable and was skipped: ${failure.reason}`);
  }

  const tools: Tool[] = [];
  const taken = new Set<string>();
  for (const server of connected) {
    for (const info of server.tools) {
      const name = toolName(server.spec.name, info.name);
      if (taken.has(name)) {
        warnings.push(`MCP tool '${info.name}' of server '${server.spec.name}' was skipped: the name '${name}' is already taken`);
        continue;
      }
      taken.add(name);
      tools.push(wrapTool(server, info, name));
    }
  }

  return { tools, warnings, close: closeAll };
}

// ---------------------------------------------------------------- connecting

/** Connects one server and lists its tools, within the connect deadline. */
async function connectServer(spec: McpServerSpec, context: ToolsetContext): Promise<ConnectedServer> {
  const timeoutMs = (spec.timeout_seconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS) * 1000;
  const deadline = AbortSignal.any([context.signal, AbortSignal.timeout(timeoutMs)]);
  const client = new Client({ name: 'conclave', version: '0.1.0' });
  let stderrTail = '';

  try {
    let transport: StdioClientTransport | StreamableHTTPClientTransport;
    if (spec.transport === 'stdio') {
      if (!spec.command) throw new Error('no command is configured');
      const stdio = new StdioClientTransport({
        command: spec.command,
        args: spec.args ?? [],
        env: resolveEnv(spec.env, context.env),
        stderr: 'pipe',
      });
      // Keep the end of the child's stderr: it usually says why a start failed.
      stdio.stderr?.on('data', (chunk: Buffer) => {
        stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
      });
      transport = stdio;
    } else {
      if (!spec.url) throw new Error('no url is configured');
      transport = new StreamableHTTPClientTransport(new URL(spec.url), {
        requestInit: { headers: resolveSecretHeaders(spec.headers ?? {}, context.env) },
      });
    }

    await withDeadline(client.connect(transport, { signal: deadline, timeout: timeoutMs }), deadline, timeoutMs);
    const tools = await withDeadline(listAllTools(client, deadline, timeoutMs), deadline, timeoutMs);
    return { spec, client, tools };
  } catch (error) {
    await closeQuietly(client);
    let reason = deadline.aborted && !context.signal.aborted ? `no answer within ${timeoutMs / 1000} s` : errorMessage(error);
    const stderr = stderrTail.trim();
    if (stderr) reason += ` (stderr: ${stderr.slice(-500)})`;
    const secrets = [...secretValues(spec.headers ?? {}, context.env), ...secretValues(spec.env ?? {}, context.env)];
    throw new Error(redact(reason, secrets));
  }
}

/** Every tool of a server, following `nextCursor` pages. */
async function listAllTools(client: Client, signal: AbortSignal, timeoutMs: number): Promise<McpToolInfo[]> {
  const tools: McpToolInfo[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const result = await client.listTools(cursor === undefined ? {} : { cursor }, { signal, timeout: timeoutMs });
    for (const tool of result.tools) {
      tools.push({
        name: tool.name,
        ...(tool.title !== undefined ? { title: tool.title } : {}),
        ...(tool.description !== undefined ? { description: tool.description } : {}),
        inputSchema: tool.inputSchema as Record<string, unknown>,
      });
    }
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return tools;
}

/**
 * Rejects when the deadline fires even if the SDK call does not notice it
 * (e.g. a transport still starting). The SDK call's own rejection is
 * swallowed once the deadline won.
 */
function withDeadline<T>(work: Promise<T>, deadline: AbortSignal, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error(`no answer within ${timeoutMs / 1000} s`));
    if (deadline.aborted) return onAbort();
    deadline.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        deadline.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        deadline.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Closes a client and its transport (a stdio child is ended); never throws. */
async function closeQuietly(client: Client): Promise<void> {
  try {
    await client.close();
  } catch {
    // Closing is best effort: the session is ending either way.
  }
}

// ---------------------------------------------------------------- tools

/** `<server>__<tool>`, reduced to [a-zA-Z0-9_-] and 64 characters. */
export function toolName(server: string, tool: string): string {
  return `${server}__${tool}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, MAX_TOOL_NAME_LENGTH);
}

function wrapTool(server: ConnectedServer, info: McpToolInfo, name: string): Tool {
  const serverName = server.spec.name;
  const timeoutMs = (server.spec.timeout_seconds ?? DEFAULT_CALL_TIMEOUT_SECONDS) * 1000;
  return {
    name,
    description: info.description ?? info.title ?? `The tool '${info.name}' of the MCP server '${serverName}'.`,
    parameters: toolParameters(info.inputSchema),
    execute: async (args, toolContext) => {
      let result: Awaited<ReturnType<Client['callTool']>>;
      try {
        result = await server.client.callTool({ name: info.name, arguments: args }, undefined, {
          signal: toolContext.signal,
          timeout: timeoutMs,
        });
      } catch (error) {
        if (toolContext.signal.aborted) throw error;
        if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
          throw new ToolFailure(`MCP server '${serverName}' did not answer '${info.name}' within ${timeoutMs / 1000} s`);
        }
        throw new ToolFailure(`MCP server '${serverName}' failed to run '${info.name}': ${errorMessage(error)}`);
      }
      const text = resultText(result);
      if (result.isError === true) throw new ToolFailure(text || `MCP tool '${info.name}' reported an error`);
      return text;
    },
  };
}

/**
 * The server's input schema as the tool's parameters: always an object with
 * `properties`, without the top-level `$schema` some providers reject.
 */
function toolParameters(inputSchema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _ignored, ...schema } = inputSchema;
  return { ...schema, type: 'object', properties: schema.properties ?? {} };
}

/** The text the model sees for a tool result: text parts joined, other parts summarised. */
export function resultText(result: Record<string, unknown>): string {
  const content = Array.isArray(result.content) ? (result.content as unknown[]) : [];
  const parts = content.map(describePart);
  if (parts.length === 0 && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent));
  // Servers on the oldest protocol answer `{ toolResult }` instead of content.
  if (parts.length === 0 && result.toolResult !== undefined) parts.push(JSON.stringify(result.toolResult));
  return parts.join('\n');
}

function describePart(part: unknown): string {
  if (part === null || typeof part !== 'object') return String(part);
  const p = part as Record<string, unknown>;
  switch (p.type) {
    case 'text':
      return typeof p.text === 'string' ? p.text : '';
    case 'image':
    case 'audio':
      return `[${p.type} ${String(p.mimeType ?? 'unknown type')}, ${base64Bytes(p.data)} bytes]`;
    case 'resource_link':
      return `[resource link ${String(p.name ?? '')}: ${String(p.uri ?? '')}]`;
    case 'resource': {
      const resource = (p.resource ?? {}) as Record<string, unknown>;
      const uri = String(resource.uri ?? '');
      if (typeof resource.text === 'string') return `[resource ${uri}]\n${resource.text}`;
      return `[resource ${uri} ${String(resource.mimeType ?? 'unknown type')}, ${base64Bytes(resource.blob)} bytes]`;
    }
    default:
      return `[${String(p.type ?? 'unknown')} content]`;
  }
}

function base64Bytes(data: unknown): number {
  return typeof data === 'string' ? Buffer.from(data, 'base64').length : 0;
}

// ---------------------------------------------------------------- secrets

/** A stdio server's env with `${env:NAME}` references resolved (see ./secrets.ts). */
function resolveEnv(
  values: Record<string, string> | undefined,
  env: Record<string, string | undefined>,
): Record<string, string> | undefined {
  if (!values) return undefined;
  const resolved: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    try {
      resolved[name] = resolveSecrets(value, env);
    } catch (error) {
      throw new Error(`env ${name}: ${errorMessage(error)}`);
    }
  }
  return resolved;
}

/** Removes resolved secret values from a message that may echo them. */
function redact(message: string, secrets: string[]): string {
  let result = message;
  for (const secret of secrets) result = result.split(secret).join('[redacted]');
  return result;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
