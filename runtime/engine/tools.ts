/**
 * Tools the agent can call: a name, a description, a JSON Schema for the
 * arguments, and an `execute` that receives the parsed arguments and an abort
 * signal. A registry resolves a preset's tool list to definitions. Tool
 * failures are returned to the model as error results, never thrown past the
 * loop.
 */
import type { ToolDefinition } from '../providers/types.js';
import type { ConversationRow, PresetRow, WorkspaceRow } from '../store/schema.js';

export interface ToolContext {
  conversationId: string;
  sessionId: string;
  userId: string;
  signal: AbortSignal;
}

export interface Tool extends ToolDefinition {
  /** Ask a human before running it (human in the loop). */
  requiresApproval?: boolean;
  /**
   * The call is answered by a person instead of executed: `question` (the
   * next human message is the answer, as for ask_user) or `client` (a tool
   * the API client runs and whose result the next request carries).
   */
  answeredBy?: 'question' | 'client';
  execute(args: Record<string, unknown>, context: ToolContext): Promise<string>;
}

/** A tool call waiting for a person: an approval, an answer, or a client's result. */
export interface PendingCall {
  tool_call_id: string;
  tool_name: string;
  arguments: string;
  kind: 'approval' | 'question' | 'client';
}

/** A tool failure whose message the model should see. */
export class ToolFailure extends Error {}

export class ToolRegistry {
  private readonly tools = new Map<string, Tool>();

  register(tool: Tool): this {
    this.tools.set(tool.name, tool);
    return this;
  }

  get(name: string): Tool | undefined {
    return this.tools.get(name);
  }

  names(): string[] {
    return [...this.tools.keys()];
  }

  /** The tools a list of names selects; unknown names are reported, not fatal. */
  select(names: string[]): { tools: Tool[]; unknown: string[] } {
    const tools: Tool[] = [];
    const unknown: string[] = [];
    for (const name of names) {
      const tool = this.tools.get(name);
      if (tool) tools.push(tool);
      else unknown.push(name);
    }
    return { tools, unknown };
  }
}

export const ASK_USER = 'ask_user';

/** Built-in tools every installation has (a preset lists the ones it uses). */
export function builtinTools(): Tool[] {
  return [
    {
      name: ASK_USER,
      description:
        'Ask the people in the conversation a question and wait for their answer. Use it when you cannot continue without their input.',
      parameters: {
        type: 'object',
        properties: { question: { type: 'string', description: 'The question, as the people should read it.' } },
        required: ['question'],
        additionalProperties: false,
      },
      answeredBy: 'question',
      execute: async () => {
        throw new ToolFailure('ask_user is answered by a person, not executed');
      },
    },
    {
      name: 'current_time',
      description: 'The current date and time in UTC (ISO 8601).',
      parameters: { type: 'object', properties: {}, additionalProperties: false },
      execute: async () => new Date().toISOString(),
    },
  ];
}

/**
 * Where a session gets the tools beyond the built-ins: workspace file tools,
 * a preset's HTTP tools, its MCP servers, its subagents. A source opens a
 * toolset when a session starts and closes it when the session ends.
 */
export interface ToolsetContext {
  preset: PresetRow;
  conversation: ConversationRow;
  /** The workspace in force (conversation's, else preset's), if any. */
  workspace: WorkspaceRow | null;
  /** CONCLAVE_DATA_DIR: relative workspace folders resolve under `<dataDir>/workspaces`. */
  dataDir: string;
  /** The environment, for secrets referenced as `${env:NAME}`. */
  env: Record<string, string | undefined>;
  signal: AbortSignal;
}

export interface Toolset {
  tools: Tool[];
  /** Problems the user should see, e.g. an optional MCP server that failed (emitted as CUSTOM warning). */
  warnings: string[];
  close(): Promise<void>;
}

/** A required tool source failed: the run fails with RUN_ERROR `tool_error` and this message. */
export class ToolSourceError extends Error {}

export interface ToolSource {
  readonly name: string;
  open(context: ToolsetContext): Promise<Toolset>;
}
