/**
 * The room commands (registered with the others through ./commands.ts):
 *
 *   /room <template>                    open a room from a template here (a thread in a channel)
 *   /personas                           who is in the room, its mode
 *   /persona-add <preset_id> <handle>   add a persona (a preset) as @handle
 *   /persona-remove <handle>            remove one
 *   /mode <mode>                        how the room decides who speaks
 *   /autopilot start [topic] | stop     let the personas talk by themselves, or stop them
 *
 * Everything goes through the runtime's API, acting for the person:
 * POST /api/room-templates/:id/rooms, PATCH /api/conversations/:id (the
 * whole `participants` list, `mode`), POST /api/conversations/:id/autopilot.
 * The runtime checks the values; its refusals reach the person as text
 * (the bridge's describeError). Answers are short; /personas answers only
 * the person who asked, the others are shown to everyone in the place
 * (they change the room for everyone).
 *
 * `/room` binds the place to the new room like /new binds a fresh
 * conversation: in a thread or DM that place (rebinding it when it was
 * bound), in a channel a new thread under a starter message (like /ask).
 */
import type { Conversation } from '../../shared/client/index.js';
import type { CommandHost } from './commands.js';
import type { Choice, CommandSpec, CompletionRequest, InboundCommand, Place, PlatformAdapter } from './platform.js';
import { ROOM_MODES, roomPersonas, type RoomPersona } from './rooms.js';
import type { Subscription } from './subscription.js';

export const ROOM_COMMANDS: CommandSpec[] = [
  {
    name: 'room',
    description: 'Open a room of personas from a template here',
    options: [{ name: 'template', description: 'The room template, e.g. project-council', required: true, autocomplete: true }],
    ephemeral: false,
  },
  { name: 'personas', description: 'The personas in this room, and its mode', ephemeral: true },
  {
    name: 'persona-add',
    description: 'Add a persona (an agent preset) to this room',
    options: [
      { name: 'preset_id', description: 'The preset the persona uses', required: true, autocomplete: true },
      { name: 'handle', description: 'Its @handle in the room, e.g. ada', required: true },
    ],
    ephemeral: false,
  },
  {
    name: 'persona-remove',
    description: 'Remove a persona from this room',
    options: [{ name: 'handle', description: 'The @handle to remove', required: true, autocomplete: true }],
    ephemeral: false,
  },
  {
    name: 'mode',
    description: 'Change how this room decides who speaks',
    options: [{ name: 'mode', description: 'The mode', required: true, choices: Object.keys(ROOM_MODES) }],
    ephemeral: false,
  },
  {
    name: 'autopilot',
    description: 'Let the personas talk by themselves, or stop them',
    options: [
      { name: 'action', description: 'start or stop', required: true, choices: ['start', 'stop'] },
      { name: 'topic', description: 'What they should talk about (start)', required: false },
    ],
    ephemeral: false,
  },
];

const NO_ROOM = 'There is no room here: open one with `/room <template>`, or mention me to start a conversation.';
const NO_PERSONAS = 'This conversation has no personas yet: add one with `/persona-add <preset_id> <handle>`, or open a room with `/room <template>`.';

