/**
 * The gateway's slash commands: what they are (COMMANDS, which adapters
 * register) and what they do (runCommand). ./bridge.ts supplies the host:
 * the runtime client, bindings and subscriptions. The room commands are in
 * ./room-commands.ts.
 *
 *   /ask <text>     ask in a new thread (in a channel) or in this conversation
 *   /new            a fresh conversation for this thread / DM
 *   /stop           interrupt what runs (the answer then ends with "⏹️ Stopped.")
 *   /preset [id]    show the presets, or switch this conversation's preset
 *   /status         what runs, the model, the usage
 *   /approve        run the tool calls waiting for approval here
 *   /deny [reason]  refuse them (the model is told, with the reason)
 *   /room <template>, /personas, /persona-add <preset_id> <handle>,
 *   /persona-remove <handle>, /mode <mode>, /autopilot start [topic] | stop
 *
 * Options. Discord sends named options; Slack sends the text after the
 * command, which parseCommandText turns into the same named options.
 */
import type { ConclaveClient, RoomTemplate } from '../../shared/client/index.js';
import type { Choice, CommandSpec, CompletionRequest, InboundCommand, Place, PlatformAdapter, PlatformUser } from './platform.js';
import { completeRoomOption, ROOM_COMMANDS, runRoomCommand } from './room-commands.js';
import type { Subscription } from './subscription.js';

export const COMMANDS: CommandSpec[] = [
  {
    name: 'ask',
    description: 'Ask the agent (in a channel this opens a thread)',
    options: [{ name: 'text', description: 'Your question', required: true }],
    ephemeral: false,
  },
  { name: 'new', description: 'Start a fresh conversation here', ephemeral: false },
  { name: 'stop', description: 'Stop what the agent is doing', ephemeral: false },
  {
    name: 'preset',
    description: 'Show the agent presets, or switch this conversation to one',
    options: [{ name: 'id', description: 'The preset id to switch to', required: false }],
    ephemeral: true,
  },
  { name: 'status', description: 'What is running, the model and the usage', ephemeral: true },
  { name: 'approve', description: 'Let the agent run the tool calls waiting for approval', ephemeral: false },
  {
    name: 'deny',
    description: 'Refuse the tool calls waiting for approval',
    options: [{ name: 'reason', description: 'Told to the agent', required: false }],
    ephemeral: false,
  },
  ...ROOM_COMMANDS,
];

/**
 * Slack's command text as named options: one word for each option but the
 * last, which takes the rest (`/persona-add coder bob` → preset_id, handle;
 * `/autopilot start naming the product` → action, topic). Missing ones are
 * left out.
 */
export function parseCommandText(spec: CommandSpec, text: string): Record<string, string> {
  const options = spec.options ?? [];
  const out: Record<string, string> = {};
  let rest = text.trim();
  options.forEach((option, i) => {
    if (rest === '') return;
    if (i === options.length - 1) {
      out[option.name] = rest;
      rest = '';
      return;
    }
    const match = /^(\S+)\s*([\s\S]*)$/.exec(rest);
    out[option.name] = match?.[1] ?? rest;
    rest = match?.[2] ?? '';
  });
  return out;
}

/** What the commands need from the bridge. */
export interface CommandHost {
  /** The service client; `.withUser(id)` acts for a person. */
  client: ConclaveClient;
  userClient(place: Place, user: PlatformUser): ConclaveClient;
  defaultPresetId: string | null;
  /** The subscription of a bound place, or null when the place is not bound. */
  findSubscription(adapter: PlatformAdapter, place: Place): Promise<Subscription | null>;
  /**
   * Gets or creates the binding of a place (as `user`) and follows it. With
   * `conversationId`, a binding created now points at that conversation
   * instead of a new one.
   */
  bind(adapter: PlatformAdapter, place: Place, user: PlatformUser, conversationId?: string): Promise<Subscription>;
  /** Points a bound place at another conversation (what still runs in the old one is interrupted first). */
  rebind(subscription: Subscription, user: PlatformUser, conversationId: string): Promise<void>;
  /**
   * The subscription room commands act on: the place's own, or on Slack
   * (whose slash commands carry no thread) for a channel that is not bound
   * itself, the room thread of that channel active most recently.
   */
  roomSubscription(adapter: PlatformAdapter, place: Place): Promise<Subscription | null>;
  /**
   * The subscriptions a command may mean: the place's own, or on Slack for a
   * channel not bound itself, its followed threads, most recently active first.
   */
  commandSubscriptions(adapter: PlatformAdapter, place: Place): Promise<Subscription[]>;
  /** The room templates (cached for a minute). */
  roomTemplates(): Promise<RoomTemplate[]>;
  /** Drops what the bridge remembers of a room's participants (after a change). */
  forgetRoom(conversationId: string): void;
  /** Opens a thread for a new conversation from a message; falls back to the place itself. */
  openThread(adapter: PlatformAdapter, place: Place, fromMessageId: string, title: string): Promise<Place>;
  /** Sends a person's input to the bound conversation (steering a busy one). */
  deliver(adapter: PlatformAdapter, subscription: Subscription, user: PlatformUser, input: string, ack?: { place: Place; messageId: string }): Promise<void>;
  /** A short message for a person about a failed runtime call. */
  describeError(error: unknown): string;
}

