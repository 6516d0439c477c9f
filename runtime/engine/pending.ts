/**
 * Human in the loop: resolving the calls a session left waiting for a person
 * (approvals, ask_user questions, client-side tools) with what the next
 * message carries. Approved calls run now; denied ones, and any the message
 * leaves unanswered, return a clear note to the model, so history stays
 * well-formed and the model knows what happened.
 */
import { randomUUID } from 'node:crypto';
import { EventType } from '../../shared/protocol/events.js';
import type { ChatMessage } from '../providers/types.js';
import type { SessionEmitter } from './emitter.js';
import { runTool, type LoopInput } from './loop.js';
import type { PendingCall, Tool } from './tools.js';

export interface HumanAnswers {
  approvals: { tool_call_id: string; approved: boolean; reason?: string }[];
  toolResults: { tool_call_id: string; output?: string; error?: string }[];
  /** The message text, which answers ask_user questions. */
  text: string | null;
}

export interface Resolution {
  messages: ChatMessage[];
  /** True when the text answered a question (so it is not also a new user message). */
  textUsed: boolean;
}

export const UNANSWERED = {
  approval: 'Denied: the next message did not approve this call, so it was not run.',
  question: 'No answer was given: the person sent no text.',
  client: 'No result was provided: the next request did not include this tool result.',
} as const;

export async function resolvePending(
  pending: PendingCall[],
  answers: HumanAnswers,
  tools: Map<string, Tool>,
  context: Pick<LoopInput, 'emitter' | 'signal' | 'toolContext'>,
): Promise<Resolution> {
  const messageId = randomUUID();
  const messages: ChatMessage[] = [];
  let textUsed = false;
  const reply = (call: PendingCall, content: string, status: 'complete' | 'error', emitter: SessionEmitter) => {
    emitter.emit({ type: EventType.TOOL_CALL_RESULT, messageId, toolCallId: call.tool_call_id, content, role: 'tool', status });
    messages.push({ role: 'tool', toolCallId: call.tool_call_id, toolName: call.tool_name, content, isError: status === 'error' });
  };

  for (const call of pending) {
    if (call.kind === 'approval') {
      const answer = answers.approvals.find((a) => a.tool_call_id === call.tool_call_id);
      if (answer?.approved) {
        const toolCall = { id: call.tool_call_id, name: call.tool_name, arguments: call.arguments };
        // Approved: now it may run.
        const approved = new Map(tools);
        const tool = tools.get(call.tool_name);
        if (tool) approved.set(call.tool_name, { ...tool, requiresApproval: false });
        messages.push(await runTool(toolCall, approved, context, messageId));
      } else if (answer) {
        reply(call, `Denied by the user${answer.reason ? `: ${answer.reason}` : '.'}`, 'error', context.emitter);
      } else {
        reply(call, UNANSWERED.approval, 'error', context.emitter);
      }
    } else if (call.kind === 'question') {
      if (answers.text) {
        reply(call, answers.text, 'complete', context.emitter);
        textUsed = true;
      } else {
        reply(call, UNANSWERED.question, 'error', context.emitter);
      }
    } else {
      const result = answers.toolResults.find((r) => r.tool_call_id === call.tool_call_id);
      if (!result) reply(call, UNANSWERED.client, 'error', context.emitter);
      else if (result.error !== undefined) reply(call, `error: ${result.error}`, 'error', context.emitter);
      else reply(call, result.output ?? '', 'complete', context.emitter);
    }
  }
  return { messages, textUsed };
}