/** Runs a room command; false when `command` is not one. */
export async function runRoomCommand(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<boolean> {
  switch (command.name) {
    case 'room':
      await openRoom(host, adapter, command);
      return true;
    case 'personas':
      await listPersonas(host, adapter, command);
      return true;
    case 'persona-add':
      await addPersona(host, adapter, command);
      return true;
    case 'persona-remove':
      await removePersona(host, adapter, command);
      return true;
    case 'mode':
      await changeMode(host, adapter, command);
      return true;
    case 'autopilot':
      await autopilot(host, adapter, command);
      return true;
    default:
      return false;
  }
}

// ------------------------------------------------------------ /room

async function openRoom(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const wanted = (command.options.template ?? '').trim().toLowerCase();
  const templates = await host.roomTemplates();
  const list = templates.map((t) => `• \`${t.id}\` ${t.name} (${t.participants.length} personas, ${t.mode})`).join('\n');
  if (!wanted) return command.respond(`Give a template: \`/room <template>\`.\n${list}`, { ephemeral: true });
  const template = templates.find((t) => t.id === wanted) ?? templates.find((t) => t.name.toLowerCase() === wanted);
  if (!template) return command.respond(`There is no room template \`${wanted}\`. Templates:\n${list}`, { ephemeral: true });

  const user = host.userClient(command.place, command.user);
  const room = await user.createRoomFromTemplate(template.id, {
    title: template.name,
    metadata: { platform: command.place.platform, opened_in: command.place.key },
  });
  const intro = roomIntro(room.title || template.name, room.mode, roomPersonas(room.participants));

  const existing = await host.findSubscription(adapter, command.place);
  if (existing) {
    await host.rebind(existing, command.user, room.id);
    return command.respond(`${intro}\nThe earlier conversation here is closed; the room starts afresh.`);
  }
  if (holdsConversation(command.place)) {
    await host.bind(adapter, command.place, command.user, room.id);
    return command.respond(intro);
  }
  // In a channel: the room gets a thread of its own under a starter message.
  const starter = await adapter.post(command.place, `**${command.user.name}** opened a room. ${intro}`);
  const thread = await host.openThread(adapter, command.place, starter.id, template.name);
  await host.bind(adapter, thread, command.user, room.id);
  await command.respond(thread.key === command.place.key ? 'The room is here.' : 'The room is open in the thread below: talk to the personas there.', {
    ephemeral: true,
  });
}

/** "🏛️ Project council · round_robin …" plus who is there. */
function roomIntro(title: string, mode: string, personas: RoomPersona[]): string {
  const who = personas.map((p) => `**${p.name ?? p.handle}** (@${p.handle}${p.title ? `, ${p.title}` : ''})`).join(', ');
  const how = ROOM_MODES[mode] ? ` — ${ROOM_MODES[mode]}` : '';
  return `🏛️ **${title}** · mode \`${mode}\`${how}\nPersonas: ${who || 'none yet'}.\nWrite here to talk to them; @mention one to ask only them.`;
}

// ------------------------------------------------------------ /personas

async function listPersonas(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const found = await roomOf(host, adapter, command);
  if (!found) return;
  const { conversation } = found;
  const personas = roomPersonas(conversation.participants);
  if (personas.length === 0) return command.respond(NO_PERSONAS, { ephemeral: true });
  const user = host.userClient(command.place, command.user);
  const presets = await Promise.all(personas.map((p) => user.getPreset(p.presetId).catch(() => null)));
  const lines = personas.map((p, i) => {
    const preset = presets[i];
    const presetName = typeof preset?.persona.display_name === 'string' ? preset.persona.display_name : preset?.name;
    const name = p.name ?? presetName ?? p.handle;
    const model = preset ? ` · \`${preset.model.name}\`` : ' · preset missing';
    return `• **${name}** \`@${p.handle}\`${p.title ? ` — ${p.title}` : ''} · preset \`${p.presetId}\`${model}`;
  });
  const how = ROOM_MODES[conversation.mode] ? ` (${ROOM_MODES[conversation.mode]})` : '';
  await command.respond([`**${conversation.title || 'Room'}** · mode \`${conversation.mode}\`${how}`, ...lines].join('\n'), { ephemeral: true });
}

// ------------------------------------------------------------ /persona-add, /persona-remove

async function addPersona(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const presetId = (command.options.preset_id ?? '').trim();
  const handle = normaliseHandle(command.options.handle ?? '');
  if (!presetId || !handle) return command.respond('Give a preset and a handle: `/persona-add <preset_id> <handle>`.', { ephemeral: true });
  if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(handle) || handle === 'all') {
    return command.respond(`\`${handle}\` cannot be a handle: use 1–32 letters, digits, _ or - (and not "all").`, { ephemeral: true });
  }
  const found = await roomOf(host, adapter, command, { bindIfNeeded: true });
  if (!found) return;
  const { conversation } = found;
  const participants = conversation.participants.map(participantBody);
  if (participants.some((p) => p.handle === handle)) return command.respond(`@${handle} is already in this room.`, { ephemeral: true });
  const user = host.userClient(command.place, command.user);
  const preset = await user.getPreset(presetId).catch(() => null);
  if (!preset) return command.respond(`There is no preset \`${presetId}\`. Run /preset to see them.`, { ephemeral: true });
  // A one-agent conversation becomes a room: it needs a room mode too (round_robin is the rooms' default).
  const becomesRoom = conversation.mode === 'single';
  await user.patchConversation(conversation.id, {
    participants: [...participants, { preset_id: preset.id, handle }],
    ...(becomesRoom && { mode: 'round_robin' }),
  });
  host.forgetRoom(conversation.id);
  const name = typeof preset.persona.display_name === 'string' && preset.persona.display_name ? preset.persona.display_name : preset.name;
  await command.respond(`➕ **${name}** joined as @${handle}.${becomesRoom ? ' This conversation is a room now (mode `round_robin`).' : ''}`);
}

