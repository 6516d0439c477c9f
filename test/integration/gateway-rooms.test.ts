/**
 * Rooms through the gateway, end to end: the REAL discord.js and @slack/bolt
 * against the fakes (test/fakes/discord.ts, test/fakes/slack.ts), a real
 * runtime (startTestRuntime) and the fake OpenAI scripted per persona (each
 * persona preset has its own model name, as in rooms.test.ts).
 *
 * Discord: `/room project-council` opens a thread bound to a new room, and
 * each persona posts there under its own webhook name and avatar, in
 * round-robin order, one message per turn; a message during the run is
 * queued (⏳) and answered next; a consensus result renders as a table;
 * `/autopilot start` then `/autopilot stop`; `/persona-add`,
 * `/persona-remove`, `/mode` and `/personas` change and show the room
 * (checked through the API); `@Display Name` routes to the persona's
 * handle; the template option autocompletes.
 *
 * Slack: each persona's post carries `username` and `icon_url` (streamed or
 * posted), `/room` in a channel opens its room in a thread, and room
 * commands typed in the channel act on that thread; the consensus result is
 * a Markdown table.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Bridge, COMMANDS, mapPersonaMentions, parseCommandText, roomFinishedText, type RoomPersona } from '../../gateway/bridge/index.js';
import { startGateway, type Gateway } from '../../gateway/index.js';
import { ConclaveClient } from '../../shared/client/index.js';
import { startFakeDiscord, type FakeDiscord, type InteractionRecord } from '../fakes/discord.js';
import { startFakeOpenAI, type FakeOpenAI, type OpenAITurn, type RecordedRequest } from '../fakes/openai.js';
import { startFakeSlack, type FakeSlack, type FakeSlackOptions, type SlackMessage } from '../fakes/slack.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { slackAdapterOn } from '../support/slack-adapter.js';
import { waitFor } from '../fakes/plumbing.js';

const COUNCIL = [
  ['alex', 'Alex'],
  ['sam', 'Sam'],
  ['jordan', 'Jordan'],
  ['quinn', 'Quinn'],
  ['riley', 'Riley'],
] as const;
const REVIEW = [
  ['scale', 'Scale'],
  ['shield', 'Shield'],
  ['kiss', 'Kiss'],
] as const;
const avatar = (handle: string) => `https://example.com/avatars/${handle}.png`;

let rt: TestRuntime;
let openai: FakeOpenAI;
let client: ConclaveClient;

type Script = (request: RecordedRequest, persona: string) => OpenAITurn | undefined;

const lastUser = (request: RecordedRequest) => String(request.body.messages.filter((m: { role: string }) => m.role === 'user').at(-1)?.content ?? '');
const hasTool = (request: RecordedRequest, name: string) => (request.body.tools ?? []).some((t: { function: { name: string } }) => t.function.name === name);
const afterTool = (request: RecordedRequest) => request.body.messages.at(-1)?.role === 'tool';

/** Every persona (its model is its handle) answers `<handle> speaking` unless the script says otherwise. */
function personas(custom: Script = () => undefined): void {
  openai.onRequest((request) => {
    const persona = String(request.body.model);
    return custom(request, persona) ?? { text: `${persona} speaking` };
  });
}

/** Consensus: everyone proposes, then everyone approves @scale; the facilitator sums up. */
const consensusScript: Script = (request, persona) => {
  if (hasTool(request, 'vote') && !afterTool(request)) return { toolCalls: [{ name: 'vote', arguments: JSON.stringify({ choices: ['scale'] }) }] };
  if (lastUser(request).startsWith('The group agreed')) return { text: 'Summary: we go with Scale’s plan.' };
  return { text: `${persona} proposes plan ${persona}` };
};

beforeAll(async () => {
  openai = await startFakeOpenAI();
  rt = await startTestRuntime({
    env: { OPENAI_BASE_URL: openai.baseURL, OPENAI_API_KEY: 'sk-test', CONCLAVE_PROVIDER_RETRIES: '0', CONCLAVE_RATE_LIMIT_PER_MINUTE: '100000' },
  });
  client = new ConclaveClient({ baseUrl: rt.url, token: rt.token });
  // The templates' persona presets, made beforehand with a model per persona
  // (a template creates them only when they do not exist yet) and an avatar.
  const presets = [
    { id: 'helper', name: 'Helper', model: 'openai:gpt-test', is_default: true },
    { id: 'ada', name: 'Ada', model: 'openai:ada', persona: { display_name: 'Ada Lovelace', avatar_url: avatar('ada') } },
    ...COUNCIL.map(([handle, name]) => ({ id: `project-council-${handle}`, name, model: `openai:${handle}`, persona: { display_name: name, avatar_url: avatar(handle) } })),
    ...REVIEW.map(([handle, name]) => ({ id: `system-design-review-${handle}`, name, model: `openai:${handle}`, persona: { display_name: name, avatar_url: avatar(handle) } })),
  ];
  for (const preset of presets) expect((await rt.api('POST', '/api/presets', { body: preset })).status).toBe(201);
});

