/**
 * The Slack adapter (gateway/slack) with the REAL @slack/bolt and
 * @slack/web-api against the fake Slack (test/fakes/slack.ts): signed HTTP
 * events and Socket Mode in, places and dedupe keys, slash commands with
 * response_url, posting/editing/reacting/typing out, native streaming with
 * roll-over on expiry and the fallback signal when a workspace refuses the
 * methods, limits respected, and 429s waited out without losing text.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Bridge } from '../../gateway/bridge/index.js';
import type { InboundCommand, InboundMessage, NativeStream, Place } from '../../gateway/bridge/platform.js';
import { PlatformError } from '../../gateway/bridge/platform.js';
import { commandName, plainText } from '../../gateway/slack/inbound.js';
import { headChunk } from '../../gateway/slack/stream.js';
import {
  createSlackAdapter,
  EMOJI_NAMES,
  NativeStreamUnavailable,
  placeFor,
  slackEmojiName,
  slackOptionsFromSettings,
  StreamStoppedByUser,
  type SlackAdapter,
  type SlackAdapterOptions,
} from '../../gateway/slack/index.js';
import { ConclaveClient } from '../../shared/client/index.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startFakeSlack, type FakeSlack, type FakeSlackOptions, type SlackMessage } from '../fakes/slack.js';
import { callToolThenReport, GUARDED_PRESET } from '../support/approvals.js';
import { platformContract } from '../support/platform-contract.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { slackAdapterOn } from '../support/slack-adapter.js';

interface Harness {
  slack: FakeSlack;
  adapter: SlackAdapter;
  messages: InboundMessage[];
  commands: InboundCommand[];
  eventsUrl: string;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (open.length > 0) await open.pop()?.();
});

/** A fake Slack plus a started adapter (HTTP mode on a free port unless `mode` says otherwise). */
async function harness(fake: FakeSlackOptions = {}, options: Partial<SlackAdapterOptions> = {}, existing?: FakeSlack): Promise<Harness> {
  const slack = existing ?? (await startFakeSlack(fake));
  if (!existing) open.push(() => slack.close());
  const adapter = slackAdapterOn(slack, {
    appToken: slack.appToken,
    tuning: { streamAppendIntervalMs: 10, editIntervalMs: 50, socketClientPingTimeoutMs: 500 },
    ...options,
  });
  const messages: InboundMessage[] = [];
  const commands: InboundCommand[] = [];
  await adapter.start({
    message: async (message) => {
      messages.push(message);
    },
    command: async (command) => {
      commands.push(command);
      await command.respond(`ran ${command.name}: ${command.text}`);
    },
  });
  open.push(() => adapter.stop());
  return { slack, adapter, messages, commands, eventsUrl: adapter.eventsUrl ?? '' };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface ApiProxy {
  apiUrl: string;
  /** method → Slack error to answer instead of forwarding. */
  refuse: Map<string, string>;
  /** Methods whose next call is forwarded but whose answer is never returned (connection cut). */
  loseResponse: Set<string>;
}

/** A pass-through in front of the fake's Web API that can refuse methods or lose answers. */
async function startApiProxy(target: string): Promise<ApiProxy> {
  const refuse = new Map<string, string>();
  const loseResponse = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const method = /^\/api\/([\w.]+)/.exec(req.url ?? '')?.[1] ?? '';
        const refusal = refuse.get(method);
        if (refusal) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: false, error: refusal }));
          return;
        }
        const headers: Record<string, string> = {};
        for (const name of ['content-type', 'authorization']) {
          const value = req.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const answer = await fetch(`${target}${req.url ?? ''}`, { method: req.method ?? 'POST', headers, body: Buffer.concat(chunks) });
        const body = await answer.text();
        if (loseResponse.delete(method)) {
          res.socket?.destroy();
          return;
        }
        const out: Record<string, string> = { 'content-type': answer.headers.get('content-type') ?? 'application/json' };
        const retryAfter = answer.headers.get('retry-after');
        if (retryAfter) out['retry-after'] = retryAfter;
        res.writeHead(answer.status, out);
        res.end(body);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { apiUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`, refuse, loseResponse };
}

/** The bot's replies in a thread (the parent excluded). */
function botReplies(slack: FakeSlack, channel: string, threadTs: string): SlackMessage[] {
  return slack.messages(channel, threadTs).filter((m) => m.user === slack.botUserId && m.ts !== threadTs);
}

function threadPlace(h: Harness, channel: string, threadTs: string): Place {
  return { platform: 'slack', teamId: h.slack.teamId, channelId: channel, threadId: threadTs, isDirect: false, key: `${h.slack.teamId}/${channel}/${threadTs}` };
}

/** A stream for a mention in the first channel, with alice as the recipient. */
async function mentionStream(h: Harness): Promise<{ stream: NativeStream; channel: string; threadTs: string }> {
  const question = h.slack.userMessage({ text: 'stream me an answer', mention: true });
  const place = threadPlace(h, question.channel, question.ts);
  const stream = await h.adapter.startStream(place, { recipientUserId: h.slack.users.alice.id });
  return { stream, channel: question.channel, threadTs: question.ts };
}

/** Every markdown chunk the stream methods received for the bot's stream messages in a thread, in order. */
function streamedText(slack: FakeSlack, channel: string, threadTs: string): string {
  return botReplies(slack, channel, threadTs)
    .map((m) => m.text)
    .join('');
}

// The contract every adapter passes (test/support/platform-contract.ts), on the fake Slack.
platformContract('slack', async (handlers) => {
  const slack = await startFakeSlack();
  const adapter = slackAdapterOn(slack, { tuning: { editIntervalMs: 50, streamAppendIntervalMs: 10 } });
  await adapter.start(handlers);
  const eventsUrl = adapter.eventsUrl ?? '';
  const unicodeOf = new Map(Object.entries(EMOJI_NAMES).map(([unicode, name]) => [name, unicode]));
  const shown = (m: SlackMessage) => ({
    id: m.ts,
    text: m.text,
    authorName: m.username ?? String(slack.state.users.get(m.user)?.name ?? m.user),
    avatarUrl: m.icon_url ?? null,
  });
  return {
    adapter,
    channel: placeFor(slack.teamId, slack.channelId, null, false),
    messages: (place) =>
      (place.threadId ? slack.messages(place.channelId, place.threadId).filter((m) => m.ts !== place.threadId) : slack.messages(place.channelId)).map(shown),
    reactions: (place, messageId) =>
      (slack.findMessage(place.channelId, messageId)?.reactions ?? []).filter((r) => r.users.includes(slack.botUserId)).map((r) => unicodeOf.get(r.name) ?? r.name),
    typingCount: (place) => slack.state.statuses.filter((s) => s.channel_id === place.channelId && (!place.threadId || s.thread_ts === place.threadId)).length,
    rateLimitedCount: () => slack.state.rateLimited,
    injectRateLimit: (count) => {
      slack.injectRateLimit('chat.postMessage', { count: Math.ceil(count / 2), retryAfterSec: 1 });
      if (count > 1) slack.injectRateLimit('chat.update', { count: Math.floor(count / 2), retryAfterSec: 1 });
    },
    personMessage: async (text, options) => {
      const message = slack.userMessage({ text, mention: options?.mentionBot ?? false });
      await slack.deliverEvent(eventsUrl, message.mentionEvent ?? message.messageEvent);
      return message.ts;
    },
    deleteMessage: (place, messageId) => {
      const message = slack.findMessage(place.channelId, messageId);
      if (message) message.deleted = true;
    },
    runCommand: async (name, options) => {
      const before = slack.state.responseUrlPosts.length;
      await slack.deliverSlashCommand(eventsUrl, { command: `/${name}`, text: Object.values(options).join(' ') });
      const answer = await slack.waitFor(() => slack.state.responseUrlPosts[before]);
      return String(answer.body.text ?? '');
    },
    close: async () => {
      await adapter.stop();
      await slack.close();
    },
  };
});

describe('Slack adapter: inbound over HTTP (signed Events API)', () => {
  it('turns a signed app_mention into a message that opens a thread: the mention’s own', async () => {
    const h = await harness();
    const question = h.slack.userMessage({ text: 'what is the weather?', mention: true });
    const delivery = await h.slack.deliverEvent(h.eventsUrl, question.mentionEvent ?? {});
    expect(delivery.status).toBe(200);
    const message = await h.slack.waitFor(() => h.messages[0]);
    expect(message).toMatchObject({
      id: question.ts,
      dedupeKey: delivery.eventId,
      opensThread: true,
      text: 'what is the weather?',
      mentionsBot: true,
      attachments: [],
      user: { id: h.slack.users.alice.id, name: 'alice', isBot: false, roles: [] },
      place: {
        platform: 'slack',
        teamId: h.slack.teamId,
        channelId: question.channel,
        threadId: null,
        isDirect: false,
        key: `${h.slack.teamId}/${question.channel}`,
      },
    });
    // Slack has nothing to create for a thread: replying to the mention is the thread.
    const thread = await h.adapter.openThread(message.place, question.ts, 'title');
    expect(thread).toEqual({ ...message.place, threadId: question.ts, key: `${h.slack.teamId}/${question.channel}/${question.ts}` });
    expect(h.slack.state.calls.filter((c) => c.method.startsWith('chat.'))).toHaveLength(0);
    // A mention inside a thread belongs to that thread.
    const inThread = h.slack.userMessage({ text: 'and you?', mention: true, threadTs: question.ts });
    await h.slack.deliverEvent(h.eventsUrl, inThread.mentionEvent ?? {});
    const second = await h.slack.waitFor(() => h.messages.find((m) => m.id === inThread.ts));
    expect(second).toMatchObject({ opensThread: false, mentionsBot: true, place: thread });
  });

  it('drops retries and the app_mention/message pair, and gives every delivery of one event the same dedupe key', async () => {
    const h = await harness();
    const question = h.slack.userMessage({ text: 'only once please', mention: true });
    const eventId = 'EvRETRY0001';
    const first = await h.slack.deliverEvent(h.eventsUrl, question.mentionEvent ?? {}, { eventId });
    const second = await h.slack.deliverEvent(h.eventsUrl, question.mentionEvent ?? {}, { eventId, retryNum: 1, retryReason: 'http_timeout' });
    const third = await h.slack.deliverEvent(h.eventsUrl, question.mentionEvent ?? {}, { eventId, retryNum: 2, retryReason: 'http_timeout' });
    // The `message` event Slack also sends for a mention, under another event_id.
    const pair = await h.slack.deliverEvent(h.eventsUrl, question.messageEvent);
    for (const delivery of [first, second, third, pair]) {
      expect(delivery.status).toBe(200);
      expect(delivery.attempts[0]?.durationMs).toBeLessThan(1000);
    }
    await h.slack.waitFor(() => h.messages.length === 1);
    await sleep(100);
    expect(h.messages).toHaveLength(1);
    expect(h.messages[0]?.dedupeKey).toBe(eventId);

    // A gateway restarted between the delivery and Slack's retry hands the retry over with the same key.
    const restarted = await harness({}, {}, h.slack);
    const retry = await h.slack.deliverEvent(restarted.eventsUrl, question.mentionEvent ?? {}, { eventId, retryNum: 3 });
    expect(retry.status).toBe(200);
    const again = await h.slack.waitFor(() => restarted.messages[0]);
    expect(again.dedupeKey).toBe(h.messages[0]?.dedupeKey);
    expect(again.place.key).toBe(h.messages[0]?.place.key);
  });

  it('a slow Slack ack never happens: the adapter answers at once, so autoRetry delivers only once', async () => {
    const h = await harness();
    const question = h.slack.userMessage({ text: 'quick ack', mention: true });
    const result = await h.slack.deliverEvent(h.eventsUrl, question.mentionEvent ?? {}, { autoRetry: { ackTimeoutMs: 3000, maxRetries: 3 } });
    expect(result.attempts).toHaveLength(1);
    expect(result.attempts[0]?.timedOut).toBe(false);
    await h.slack.waitFor(() => h.messages.length === 1);
  });

  it('rejects a bad or stale signature with 401 and never calls the handler', async () => {
    const h = await harness();
    const question = h.slack.userMessage({ text: 'forged', mention: true });
    const forged = await h.slack.deliverEvent(h.eventsUrl, question.mentionEvent ?? {}, { badSignature: true });
    const stale = await h.slack.deliverEvent(h.eventsUrl, question.mentionEvent ?? {}, { timestampSec: Math.floor(Date.now() / 1000) - 600 });
    expect(forged.status).toBe(401);
    expect(stale.status).toBe(401);
    await sleep(100);
    expect(h.messages).toHaveLength(0);
    const verification = await h.slack.deliverUrlVerification(h.eventsUrl);
    expect(verification.status).toBe(200);
  });

  it('places thread replies, DMs and whole channels; ignores bots, edits and channel chatter', async () => {
    const general = 'general';
    const h = await harness({ channels: [general, 'random', 'agents'] }, { wholeChannels: [] });
    const agents = h.slack.channelIds.agents ?? '';
    const wholeHarness = await harness({}, { wholeChannels: [agents] }, h.slack);
    const ch = h.slack.channelId;

    // A reply in a thread (no mention): handed over; the bridge keeps it if the thread is bound.
    const parent = h.slack.userMessage({ text: 'start', mention: true });
    const reply = h.slack.userMessage({ text: 'and a follow-up with &lt;angle&gt; &amp; <https://example.com|a link>', threadTs: parent.ts, user: h.slack.users.bob });
    await h.slack.deliverEvent(h.eventsUrl, reply.messageEvent);
    const inThread = await h.slack.waitFor(() => h.messages.find((m) => m.id === reply.ts));
    expect(inThread).toMatchObject({
      opensThread: false,
      mentionsBot: false,
      text: 'and a follow-up with <angle> & a link (https://example.com)',
      place: { threadId: parent.ts, key: `${h.slack.teamId}/${ch}/${parent.ts}` },
      user: { id: h.slack.users.bob.id, name: 'bob' },
    });

    // A DM: the whole DM is one conversation.
    const dm = h.slack.userMessage({ text: 'hello in private', dm: true });
    await h.slack.deliverEvent(h.eventsUrl, dm.messageEvent);
    const direct = await h.slack.waitFor(() => h.messages.find((m) => m.id === dm.ts));
    expect(direct).toMatchObject({ mentionsBot: true, opensThread: false, place: { isDirect: true, threadId: null, key: `dm/${dm.channel}` } });

    // Top-level chatter in an ordinary channel is not for the bot.
    const chatter = h.slack.userMessage({ text: 'lunch?' });
    await h.slack.deliverEvent(h.eventsUrl, chatter.messageEvent);

    // Bots (others and ourselves), edits, deletions and joins are ignored.
    const ignored = [
      { ...chatter.messageEvent, ts: '1.000001', thread_ts: parent.ts, bot_id: 'B0OTHER', text: 'another bot' },
      { ...chatter.messageEvent, ts: '1.000002', thread_ts: parent.ts, user: h.slack.botUserId, text: 'myself' },
      { type: 'message', subtype: 'message_changed', channel: ch, ts: '1.000003', hidden: true, message: { ...reply.messageEvent, text: 'edited' } },
      { type: 'message', subtype: 'message_deleted', channel: ch, ts: '1.000004', hidden: true },
      { ...chatter.messageEvent, ts: '1.000005', thread_ts: parent.ts, subtype: 'channel_join', text: 'joined' },
    ];
    for (const event of ignored) expect((await h.slack.deliverEvent(h.eventsUrl, event)).status).toBe(200);

    // Files become attachments with their private URL (fetching it needs the bot token).
    const withFile = h.slack.userMessage({ text: 'see attached', threadTs: parent.ts });
    await h.slack.deliverEvent(h.eventsUrl, {
      ...withFile.messageEvent,
      subtype: 'file_share',
      files: [{ id: 'F1', name: 'report.pdf', mimetype: 'application/pdf', url_private: 'https://files.slack.com/files-pri/T-F1/report.pdf' }],
    });
    const file = await h.slack.waitFor(() => h.messages.find((m) => m.id === withFile.ts));
    expect(file.attachments).toEqual([{ url: 'https://files.slack.com/files-pri/T-F1/report.pdf', private: true, name: 'report.pdf', mimeType: 'application/pdf' }]);

    // A whole channel: every top-level message, mention or not, is the channel's conversation.
    const inWhole = h.slack.userMessage({ text: 'no mention needed', channel: agents });
    await h.slack.deliverEvent(wholeHarness.eventsUrl, inWhole.messageEvent);
    const whole = await h.slack.waitFor(() => wholeHarness.messages.find((m) => m.id === inWhole.ts));
    expect(whole).toMatchObject({ mentionsBot: true, opensThread: false, place: { threadId: null, key: `${h.slack.teamId}/${agents}` } });
    const mentionInWhole = h.slack.userMessage({ text: 'with a mention @alex', channel: agents, mention: true });
    await h.slack.deliverEvent(wholeHarness.eventsUrl, mentionInWhole.mentionEvent ?? {});
    const mentioned = await h.slack.waitFor(() => wholeHarness.messages.find((m) => m.id === mentionInWhole.ts));
    expect(mentioned).toMatchObject({ opensThread: false, mentions: ['alex'], text: 'with a mention @alex', place: { key: `${h.slack.teamId}/${agents}` } });

    await sleep(150);
    expect(h.messages.map((m) => m.id).sort()).toEqual([reply.ts, dm.ts, withFile.ts].sort());
  });

  it('passes small shared images and text files on as bytes fetched with the bot token; other files, large images and foreign hosts stay references', async () => {
    const h = await harness({}, { tuning: { streamAppendIntervalMs: 10, editIntervalMs: 50, inlineFileBytes: 1000 } });
    const small = Buffer.from('\x89PNG\r\n\x1a\n small image bytes');
    const large = Buffer.alloc(2000, 7);
    const code = Buffer.from('print("héllo")\n');
    const shared = h.slack.userMessage({
      text: 'what are these?',
      mention: true,
      files: [
        { name: 'small.png', mimetype: 'image/png', bytes: small },
        { name: 'large.png', mimetype: 'image/png', bytes: large },
        { name: 'hello.py', mimetype: 'text/x-python', bytes: code, servedAs: 'application/octet-stream' },
        { name: 'archive.zip', mimetype: 'application/zip', bytes: Buffer.from('PK\x03\x04') },
        // Answers that are not the text asked for: a sign-in page, bytes that are not UTF-8.
        { name: 'page.txt', mimetype: 'text/plain', bytes: Buffer.from('<html>sign in</html>'), servedAs: 'text/html; charset=utf-8' },
        { name: 'latin1.txt', mimetype: 'text/plain', bytes: Buffer.from([0x63, 0x61, 0x66, 0xe9]) },
      ],
    });
    const foreign = { id: 'F9', name: 'elsewhere.png', mimetype: 'image/png', url_private: 'http://127.0.0.1:9/files-pri/T-F9/elsewhere.png' };
    await h.slack.deliverEvent(h.eventsUrl, { ...(shared.mentionEvent ?? {}), files: [...(shared.mentionEvent?.files as object[]), foreign] });
    const message = await h.slack.waitFor(() => h.messages.find((m) => m.id === shared.ts));
    const [smallFile, largeFile, codeFile, archive, page, latin1, elsewhere] = message.attachments;
    expect(smallFile).toMatchObject({ name: 'small.png', mimeType: 'image/png', private: true, data: small.toString('base64') });
    expect(codeFile).toMatchObject({ name: 'hello.py', mimeType: 'text/x-python', private: true, data: code.toString('base64') });
    for (const kept of [largeFile, archive, page, latin1]) {
      expect(kept).toMatchObject({ private: true });
      expect(kept?.data).toBeUndefined();
    }
    expect(elsewhere).toMatchObject({ name: 'elsewhere.png', url: foreign.url_private });
    expect(elsewhere?.data).toBeUndefined();
    // Only images and text files on Slack's file host were fetched, all with the token; the archive was not.
    const downloads = h.slack.state.fileDownloads;
    expect(downloads.map((d) => d.authorized)).toEqual([true, true, true, true, true]);
    expect(downloads.map((d) => decodeURIComponent(d.path.split('/').at(-1) ?? ''))).toEqual(['small.png', 'large.png', 'hello.py', 'page.txt', 'latin1.txt']);
  });

  it('hands a channel\'s messages over in the order they came while a shared file downloads', async () => {
    const h = await harness();
    const withFile = h.slack.userMessage({
      text: 'here is the log',
      dm: true,
      files: [{ name: 'build.log', mimetype: 'text/plain', bytes: Buffer.from('ERROR: timed out'), delayMs: 400 }],
    });
    const next = h.slack.userMessage({ text: 'what went wrong?', dm: true });
    await h.slack.deliverEvent(h.eventsUrl, withFile.messageEvent);
    await h.slack.deliverEvent(h.eventsUrl, next.messageEvent);
    await h.slack.waitFor(() => h.messages.length === 2);
    expect(h.messages.map((m) => m.text)).toEqual(['here is the log', 'what went wrong?']);
    expect(h.messages[0]?.attachments[0]?.data).toBe(Buffer.from('ERROR: timed out').toString('base64'));
  });

  it('normalises slash commands, acknowledges them at once and answers ephemerally through response_url', async () => {
    const h = await harness();
    const asked = await h.slack.deliverSlashCommand(h.eventsUrl, { command: '/ask', text: '  why is the sky blue ' });
    expect(asked.status).toBe(200);
    expect(asked.attempts[0]?.durationMs).toBeLessThan(3000);
    const ask = await h.slack.waitFor(() => h.commands.find((c) => c.name === 'ask'));
    expect(ask).toMatchObject({
      text: 'why is the sky blue',
      options: { text: 'why is the sky blue' },
      user: { id: h.slack.users.alice.id, name: 'alice' },
      place: { threadId: null, key: `${h.slack.teamId}/${h.slack.channelId}`, isDirect: false },
    });
    expect(ask.dedupeKey).toBeTruthy();
    const answer = await h.slack.waitFor(() => h.slack.state.responseUrlPosts.find((p) => p.body.text === 'ran ask: why is the sky blue'));
    // /ask answers in the channel (the bridge's spec); Markdown goes in a markdown block.
    expect(answer.body.response_type).toBe('in_channel');
    expect(answer.body.blocks).toEqual([{ type: 'markdown', text: 'ran ask: why is the sky blue' }]);

    // `/status` is reserved by Slack, so `/conclave status` and `/conclave-status` work too.
    await h.slack.deliverSlashCommand(h.eventsUrl, { command: '/conclave', text: 'status now' });
    await h.slack.deliverSlashCommand(h.eventsUrl, { command: '/conclave-preset', text: 'coder' });
    await h.slack.deliverSlashCommand(h.eventsUrl, { command: '/Stop' });
    await h.slack.waitFor(() => h.commands.length === 4);
    expect(h.commands.map((c) => [c.name, c.text, c.options])).toEqual([
      ['ask', 'why is the sky blue', { text: 'why is the sky blue' }],
      ['status', 'now', {}],
      ['preset', 'coder', { id: 'coder' }],
      ['stop', '', {}],
    ]);
    const preset = await h.slack.waitFor(() => h.slack.state.responseUrlPosts.find((p) => p.body.text === 'ran preset: coder'));
    expect(preset.body.response_type).toBe('ephemeral');
  });
});

describe('Slack adapter: Socket Mode', () => {
  it('receives events and slash commands over the socket with the app token, and keeps working after a reconnect', async () => {
    const h = await harness({}, { mode: 'auto', signingSecret: undefined });
    expect(h.adapter.mode).toBe('socket');
    expect(h.adapter.eventsUrl).toBeNull();
    expect(h.slack.state.calls.find((c) => c.method === 'apps.connections.open')?.token).toBe(h.slack.appToken);

    const question = h.slack.userMessage({ text: 'over the socket', mention: true });
    const delivery = await h.slack.deliverSocketEvent(question.mentionEvent ?? {});
    expect(delivery.acked).toBe(true);
    const message = await h.slack.waitFor(() => h.messages[0]);
    expect(message).toMatchObject({ dedupeKey: delivery.eventId, opensThread: true, place: { threadId: null, key: `${h.slack.teamId}/${question.channel}` } });

    const command = await h.slack.deliverSocketSlashCommand({ command: '/new', text: 'fresh start' });
    expect(command.acked).toBe(true);
    await h.slack.waitFor(() => h.commands.find((c) => c.name === 'new' && c.text === 'fresh start'));
    await h.slack.waitFor(() => h.slack.state.responseUrlPosts.find((p) => p.body.text === 'ran new: fresh start'));

    h.slack.socketDisconnect('refresh_requested');
    await h.slack.waitFor(() => h.slack.state.socket.connections === 2 && h.slack.openSocketConnections() === 1, 8000);
    const later = h.slack.userMessage({ text: 'after the reconnect', mention: true });
    expect((await h.slack.deliverSocketEvent(later.mentionEvent ?? {})).acked).toBe(true);
    await h.slack.waitFor(() => h.messages.find((m) => m.id === later.ts));
  });

  it('refuses to start without the secret or token its mode needs', async () => {
    const slack = await startFakeSlack();
    open.push(() => slack.close());
    const noSecret = createSlackAdapter({ botToken: slack.botToken, apiUrl: slack.apiUrl, mode: 'http' });
    await expect(noSecret.start({ message: async () => {}, command: async () => {} })).rejects.toThrow(/SLACK_SIGNING_SECRET/);
    const noAppToken = createSlackAdapter({ botToken: slack.botToken, apiUrl: slack.apiUrl, mode: 'socket' });
    await expect(noAppToken.start({ message: async () => {}, command: async () => {} })).rejects.toThrow(/SLACK_APP_TOKEN/);
    expect(slackOptionsFromSettings({})).toBeNull();
    expect(slackOptionsFromSettings({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_BIND_CHANNELS: ['*'], SLACK_MODE: 'socket', SLACK_APP_TOKEN: 'xapp-1' })).toMatchObject({
      botToken: 'xoxb-1',
      appToken: 'xapp-1',
      mode: 'socket',
      wholeChannels: '*',
      nativeStreaming: true,
    });
  });
});

describe('Slack adapter: outbound', () => {
  it('posts in the thread as a persona, edits, reacts with Slack names and shows a thread status', async () => {
    const h = await harness();
    const question = h.slack.userMessage({ text: 'hi', mention: true });
    const place = threadPlace(h, question.channel, question.ts);

    const posted = await h.adapter.post(place, '**Hello** from Alex', { persona: { name: 'Alex', avatarUrl: 'https://example.com/alex.png' } });
    const message = h.slack.findMessage(question.channel, posted.id);
    expect(message).toMatchObject({ thread_ts: question.ts, text: '**Hello** from Alex', username: 'Alex', icon_url: 'https://example.com/alex.png' });
    const call = h.slack.state.calls.find((c) => c.method === 'chat.postMessage');
    expect(call?.args.markdown_text).toBe('**Hello** from Alex');

    await h.adapter.edit(place, posted.id, '**Hello** from Alex, edited');
    expect(h.slack.findMessage(question.channel, posted.id)?.versions.map((v) => v.text)).toEqual(['**Hello** from Alex', '**Hello** from Alex, edited']);

    await h.adapter.react(place, question.ts, '✅');
    await h.adapter.react(place, question.ts, '✅'); // already_reacted is fine
    await h.adapter.react(place, question.ts, '👀');
    await h.adapter.react(place, question.ts, ':tada:');
    expect(h.slack.state.reactions.map((r) => r.name)).toEqual(['white_check_mark', 'eyes', 'tada']);
    expect(slackEmojiName('⚠️')).toBe('warning');
    expect(slackEmojiName('🛑')).toBe('octagonal_sign');

    await h.adapter.typing(place);
    expect(h.slack.state.statuses.at(-1)).toMatchObject({ channel_id: question.channel, thread_ts: question.ts, status: 'is thinking…' });
    await h.adapter.typing({ ...place, threadId: null, key: 'x' }); // no thread, no status
    expect(h.slack.state.statuses).toHaveLength(1);
  });

  it('turns the thread status (typing) off for the workspace after Slack refuses it', async () => {
    const slack = await startFakeSlack();
    open.push(() => slack.close());
    const proxy = await startApiProxy(slack.baseUrl);
    const h = await harness({}, { apiUrl: proxy.apiUrl }, slack);
    const question = slack.userMessage({ text: 'hi', mention: true });
    const place = threadPlace(h, question.channel, question.ts);
    proxy.refuse.set('assistant.threads.setStatus', 'not_allowed');
    await h.adapter.typing(place);
    proxy.refuse.delete('assistant.threads.setStatus');
    await h.adapter.typing(place);
    expect(slack.state.statuses).toHaveLength(0);
    expect(slack.state.calls.filter((c) => c.method === 'assistant.threads.setStatus')).toHaveLength(0);
  });

  it('returns the first message for a repeated idempotency key, and classifies failures as PlatformError', async () => {
    const h = await harness();
    const question = h.slack.userMessage({ text: 'hi', mention: true });
    const place = threadPlace(h, question.channel, question.ts);
    const [a, b] = await Promise.all([h.adapter.post(place, 'once', { idempotencyKey: 'turn-1/0' }), h.adapter.post(place, 'once', { idempotencyKey: 'turn-1/0' })]);
    const c = await h.adapter.post(place, 'once', { idempotencyKey: 'turn-1/0' });
    expect(new Set([a.id, b.id, c.id]).size).toBe(1);
    expect(botReplies(h.slack, question.channel, question.ts)).toHaveLength(1);
    expect(h.slack.findMessage(question.channel, a.id)?.metadata).toEqual({ event_type: 'conclave_post', event_payload: { key: 'turn-1/0' } });

    const gone = await h.adapter.edit(place, '9999.000000', 'nope').catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(PlatformError);
    expect((gone as PlatformError).code).toBe('not_found');
    const tooLong = await h.adapter.edit(place, a.id, 'x'.repeat(12_001)).catch((e: unknown) => e);
    expect((tooLong as PlatformError).code).toBe('invalid');
  });

  it('respects the limits: a maxMessageLength edit is accepted, and a long append is cut into markdown pieces Slack accepts', async () => {
    const h = await harness();
    expect(h.adapter.limits).toEqual({ maxMessageLength: 4000, editIntervalMs: 50, typingIntervalMs: 30_000 });
    const defaults = createSlackAdapter({ botToken: 'xoxb-x' });
    expect(defaults.limits).toEqual({ maxMessageLength: 4000, editIntervalMs: 1500, typingIntervalMs: 30_000 });

    const question = h.slack.userMessage({ text: 'long please', mention: true });
    const place = threadPlace(h, question.channel, question.ts);
    const posted = await h.adapter.post(place, 'a'.repeat(4000));
    await h.adapter.edit(place, posted.id, 'b'.repeat(4000));
    expect(h.slack.findMessage(question.channel, posted.id)?.text).toBe('b'.repeat(4000));

    const stream = await h.adapter.startStream(place, { recipientUserId: h.slack.users.alice.id });
    const long = `${'x'.repeat(20_000)}😀${'y'.repeat(10_000)}`;
    await stream.append(long);
    await stream.stop(long);
    expect(h.slack.state.streams.get(stream.messageId)?.text).toBe(long);
    expect(h.slack.state.calls.filter((c) => c.error === 'msg_too_long')).toHaveLength(0);
    const pieces = h.slack.state.calls.filter((c) => c.method === 'chat.appendStream').map((c) => String(c.args.markdown_text ?? ''));
    expect(pieces.every((p) => p.length <= 12_000)).toBe(true);
  });

  it('waits out 429s (Retry-After) on edits and appends without losing or doubling text', async () => {
    const h = await harness({ rateLimits: { 'chat.update': { limit: 2, windowMs: 1000 } } });
    const question = h.slack.userMessage({ text: 'busy workspace', mention: true });
    const place = threadPlace(h, question.channel, question.ts);
    const posted = await h.adapter.post(place, 'v0');
    for (const text of ['v1', 'v2', 'v3', 'v4']) await h.adapter.edit(place, posted.id, text);
    expect(h.slack.findMessage(question.channel, posted.id)?.versions.map((v) => v.text)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    expect(h.slack.state.calls.filter((c) => c.method === 'chat.update' && c.status === 429).length).toBeGreaterThan(0);

    const stream = await h.adapter.startStream(place, { recipientUserId: h.slack.users.alice.id });
    h.slack.injectRateLimit('chat.appendStream', { count: 2, retryAfterSec: 1 });
    const parts = ['one ', 'two ', 'three ', 'four'];
    await Promise.all(parts.map((p) => stream.append(p)));
    await stream.stop(parts.join(''));
    expect(h.slack.state.streams.get(stream.messageId)?.text).toBe('one two three four');
    expect(h.adapter.rateLimitWaits).toBeGreaterThanOrEqual(3);
  });
});

describe('Slack adapter: native streaming', () => {
  it('streams appends into a thread reply and ends with exactly the final text', async () => {
    const h = await harness();
    const { stream, channel, threadTs } = await mentionStream(h);
    const text = 'Hello, this is a **streamed** answer.\n\n```ts\nconst x = 1;\n```\nDone.';
    let sent = 0;
    for (const size of [3, 7, 11, 13, 100]) {
      const piece = text.slice(sent, sent + size);
      sent += piece.length;
      void stream.append(piece);
    }
    await stream.stop(text);
    const recorded = h.slack.state.streams.get(stream.messageId);
    expect(recorded).toMatchObject({ text, status: 'completed', thread_ts: threadTs, recipientUserId: h.slack.users.alice.id, recipientTeamId: h.slack.teamId });
    expect(botReplies(h.slack, channel, threadTs).map((m) => m.text)).toEqual([text]);
    // Appends made while a call was in flight were coalesced.
    expect(h.slack.state.calls.filter((c) => c.method === 'chat.appendStream').length).toBeLessThan(5);
  });

  it('rolls to a new stream message when Slack ends the stream, with the text complete and not doubled', async () => {
    const h = await harness();
    const { stream, channel, threadTs } = await mentionStream(h);
    const words = Array.from({ length: 40 }, (_, i) => `word${i} `);
    for (const [i, word] of words.entries()) {
      await stream.append(word);
      if (i === 12 || i === 30) h.slack.expireStream(stream.messageId);
    }
    await stream.stop(words.join(''));
    const replies = botReplies(h.slack, channel, threadTs);
    expect(replies).toHaveLength(3);
    expect(replies.map((m) => m.ts)).toEqual([...(stream as unknown as { messageIds: string[] }).messageIds]);
    expect(streamedText(h.slack, channel, threadTs)).toBe(words.join(''));
    expect(replies[0]?.text).toBe(words.slice(0, 13).join(''));
    expect(h.slack.state.streams.get(stream.messageId)?.status).toBe('completed');
  });

  it('rolls on the real expiry (stream age) too, and stop after expiry is not an error', async () => {
    const h = await harness({ streaming: { maxAgeMs: 300 } });
    const { stream, channel, threadTs } = await mentionStream(h);
    await stream.append('before ');
    await sleep(400);
    await stream.append('after');
    await sleep(400);
    await stream.stop('before after');
    expect(streamedText(h.slack, channel, threadTs)).toBe('before after');
    expect(botReplies(h.slack, channel, threadTs).map((m) => m.text)).toEqual(['before ', 'after']);
  });

  it('signals the fallback when the workspace refuses the streaming methods, and stops asking', async () => {
    const h = await harness({ streaming: { rejectWith: 'unknown_method' } });
    const question = h.slack.userMessage({ text: 'no streaming here', mention: true });
    const place = threadPlace(h, question.channel, question.ts);
    const refused = await h.adapter.startStream(place, { recipientUserId: h.slack.users.alice.id }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NativeStreamUnavailable);
    expect(refused).toMatchObject({ code: 'native_stream_unavailable', permanent: true });
    expect(h.adapter.nativeStreaming).toBe(false);
    const calls = h.slack.state.calls.length;
    await expect(h.adapter.startStream(place, { recipientUserId: h.slack.users.alice.id })).rejects.toMatchObject({ permanent: true });
    expect(h.slack.state.calls.length).toBe(calls);
    // The renderer's fallback path works.
    const posted = await h.adapter.post(place, 'fallback answer');
    expect(h.slack.findMessage(question.channel, posted.id)?.text).toBe('fallback answer');
  });

  it('says when a place cannot stream (no thread, no recipient) without latching streaming off', async () => {
    const h = await harness();
    const dm = h.slack.userMessage({ text: 'dm', dm: true });
    const dmPlace: Place = { platform: 'slack', teamId: h.slack.teamId, channelId: dm.channel, threadId: null, isDirect: true, key: `dm/${dm.channel}` };
    await expect(h.adapter.startStream(dmPlace)).rejects.toMatchObject({ code: 'native_stream_unavailable', permanent: false });
    const question = h.slack.userMessage({ text: 'x', mention: true });
    await expect(h.adapter.startStream(threadPlace(h, question.channel, question.ts))).rejects.toMatchObject({ permanent: false });
    expect(h.adapter.nativeStreaming).toBe(true);
    expect(h.slack.state.calls.filter((c) => c.method === 'chat.startStream')).toHaveLength(0);
  });

  it('falls back to post + edit mid-answer when a roll is refused, keeping every character', async () => {
    const slack = await startFakeSlack();
    open.push(() => slack.close());
    const proxy = await startApiProxy(slack.baseUrl);
    const h = await harness({}, { apiUrl: proxy.apiUrl }, slack);
    const { stream, channel, threadTs } = await mentionStream(h);
    await stream.append('first part, ');
    slack.expireStream(stream.messageId);
    // The workspace turns streaming off before the roll.
    proxy.refuse.set('chat.startStream', 'feature_not_enabled');
    await stream.append('second part');
    await stream.append(' and a third');
    await stream.stop('first part, second part and a third');
    const replies = botReplies(slack, channel, threadTs);
    expect(replies.map((m) => m.text)).toEqual(['first part, ', 'second part and a third']);
    expect(replies[1]?.source).toBe('bot');
    expect(h.adapter.nativeStreaming).toBe(false);
  });

  it('after a post whose answer was lost, a repeat with the same key finds the message instead of posting twice', async () => {
    const slack = await startFakeSlack();
    open.push(() => slack.close());
    const proxy = await startApiProxy(slack.baseUrl);
    const h = await harness({}, { apiUrl: proxy.apiUrl }, slack);
    const question = slack.userMessage({ text: 'hi', mention: true });
    const place = threadPlace(h, question.channel, question.ts);
    proxy.loseResponse.add('chat.postMessage');
    const lost = await h.adapter.post(place, 'the answer', { idempotencyKey: 'turn-9/0' }).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(PlatformError);
    expect((lost as PlatformError).code).toBe('other');
    expect(botReplies(slack, question.channel, question.ts)).toHaveLength(1); // it did land
    const again = await h.adapter.post(place, 'the answer', { idempotencyKey: 'turn-9/0' });
    expect(botReplies(slack, question.channel, question.ts).map((m) => m.ts)).toEqual([again.id]);
  });

  it('fails appends with StreamStoppedByUser when the person presses stop, and edit finishes a message left streaming', async () => {
    const h = await harness();
    const { stream, channel, threadTs } = await mentionStream(h);
    await stream.append('partial answer');
    h.slack.stopStreamAsUser(stream.messageId);
    await expect(stream.append(' more')).rejects.toBeInstanceOf(StreamStoppedByUser);

    // A gateway that restarted mid-stream finishes the same message with an edit.
    const second = await h.adapter.startStream(threadPlace(h, channel, threadTs), { recipientUserId: h.slack.users.alice.id });
    await second.append('streamed before the restart');
    await h.adapter.edit(threadPlace(h, channel, threadTs), second.messageId, 'streamed before the restart, finished after it');
    const message = h.slack.findMessage(channel, second.messageId);
    expect(message?.text).toBe('streamed before the restart, finished after it');
    expect(h.slack.state.streams.get(second.messageId)?.status).toBe('completed');
    expect(botReplies(h.slack, channel, threadTs)).toHaveLength(2);
  });
});

describe('Slack end to end: the bridge and a real runtime', () => {
  let rt: TestRuntime;
  let openai: FakeOpenAI;
  let client: ConclaveClient;

  beforeAll(async () => {
    openai = await startFakeOpenAI();
    rt = await startTestRuntime({ env: { OPENAI_BASE_URL: openai.baseURL, OPENAI_API_KEY: 'sk-test' } });
    const created = await rt.api('POST', '/api/presets', { body: { id: 'helper', name: 'Helper', model: 'openai:gpt-test', is_default: true } });
    expect(created.status).toBe(201);
    client = new ConclaveClient({ baseUrl: rt.url, token: rt.token });
  });

  afterAll(async () => {
    await rt?.close();
    await openai?.close();
  });

  interface Gateway {
    bridge: Bridge;
    adapter: SlackAdapter;
    eventsUrl: string;
  }

  /** A gateway (Slack adapter + bridge) on the fake Slack, as `conclave gateway` would run it. */
  async function startGateway(slack: FakeSlack): Promise<Gateway> {
    const adapter = slackAdapterOn(slack, { tuning: { editIntervalMs: 100, streamAppendIntervalMs: 50 } });
    const bridge = new Bridge({ client, adapters: [adapter], settings: { cursorThrottleMs: 100 } });
    await bridge.start();
    let stopped = false;
    open.push(async () => {
      if (!stopped) await bridge.stop();
    });
    const stop = bridge.stop.bind(bridge);
    bridge.stop = async () => {
      stopped = true;
      await stop();
    };
    return { bridge, adapter, eventsUrl: adapter.eventsUrl ?? '' };
  }

  async function freshSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
    const slack = await startFakeSlack(options);
    open.push(() => slack.close());
    openai.reset();
    return slack;
  }

  it.each([
    ['natively (chat.startStream/appendStream/stopStream)', {}],
    ['with post + edit when the workspace refuses streaming', { streaming: { rejectWith: 'unknown_method' } }],
  ] as Array<[string, FakeSlackOptions]>)('answers a mention in its thread, streamed %s, exact at the end', async (_how, fakeOptions) => {
    const native = !fakeOptions.streaming?.rejectWith;
    const slack = await freshSlack(fakeOptions);
    const gateway = await startGateway(slack);
    const answer = 'The answer is **42**, as everybody knows.';
    openai.script({ text: ['The answer ', 'is **42**, ', 'as everybody ', 'knows.'], chunkDelayMs: 250 });
    const question = slack.userMessage({ text: 'what is the answer?', mention: true });
    expect((await slack.deliverEvent(gateway.eventsUrl, question.mentionEvent ?? {})).status).toBe(200);

    const reply = await slack.waitFor(() => {
      const replies = botReplies(slack, question.channel, question.ts);
      return replies.length === 1 && replies[0]?.text === answer ? replies[0] : undefined;
    }, 20_000);
    expect(reply.thread_ts).toBe(question.ts);
    // Shown while it was written: earlier versions were shorter prefixes of the answer.
    expect(reply.versions.length).toBeGreaterThan(2);
    for (const version of reply.versions) expect(answer.startsWith(version.text)).toBe(true);
    if (native) {
      const stream = await slack.waitFor(() => (slack.state.streams.get(reply.ts)?.status === 'completed' ? slack.state.streams.get(reply.ts) : undefined));
      expect(stream).toMatchObject({ text: answer, recipientUserId: slack.users.alice.id, thread_ts: question.ts });
      expect(slack.state.calls.filter((c) => c.method === 'chat.update')).toHaveLength(0);
    } else {
      expect(reply.source).toBe('bot');
      expect(gateway.adapter.nativeStreaming).toBe(false);
    }
    // The model got the question without the bot's mention.
    const lastUser = (openai.chatRequests().at(-1)?.body.messages as Array<{ role: string; content: unknown }>).filter((m) => m.role === 'user').at(-1);
    expect(JSON.stringify(lastUser?.content)).toContain('what is the answer?');
    expect(JSON.stringify(lastUser?.content)).not.toContain(slack.botUserId);
    const bindings = await client.listBindings({ platform: 'slack', key: `${slack.teamId}/${question.channel}/${question.ts}` });
    expect(bindings.items).toHaveLength(1);
  });

  it('gives ONE reply to an event Slack delivers three times (and to the message event that comes with a mention)', async () => {
    const slack = await freshSlack();
    const gateway = await startGateway(slack);
    openai.script({ text: 'only one answer' });
    const question = slack.userMessage({ text: 'say it once', mention: true });
    const eventId = 'EvTHRICE001';
    const deliveries = await Promise.all([
      slack.deliverEvent(gateway.eventsUrl, question.mentionEvent ?? {}, { eventId }),
      slack.deliverEvent(gateway.eventsUrl, question.mentionEvent ?? {}, { eventId, retryNum: 1, retryReason: 'http_timeout' }),
      slack.deliverEvent(gateway.eventsUrl, question.mentionEvent ?? {}, { eventId, retryNum: 2, retryReason: 'http_timeout' }),
      slack.deliverEvent(gateway.eventsUrl, question.messageEvent),
    ]);
    expect(deliveries.map((d) => d.status)).toEqual([200, 200, 200, 200]);
    await slack.waitFor(() => botReplies(slack, question.channel, question.ts).find((m) => m.text === 'only one answer'), 20_000);
    await sleep(500);
    expect(botReplies(slack, question.channel, question.ts)).toHaveLength(1);
    expect(openai.chatRequests()).toHaveLength(1);
  });

  it('gives no second reply to an event Slack delivers again after the gateway restarted', async () => {
    const slack = await freshSlack();
    const first = await startGateway(slack);
    openai.script({ text: 'answered before the restart' });
    const question = slack.userMessage({ text: 'remember me', mention: true });
    const eventId = 'EvRESTART001';
    await slack.deliverEvent(first.eventsUrl, question.mentionEvent ?? {}, { eventId });
    await slack.waitFor(() => botReplies(slack, question.channel, question.ts).find((m) => m.text === 'answered before the restart'), 20_000);
    await first.bridge.stop();

    // The new process remembers nothing in memory; the runtime remembers the message's key.
    const second = await startGateway(slack);
    const retry = await slack.deliverEvent(second.eventsUrl, question.mentionEvent ?? {}, { eventId, retryNum: 1, retryReason: 'http_error' });
    expect(retry.status).toBe(200);
    await sleep(1000);
    expect(botReplies(slack, question.channel, question.ts)).toHaveLength(1);
    expect(openai.chatRequests()).toHaveLength(1);
  });

  it('rejects a badly signed event: 401, no conversation, no run', async () => {
    const slack = await freshSlack();
    const gateway = await startGateway(slack);
    const question = slack.userMessage({ text: 'forged request', mention: true });
    const forged = await slack.deliverEvent(gateway.eventsUrl, question.mentionEvent ?? {}, { badSignature: true });
    expect(forged.status).toBe(401);
    await sleep(300);
    const bindings = await client.listBindings({ platform: 'slack', key: `${slack.teamId}/${question.channel}/${question.ts}` });
    expect(bindings.items).toHaveLength(0);
    expect(openai.chatRequests()).toHaveLength(0);
    expect(botReplies(slack, question.channel, question.ts)).toHaveLength(0);
  });

  it.each([
    ['a native stream', {}],
    ['a posted and edited message', { streaming: { rejectWith: 'unknown_method' } }],
  ] as Array<[string, FakeSlackOptions]>)('continues %s after a gateway restart mid-answer: same message, no duplicate, no lost text', async (_what, fakeOptions) => {
    const slack = await freshSlack(fakeOptions);
    const first = await startGateway(slack);
    const words = Array.from({ length: 24 }, (_, i) => `word${i} `);
    const answer = words.join('');
    openai.script({ text: words, chunkDelayMs: 150 });
    const question = slack.userMessage({ text: 'a long answer please', mention: true });
    await slack.deliverEvent(first.eventsUrl, question.mentionEvent ?? {});

    // Part of the answer is on Slack when the gateway goes down.
    const partial = await slack.waitFor(() => {
      const reply = botReplies(slack, question.channel, question.ts)[0];
      return reply && reply.text.includes('word3 ') ? reply : undefined;
    }, 20_000);
    await first.bridge.stop();
    const shownAtStop = slack.findMessage(question.channel, partial.ts)?.text ?? '';
    expect(shownAtStop.length).toBeLessThan(answer.length);
    expect(answer.startsWith(shownAtStop)).toBe(true);

    await startGateway(slack);
    const done = await slack.waitFor(() => {
      const reply = slack.findMessage(question.channel, partial.ts);
      return reply && reply.text === answer ? reply : undefined;
    }, 20_000);
    await sleep(500);
    expect(botReplies(slack, question.channel, question.ts).map((m) => m.ts)).toEqual([done.ts]);
    expect(done.text).toBe(answer);
    // Every version is a prefix of the answer: nothing was shown twice or out of order.
    for (const version of done.versions) expect(answer.startsWith(version.text)).toBe(true);
    // A stream left open by the first gateway was ended by the second (which then set the text).
    if (!fakeOptions.streaming?.rejectWith) expect(slack.state.streams.get(done.ts)?.status).toBe('completed');
    else expect(slack.state.streams.size).toBe(0);
    expect(openai.chatRequests()).toHaveLength(1);
  });

  it('/approve and /deny in the channel answer the thread whose tool call waits for approval', async () => {
    const slack = await freshSlack();
    const gateway = await startGateway(slack);
    await client.createPreset(GUARDED_PRESET);
    openai.script({ text: 'Hello.' });
    const question = slack.userMessage({ text: 'hi there', mention: true });
    await slack.deliverEvent(gateway.eventsUrl, question.mentionEvent ?? {});
    await slack.waitFor(() => botReplies(slack, question.channel, question.ts).find((m) => m.text === 'Hello.'), 20_000);
    const bindings = await client.listBindings({ platform: 'slack', key: `${slack.teamId}/${question.channel}/${question.ts}` });
    const conversationId = bindings.items[0]!.conversation_id;
    await client.patchConversation(conversationId, { preset_id: 'guarded' });

    callToolThenReport(openai);
    const ask = async (text: string, waitingReplies: number) => {
      await slack.deliverEvent(gateway.eventsUrl, slack.userMessage({ text, threadTs: question.ts }).messageEvent);
      await slack.waitFor(() => {
        const waiting = botReplies(slack, question.channel, question.ts).filter((m) => m.text.endsWith('waiting for approval of `current_time`: /approve or /deny'));
        return waiting.length >= waitingReplies ? waiting : undefined;
      }, 20_000);
      await vi.waitFor(async () => expect((await client.listSessions(conversationId)).items.at(-1)?.status).toBe('awaiting_input'), { timeout: 10_000 });
    };
    const responses = () => slack.state.responseUrlPosts.map((p) => String(p.body.text));

    // The slash command carries no thread: the channel's thread that waits is the one answered.
    await ask('what time is it?', 1);
    await slack.deliverSlashCommand(gateway.eventsUrl, { command: '/approve', text: '' });
    await slack.waitFor(() => responses().find((t) => t.includes('approved `current_time`')));
    const answered = await slack.waitFor(() => botReplies(slack, question.channel, question.ts).find((m) => m.text.startsWith('The tool said: ')), 20_000);
    expect(answered.text).not.toContain('Denied');

    await ask('and in Tokyo?', 2);
    await slack.deliverSlashCommand(gateway.eventsUrl, { command: '/deny', text: 'not now' });
    await slack.waitFor(() => responses().find((t) => t.includes('denied `current_time`: not now')));
    await slack.waitFor(() => botReplies(slack, question.channel, question.ts).find((m) => m.text === 'The tool said: Denied by the user: not now'), 20_000);
    await vi.waitFor(async () => expect((await client.listSessions(conversationId)).items.at(-1)?.status).toBe('completed'), { timeout: 10_000 });
    await slack.deliverSlashCommand(gateway.eventsUrl, { command: '/approve', text: '' });
    await slack.waitFor(() => responses().find((t) => t === 'Nothing here is waiting for approval.'));
  });

  it('/ask in a channel opens a thread under a starter message and answers there', async () => {
    const slack = await freshSlack();
    const gateway = await startGateway(slack);
    openai.script({ text: 'Answered in the thread.' });
    const delivery = await slack.deliverSlashCommand(gateway.eventsUrl, { command: '/ask', text: 'how do threads work?' });
    expect(delivery.status).toBe(200);
    const starter = await slack.waitFor(() => slack.messages(slack.channelId).find((m) => m.user === slack.botUserId && m.text.includes('how do threads work?')), 20_000);
    const reply = await slack.waitFor(() => botReplies(slack, slack.channelId, starter.ts).find((m) => m.text === 'Answered in the thread.'), 20_000);
    expect(reply.thread_ts).toBe(starter.ts);
    await slack.waitFor(() => slack.state.responseUrlPosts.find((p) => String(p.body.text).includes('thread')));
  });
});

describe('Slack text, names and pieces', () => {
  it('turns Slack text back into what the person typed', () => {
    expect(plainText('<@U0BOT> hi <@U0BOB|bob>, see <#C01|general> &amp; <https://a.example/x?y=1&amp;z=2|docs> or <https://b.example>', 'U0BOT')).toBe(
      'hi @bob, see #general & docs (https://a.example/x?y=1&z=2) or https://b.example',
    );
    expect(plainText('<!here> is `a &lt; b` ok? <@U0BOT>', 'U0BOT')).toBe('@here is `a < b` ok?');
  });

  it('reads command names, namespaced or not', () => {
    expect(commandName('/ask', ' why? ', 'conclave')).toEqual({ name: 'ask', text: 'why?' });
    expect(commandName('/conclave', 'status', 'conclave')).toEqual({ name: 'status', text: '' });
    expect(commandName('/conclave', '', 'conclave')).toEqual({ name: 'help', text: '' });
    expect(commandName('/conclave_preset', 'coder', 'conclave')).toEqual({ name: 'preset', text: 'coder' });
    expect(commandName('/Vote', 'yes', 'conclave')).toEqual({ name: 'vote', text: 'yes' });
  });

  it('cuts pieces without splitting a surrogate pair, preferring a line break when asked', () => {
    expect(headChunk('ab😀cd', 3)).toBe('ab');
    expect(headChunk('abc', 3)).toBe('abc');
    expect(headChunk('line one\nline two', 12, true)).toBe('line one\n');
    expect(headChunk('x\nabcdefghijkl', 12, true)).toBe('x\nabcdefghij');
  });

  it('maps the emoji the bridge uses, and passes Slack names through', () => {
    for (const emoji of ['✅', '⏳', '🚫', '👀', '❌', '⚠️', '⚠']) expect(slackEmojiName(emoji)).toMatch(/^[a-z0-9_+-]+$/);
    expect(slackEmojiName(':thumbsup:')).toBe('thumbsup');
    expect(slackEmojiName('🦄')).toBeNull();
  });
});