async function removePersona(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const handle = normaliseHandle(command.options.handle ?? '');
  if (!handle) return command.respond('Give the handle to remove: `/persona-remove <handle>`.', { ephemeral: true });
  const found = await roomOf(host, adapter, command);
  if (!found) return;
  const { conversation } = found;
  const personas = roomPersonas(conversation.participants);
  const leaving = personas.find((p) => p.handle === handle);
  if (!leaving) {
    const here = personas.map((p) => `@${p.handle}`).join(', ') || 'nobody';
    return command.respond(`There is no @${handle} in this room (here: ${here}).`, { ephemeral: true });
  }
  const user = host.userClient(command.place, command.user);
  const rest = conversation.participants.map(participantBody).filter((p) => p.handle !== handle);
  await user.patchConversation(conversation.id, { participants: rest });
  host.forgetRoom(conversation.id);
  const empty = rest.length === 0 ? ' No personas are left: the conversation’s own agent answers here again.' : '';
  await command.respond(`➖ **${leaving.name ?? handle}** (@${handle}) left the room.${empty}`);
}

// ------------------------------------------------------------ /mode

async function changeMode(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const mode = (command.options.mode ?? '').trim().toLowerCase();
  const found = await roomOf(host, adapter, command);
  if (!found) return;
  const { conversation } = found;
  const modes = Object.entries(ROOM_MODES)
    .map(([name, what]) => `• \`${name}\` ${what}`)
    .join('\n');
  if (!mode) return command.respond(`This room's mode is \`${conversation.mode}\`. Modes:\n${modes}`, { ephemeral: true });
  if (!ROOM_MODES[mode]) return command.respond(`There is no mode \`${mode}\`. Modes:\n${modes}`, { ephemeral: true });
  if (conversation.participants.length === 0) return command.respond(NO_PERSONAS, { ephemeral: true });
  if (mode === conversation.mode) return command.respond(`The mode is already \`${mode}\`.`, { ephemeral: true });
  await host.userClient(command.place, command.user).patchConversation(conversation.id, { mode: mode as Conversation['mode'] });
  host.forgetRoom(conversation.id);
  await command.respond(`🔀 Mode: \`${mode}\` — ${ROOM_MODES[mode]}.`);
}

// ------------------------------------------------------------ /autopilot