afterAll(async () => {
  await rt?.close();
  await openai?.close();
});

beforeEach(() => openai.reset());

/** Waits until an async condition holds. */
const eventually = <T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 15_000) => waitFor(fn, timeoutMs, 25);

// ---------------------------------------------------------------- Discord

describe('rooms on Discord', () => {
  let discord: FakeDiscord;
  let gateway: Gateway;

  beforeAll(async () => {
    discord = await startFakeDiscord({ channelNames: ['general'] });
    gateway = await startGateway({
      runtimeUrl: rt.url,
      serviceToken: rt.token,
      settings: { DISCORD_BOT_TOKEN: discord.token, DISCORD_API_URL: discord.apiUrl },
      bridge: { cursorThrottleMs: 100 },
    });
    await discord.waitFor(() => discord.state.commands.global.some((c) => c.name === 'room'));
  });

  afterAll(async () => {
    await gateway?.stop();
    await discord?.close();
  });

  const general = () => discord.channelId;
  const threadKey = (threadId: string) => `g${discord.guildId}/c${general()}/t${threadId}`;
  /** The persona posts in a channel (webhook messages), oldest first. */
  const personaPosts = (channelId: string) => discord.state.webhookPosts.filter((p) => p.channelId === channelId);
  /** The bot's own messages (not personas, not command answers). */
  const botPosts = (channelId: string) => discord.stored(channelId).filter((s) => s.source === 'bot' && !s.deleted);
  const content = (messageId: string) => discord.findMessage(messageId)?.message.content ?? '';

  /** Runs a slash command and resolves with its answer's text (an immediate reply, or a deferred one once edited). */
  async function command(name: string, options: Record<string, string> = {}, channelId = general()): Promise<{ text: string; ephemeral: boolean }> {
    const record = discord.interaction({ name, channelId, options: Object.entries(options).map(([n, value]) => ({ name: n, value })) });
    return answerOf(record);
  }

  async function answerOf(record: InteractionRecord): Promise<{ text: string; ephemeral: boolean }> {
    const callback = await discord.waitFor(() => record.callbacks.find((c) => c.status >= 200 && c.status < 300), 10_000);
    const ephemeral = (Number(callback.data?.flags ?? 0) & 64) !== 0;
    if (callback.type === 4) return { text: String(callback.data?.content ?? ''), ephemeral };
    const original = await discord.waitFor(() => {
      const stored = record.originalMessageId ? discord.findMessage(record.originalMessageId) : undefined;
      return stored && stored.versions.length > 1 ? stored : undefined;
    }, 15_000);
    return { text: original.message.content, ephemeral };
  }

  /** `/room <template>` in #general: resolves with the room's thread id and conversation id. */
  async function openRoom(template: string): Promise<{ threadId: string; conversationId: string }> {
    const before = botPosts(general()).length;
    const answer = await command('room', { template });
    expect(answer).toEqual({ text: 'The room is open in the thread below: talk to the personas there.', ephemeral: true });
    const starter = await discord.waitFor(() => botPosts(general())[before]);
    const threadId = starter.message.id; // a thread started from a message has the message's id
    expect(discord.state.channels.get(threadId)).toMatchObject({ type: 11, parent_id: general() });
    const binding = await eventually(async () => (await client.listBindings({ platform: 'discord', key: threadKey(threadId) })).items[0]);
    return { threadId, conversationId: binding.conversation_id };
  }

  /** Waits until the gateway rendered everything of the thread (no turn in flight, cursor stored). */
  async function settled(threadId: string): Promise<void> {
    await discord.waitFor(() => {
      const subscription = gateway.bridge.subscriptionFor('discord', threadKey(threadId));
      return subscription && subscription.activeSessionId === null && !subscription.binding.state.turn && subscription.roomRun === null;
    }, 20_000);
  }

  it('/room opens a thread bound to a new room; each persona posts under its own webhook name and avatar, in round-robin order', async () => {
    personas();
    const { threadId, conversationId } = await openRoom('project-council');
    const starter = discord.findMessage(threadId)!.message.content;
    expect(starter).toContain('**alice** opened a room. 🏛️ **Project council** · mode `round_robin`');
    expect(starter).toContain('**Alex** (@alex, Project Manager)');
    const room = await client.getConversation(conversationId);
    expect(room).toMatchObject({ mode: 'round_robin', title: 'Project council', metadata: { template: 'project-council' } });
    expect(room.participants.map((p) => p.handle)).toEqual(COUNCIL.map(([handle]) => handle));
    // Only the room itself was created: the binding's own empty conversation was deleted again.
    const mine = await rt.api('GET', '/api/conversations', { headers: { 'X-Conclave-User': `discord:${discord.users.alice.id}` } });
    expect(mine.body.items.filter((c: { id: string; title: string }) => c.id !== conversationId && c.title === '')).toHaveLength(0);

    discord.userMessage({ content: 'What should we build first?', channelId: threadId });
    const posts = await discord.waitFor(() => {
      const all = personaPosts(threadId);
      return all.length === 5 && all.every((p, i) => content(p.messageId) === `${COUNCIL[i]![0]} speaking`) ? all : undefined;
    }, 20_000);
    expect(posts.map((p) => p.username)).toEqual(COUNCIL.map(([, name]) => name));
    expect(posts.map((p) => p.avatarUrl)).toEqual(COUNCIL.map(([handle]) => avatar(handle)));
    // One message per turn, each under its persona's name; nothing else in the thread.
    expect(new Set(posts.map((p) => p.messageId)).size).toBe(5);
    for (const [i, post] of posts.entries()) expect(discord.findMessage(post.messageId)?.message.author.username).toBe(COUNCIL[i]![1]);
    await settled(threadId);
    expect(botPosts(threadId)).toHaveLength(0);
    // The personas saw each other, in order.
    const riley = openai.chatRequests().find((r) => r.body.model === 'riley')!;
    expect(riley.body.messages.slice(1)).toEqual([
      { role: 'user', content: 'What should we build first?' },
      ...COUNCIL.slice(0, 4).map(([handle, name]) => ({ role: 'user', content: `[${name}]: ${handle} speaking` })),
    ]);
  });

  it('shows nothing for a persona that opts out: no message under its name, no status line', async () => {
    personas((request, persona) =>
      persona === 'sam' && !afterTool(request) ? { toolCalls: [{ name: 'opt_out', arguments: '{"reason":"nothing to add"}' }] } : undefined,
    );
    const { threadId } = await openRoom('project-council');
    discord.userMessage({ content: 'Any objections?', channelId: threadId });
    await discord.waitFor(() => personaPosts(threadId).length === 4 && content(personaPosts(threadId)[3]!.messageId) === 'riley speaking', 20_000);
    await settled(threadId);
    expect(personaPosts(threadId).map((p) => p.username)).toEqual(['Alex', 'Jordan', 'Quinn', 'Riley']);
    expect(botPosts(threadId)).toHaveLength(0);
    expect(openai.chatRequests().filter((r) => r.body.model === 'sam')).toHaveLength(1);
  });

  it('queues a message sent while the room is running (⏳): the next persona answers it', async () => {
    // Alex talks slowly, so the second message arrives while the room is running.
    personas((_request, persona) => (persona === 'alex' ? { text: ['alex ', 'thinks ', 'very ', 'slowly'], chunkDelayMs: 250 } : undefined));
    const { threadId } = await openRoom('project-council');
    discord.userMessage({ content: 'Plan the launch', channelId: threadId });
    await discord.waitFor(() => personaPosts(threadId)[0], 20_000);
    const interjection = discord.userMessage({ content: '@quinn what could go wrong?', channelId: threadId });
    await discord.waitFor(() => discord.state.reactions.find((r) => r.messageId === interjection.id && r.emoji === '⏳'), 10_000);
    await discord.waitFor(() => personaPosts(threadId).length === 5, 30_000);
    await settled(threadId);
    // Quinn was asked; the round went on in order, everyone once.
    expect(personaPosts(threadId).map((p) => p.username)).toEqual(COUNCIL.map(([, name]) => name));
    const answered = openai.chatRequests().filter((r) => lastUser(r) === '@quinn what could go wrong?');
    expect(answered.map((r) => r.body.model)).toEqual(['sam']);
    expect(JSON.stringify(openai.chatRequests().find((r) => r.body.model === 'quinn')?.body.messages)).toContain('@quinn what could go wrong?');
  });

  it('renders a consensus result as a table after the last persona’s message', async () => {
    personas(consensusScript);
    const { threadId, conversationId } = await openRoom('system-design-review');
    discord.userMessage({ content: 'Which queue should we use?', channelId: threadId });
    const table = await discord.waitFor(() => botPosts(threadId).find((s) => s.message.content.includes('Consensus')), 30_000);
    expect(table.message.content).toBe(
      [
        '🤝 **Consensus: @scale**, 100% of ballots · approval voting · threshold 50% · 1 round',
        '```',
        'Proposal  Round 1',
        '--------  -------',
        '@scale ✓        3',
        '@kiss           0',
        '@shield         0',
        '```',
      ].join('\n'),
    );
    // Proposals, then the facilitator's summary, each under its persona; the table comes last. The ballot
    // turns (a vote tool call, no text) show nothing: no "running `vote`…", no "✅ Done.".
    const posts = personaPosts(threadId);
    expect(posts.map((p) => p.username)).toEqual(['Scale', 'Shield', 'Kiss', 'Scale']);
    expect(content(posts.at(-1)!.messageId)).toBe('Summary: we go with Scale’s plan.');
    expect(BigInt(table.message.id)).toBeGreaterThan(BigInt(posts.at(-1)!.messageId));
    for (const post of posts) for (const version of discord.findMessage(post.messageId)!.versions) expect(version.content).not.toContain('running');
    await settled(threadId);
    const sessions = await client.listSessions(conversationId, { limit: 50 });
    expect(sessions.items).toHaveLength(7);
  });

  it('/autopilot start lets the personas talk; /autopilot stop ends it with a short notice', async () => {
    personas((_request, persona) => ({ text: Array.from({ length: 20 }, (_, i) => `${persona}${i} `), chunkDelayMs: 60 }));
    const { threadId, conversationId } = await openRoom('project-council');
    const started = await command('autopilot', { action: 'start', topic: 'naming the product' }, threadId);
    expect(started.text).toBe('▶️ Autopilot started on “naming the product”: the personas talk by themselves (at most 10 turns). Stop them with `/autopilot stop`.');
    await discord.waitFor(() => personaPosts(threadId)[0], 20_000);
    expect(JSON.stringify(openai.chatRequests()[0]?.body.messages)).toContain('naming the product');

    const stopped = await command('autopilot', { action: 'stop' }, threadId);
    expect(stopped).toEqual({ text: '⏹️ Autopilot stopped (asked by alice).', ephemeral: false });
    const notice = await discord.waitFor(() => botPosts(threadId).find((s) => s.message.content === '⏹️ Room stopped.'), 10_000);
    expect(notice).toBeDefined();
    await settled(threadId);
    const sessions = (await client.listSessions(conversationId, { limit: 50 })).items;
    expect(sessions.length).toBeLessThan(10);
    expect(sessions.every((s) => s.status !== 'running' && s.status !== 'queued')).toBe(true);
    // Stopping again: nothing runs.
    expect(await command('autopilot', { action: 'stop' }, threadId)).toEqual({ text: 'Nothing is running in this room.', ephemeral: true });
  });

  it('/persona-add, /persona-remove and /mode change the room; /personas shows it; errors are plain text', async () => {
    const { threadId, conversationId } = await openRoom('project-council');
    const added = await command('persona-add', { preset_id: 'ada', handle: '@Countess' }, threadId);
    expect(added).toEqual({ text: '➕ **Ada Lovelace** joined as @countess.', ephemeral: false });
    const removed = await command('persona-remove', { handle: 'quinn' }, threadId);
    expect(removed.text).toBe('➖ **Quinn** (@quinn) left the room.');
    const mode = await command('mode', { mode: 'manual' }, threadId);
    expect(mode.text).toBe('🔀 Mode: `manual` — only the personas you @mention speak.');
    const room = await client.getConversation(conversationId);
    expect(room.mode).toBe('manual');
    expect(room.participants.map((p) => p.handle)).toEqual(['alex', 'sam', 'jordan', 'riley', 'countess']);
    expect(room.participants.at(-1)).toEqual({ preset_id: 'ada', handle: 'countess' });
    // The other participants kept their fields.
    expect(room.participants[0]).toMatchObject({ preset_id: 'project-council-alex', display_name: 'Alex', title: 'Project Manager', color: '#2563eb' });

    const list = await command('personas', {}, threadId);
    expect(list.ephemeral).toBe(true);
    expect(list.text.split('\n')).toEqual([
      '**Project council** · mode `manual` (only the personas you @mention speak)',
      '• **Alex** `@alex` — Project Manager · preset `project-council-alex` · `openai:alex`',
      '• **Sam** `@sam` — Technical Architect · preset `project-council-sam` · `openai:sam`',
      '• **Jordan** `@jordan` — Creative Strategist · preset `project-council-jordan` · `openai:jordan`',
      '• **Riley** `@riley` — Resource Coordinator · preset `project-council-riley` · `openai:riley`',
      '• **Ada Lovelace** `@countess` · preset `ada` · `openai:ada`',
    ]);

    expect((await command('status', {}, threadId)).text).toContain('**Room** 5 personas · mode `manual`');

    // Refusals are short and readable, and change nothing.
    expect((await command('persona-add', { preset_id: 'nope', handle: 'x' }, threadId)).text).toBe('There is no preset `nope`. Run /preset to see them.');
    expect((await command('persona-add', { preset_id: 'ada', handle: 'sam' }, threadId)).text).toBe('@sam is already in this room.');
    expect((await command('persona-remove', { handle: 'zed' }, threadId)).text).toBe(
      'There is no @zed in this room (here: @alex, @sam, @jordan, @riley, @countess).',
    );
    expect((await command('mode', { mode: 'chaos' }, threadId)).text).toMatch(/^There is no mode `chaos`\. Modes:\n• `manual`/);
    expect((await command('personas', {})).text).toBe('There is no room here: open one with `/room <template>`, or mention me to start a conversation.');

    // In manual mode a message that names a persona by its display name goes to that persona.
    personas();
    discord.userMessage({ content: '@Ada, what do you think?', channelId: threadId });
    const post = await discord.waitFor(() => personaPosts(threadId)[0], 20_000);
    expect(post).toMatchObject({ username: 'Ada Lovelace', avatarUrl: avatar('ada') });
    await settled(threadId);
    expect(openai.chatRequests().map((r) => r.body.model)).toEqual(['ada']);
    expect(lastUser(openai.chatRequests()[0]!)).toBe('@countess, what do you think?');
    // Without a mention, manual mode refuses: the runtime's reason is shown.
    discord.userMessage({ content: 'anyone?', channelId: threadId });
    const refusal = await discord.waitFor(() => botPosts(threadId).find((s) => s.message.content.startsWith('⚠️')), 10_000);
    expect(refusal.message.content).toBe('⚠️ this room is in manual mode: mention someone (e.g. @alex) or @all');
  });

  it('suggests templates while /room is typed (autocomplete)', async () => {
    // The fake answers callbacks only for interactions it created: borrow one, then send the autocomplete under its id.
    const carrier = discord.interaction({ name: 'not-a-command' });
    const channel = discord.state.channels.get(general());
    discord.dispatch('INTERACTION_CREATE', {
      id: carrier.id,
      application_id: discord.applicationId,
      type: 4,
      token: carrier.token,
      version: 1,
      channel_id: general(),
      channel,
      guild_id: discord.guildId,
      app_permissions: '0',
      locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': discord.guildId },
      context: 0,
      member: { user: discord.users.alice, roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0, pending: false, permissions: '0' },
      data: { id: '1', name: 'room', type: 1, options: [{ name: 'template', type: 3, value: 'rev', focused: true }] },
    });
    const callback = await discord.waitFor(() => carrier.callbacks.find((c) => c.type === 8), 10_000);
    expect(callback.status).toBeLessThan(300);
    expect(callback.data?.choices).toEqual([{ name: 'System design review (system-design-review)', value: 'system-design-review' }]);
    // The registered command offers it, and /mode lists its modes as choices.
    const room = discord.state.commands.global.find((c) => c.name === 'room');
    expect(room?.options?.[0]).toMatchObject({ name: 'template', type: 3, required: true, autocomplete: true });
    const mode = discord.state.commands.global.find((c) => c.name === 'mode');
    expect(mode?.options?.[0]?.choices?.map((c: { value: string }) => c.value)).toEqual(['manual', 'round_robin', 'relay', 'debate', 'consensus', 'autopilot']);
  });
});

