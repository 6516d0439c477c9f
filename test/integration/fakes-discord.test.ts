/**
 * Proves that test/fakes/discord.ts is good enough to drive the REAL discord.js
 * client: login over the fake gateway, mention → reply/edit/typing/reaction,
 * MESSAGE_CONTENT stripping, threads, webhooks with a per-message persona, the
 * 2000-character limit (error 50035), 429 handling and header-driven waiting,
 * nonce dedupe, slash commands, DMs, and gateway resume / re-identify.
 *
 * One client is shared by the whole file (login once); tests use their own
 * channels or message texts so they do not depend on each other's order.
 */
import {
  ChannelType,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  Partials,
  Routes,
  type Message,
  type TextChannel,
} from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeDiscord, type FakeDiscord } from '../fakes/discord.js';

let discord: FakeDiscord;
let client: Client<true>;
const received: Message[] = [];

function newClient(intents: GatewayIntentBits[]): Client {
  return new Client({ intents, partials: [Partials.Channel], rest: { api: discord.apiUrl }, waitGuildTimeout: 1000 });
}

async function login(c: Client): Promise<void> {
  const ready = new Promise<void>((resolve) => c.once(Events.ClientReady, () => resolve()));
  await c.login(discord.token);
  await ready;
}

function textChannel(id: string): TextChannel {
  const channel = client.channels.cache.get(id);
  if (!channel || channel.type !== ChannelType.GuildText) throw new Error(`channel ${id} is not a cached text channel`);
  return channel;
}

beforeAll(async () => {
  // One-second windows keep header-driven waiting short.
  discord = await startFakeDiscord({ rateLimits: { channelMessages: { limit: 5, windowMs: 1000 } } });
  const c = newClient([
    GatewayIntentBits.Guilds,
    GatewayIntentBits.GuildMessages,
    GatewayIntentBits.MessageContent,
    GatewayIntentBits.DirectMessages,
  ]);
  c.on(Events.MessageCreate, (message) => {
    received.push(message);
  });
  await login(c);
  client = c as Client<true>;
});

afterAll(async () => {
  await client?.destroy();
  await discord?.close();
});