async function autopilot(host: CommandHost, adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
  const action = (command.options.action ?? '').trim().toLowerCase();
  const topic = (command.options.topic ?? '').trim();
  if (action !== 'start' && action !== 'stop') {
    return command.respond('Use `/autopilot start [topic]` or `/autopilot stop`.', { ephemeral: true });
  }
  const found = await roomOf(host, adapter, command);
  if (!found) return;
  const { conversation, subscription } = found;
  if (conversation.participants.length === 0) return command.respond(NO_PERSONAS, { ephemeral: true });
  const user = host.userClient(command.place, command.user);
  if (action === 'stop') {
    const { stopped } = await user.stopAutopilot(conversation.id);
    return command.respond(stopped ? `⏹️ Autopilot stopped (asked by ${command.user.name}).` : 'Nothing is running in this room.', { ephemeral: !stopped });
  }
  subscription.lastRequester = command.user.id; // Slack streams in channels are addressed to a person
  await user.startAutopilot(conversation.id, topic || undefined);
  const limit = typeof conversation.mode_settings.max_turns === 'number' ? conversation.mode_settings.max_turns : 10;
  await command.respond(
    `▶️ Autopilot started${topic ? ` on “${clip(topic, 200)}”` : ''}: the personas talk by themselves (at most ${limit} turns). Stop them with \`/autopilot stop\`.`,
  );
}

// ------------------------------------------------------------ autocomplete

/** Suggestions for `/room template`, `/persona-add preset_id` and `/persona-remove handle`. */
export async function completeRoomOption(host: CommandHost, adapter: PlatformAdapter, request: CompletionRequest): Promise<Choice[]> {
  const typed = request.value.trim().toLowerCase();
  const matches = (...texts: string[]) => typed === '' || texts.some((t) => t.toLowerCase().includes(typed));
  const key = `${request.command}:${request.option}`;
  if (key === 'room:template') {
    const templates = await host.roomTemplates();
    return templates.filter((t) => matches(t.id, t.name)).map((t) => ({ name: `${t.name} (${t.id})`, value: t.id }));
  }
  if (key === 'persona-add:preset_id') {
    const presets = await host.userClient(request.place, request.user).listPresets();
    return presets.items.filter((p) => matches(p.id, p.name)).map((p) => ({ name: `${p.name} (${p.id})`, value: p.id }));
  }
  if (key === 'persona-remove:handle') {
    const subscription = await host.roomSubscription(adapter, request.place);
    if (!subscription) return [];
    const conversation = await host.userClient(request.place, request.user).getConversation(subscription.conversationId);
    return roomPersonas(conversation.participants)
      .filter((p) => matches(p.handle, p.name ?? ''))
      .map((p) => ({ name: `@${p.handle}${p.name ? ` — ${p.name}` : ''}`, value: p.handle }));
  }
  return [];
}

// ------------------------------------------------------------ helpers

/** Whether a place can hold a conversation by itself (a DM or a thread). */
const holdsConversation = (place: Place) => place.isDirect || place.threadId !== null;

/**
 * The room a command acts on and its conversation, or null after telling
 * the person there is none. `bindIfNeeded`: an unbound thread or DM gets a
 * conversation (for /persona-add, which can turn it into a room).
 */
async function roomOf(
  host: CommandHost,
  adapter: PlatformAdapter,
  command: InboundCommand,
  { bindIfNeeded = false }: { bindIfNeeded?: boolean } = {},
): Promise<{ subscription: Subscription; conversation: Conversation } | null> {
  let subscription = await host.roomSubscription(adapter, command.place);
  if (!subscription && bindIfNeeded && holdsConversation(command.place)) subscription = await host.bind(adapter, command.place, command.user);
  if (!subscription) {
    await command.respond(NO_ROOM, { ephemeral: true });
    return null;
  }
  const conversation = await host.userClient(command.place, command.user).getConversation(subscription.conversationId);
  return { subscription, conversation };
}

/** `@Ada` → `ada`. */
function normaliseHandle(text: string): string {
  return text.trim().replace(/^@/, '').toLowerCase();
}

/** A stored participant as a PATCH body entry (only the fields the API takes). */
function participantBody(p: Record<string, unknown>): { preset_id: string; handle: string } & Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of ['display_name', 'title', 'avatar_url', 'color', 'weight', 'side']) {
    if (p[field] !== undefined && p[field] !== null) out[field] = p[field];
  }
  return { ...out, preset_id: String(p.preset_id ?? ''), handle: String(p.handle ?? '') };
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

