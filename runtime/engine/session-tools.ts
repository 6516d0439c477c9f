/**
 * The tools of one session: the preset's built-ins from the registry, every
 * tool source's toolset (workspace files, HTTP tools, MCP servers), the
 * subagent tools, and the client-side tools the request declared. Opened when
 * the session starts, closed when it ends.
 */
import type { Tool, ToolRegistry, ToolSource, ToolsetContext } from './tools.js';
import { ToolFailure } from './tools.js';

export interface SessionToolsInput {
  registry: ToolRegistry;
  sources: ToolSource[];
  context: ToolsetContext;
  /** Tools the engine adds for this session (subagents). */
  extra: Tool[];
  clientTools: { name: string; description: string; parameters: Record<string, unknown> }[];
}

export interface SessionTools {
  tools: Tool[];
  warnings: string[];
  close(): Promise<void>;
}

/** Opens every source; a required source's failure (ToolSourceError) propagates after closing what opened. */
export async function openSessionTools(input: SessionToolsInput): Promise<SessionTools> {
  const { preset } = input.context;
  const builtinNames = preset.tools.filter((t) => t.type === 'builtin').map((t) => t.name);
  const approvals = new Map(preset.tools.filter((t) => t.type === 'builtin').map((t) => [t.name, t.requires_approval === true]));
  const selected = input.registry.select(builtinNames);
  const warnings = selected.unknown.length > 0 ? [`unknown tools skipped: ${selected.unknown.join(', ')}`] : [];
  const tools: Tool[] = selected.tools.map((t) => (approvals.get(t.name) ? { ...t, requiresApproval: true } : t));

  const opened: { close(): Promise<void> }[] = [];
  const closeAll = async () => {
    await Promise.all(opened.map((t) => t.close().catch(() => undefined)));
  };
  try {
    for (const source of input.sources) {
      const toolset = await source.open(input.context);
      opened.push(toolset);
      tools.push(...toolset.tools);
      warnings.push(...toolset.warnings);
    }
  } catch (error) {
    await closeAll();
    throw error;
  }
  tools.push(...input.extra);
  for (const client of input.clientTools) {
    tools.push({
      ...client,
      answeredBy: 'client',
      execute: async () => {
        throw new ToolFailure('client-side tools are run by the client');
      },
    });
  }
  // Later tools with the same name would shadow earlier ones silently: keep the first, say so.
  const seen = new Set<string>();
  const unique = tools.filter((t) => {
    if (seen.has(t.name)) {
      warnings.push(`duplicate tool name ${t.name}: the later one was skipped`);
      return false;
    }
    seen.add(t.name);
    return true;
  });
  return { tools: unique, warnings, close: closeAll };
}