export async function runCommand(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  switch (command.name) {
    case 'ask':
      return ask(host, adapter, command);
    case 'new':
      return fresh(host, adapter, command);
    case 'stop':
      return stop(host, adapter, command);
    case 'preset':
      return preset(host, adapter, command);
    case 'status':
      return status(host, adapter, command);
    case 'approve':
      return answerApprovals(host, adapter, command, true);
    case 'deny':
      return answerApprovals(host, adapter, command, false);
    default:
      if (await runRoomCommand(host, adapter, command)) return;
      return command.respond(`Unknown command /${command.name}.`, { ephemeral: true });
  }
}

/** Suggestions for an autocomplete option (only room commands have them). */
export async function completeOption(host: CommandHost, adapter: PlatformAdapter, request: CompletionRequest): Promise<Choice[]> {
  return completeRoomOption(host, adapter, request);
}

/** Whether a place can hold a conversation by itself (a DM or a thread) rather than opening threads. */
const holdsConversation = (place: Place) => place.isDirect || place.threadId !== null;

async function boundOrNew(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<Subscription | null> {
  const found = await host.findSubscription(adapter, command.place);
  if (found) return found;
  return holdsConversation(command.place) ? host.bind(adapter, command.place, command.user) : null;
}

const NOT_HERE = 'There is no conversation here yet: mention me or use /ask to start one.';

async function ask(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const text = (command.options.text ?? command.text).trim();
  if (!text) return command.respond('Give a question: `/ask text`.', { ephemeral: true });
  const existing = await host.findSubscription(adapter, command.place);
  if (existing || holdsConversation(command.place)) {
    const subscription = existing ?? (await host.bind(adapter, command.place, command.user));
    await command.respond(`**${command.user.name}:** ${clip(text, 1800)}`);
    await host.deliver(adapter, subscription, command.user, text);
    return;
  }
  // In a channel: the question becomes the first message of a new thread.
  const starter = await adapter.post(command.place, `**${command.user.name}** asked: ${clip(text, 1500)}`);
  const thread = await host.openThread(adapter, command.place, starter.id, text);
  const subscription = await host.bind(adapter, thread, command.user);
  await command.respond(thread.key === command.place.key ? 'Answering here.' : 'Answering in a thread below.', { ephemeral: true });
  await host.deliver(adapter, subscription, command.user, text);
}

async function fresh(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const subscription = await host.findSubscription(adapter, command.place);
  if (!subscription) {
    if (!holdsConversation(command.place)) return command.respond(NOT_HERE, { ephemeral: true });
    await host.bind(adapter, command.place, command.user);
    return command.respond('🆕 Started a fresh conversation.');
  }
  const user = host.userClient(command.place, command.user);
  const old = await user.getConversation(subscription.conversationId).catch(() => null);
  const conversation = await user.createConversation({
    ...(old?.preset_id ? { preset_id: old.preset_id } : host.defaultPresetId ? { preset_id: host.defaultPresetId } : {}),
    metadata: { platform: command.place.platform, place: command.place.key },
  });
  await host.rebind(subscription, command.user, conversation.id);
  await command.respond('🆕 Started a fresh conversation: the agent no longer sees what was said before.');
}

async function stop(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const subscription = await host.findSubscription(adapter, command.place);
  if (!subscription) return command.respond('Nothing is running here.', { ephemeral: true });
  const result = await host.userClient(command.place, command.user).interruptConversation(subscription.conversationId);
  await command.respond(result.interrupted > 0 ? `⏹️ Stopping (asked by ${command.user.name}).` : 'Nothing is running here.', {
    ephemeral: result.interrupted === 0,
  });
}

async function preset(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const wanted = (command.options.id ?? command.text).trim();
  const subscription = await boundOrNew(host, adapter, command);
  const user = host.userClient(command.place, command.user);
  const conversation = subscription ? await user.getConversation(subscription.conversationId) : null;
  if (!wanted) {
    const presets = await user.listPresets();
    const current = conversation?.preset_id ?? presets.items.find((p) => p.is_default)?.id ?? null;
    const lines = presets.items.map((p) => `${p.id === current ? '▶' : '•'} \`${p.id}\` ${p.name}${p.is_default ? ' (default)' : ''}`);
    return command.respond(lines.length > 0 ? `Presets:\n${lines.join('\n')}` : 'There are no presets yet.', { ephemeral: true });
  }
  if (!subscription || !conversation) return command.respond(NOT_HERE, { ephemeral: true });
  const target = await user.getPreset(wanted).catch(() => null);
  if (!target) return command.respond(`There is no preset \`${wanted}\`. Run /preset to see them.`, { ephemeral: true });
  await user.patchConversation(conversation.id, { preset_id: target.id });
  await command.respond(`This conversation now uses **${target.name}** (\`${target.id}\`, ${target.model.name}).`, { ephemeral: true });
}

async function status(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const subscription = await host.findSubscription(adapter, command.place);
  if (!subscription) return command.respond(NOT_HERE, { ephemeral: true });
  const user = host.userClient(command.place, command.user);
  const conversation = await user.getConversation(subscription.conversationId);
  const presetId = conversation.preset_id ?? host.defaultPresetId;
  const presetRow = presetId ? await user.getPreset(presetId).catch(() => null) : null;
  const lines = [
    `**Conversation** ${conversation.title || '(untitled)'} · \`${conversation.id}\``,
    `**Preset** ${presetRow ? `${presetRow.name} (\`${presetRow.id}\`)` : 'the default preset'} · model \`${presetRow?.model.name ?? 'default'}\``,
  ];
  const active = subscription.activeSessionId;
  if (active) {
    const session = await user.getSession(active).catch(() => null);
    const seconds = Math.round((Date.now() - (subscription.activeSince ?? Date.now())) / 1000);
    lines.push(`**Now** ⏳ answering for ${seconds} s (session \`${active}\`${session?.model ? `, model \`${session.model}\`` : ''})`);
  } else {
    lines.push('**Now** 💤 idle');
  }
  if (conversation.participants.length > 0) {
    const run = subscription.roomRun;
    lines.push(
      `**Room** ${conversation.participants.length} personas · mode \`${conversation.mode}\`${run ? ` · turn ${run.turn}, ${run.speaker} speaking` : ''}`,
    );
  }
  if (subscription.backgroundRuns.size > 0) lines.push(`**Background agents** ${subscription.backgroundRuns.size} running`);
  lines.push(`**Usage** ${usageLine(conversation.usage)}`);
  await command.respond(lines.join('\n'), { ephemeral: true });
}