// ---------------------------------------------------------------- the pieces

describe('room text', () => {
  const council: RoomPersona[] = [
    { handle: 'ada', presetId: 'ada', name: 'Ada Lovelace', title: null },
    { handle: 'pm', presetId: 'pm', name: 'Alex', title: 'PM' },
    { handle: 'sam', presetId: 'sam', name: 'Sam', title: null },
  ];

  it('maps display-name mentions to handles, and leaves the rest alone', () => {
    expect(mapPersonaMentions('@Alex and @Ada Lovelace, thoughts?', council)).toBe('@pm and @Ada Lovelace, thoughts?');
    expect(mapPersonaMentions('@alex: go', council)).toBe('@pm: go');
    expect(mapPersonaMentions('@Alexander, @all and @sam', council)).toBe('@Alexander, @all and @sam');
    expect(mapPersonaMentions('mail bob@alex.com', council)).toBe('mail bob@alex.com');
  });

  it('fills Slack command options in order: one word each, the rest for the last', () => {
    const spec = (name: string) => COMMANDS.find((c) => c.name === name)!;
    expect(parseCommandText(spec('persona-add'), ' coder  @bob ')).toEqual({ preset_id: 'coder', handle: '@bob' });
    expect(parseCommandText(spec('autopilot'), 'start naming the product')).toEqual({ action: 'start', topic: 'naming the product' });
    expect(parseCommandText(spec('autopilot'), 'stop')).toEqual({ action: 'stop' });
    expect(parseCommandText(spec('ask'), 'what is 2 + 2?')).toEqual({ text: 'what is 2 + 2?' });
    expect(parseCommandText(spec('personas'), 'ignored')).toEqual({});
  });

  it('says why a room run ended only when it helps', () => {
    expect(roomFinishedText('discord', { reason: 'turn_limit', turns: 10 })).toBe('⏱️ Turn limit reached (10 turns).');
    expect(roomFinishedText('slack', { reason: 'stopped' })).toBe('⏹️ Room stopped.');
    expect(roomFinishedText('discord', { reason: 'interrupted' })).toBe('⏹️ Room stopped.');
    for (const reason of ['done', 'no_speaker', 'awaiting_user']) expect(roomFinishedText('discord', { reason })).toBeNull();
    const poll = roomFinishedText('slack', { reason: 'done', result: { poll: 'Release day?', counts: { Monday: 2, Friday: 1 }, winner: 'Monday' } });
    expect(poll).toBe('🗳️ **Poll:** Release day? · winner: **Monday**\n| Option | Votes |\n|---|---:|\n| Monday ✓ | 2 |\n| Friday | 1 |');
  });
});

