/**
 * The agent loop of one session: call the model (streaming), turn its output
 * into AG-UI events, run the tool calls it asks for (in parallel), feed the
 * results back, and repeat until the model answers without tools or the step
 * limit is reached. Steering text is injected at each model-call boundary.
 *
 * The loop never emits RUN_STARTED or terminal events; the run manager does,
 * after committing. It returns what was produced, including partial output
 * when interrupted or failed.
 */
import { randomUUID } from 'node:crypto';
import { CustomName, EventType } from '../../shared/protocol/events.js';
import type { ChatMessage, StreamPart, ToolCall, ToolDefinition, TokenUsage } from '../providers/types.js';
import { ProviderError } from '../providers/types.js';
import type { SessionEmitter } from './emitter.js';
import type { SteeringQueue } from './steering.js';
import { ToolFailure, type PendingCall, type Tool, type ToolContext } from './tools.js';

/** The model call: primary model with retries and fallbacks behind it. */
export type ModelStream = (request: {
  messages: ChatMessage[];
  tools: ToolDefinition[];
  signal: AbortSignal;
}) => AsyncIterable<StreamPart | { type: 'model'; modelId: string }>;

export interface LoopInput {
  emitter: SessionEmitter;
  stream: ModelStream;
  /** System prompt, earlier history, then this session's new messages. */
  system: string;
  history: ChatMessage[];
  input: ChatMessage[];
  tools: Tool[];
  toolContext: Omit<ToolContext, 'signal'>;
  steering: SteeringQueue;
  signal: AbortSignal;
  maxSteps: number;
  /** Checked after each round of tool calls: true ends the session as completed (room opt-out). */
  shouldStop?: () => boolean;
}

export type LoopStatus = 'completed' | 'interrupted' | 'failed' | 'awaiting_input';

export interface LoopResult {
  status: LoopStatus;
  /** Messages this session adds to the conversation history (input included). */
  messages: ChatMessage[];
  finalMessage: string | null;
  /** Token usage per answering model id. */
  usage: Record<string, TokenUsage & { requests: number }>;
  /** The model that produced the last answer. */
  model: string | null;
  error?: { code: string; message: string };
  /** For `awaiting_input`: the calls a person must answer before the next turn. */
  pending?: PendingCall[];
}

const CANCELLED = 'cancelled: the run was interrupted before this tool finished';

export async function runAgentLoop(input: LoopInput): Promise<LoopResult> {
  const { emitter, signal } = input;
  const messages: ChatMessage[] = [...input.input];
  const usage: LoopResult['usage'] = {};
  const toolsByName = new Map(input.tools.map((t) => [t.name, t]));
  const definitions: ToolDefinition[] = input.tools.map(({ name, description, parameters }) => ({ name, description, parameters }));
  let model: string | null = null;
  let finalMessage: string | null = null;

  const result = (status: LoopStatus, error?: LoopResult['error']): LoopResult => ({
    status,
    messages,
    finalMessage,
    usage,
    model,
    ...(error && { error }),
  });

  for (let step = 0; ; step++) {
    injectSteering(input, messages);
    if (signal.aborted) return result('interrupted');
    if (step >= input.maxSteps) {
      return result('failed', {
        code: 'step_limit',
        message: `stopped after ${input.maxSteps} model calls without a final answer; raise the preset's max_steps or simplify the task`,
      });
    }

    const turn = new ModelTurn(emitter);
    try {
      for await (const part of input.stream({
        messages: [{ role: 'system', content: input.system }, ...input.history, ...messages],
        tools: definitions,
        signal,
      })) {
        if (part.type === 'model') model = part.modelId;
        else if (part.type === 'usage' && model) addUsage(usage, model, part.usage);
        else turn.accept(part);
      }
      turn.close();
    } catch (error) {
      turn.close();
      if (turn.hasOutput()) messages.push(turn.assistantMessage());
      if (signal.aborted || (error instanceof ProviderError && error.kind === 'aborted')) {
        turn.cancelToolCalls(messages);
        return result('interrupted');
      }
      turn.cancelToolCalls(messages);
      const message = error instanceof Error ? error.message : String(error);
      return result('failed', { code: 'provider_error', message: `the model call failed: ${message}` });
    }

    const assistant = turn.assistantMessage();
    messages.push(assistant);
    if (turn.toolCalls.length === 0) {
      finalMessage = assistant.content;
      // A steer that arrived while this last call ran gets one more turn.
      if (input.steering.closeIfEmpty()) return result('completed');
      continue;
    }

    const pending = turn.toolCalls.flatMap((call): PendingCall[] => {
      const kind = waitsFor(toolsByName.get(call.name));
      return kind ? [{ tool_call_id: call.id, tool_name: call.name, arguments: call.arguments, kind }] : [];
    });
    const runnable = turn.toolCalls.filter((call) => !pending.some((p) => p.tool_call_id === call.id));
    const outcomes = await Promise.all(runnable.map((call) => runTool(call, toolsByName, input, turn.messageId)));
    for (const outcome of outcomes) messages.push(outcome);
    if (signal.aborted) return result('interrupted');
    if (input.shouldStop?.()) {
      finalMessage = assistant.content || null;
      input.steering.closeIfEmpty();
      return result('completed');
    }
    if (pending.length > 0) {
      // A person answers these; the session ends here and the next message resumes it.
      input.steering.closeIfEmpty();
      return { ...result('awaiting_input'), pending };
    }
  }
}