/** A tool call a session left waiting for a person (in the session's `pending.calls`). */
interface PendingCall {
  tool_call_id: string;
  tool_name: string;
  kind: string;
}

/**
 * Answers the calls waiting for approval in this place's conversation: all of
 * them, approved or denied. The answer starts the next session, which the
 * subscription renders like any other.
 */
async function answerApprovals(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand, approved: boolean): Promise<void> {
  const candidates = await host.commandSubscriptions(adapter, command.place);
  if (candidates.length === 0) return command.respond(NOT_HERE, { ephemeral: true });
  const user = host.userClient(command.place, command.user);
  for (const subscription of candidates) {
    const calls = (await waitingCalls(user, subscription.conversationId)).filter((call) => call.kind === 'approval');
    if (calls.length === 0) continue;
    const reason = approved ? '' : clip((command.options.reason ?? command.text).trim(), 500);
    await user.sendMessage(subscription.conversationId, {
      approvals: calls.map((call) => ({ tool_call_id: call.tool_call_id, approved, ...(reason ? { reason } : {}) })),
      on_busy: 'reject',
    });
    const tools = [...new Set(calls.map((call) => `\`${call.tool_name}\``))].join(', ');
    return command.respond(approved ? `✅ ${command.user.name} approved ${tools}.` : `🚫 ${command.user.name} denied ${tools}${reason ? `: ${reason}` : '.'}`);
  }
  return command.respond('Nothing here is waiting for approval.', { ephemeral: true });
}

/** The calls the conversation's latest session waits on (none unless it is awaiting input). */
async function waitingCalls(user: ConclaveClient, conversationId: string): Promise<PendingCall[]> {
  const latest = (await user.listSessions(conversationId, { limit: 1, order: 'desc' })).items[0];
  const calls = (latest?.pending as { calls?: unknown } | null | undefined)?.calls;
  if (latest?.status !== 'awaiting_input' || !Array.isArray(calls)) return [];
  return calls.filter(
    (call): call is PendingCall => typeof call?.tool_call_id === 'string' && typeof call?.tool_name === 'string' && typeof call?.kind === 'string',
  );
}

/** Sums a usage-by-model record: tokens in and out, and cost. */
export function usageLine(usage: Record<string, unknown>): string {
  let input = 0;
  let output = 0;
  let cost = 0;
  for (const value of Object.values(usage)) {
    if (!value || typeof value !== 'object') continue;
    const u = value as Record<string, unknown>;
    input += Number(u.input_tokens ?? 0) || 0;
    output += Number(u.output_tokens ?? 0) || 0;
    cost += Number(u.cost_usd ?? 0) || 0;
  }
  return `${input.toLocaleString('en-US')} tokens in · ${output.toLocaleString('en-US')} out · $${cost.toFixed(4)}`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
