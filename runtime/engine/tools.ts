/**
 * Tools the agent can call: a name, a description, a JSON Schema for the
 * arguments, and an `execute` that receives the parsed arguments and an abort
 * signal. A registry resolves a preset's tool list to definitions. Tool
 * failures are returned to the model as error results, never thrown past the
 * loop.
 */
import type { ToolDefinition } from '../providers/types.js';

export interface ToolContext {
  conversationId: string;
  sessionId: string;
  userId: string;
  signal: AbortSignal;
}

export interface Tool extends ToolDefinition {
  /** Ask a human before running it (human in the loop). */
  requiresApproval?: boolean;
  execute(args: Record<string, unknown>, context: ToolContext): Promise<string>;
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

/** Built-in tools every installation has. */
export function builtinTools(): Tool[] {
  return [
    {
      name: 'current_time',
      description: 'The current date and time in UTC (ISO 8601).',
      parameters: { type: 'object', properties: {}, additionalProperties: false },
      execute: async () => new Date().toISOString(),
    },
  ];
}