/** Whether a call to this tool waits for a person, and for what. */
function waitsFor(tool: Tool | undefined): PendingCall['kind'] | null {
  if (!tool) return null;
  if (tool.answeredBy) return tool.answeredBy;
  return tool.requiresApproval ? 'approval' : null;
}

/** Runs one tool call (also used to run approved calls in the next session). */
export { runTool };

function injectSteering(input: LoopInput, messages: ChatMessage[]): void {
  const texts = input.steering.drain();
  if (texts.length === 0) return;
  const text = texts.join('\n');
  messages.push({ role: 'user', content: text });
  input.emitter.emit({
    type: EventType.CUSTOM,
    name: CustomName.steeringReceived,
    value: { message_count: texts.length, text },
  });
}

function addUsage(total: LoopResult['usage'], model: string, usage: TokenUsage): void {
  const current = (total[model] ??= { inputTokens: 0, outputTokens: 0, cachedTokens: 0, reasoningTokens: 0, requests: 0 });
  current.inputTokens += usage.inputTokens;
  current.outputTokens += usage.outputTokens;
  current.cachedTokens += usage.cachedTokens;
  current.reasoningTokens += usage.reasoningTokens;
  current.requests += 1;
}

async function runTool(
  call: ToolCall,
  tools: Map<string, Tool>,
  input: Pick<LoopInput, 'emitter' | 'signal' | 'toolContext'>,
  parentMessageId: string,
): Promise<ChatMessage> {
  const { emitter, signal } = input;
  const finish = (content: string, isError: boolean, status: 'complete' | 'error' | 'cancelled'): ChatMessage => {
    emitter.emit({
      type: EventType.TOOL_CALL_RESULT,
      messageId: parentMessageId,
      toolCallId: call.id,
      content,
      role: 'tool',
      status,
    });
    return { role: 'tool', toolCallId: call.id, toolName: call.name, content, isError };
  };

  const tool = tools.get(call.name);
  if (!tool) return finish(`error: there is no tool named "${call.name}"`, true, 'error');
  let args: Record<string, unknown>;
  try {
    const parsed: unknown = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    args = parsed as Record<string, unknown>;
  } catch {
    return finish(`error: the arguments are not a JSON object: ${call.arguments.slice(0, 200)}`, true, 'error');
  }
  if (signal.aborted) return finish(CANCELLED, true, 'cancelled');
  try {
    const output = await tool.execute(args, { ...input.toolContext, signal });
    if (signal.aborted) return finish(CANCELLED, true, 'cancelled');
    return finish(output, false, 'complete');
  } catch (error) {
    if (signal.aborted) return finish(CANCELLED, true, 'cancelled');
    const message = error instanceof ToolFailure || error instanceof Error ? error.message : String(error);
    return finish(`error: ${message}`, true, 'error');
  }
}

/**
 * One model call's output: tracks the open text, reasoning and tool-call
 * blocks, emits their AG-UI events, and assembles the assistant message.
 */
class ModelTurn {
  readonly messageId = randomUUID();
  readonly toolCalls: ToolCall[] = [];
  private text = '';
  private textOpen = false;
  private reasoning: { text: string; signature?: string; redacted?: string }[] = [];
  private reasoningId: string | null = null;
  private readonly openCalls = new Map<string, ToolCall>();