// ---------------------------------------------------------------- Slack

describe('rooms on Slack', () => {
  const open: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (open.length > 0) await open.pop()?.();
  });

  /** A fake Slack plus the Slack adapter and the bridge, as `conclave gateway` runs them. */
  async function slackGateway(options: FakeSlackOptions = {}): Promise<{ slack: FakeSlack; bridge: Bridge; eventsUrl: string }> {
    const slack = await startFakeSlack(options);
    open.push(() => slack.close());
    const adapter = slackAdapterOn(slack, { tuning: { editIntervalMs: 100, streamAppendIntervalMs: 50 } });
    const bridge = new Bridge({ client, adapters: [adapter], settings: { cursorThrottleMs: 100 } });
    await bridge.start();
    open.push(() => bridge.stop());
    return { slack, bridge, eventsUrl: adapter.eventsUrl ?? '' };
  }

  /** `/room <template>` in the channel: resolves with the thread (the starter message's ts). */
  async function openRoom(slack: FakeSlack, eventsUrl: string, template: string): Promise<string> {
    expect((await slack.deliverSlashCommand(eventsUrl, { command: '/room', text: template })).status).toBe(200);
    const starter = await slack.waitFor(() => slack.messages(slack.channelId).find((m) => m.user === slack.botUserId && m.text.includes('opened a room')), 10_000);
    await slack.waitFor(() => slack.state.responseUrlPosts.find((p) => String(p.body.text).includes('thread below')), 10_000);
    return starter.ts;
  }

  const personaReplies = (slack: FakeSlack, threadTs: string): SlackMessage[] =>
    slack.messages(slack.channelId, threadTs).filter((m) => m.user === slack.botUserId && m.ts !== threadTs);

  it.each([
    ['streamed natively', {}],
    ['posted and edited', { streaming: { rejectWith: 'unknown_method' } }],
  ] as Array<[string, FakeSlackOptions]>)('gives each persona’s post its username and icon_url (%s)', async (_how, options) => {
    const native = !options.streaming?.rejectWith;
    personas();
    const { slack, eventsUrl } = await slackGateway(options);
    const threadTs = await openRoom(slack, eventsUrl, 'project-council');
    const message = slack.userMessage({ text: 'What should we build first?', threadTs });
    expect((await slack.deliverEvent(eventsUrl, message.messageEvent)).status).toBe(200);

    const replies = await slack.waitFor(() => {
      const all = personaReplies(slack, threadTs);
      return all.length === 5 && all.every((m, i) => m.text === `${COUNCIL[i]![0]} speaking`) ? all : undefined;
    }, 30_000);
    // The calls that created the persona messages carried each persona's name and avatar.
    const creating = native ? 'chat.startStream' : 'chat.postMessage';
    const calls = slack.state.calls.filter((c) => c.method === creating && c.ok && c.args.thread_ts === threadTs);
    expect(calls.map((c) => c.args.username)).toEqual(COUNCIL.map(([, name]) => name));
    expect(calls.map((c) => c.args.icon_url)).toEqual(COUNCIL.map(([handle]) => avatar(handle)));
    if (!native) {
      expect(replies.map((m) => m.username)).toEqual(COUNCIL.map(([, name]) => name));
      expect(replies.map((m) => m.icon_url)).toEqual(COUNCIL.map(([handle]) => avatar(handle)));
    }
  });

  it('acts on the channel’s room thread from a channel command, and shows a consensus result as a Markdown table', async () => {
    personas(consensusScript);
    const { slack, eventsUrl } = await slackGateway({ streaming: { rejectWith: 'unknown_method' } });
    const threadTs = await openRoom(slack, eventsUrl, 'project-council');
    // Slack sends no thread with a slash command: typed in the channel, /personas and /mode find the room thread.
    await slack.deliverSlashCommand(eventsUrl, { command: '/personas' });
    const listed = await slack.waitFor(() => slack.state.responseUrlPosts.find((p) => String(p.body.text).startsWith('**Project council**')), 10_000);
    expect(String(listed.body.text)).toContain('`@riley`');
    expect(listed.body.response_type).toBe('ephemeral');
    await slack.deliverSlashCommand(eventsUrl, { command: '/persona-remove', text: 'quinn' });
    await slack.deliverSlashCommand(eventsUrl, { command: '/persona-remove', text: '@riley' });
    await slack.deliverSlashCommand(eventsUrl, { command: '/conclave', text: 'mode consensus' });
    await slack.waitFor(() => slack.state.responseUrlPosts.find((p) => String(p.body.text).startsWith('🔀 Mode: `consensus`')), 10_000);
    const bindings = await client.listBindings({ platform: 'slack', key: `${slack.teamId}/${slack.channelId}/${threadTs}` });
    const room = await client.getConversation(bindings.items[0]!.conversation_id);
    expect(room.mode).toBe('consensus');
    expect(room.participants.map((p) => p.handle)).toEqual(['alex', 'sam', 'jordan']);

    // Everyone votes for the first proposal here (`scale` is not in this room: the script's ballot is remapped).
    personas((request, persona) => {
      if (hasTool(request, 'vote') && !afterTool(request)) return { toolCalls: [{ name: 'vote', arguments: JSON.stringify({ choices: ['alex'] }) }] };
      return { text: `${persona} proposes plan ${persona}` };
    });
    const message = slack.userMessage({ text: 'Which plan?', threadTs });
    await slack.deliverEvent(eventsUrl, message.messageEvent);
    const table = await slack.waitFor(() => personaReplies(slack, threadTs).find((m) => m.text.includes('Consensus')), 30_000);
    expect(table.text).toBe(
      [
        '🤝 **Consensus: @alex**, 100% of ballots · approval voting · threshold 50% · 1 round',
        '| Proposal | Round 1 |',
        '|---|---:|',
        '| @alex ✓ | 3 |',
        '| @jordan | 0 |',
        '| @sam | 0 |',
      ].join('\n'),
    );
    expect(table.username).toBeUndefined(); // the result is the bot's, not a persona's
  });
});
