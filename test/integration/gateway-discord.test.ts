/**
 * The Discord gateway with the REAL discord.js against the fake Discord
 * (test/fakes/discord.ts), a real runtime (startTestRuntime) and the fake
 * OpenAI:
 *
 * - the platform contract (test/support/platform-contract.ts) for the
 *   Discord adapter;
 * - end to end through startGateway: a mention opens a thread and the reply
 *   streams in by edits; a 5,000-character answer with a code block arrives
 *   as several messages under 2,000 characters with balanced fences, exactly
 *   the model's text (while 429s are injected); a message while busy is
 *   steered and gets ✅; /stop ends the run within 2 s and the reply says so;
 *   the allow-lists refuse a person and a channel without starting a run;
 *   a room persona renders through a webhook with its name and avatar; DMs,
 *   attachments, redelivered events, typing, a conversation deleted
 *   elsewhere, /new, /preset and /status.
 *
 * The gateway killed mid-answer and restarted is in gateway-restart.test.ts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_DENIED_MESSAGE, RESERVE } from '../../gateway/bridge/index.js';
import type { Place } from '../../gateway/bridge/platform.js';
import { createDiscordAdapter, WEBHOOK_NAME } from '../../gateway/discord/index.js';
import { startGateway, type Gateway } from '../../gateway/index.js';
import { ConclaveClient } from '../../shared/client/index.js';
import { findFences, splitPieces } from '../../shared/text/index.js';
import { startFakeDiscord, type FakeDiscord } from '../fakes/discord.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { callToolThenReport, GUARDED_PRESET } from '../support/approvals.js';
import { platformContract } from '../support/platform-contract.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { waitFor } from '../fakes/plumbing.js';

// ---------------------------------------------------------------- the contract

platformContract('discord', async (handlers) => {
  const discord = await startFakeDiscord({ rateLimits: { channelMessages: { limit: 5, windowMs: 1000 } } });
  const adapter = createDiscordAdapter({ token: discord.token, apiUrl: discord.apiUrl });
  await adapter.start(handlers);
  const channel: Place = {
    platform: 'discord',
    teamId: discord.guildId,
    channelId: discord.channelId,
    threadId: null,
    isDirect: false,
    key: `g${discord.guildId}/c${discord.channelId}`,
  };
  const target = (place: Place) => place.threadId ?? place.channelId;
  return {
    adapter,
    channel,
    messages: (place) =>
      discord.stored(target(place)).filter((s) => !s.deleted).map((s) => ({
        id: s.message.id,
        text: s.message.content,
        authorName: s.message.author.username,
        avatarUrl: s.webhook?.avatarUrl ?? null,
      })),
    reactions: (_place, messageId) => discord.state.reactions.filter((r) => r.messageId === messageId && !r.removed).map((r) => r.emoji),
    typingCount: (place) => discord.state.typing.filter((t) => t.channelId === target(place)).length,
    rateLimitedCount: () => discord.state.rateLimited,
    injectRateLimit: (count) =>
      discord.injectRateLimit({ count, retryAfterMs: 200, match: (method, path) => method !== 'GET' && /\/messages/.test(path) }),
    personMessage: (text, options) => discord.userMessage({ content: text, mentionsBot: options?.mentionBot ?? false }).id,
    async deleteMessage(place, messageId) {
      const res = await fetch(`${discord.apiUrl}/v10/channels/${target(place)}/messages/${messageId}`, {
        method: 'DELETE',
        headers: { Authorization: `Bot ${discord.token}` },
      });
      expect(res.status).toBe(204);
    },
    async runCommand(name, options) {
      await discord.waitFor(() => discord.state.commands.global.some((c) => c.name === name));
      const record = discord.interaction({ name, options: Object.entries(options).map(([n, value]) => ({ name: n, value })) });
      const callback = await discord.waitFor(() => record.callbacks.find((c) => c.status >= 200 && c.status < 300));
      if (callback.type === 4) return String(callback.data?.content ?? '');
      const original = await discord.waitFor(() => {
        const stored = record.originalMessageId ? discord.findMessage(record.originalMessageId) : undefined;
        return stored && stored.versions.length > 1 ? stored : undefined;
      });
      return original.message.content;
    },
    async close() {
      await adapter.stop();
      await discord.close();
    },
  };
});

describe('the Discord adapter without Manage Webhooks', () => {
  it('posts personas as the bot with a bold name prefix, and edits keep it', async () => {
    const discord = await startFakeDiscord({ botPermissions: 0n }); // only what @everyone may do
    const adapter = createDiscordAdapter({ token: discord.token, apiUrl: discord.apiUrl, registerCommands: false });
    try {
      await adapter.start({ message: async () => undefined, command: async () => undefined });
      const channel: Place = {
        platform: 'discord',
        teamId: discord.guildId,
        channelId: discord.channelId,
        threadId: null,
        isDirect: false,
        key: `g${discord.guildId}/c${discord.channelId}`,
      };
      const persona = { name: 'Ada Lovelace', avatarUrl: 'https://example.com/ada.png' };
      const posted = await adapter.post(channel, 'the engine computes', { persona });
      expect(discord.findMessage(posted.id)?.message).toMatchObject({ content: '**Ada Lovelace:** the engine computes', author: { id: discord.bot.id } });
      await adapter.edit(channel, posted.id, 'the engine computes, edited', { persona });
      expect(discord.findMessage(posted.id)?.message.content).toBe('**Ada Lovelace:** the engine computes, edited');
      expect(discord.state.webhooks.size).toBe(0);
    } finally {
      await adapter.stop();
      await discord.close();
    }
  });
});

// ---------------------------------------------------------------- end to end

describe('the Discord gateway end to end', () => {
  let rt: TestRuntime;
  let openai: FakeOpenAI;
  let discord: FakeDiscord;
  let gateway: Gateway;
  let client: ConclaveClient;
  /** The message limit the renderer splits at (Discord's 2,000 minus the status reserve). */
  const LIMIT = 2000 - RESERVE;
  const TYPING_MS = 400;

  beforeAll(async () => {
    openai = await startFakeOpenAI();
    rt = await startTestRuntime({
      env: { OPENAI_BASE_URL: openai.baseURL, OPENAI_API_KEY: 'sk-test', CONCLAVE_RATE_LIMIT_PER_MINUTE: '100000' },
    });
    for (const preset of [
      { id: 'helper', name: 'Helper', model: 'openai:gpt-test', is_default: true },
      { id: 'brief', name: 'Brief', model: 'openai:gpt-brief' },
      { id: 'ada', name: 'Ada', model: 'openai:gpt-ada', persona: { display_name: 'Ada Lovelace', avatar_url: 'https://example.com/ada.png' } },
    ]) {
      expect((await rt.api('POST', '/api/presets', { body: preset })).status).toBe(201);
    }
    discord = await startFakeDiscord({ channelNames: ['general', 'random'] });
    client = new ConclaveClient({ baseUrl: rt.url, token: rt.token });
    gateway = await startGateway({
      runtimeUrl: rt.url,
      serviceToken: rt.token,
      settings: {
        DISCORD_BOT_TOKEN: discord.token,
        DISCORD_API_URL: discord.apiUrl,
        CONCLAVE_ALLOWED_USERS: [discord.users.alice.id],
        CONCLAVE_ALLOWED_CHANNELS: [discord.channelIds.general ?? ''],
      },
      discord: { limits: { typingIntervalMs: TYPING_MS } },
    });
    await discord.waitFor(() => discord.state.commands.global.length > 0);
  });

  afterAll(async () => {
    await gateway?.stop();
    await discord?.close();
    await rt?.close();
    await openai?.close();
  });

  beforeEach(() => openai.reset());

  const general = () => discord.channelIds.general ?? '';
  const botMessages = (channelId: string) => discord.stored(channelId).filter((s) => !s.deleted && s.source !== 'user');
  const threadKey = (threadId: string) => `g${discord.guildId}/c${general()}/t${threadId}`;

  /** Alice mentions the bot in #general; resolves with the id of her message (= the thread's id). */
  function mention(text: string, author = discord.users.alice, channelId = general()): string {
    return discord.userMessage({ content: text, mentionsBot: true, author, channelId }).id;
  }

  /** Waits until the gateway rendered a turn completely (its state stored, nothing in flight). */
  async function settled(placeKey: string, timeoutMs = 20_000): Promise<void> {
    await discord.waitFor(() => {
      const subscription = gateway.bridge.subscriptionFor('discord', placeKey);
      return subscription && subscription.activeSessionId === null && !subscription.binding.state.turn && subscription.binding.cursor !== null;
    }, timeoutMs);
  }

  /** Waits until an async condition holds. */
  const eventually = <T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000) => waitFor(fn, timeoutMs, 25);

  async function conversationOf(placeKey: string): Promise<string> {
    const page = await client.listBindings({ platform: 'discord', key: placeKey });
    expect(page.items).toHaveLength(1);
    return page.items[0]!.conversation_id;
  }

  it('opens a thread for a mention and streams the reply into it by edits', async () => {
    const words = Array.from({ length: 30 }, (_, i) => `word${i} `);
    const answer = words.join('');
    openai.script({ text: words, chunkDelayMs: 100 });
    const question = mention('Tell me thirty words');

    const thread = await discord.waitFor(() => discord.state.channels.get(question));
    expect(thread).toMatchObject({ type: 11, parent_id: general() });
    const reply = await discord.waitFor(() => botMessages(question).find((s) => s.message.content === answer), 20_000);
    expect(botMessages(question)).toHaveLength(1);
    expect(reply.versions.length).toBeGreaterThan(1);
    expect(reply.versions[0]!.content.length).toBeLessThan(answer.length);
    for (const version of reply.versions) expect(answer.startsWith(version.content)).toBe(true);
    // Nothing was posted in the channel itself.
    expect(botMessages(general()).filter((s) => s.message.content === answer)).toHaveLength(0);
    // The model saw the question without the mention.
    const user = openai.chatRequests().at(-1)?.body.messages.filter((m: { role: string }) => m.role === 'user').at(-1);
    expect(user?.content).toBe('Tell me thirty words');
    // Typing was kept alive while it worked, and stopped with the answer.
    await settled(threadKey(question));
    const pulses = discord.state.typing.filter((t) => t.channelId === question);
    expect(pulses.length).toBeGreaterThanOrEqual(3);
    const lastPulse = Math.max(...pulses.map((t) => t.at));
    await new Promise((resolve) => setTimeout(resolve, TYPING_MS * 2));
    expect(discord.state.typing.filter((t) => t.channelId === question && t.at > lastPulse)).toHaveLength(0);
  });

  it('splits a 5,000-character answer with a code block into messages under 2,000 characters, exact and fence-balanced', async () => {
    const answer = longAnswer();
    expect(answer.length).toBeGreaterThanOrEqual(5000);
    const deltas = answer.match(/[\s\S]{1,40}/g) ?? [];
    openai.script({ text: deltas, chunkDelayMs: 8 });
    const rateLimitedBefore = discord.state.rateLimited;
    // Some writes meet a 429 on the way: they are waited out, never dropped.
    discord.injectRateLimit({ count: 3, retryAfterMs: 300, match: (method, path) => method === 'PATCH' && path.includes('/messages/') });
    const question = mention('Write me a long answer with code');
    await settled(threadKey(question), 30_000);

    const messages = botMessages(question).map((s) => s.message.content);
    const expected = splitPieces(answer, LIMIT);
    expect(expected.length).toBeGreaterThanOrEqual(3);
    expect(messages).toEqual(expected.map((p) => p.chunk));
    for (const content of messages) {
      expect(content.length).toBeLessThan(2000);
      expect(findFences(content).every((block) => block.terminated)).toBe(true);
    }
    // Take away the fence lines the splitter added at the cuts: the model's text, exactly.
    const rebuilt = messages.map((content, i) => content.slice(expected[i]!.reopen.length, content.length - expected[i]!.close.length)).join('');
    expect(rebuilt).toBe(answer);
    expect(discord.state.rateLimited).toBeGreaterThanOrEqual(rateLimitedBefore + 3);
  });

  it('steers the run with a message sent while it is busy, and acknowledges it with ✅', async () => {
    const first = Array.from({ length: 20 }, (_, i) => `part${i} `);
    openai.script([{ text: first, chunkDelayMs: 100 }, { text: 'Noted: shorter it is.' }]);
    const question = mention('Explain something at length');
    await discord.waitFor(() => botMessages(question)[0], 20_000);

    const steer = discord.userMessage({ content: 'shorter, please', channelId: question });
    await discord.waitFor(() => discord.state.reactions.find((r) => r.messageId === steer.id && r.emoji === '✅'), 10_000);
    // The steering reached the model (at its next call) and the answer to it is rendered too.
    await discord.waitFor(() => botMessages(question).find((s) => s.message.content.endsWith('Noted: shorter it is.')), 20_000);
    await settled(threadKey(question));
    const steered = openai.chatRequests().at(-1)?.body.messages.filter((m: { role: string }) => m.role === 'user');
    expect(JSON.stringify(steered)).toContain('shorter, please');
    const shown = botMessages(question).map((s) => s.message.content).join('\n');
    expect(shown).toContain(first.join(''));
    expect(openai.chatRequests()).toHaveLength(2);
  });

  it('/stop interrupts the run within 2 s and the reply says it was stopped', async () => {
    openai.script({ text: Array.from({ length: 200 }, (_, i) => `slow${i} `), chunkDelayMs: 100 });
    const question = mention('Count slowly to two hundred');
    const reply = await discord.waitFor(() => botMessages(question)[0], 20_000);

    const asked = Date.now();
    const stop = discord.interaction({ name: 'stop', channelId: question });
    const stopped = await discord.waitFor(() => {
      const stored = discord.findMessage(reply.message.id);
      return stored?.message.content.endsWith('⏹️ Stopped.') ? stored : undefined;
    }, 5000);
    const elapsed = Date.now() - asked;
    console.log(`/stop → "Stopped." shown after ${elapsed} ms`);
    expect(elapsed).toBeLessThan(2000);
    expect(stopped.message.content).toMatch(/^slow0 [\s\S]*\n\n⏹️ Stopped\.$/);
    await discord.waitFor(() => stop.callbacks.find((c) => c.status === 204 || c.status === 200));
    expect(String(stop.callbacks[0]?.data?.content)).toContain('Stopping');
    const conversationId = await conversationOf(threadKey(question));
    const sessions = await client.listSessions(conversationId);
    expect(sessions.items.at(-1)?.status).toBe('interrupted');
  });

  it('/approve runs the tool call waiting for approval; /deny refuses the next one with its reason', async () => {
    await client.createPreset(GUARDED_PRESET);
    openai.script({ text: 'Hello.' });
    const question = mention('Hi there');
    await settled(threadKey(question));
    const conversationId = await conversationOf(threadKey(question));
    await client.patchConversation(conversationId, { preset_id: 'guarded' });

    callToolThenReport(openai);
    const waiting = (n: number) =>
      discord.waitFor(() => {
        const lines = botMessages(question).filter((s) => s.message.content.endsWith('⏸️ waiting for approval of `current_time`: /approve or /deny'));
        return lines.length >= n ? lines : undefined;
      }, 20_000);

    // Approved: the tool runs and the model answers with its result.
    discord.userMessage({ content: 'What time is it?', channelId: question });
    await waiting(1);
    await settled(threadKey(question));
    const approve = discord.interaction({ name: 'approve', channelId: question });
    await discord.waitFor(() => approve.callbacks.find((c) => String(c.data?.content ?? '').includes('approved `current_time`')));
    const answered = await discord.waitFor(() => botMessages(question).find((s) => s.message.content.startsWith('The tool said: ')), 20_000);
    expect(answered.message.content).not.toContain('Denied');
    await settled(threadKey(question));
    expect((await client.listSessions(conversationId)).items.at(-1)?.status).toBe('completed');

    // Denied with a reason: the model is told why, and nothing waits any more.
    discord.userMessage({ content: 'And in Tokyo?', channelId: question });
    await waiting(2);
    await settled(threadKey(question));
    const deny = discord.interaction({ name: 'deny', channelId: question, options: [{ name: 'reason', value: 'not now' }] });
    await discord.waitFor(() => deny.callbacks.find((c) => String(c.data?.content ?? '').includes('denied `current_time`: not now')));
    await discord.waitFor(() => botMessages(question).find((s) => s.message.content === 'The tool said: Denied by the user: not now'), 20_000);
    await settled(threadKey(question));
    const again = discord.interaction({ name: 'approve', channelId: question });
    await discord.waitFor(() => again.callbacks.find((c) => String(c.data?.content ?? '') === 'Nothing here is waiting for approval.'));
    expect(openai.chatRequests()).toHaveLength(5);
  });

  it('refuses a person not on the allow-list: the configured answer, no binding, no run', async () => {
    const before = openai.chatRequests().length;
    const question = mention('let me in', discord.users.bob);
    const refusal = await discord.waitFor(() =>
      botMessages(general()).find((s) => s.message.message_reference?.message_id === question),
    );
    expect(refusal.message.content).toBe(DEFAULT_DENIED_MESSAGE);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(discord.state.channels.has(question)).toBe(false); // no thread
    expect((await client.listBindings({ platform: 'discord', key: threadKey(question) })).items).toHaveLength(0);
    const bobs = await rt.api('GET', '/api/conversations', { headers: { 'X-Conclave-User': `discord:${discord.users.bob.id}` } });
    expect(bobs.body.items).toHaveLength(0);
    expect(openai.chatRequests()).toHaveLength(before);
    // Chatter not meant for the bot (no mention, no DM, no bound thread) gets no answer at all.
    const chatter = discord.userMessage({ content: 'just chatting with friends', author: discord.users.bob });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(botMessages(general()).filter((s) => s.message.message_reference?.message_id === chatter.id)).toHaveLength(0);
    expect(discord.state.reactions.filter((r) => r.messageId === chatter.id)).toHaveLength(0);
    // Commands are refused too, privately.
    const command = discord.interaction({ name: 'status', user: discord.users.bob });
    const answer = await discord.waitFor(() => command.callbacks.find((c) => c.type === 4));
    expect(answer.data?.content).toBe(DEFAULT_DENIED_MESSAGE);
    expect(answer.data?.flags).toBe(64);
  });

  it('refuses a channel not on the allow-list, even for an allowed person', async () => {
    const random = discord.channelIds.random ?? '';
    const question = mention('hello from #random', discord.users.alice, random);
    await discord.waitFor(() => botMessages(random).find((s) => s.message.message_reference?.message_id === question));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(discord.state.channels.has(question)).toBe(false);
    expect(openai.chatRequests()).toHaveLength(0);
    const page = await client.listBindings({ platform: 'discord' });
    expect(page.items.some((b) => b.key.includes(`/c${random}`))).toBe(false);
  });

  it('renders a room persona through a webhook with its name and avatar, even for a run no message started', async () => {
    openai.script({ text: 'Hello, I am the helper.' });
    const question = mention('Who is there?');
    await discord.waitFor(() => botMessages(question).find((s) => s.message.content === 'Hello, I am the helper.'), 20_000);
    await settled(threadKey(question));
    const conversationId = await conversationOf(threadKey(question));

    // A room turn, as the runtime's room orchestrator emits it (speaker on every event).
    const sessionId = crypto.randomUUID();
    const speaker = { presetId: 'ada', name: 'Ada', handle: 'ada' };
    const base = { conversationId, sessionId, speaker };
    const events = [
      { type: 'RUN_STARTED', threadId: conversationId, runId: sessionId },
      { type: 'TEXT_MESSAGE_START', messageId: 'm1', role: 'assistant' },
      { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'Ada here: ' },
      { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'the engine computes.' },
      { type: 'TEXT_MESSAGE_END', messageId: 'm1' },
      { type: 'RUN_FINISHED', threadId: conversationId, runId: sessionId, result: { final_message: 'Ada here: the engine computes.' } },
    ].map((event, seq) => ({ ...event, ...base, seq, timestamp: Date.now() }));
    await rt.handle.context.eventLog.append(conversationId, events);

    const post = await discord.waitFor(() => discord.state.webhookPosts.find((p) => p.channelId === question));
    expect(post).toMatchObject({ username: 'Ada Lovelace', avatarUrl: 'https://example.com/ada.png' });
    const message = await discord.waitFor(() => {
      const stored = discord.findMessage(post.messageId);
      return stored?.message.content === 'Ada here: the engine computes.' ? stored : undefined;
    });
    expect(message.message.author.username).toBe('Ada Lovelace');
    expect(discord.state.webhooks.get(post.webhookId)).toMatchObject({ name: WEBHOOK_NAME, channel_id: general() });
  });

  it('starts afresh when the bound conversation was deleted elsewhere (the web UI, the API)', async () => {
    openai.script({ text: 'Before the deletion.' });
    const question = mention('Remember this thread');
    await discord.waitFor(() => botMessages(question).find((s) => s.message.content === 'Before the deletion.'), 20_000);
    await settled(threadKey(question));
    const before = await conversationOf(threadKey(question));
    const deleted = await rt.api('DELETE', `/api/conversations/${before}`, { headers: { 'X-Conclave-User': `discord:${discord.users.alice.id}` } });
    expect(deleted.status).toBe(204);

    openai.script({ text: 'A new beginning.' });
    discord.userMessage({ content: 'are you still there?', channelId: question }); // no mention needed: the thread was ours
    await discord.waitFor(() => botMessages(question).find((s) => s.message.content === 'A new beginning.'), 20_000);
    const after = await conversationOf(threadKey(question));
    expect(after).not.toBe(before);
  });

  it('answers a DM in the DM, and continues the same conversation there', async () => {
    openai.script([{ text: 'First DM answer.' }, { text: 'Second DM answer.' }]);
    const first = discord.userMessage({ content: 'hi in private', dm: true });
    const dm = first.channel_id;
    await discord.waitFor(() => botMessages(dm).find((s) => s.message.content === 'First DM answer.'), 20_000);
    await settled(`dm/${dm}`);
    discord.userMessage({ content: 'and again', dm: true });
    await discord.waitFor(() => botMessages(dm).find((s) => s.message.content === 'Second DM answer.'), 20_000);
    const conversationId = await conversationOf(`dm/${dm}`);
    expect((await client.listSessions(conversationId)).items).toHaveLength(2);
  });

  it('drops a redelivered message: one run, one answer', async () => {
    openai.script([{ text: 'Only once.' }, { text: 'Twice?!' }]);
    const message = discord.userMessage({ content: 'say it once', dm: true });
    discord.dispatch('MESSAGE_CREATE', { ...message, channel_type: 1 }); // a gateway replay of the same message
    await discord.waitFor(() => botMessages(message.channel_id).find((s) => s.message.content === 'Only once.'), 20_000);
    await settled(`dm/${message.channel_id}`);
    expect(botMessages(message.channel_id).filter((s) => s.message.content === 'Twice?!')).toHaveLength(0);
    expect(openai.chatRequests()).toHaveLength(1);
  });

  it('passes images to the model by URL and text attachments (a long paste) as their text', async () => {
    openai.script({ text: 'A fine cat.' });
    const paste = `def main():\n    print("héllo")\n${'# padding\n'.repeat(300)}`;
    const message = discord.userMessage({
      content: 'what is in this picture, and is this code right?',
      dm: true,
      attachments: [
        { filename: 'cat.png', contentType: 'image/png', url: 'https://cdn.example.com/cat.png' },
        { filename: 'message.txt', contentType: 'text/plain; charset=utf-8', bytes: Buffer.from(paste) },
        { filename: 'notes.pdf', contentType: 'application/pdf', bytes: Buffer.from('%PDF-1.4') },
      ],
    });
    await discord.waitFor(() => botMessages(message.channel_id).find((s) => s.message.content === 'A fine cat.'), 20_000);
    const content = openai.chatRequests().at(-1)?.body.messages.at(-1).content;
    expect(content[0]).toEqual({ type: 'text', text: 'what is in this picture, and is this code right?' });
    expect(content[1]).toEqual({ type: 'image_url', image_url: { url: 'https://cdn.example.com/cat.png' } });
    expect(content[2]).toEqual({ type: 'text', text: `<file name="message.txt">\n${paste}\n</file>` });
    // A PDF stays a reference: its name and URL.
    expect(content[3].text).toMatch(/^\[file notes\.pdf: http:\/\/127\.0\.0\.1:\d+\/attachments\/.+\/notes\.pdf\]$/);
    expect(discord.state.attachmentDownloads.map((path) => path.split('/').at(-1))).toEqual(['message.txt']);
  });

  it('keeps a place\'s messages in order while an attachment downloads', async () => {
    openai.script([{ text: 'The log shows a timeout.' }, { text: 'Raise the timeout.' }]);
    const withLog = discord.userMessage({
      content: 'here is the log',
      dm: true,
      attachments: [{ filename: 'build.log', contentType: 'text/plain', bytes: Buffer.from('ERROR: timed out after 30 s'), delayMs: 400 }],
    });
    // Sent right after, while the log still downloads.
    discord.userMessage({ content: 'what went wrong?', dm: true });
    await discord.waitFor(() => openai.chatRequests().some((r) => JSON.stringify(r.body.messages).includes('what went wrong?')), 20_000);
    const first = JSON.stringify(openai.chatRequests()[0]?.body.messages);
    expect(first).toContain('here is the log');
    expect(first).toContain('ERROR: timed out after 30 s');
    expect(first).not.toContain('what went wrong?');
    await settled(`dm/${withLog.channel_id}`);
  });

  it('/new starts a fresh conversation in the thread, /preset switches its preset, /status reports', async () => {
    openai.script({ text: 'Remembered: blue.' });
    const question = mention('My favourite colour is blue');
    await discord.waitFor(() => botMessages(question).find((s) => s.message.content === 'Remembered: blue.'), 20_000);
    await settled(threadKey(question));
    const before = await conversationOf(threadKey(question));

    const status = discord.interaction({ name: 'status', channelId: question });
    const report = await discord.waitFor(() => status.callbacks.find((c) => c.type === 4));
    expect(report.data?.content).toContain(before);
    expect(report.data?.content).toContain('idle');
    expect(report.data?.content).toMatch(/tokens in/);

    const fresh = discord.interaction({ name: 'new', channelId: question });
    await discord.waitFor(() => fresh.callbacks.find((c) => c.type === 4 || c.type === 5));
    const after = await eventually(async () => {
      const id = await conversationOf(threadKey(question));
      return id !== before ? id : undefined;
    });
    expect(after).not.toBe(before);

    const preset = discord.interaction({ name: 'preset', channelId: question, options: [{ name: 'id', value: 'brief' }] });
    const switched = await discord.waitFor(() => preset.callbacks.find((c) => c.type === 4 || c.type === 5));
    expect(switched.status).toBeLessThan(300);
    await eventually(async () => (await client.getConversation(after)).preset_id === 'brief');

    // The next message goes to the fresh conversation, answered by the new preset's model.
    openai.script({ text: 'A fresh start.' }, { model: 'gpt-brief' });
    discord.userMessage({ content: 'what is my favourite colour?', channelId: question });
    await discord.waitFor(() => botMessages(question).find((s) => s.message.content === 'A fresh start.'), 20_000);
    const request = openai.chatRequests().at(-1)!;
    expect(request.body.model).toBe('gpt-brief');
    expect(JSON.stringify(request.body.messages)).not.toContain('blue');
  });
});

/** About 5,200 characters: prose, a long TypeScript code block, more prose. */
function longAnswer(): string {
  const prose = (n: number) =>
    Array.from({ length: n }, (_, i) => `Paragraph ${i + 1} explains one more detail of the design, so that the answer is long enough to be split. `.repeat(3).trim()).join('\n\n');
  const code = Array.from({ length: 60 }, (_, i) => `  const value${i} = compute(${i}, "line ${i} of the example");`).join('\n');
  return `${prose(6)}\n\n\`\`\`ts\nfunction example() {\n${code}\n}\n\`\`\`\n\n${prose(6)}\n`;
}

