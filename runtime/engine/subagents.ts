/**
 * Async subagents: the tools an agent gets when its preset lists subagent
 * refs — spawn_agent (start a background session in the same conversation
 * and return at once), check_agents, steer_agent and cancel_agent — and the
 * continuation prompt that hands finished results back to the agent.
 */
import type { MailboxRow, SessionRow, SubagentRef } from '../store/schema.js';
import { ToolFailure, type Tool } from './tools.js';

/** What the subagent tools need from the run manager. */
export interface SubagentHost {
  spawn(ref: SubagentRef, instruction: string): Promise<SessionRow>;
  /** Subagent sessions of the conversation, newest first. */
  list(): Promise<SessionRow[]>;
  steer(agentId: string, text: string): Promise<boolean>;
  cancel(agentId: string): Promise<boolean>;
}

const preview = (text: string | null, max = 400) => (text && text.length > max ? `${text.slice(0, max)}…` : text ?? '');

export function subagentTools(refs: SubagentRef[], host: SubagentHost): Tool[] {
  if (refs.length === 0) return [];
  const catalogue = refs.map((r) => `- ${r.name}: ${r.description ?? 'no description'}`).join('\n');
  const byName = new Map(refs.map((r) => [r.name, r]));
  const agentIdSchema = { type: 'string', description: 'The agent_id spawn_agent returned.' };
  return [
    {
      name: 'spawn_agent',
      description:
        `Start a background agent on a task and return at once; its result arrives later as a message. Agents:\n${catalogue}\n` +
        'End your turn after spawning if you have nothing else to do; you will be continued with the results.',
      parameters: {
        type: 'object',
        properties: {
          name: { type: 'string', enum: refs.map((r) => r.name), description: 'Which agent.' },
          instruction: { type: 'string', description: 'The complete task: the agent sees nothing else.' },
        },
        required: ['name', 'instruction'],
        additionalProperties: false,
      },
      async execute(args) {
        const ref = byName.get(String(args.name));
        if (!ref) throw new ToolFailure(`there is no agent named "${String(args.name)}"; choose one of: ${refs.map((r) => r.name).join(', ')}`);
        const instruction = String(args.instruction ?? '').trim();
        if (!instruction) throw new ToolFailure('instruction is empty');
        const session = await host.spawn(ref, instruction);
        return JSON.stringify({ agent_id: session.id, name: ref.name, status: 'running' });
      },
    },
    {
      name: 'check_agents',
      description: 'List the background agents of this conversation with their status and a preview of their results.',
      parameters: { type: 'object', properties: {}, additionalProperties: false },
      async execute() {
        const sessions = await host.list();
        return JSON.stringify(
          sessions.map((s) => ({
            agent_id: s.id,
            name: s.subagentName,
            status: s.status,
            result_preview: preview(s.finalMessage),
            error: s.error?.message,
          })),
        );
      },
    },
    {
      name: 'steer_agent',
      description: 'Send extra guidance to a running background agent; it reads it at its next step.',
      parameters: {
        type: 'object',
        properties: { agent_id: agentIdSchema, text: { type: 'string' } },
        required: ['agent_id', 'text'],
        additionalProperties: false,
      },
      async execute(args) {
        const accepted = await host.steer(String(args.agent_id), String(args.text ?? ''));
        if (!accepted) throw new ToolFailure('that agent is not running (it may have finished); use check_agents');
        return 'delivered';
      },
    },
    {
      name: 'cancel_agent',
      description: 'Stop a running background agent.',
      parameters: { type: 'object', properties: { agent_id: agentIdSchema }, required: ['agent_id'], additionalProperties: false },
      async execute(args) {
        const cancelled = await host.cancel(String(args.agent_id));
        if (!cancelled) throw new ToolFailure('that agent is not running; use check_agents');
        return 'cancelled';
      },
    },
  ];
}

/** The prompt of a continuation run: every delivered result, failures included. */
export function continuationPrompt(messages: MailboxRow[]): string {
  const parts = messages.map((m) =>
    m.kind === 'subagent_result'
      ? `### ${m.subagentName} (finished)\n${m.content}`
      : `### ${m.subagentName} (failed)\n${m.content}`,
  );
  return `Results from your background agents:\n\n${parts.join('\n\n')}\n\nContinue the task with these results.`;
}