  constructor(private readonly emitter: SessionEmitter) {}

  accept(part: StreamPart): void {
    switch (part.type) {
      case 'text-delta':
        if (!part.delta) return;
        this.endReasoning();
        if (!this.textOpen) {
          this.textOpen = true;
          this.emitter.emit({ type: EventType.TEXT_MESSAGE_START, messageId: this.messageId, role: 'assistant' });
        }
        this.text += part.delta;
        this.emitter.emit({ type: EventType.TEXT_MESSAGE_CONTENT, messageId: this.messageId, delta: part.delta });
        return;
      case 'reasoning-delta':
        if (!part.delta) return;
        if (!this.reasoningId) {
          this.reasoningId = randomUUID();
          this.reasoning.push({ text: '' });
          this.emitter.emit({ type: EventType.REASONING_START, messageId: this.reasoningId });
          this.emitter.emit({ type: EventType.REASONING_MESSAGE_START, messageId: this.reasoningId, role: 'reasoning' });
        }
        this.reasoning[this.reasoning.length - 1]!.text += part.delta;
        this.emitter.emit({ type: EventType.REASONING_MESSAGE_CONTENT, messageId: this.reasoningId, delta: part.delta });
        return;
      case 'reasoning-end': {
        if (!this.reasoningId && part.redacted) this.reasoning.push({ text: '', redacted: part.redacted });
        const block = this.reasoning[this.reasoning.length - 1];
        if (block && part.signature) block.signature = part.signature;
        this.endReasoning();
        return;
      }
      case 'tool-call-start': {
        this.endText();
        this.endReasoning();
        const call: ToolCall = { id: part.id, name: part.name, arguments: '' };
        this.openCalls.set(part.id, call);
        this.toolCalls.push(call);
        this.emitter.emit({
          type: EventType.TOOL_CALL_START,
          toolCallId: part.id,
          toolCallName: part.name,
          parentMessageId: this.messageId,
        });
        return;
      }
      case 'tool-call-delta': {
        const call = this.openCalls.get(part.id);
        if (!call || !part.delta) return;
        call.arguments += part.delta;
        this.emitter.emit({ type: EventType.TOOL_CALL_ARGS, toolCallId: part.id, delta: part.delta });
        return;
      }
      case 'tool-call-end':
        if (this.openCalls.delete(part.id)) this.emitter.emit({ type: EventType.TOOL_CALL_END, toolCallId: part.id });
        return;
      case 'usage':
      case 'finish':
        return;
    }
  }

  /** Closes whatever is still open (end of stream, error or interrupt). */
  close(): void {
    this.endReasoning();
    this.endText();
    for (const id of this.openCalls.keys()) this.emitter.emit({ type: EventType.TOOL_CALL_END, toolCallId: id });
    this.openCalls.clear();
  }

  hasOutput(): boolean {
    return this.text.length > 0 || this.toolCalls.length > 0 || this.reasoning.length > 0;
  }

  /** Results for tool calls that will never run, so history stays well-formed. */
  cancelToolCalls(messages: ChatMessage[]): void {
    for (const call of this.toolCalls) {
      this.emitter.emit({
        type: EventType.TOOL_CALL_RESULT,
        messageId: this.messageId,
        toolCallId: call.id,
        content: CANCELLED,
        role: 'tool',
        status: 'cancelled',
      });
      messages.push({ role: 'tool', toolCallId: call.id, toolName: call.name, content: CANCELLED, isError: true });
    }
  }

  assistantMessage(): Extract<ChatMessage, { role: 'assistant' }> {
    return {
      role: 'assistant',
      content: this.text,
      ...(this.toolCalls.length > 0 && { toolCalls: this.toolCalls.map((c) => ({ ...c })) }),
      ...(this.reasoning.length > 0 && { reasoning: this.reasoning.map((r) => ({ ...r })) }),
    };
  }

  private endText(): void {
    if (!this.textOpen) return;
    this.textOpen = false;
    this.emitter.emit({ type: EventType.TEXT_MESSAGE_END, messageId: this.messageId });
  }

  private endReasoning(): void {
    if (!this.reasoningId) return;
    this.emitter.emit({ type: EventType.REASONING_MESSAGE_END, messageId: this.reasoningId });
    this.emitter.emit({ type: EventType.REASONING_END, messageId: this.reasoningId });
    this.reasoningId = null;
  }
}