describe('fake Discord with the real discord.js client', () => {
  it('logs in through GET /gateway/bot, IDENTIFY and READY + GUILD_CREATE', () => {
    expect(client.user.id).toBe(discord.bot.id);
    const guild = client.guilds.cache.get(discord.guildId);
    expect(guild?.channels.cache.map((c) => c.name).sort()).toEqual(['general', 'random']);
    expect(guild?.members.me?.permissions.has('ManageWebhooks')).toBe(true);
    expect(discord.state.restCalls.some((c) => c.method === 'GET' && c.path === '/gateway/bot')).toBe(true);
    const intents = discord.state.gateway.identifies[0]?.intents ?? 0;
    expect(intents & GatewayIntentBits.MessageContent).toBe(GatewayIntentBits.MessageContent);
  });

  it('delivers a mention; the bot types, replies, edits and reacts', async () => {
    const handler = async (message: Message) => {
      if (message.author.bot || !message.mentions.has(client.user)) return;
      if ('sendTyping' in message.channel) await message.channel.sendTyping();
      const reply = await message.reply('thinking…');
      await reply.edit('the answer');
      await message.react('👀');
    };
    client.on(Events.MessageCreate, handler);
    try {
      const question = discord.userMessage({ content: 'what is up?', mentionsBot: true });
      expect(question.content).toBe(`<@${discord.bot.id}> what is up?`);
      const reply = await discord.waitFor(() =>
        discord.stored(discord.channelId).find((s) => s.message.message_reference?.message_id === question.id && s.versions.length === 2),
      );
      expect(reply.message.type).toBe(19);
      expect(reply.message.author.id).toBe(discord.bot.id);
      expect(reply.versions.map((v) => v.content)).toEqual(['thinking…', 'the answer']);
      expect(reply.message.edited_timestamp).not.toBeNull();
      await discord.waitFor(() => discord.state.reactions.find((r) => r.messageId === question.id && r.emoji === '👀'));
      expect(discord.state.typing.filter((t) => t.channelId === discord.channelId)).toHaveLength(1);
      // The bot's own reply came back over the gateway too, as on real Discord.
      await discord.waitFor(() => received.find((m) => m.id === reply.message.id));
    } finally {
      client.off(Events.MessageCreate, handler);
    }
  });

  it('strips content for a client without MESSAGE_CONTENT unless the bot is mentioned', async () => {
    const blind = newClient([GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages]);
    const seen: Message[] = [];
    blind.on(Events.MessageCreate, (m) => {
      seen.push(m);
    });
    await login(blind);
    try {
      const plain = discord.userMessage({ content: 'just chatting' });
      const addressed = discord.userMessage({ content: 'hey you', mentionsBot: true });
      const [a, b] = await discord.waitFor(() => {
        const x = seen.find((m) => m.id === plain.id);
        const y = seen.find((m) => m.id === addressed.id);
        return x && y ? [x, y] : null;
      });
      expect(a?.content).toBe('');
      expect(b?.content).toContain('hey you');
    } finally {
      await blind.destroy();
    }
  });

  it('creates threads that discord.js caches; a second thread on one message fails with 160004', async () => {
    const channel = textChannel(discord.channelId);
    const starter = await channel.send('a conversation starts here');
    const thread = await starter.startThread({ name: 'Conclave session' });
    expect(thread.id).toBe(starter.id);
    expect(thread.type).toBe(ChannelType.PublicThread);
    expect(thread.parentId).toBe(channel.id);
    expect(client.channels.cache.get(thread.id)?.isThread()).toBe(true);
    await thread.send('inside the thread');
    expect(discord.messages(thread.id).map((m) => m.content)).toEqual(['inside the thread']);
    expect(discord.state.channels.get(thread.id)).toMatchObject({ type: 11, parent_id: channel.id, message_count: 1 });

    const again = await client.rest.post(Routes.threads(channel.id, starter.id), { body: { name: 'again' } }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(DiscordAPIError);
    expect((again as DiscordAPIError).code).toBe(160004);

    const standalone = await channel.threads.create({ name: 'standalone', type: ChannelType.PublicThread });
    expect(discord.state.channels.get(standalone.id)).toMatchObject({ type: 11, parent_id: channel.id });
  });

  it('posts through a webhook with a per-message username and avatar, and edits it', async () => {
    const channel = textChannel(discord.channelId);
    const webhook = await channel.createWebhook({ name: 'Conclave Relay' });
    const sent = await webhook.send({ content: 'speaking as a persona', username: 'Ada', avatarURL: 'https://example.com/ada.png' });
    expect(sent.author.username).toBe('Ada');
    expect(sent.webhookId).toBe(webhook.id);
    expect(discord.state.webhookPosts.at(-1)).toMatchObject({ webhookId: webhook.id, username: 'Ada', avatarUrl: 'https://example.com/ada.png' });

    await webhook.editMessage(sent.id, { content: 'persona, edited' });
    expect(discord.findMessage(sent.id)?.versions.map((v) => v.content)).toEqual(['speaking as a persona', 'persona, edited']);
    expect((await channel.fetchWebhooks()).has(webhook.id)).toBe(true);

    const badName = await channel.createWebhook({ name: 'my discord hook' }).catch((e: unknown) => e);
    expect((badName as DiscordAPIError).code).toBe(50035);
  });

  it('rejects content over 2000 characters with DiscordAPIError 50035', async () => {
    const channel = textChannel(discord.channelId);
    const error = await channel.send('x'.repeat(2001)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiscordAPIError);
    const apiError = error as DiscordAPIError;
    expect(apiError.code).toBe(50035);
    expect(apiError.status).toBe(400);
    expect(apiError.rawError).toMatchObject({
      message: 'Invalid Form Body',
      errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] } },
    });

    const exactly = await channel.send('y'.repeat(2000));
    await expect(exactly.edit('z'.repeat(2001))).rejects.toMatchObject({ code: 50035 });
    // Counted in UTF-16 code units: 1001 emoji are 2002 units.
    await expect(channel.send('😀'.repeat(1001))).rejects.toMatchObject({ code: 50035 });
    await expect(channel.send({ embeds: [{ description: 'd'.repeat(4097) }] })).rejects.toMatchObject({ code: 50035 });
    await expect(client.rest.post(Routes.channelMessages(channel.id), { body: { content: '   ' } })).rejects.toMatchObject({ code: 50006 });
  });

  it('answers 429 with Discord headers, and discord.js waits and retries until the message lands', async () => {
    const channelId = discord.channelIds.random ?? '';
    const channel = textChannel(channelId);
    const post = (content: string) =>
      fetch(`${discord.apiUrl}/v10/channels/${channelId}/messages`, {
        method: 'POST',
        headers: { Authorization: `Bot ${discord.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ content }),
      });
    // Another process with the same token spends the channel's budget first.
    for (let i = 0; i < 5; i += 1) expect((await post(`other replica ${i}`)).status).toBe(200);
    const limited = await post('one too many');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('x-ratelimit-scope')).toBe('user');
    expect(limited.headers.get('x-ratelimit-bucket')).toBeTruthy();
    const body = (await limited.json()) as { retry_after: number; global: boolean };
    expect(body.global).toBe(false);
    expect(body.retry_after).toBeGreaterThan(0);
    expect(body.retry_after).toBeLessThanOrEqual(1);

    const before = discord.state.rateLimited;
    await channel.send('sent after the limit');
    expect(discord.state.rateLimited).toBeGreaterThan(before);
    expect(discord.state.rateLimitLog.at(-1)).toMatchObject({ bucket: 'channelMessages', scope: 'user' });
    expect(discord.messages(channelId).at(-1)?.content).toBe('sent after the limit');
    expect(discord.messages(channelId).some((m) => m.content === 'one too many')).toBe(false);
  });

  it('sends X-RateLimit headers that let discord.js wait instead of hitting 429', async () => {
    const channel = textChannel(discord.channelId);
    const before = discord.state.rateLimited;
    const started = Date.now();
    await Promise.all(Array.from({ length: 7 }, (_, i) => channel.send(`burst ${i}`)));
    expect(discord.state.rateLimited).toBe(before);
    expect(discord.messages(channel.id).filter((m) => m.content.startsWith('burst ')).map((m) => m.content)).toEqual(
      Array.from({ length: 7 }, (_, i) => `burst ${i}`),
    );
    // 7 messages at 5 per second cannot all go out in the first window.
    expect(Date.now() - started).toBeGreaterThan(200);
  });

  it('dedupes a repeated nonce when enforce_nonce is set, and only then', async () => {
    const channel = textChannel(discord.channelIds.random ?? '');
    const first = await channel.send({ content: 'exactly once', nonce: 'turn-42-part-1', enforceNonce: true });
    const second = await channel.send({ content: 'exactly once', nonce: 'turn-42-part-1', enforceNonce: true });
    expect(second.id).toBe(first.id);
    expect(discord.messages(channel.id).filter((m) => m.content === 'exactly once')).toHaveLength(1);

    const a = await channel.send({ content: 'twice', nonce: 'no-enforce' });
    const b = await channel.send({ content: 'twice', nonce: 'no-enforce' });
    expect(b.id).not.toBe(a.id);
  });

  it('registers slash commands and answers an interaction with defer, edit and follow-up', async () => {
    await client.application.commands.set([
      { name: 'ask', description: 'Ask the agent', options: [{ type: 3, name: 'prompt', description: 'What to ask', required: true }] },
    ]);
    expect(discord.state.commands.global.map((c) => c.name)).toEqual(['ask']);

    const handler = async (interaction: import('discord.js').Interaction) => {
      if (!interaction.isChatInputCommand() || interaction.commandName !== 'ask') return;
      await interaction.deferReply();
      await interaction.editReply(`you asked: ${interaction.options.getString('prompt', true)}`);
      await interaction.followUp('and one more thing');
    };
    client.on(Events.InteractionCreate, handler);
    try {
      const record = discord.interaction({ name: 'ask', options: [{ name: 'prompt', value: 'why?' }] });
      await discord.waitFor(() => record.followupMessageIds.length === 1);
      expect(record.acknowledgedType).toBe(5);
      const original = discord.findMessage(record.originalMessageId ?? '');
      expect(original?.message.content).toBe('you asked: why?');
      expect((original?.message.flags ?? 0) & 128).toBe(0);
      expect(discord.findMessage(record.followupMessageIds[0] ?? '')?.message.content).toBe('and one more thing');

      const twice = await client.rest
        .post(Routes.interactionCallback(record.id, record.token), { body: { type: 4, data: { content: 'again' } }, auth: false })
        .catch((e: unknown) => e);
      expect((twice as DiscordAPIError).code).toBe(40060);
    } finally {
      client.off(Events.InteractionCreate, handler);
    }
  });

  it('rejects an interaction answered after the ack deadline with 10062', async () => {
    const strict = await startFakeDiscord({ interactionAckTimeoutMs: 50 });
    try {
      // No client is logged in to this fake; the slash command is answered late over plain REST.
      const record = strict.interaction({ name: 'ask' });
      await new Promise((resolve) => setTimeout(resolve, 80));
      const response = await fetch(`${strict.apiUrl}/v10/interactions/${record.id}/${record.token}/callback`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 4, data: { content: 'too late' } }),
      });
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ message: 'Unknown interaction', code: 10062 });
      expect(record.acknowledgedType).toBeNull();
    } finally {
      await strict.close();
    }
  });

  it('delivers direct messages to an uncached DM channel (partials) and takes the reply', async () => {
    const handler = async (message: Message) => {
      if (message.author.bot || message.channel.type !== ChannelType.DM) return;
      await message.reply('a private answer');
    };
    client.on(Events.MessageCreate, handler);
    try {
      const dm = discord.userMessage({ dm: true, content: 'psst', author: discord.users.bob });
      const reply = await discord.waitFor(() => discord.messages(dm.channel_id).find((m) => m.author.id === discord.bot.id));
      expect(reply.content).toBe('a private answer');
      expect(discord.state.channels.get(dm.channel_id)?.type).toBe(1);
    } finally {
      client.off(Events.MessageCreate, handler);
    }
  });

  it('resumes after disconnect(4000) and replays the events missed meanwhile', async () => {
    const identifies = discord.state.gateway.identifies.length;
    const resumed = new Promise<void>((resolve) => client.once(Events.ShardResume, () => resolve()));
    discord.disconnect(4000);
    const missed = discord.userMessage({ content: 'sent while the bot was away' });
    await resumed;
    await discord.waitFor(() => received.find((m) => m.id === missed.id));
    expect(discord.state.gateway.resumes).toBe(1);
    expect(discord.state.gateway.identifies).toHaveLength(identifies);
    expect(discord.state.gateway.paths.at(-1)).toBe('/gateway/resume');
  });

  it('re-identifies when the session is gone, and the missed message is not replayed', async () => {
    const identifies = discord.state.gateway.identifies.length;
    discord.disconnect(4000, { dropSessions: true });
    const lost = discord.userMessage({ content: 'lost during the outage' });
    await discord.waitFor(() => discord.state.gateway.identifies.length === identifies + 1, 5000);
    expect(discord.state.gateway.invalidSessions).toBe(1);
    const after = discord.userMessage({ content: 'after the reconnect' });
    await discord.waitFor(() => received.find((m) => m.id === after.id));
    expect(received.some((m) => m.id === lost.id)).toBe(false);
  });
});
