/**
 * Proves that test/fakes/slack.ts is good enough to drive the REAL Slack
 * clients: a Bolt App over HTTP (signed events, bad signatures, retry headers,
 * url_verification, slash commands with response_url), a Bolt App in Socket
 * Mode (apps.connections.open, hello, envelopes and acks, reconnect after a
 * `disconnect`), and the WebClient against the enforced limits (msg_too_long,
 * markdown_text rules, tiered 429s with Retry-After, tokens) and the native
 * streaming methods (recipients, expiry, user stop, fallback when rejected).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel, SocketModeReceiver } from '@slack/bolt';
import { ErrorCode, WebClient, type WebAPIPlatformError, type WebAPIRateLimitedError } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.js';

/** The Slack error code carried by a rejected WebClient call. */
async function slackError(call: Promise<unknown>): Promise<string> {
  const error = (await call.then(() => null, (e: unknown) => e)) as WebAPIPlatformError | null;
  if (!error) throw new Error('expected the call to fail');
  expect(error.code).toBe(ErrorCode.PlatformError);
  return error.data.error;
}

function webClient(slack: FakeSlack, extra: ConstructorParameters<typeof WebClient>[1] = {}): WebClient {
  return new WebClient(slack.botToken, {
    slackApiUrl: slack.apiUrl,
    logLevel: LogLevel.ERROR,
    retryConfig: { retries: 3, factor: 1, minTimeout: 0, maxTimeout: 0 },
    ...extra,
  });
}

describe('Bolt App over HTTP (Events API, signed requests)', () => {
  let slack: FakeSlack;
  let app: App;
  let eventsUrl: string;
  const seen: Array<{ ts: string; retryNum: number | undefined }> = [];

  beforeAll(async () => {
    slack = await startFakeSlack();
    app = new App({
      token: slack.botToken,
      signingSecret: slack.signingSecret,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
    });
    app.event('app_mention', async ({ event, say, context }) => {
      seen.push({ ts: event.ts, retryNum: context.retryNum });
      await say({ text: `on it, <@${event.user}>`, thread_ts: event.ts });
    });
    app.command('/ask', async ({ command, ack, respond }) => {
      await ack();
      await respond({ text: `answer to ${command.text}` });
    });
    const server = (await app.start(0)) as Server;
    eventsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  });

  afterAll(async () => {
    await app?.stop();
    await slack?.close();
  });

  it('delivers a signed app_mention; the app replies in the thread', async () => {
    const question = slack.userMessage({ text: 'summarise this channel', mention: true });
    expect(question.mentionEvent).not.toBeNull();
    const delivery = await slack.deliverEvent(eventsUrl, question.mentionEvent ?? {});
    expect(delivery.status).toBe(200);
    const reply = await slack.waitFor(() => slack.messages(question.channel, question.ts).find((m) => m.user === slack.botUserId));
    expect(reply.thread_ts).toBe(question.ts);
    expect(reply.text).toBe(`on it, <@${slack.users.alice.id}>`);
    expect(slack.state.calls.some((c) => c.method === 'auth.test' && c.token === slack.botToken)).toBe(true);

    // The form body's fields arrive decoded and the thread reads back through conversations.replies.
    const replies = await app.client.conversations.replies({ channel: question.channel, ts: question.ts });
    expect(replies.messages?.map((m) => m.text)).toEqual([question.text, reply.text]);
    expect(replies.messages?.[0]?.reply_count).toBe(1);
  });

  it('rejects a bad or stale signature with 401 and never runs the handler', async () => {
    const before = seen.length;
    const question = slack.userMessage({ text: 'forged', mention: true });
    const forged = await slack.deliverEvent(eventsUrl, question.mentionEvent ?? {}, { badSignature: true });
    expect(forged.status).toBe(401);
    const stale = await slack.deliverEvent(eventsUrl, question.mentionEvent ?? {}, { timestampSec: Math.floor(Date.now() / 1000) - 600 });
    expect(stale.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen.length).toBe(before);
  });

  it('sends X-Slack-Retry-Num on redelivery, which Bolt exposes as context.retryNum', async () => {
    const question = slack.userMessage({ text: 'again?', mention: true });
    const delivery = await slack.deliverEvent(eventsUrl, question.mentionEvent ?? {}, { retryNum: 2, retryReason: 'http_timeout' });
    expect(delivery.status).toBe(200);
    const entry = await slack.waitFor(() => seen.find((s) => s.ts === question.ts));
    expect(entry.retryNum).toBe(2);
  });

  it('answers url_verification and posts slash commands form-encoded with a working response_url', async () => {
    const verification = await slack.deliverUrlVerification(eventsUrl);
    expect(verification.status).toBe(200);
    expect(verification.body).toMatch(/challenge/);

    const command = await slack.deliverSlashCommand(eventsUrl, { command: '/ask', text: 'why is the sky blue' });
    expect(command.status).toBe(200);
    const posted = await slack.waitFor(() => slack.state.responseUrlPosts.find((p) => p.body.text === 'answer to why is the sky blue'));
    expect(posted.id).toBeTruthy();
  });
});

describe('Events API retries when the app is slow to answer', () => {
  it('redelivers with the same event_id and X-Slack-Retry-Num after the ack deadline', async () => {
    const slack = await startFakeSlack();
    // processBeforeResponse holds the HTTP answer until the handler is done, so a slow handler misses the deadline.
    const app = new App({
      token: slack.botToken,
      signingSecret: slack.signingSecret,
      logLevel: LogLevel.ERROR,
      processBeforeResponse: true,
      clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
    });
    const calls: Array<{ retryNum: number | undefined; eventId: string }> = [];
    app.event('app_mention', async ({ context, body }) => {
      calls.push({ retryNum: context.retryNum, eventId: String(body.event_id) });
      if (context.retryNum === undefined) await new Promise((resolve) => setTimeout(resolve, 400));
    });
    const server = (await app.start(0)) as Server;
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
      const question = slack.userMessage({ text: 'slow one', mention: true });
      const result = await slack.deliverEvent(url, question.mentionEvent ?? {}, { autoRetry: { ackTimeoutMs: 150, maxRetries: 2, delayMs: 10 } });
      expect(result.attempts.map((a) => [a.retryNum, a.timedOut])).toEqual([[0, true], [1, false]]);
      expect(result.status).toBe(200);
      expect(calls.map((c) => c.retryNum)).toEqual([undefined, 1]);
      expect(new Set(calls.map((c) => c.eventId)).size).toBe(1);
    } finally {
      await app.stop();
      await slack.close();
    }
  });
});

describe('Bolt App in Socket Mode', () => {
  let slack: FakeSlack;
  let app: App;
  const mentions: string[] = [];

  beforeAll(async () => {
    slack = await startFakeSlack();
    // clientPingTimeout also paces reconnects (the SDK waits that long × failures).
    const receiver = new SocketModeReceiver({
      appToken: slack.appToken,
      clientPingTimeout: 500,
      logLevel: LogLevel.ERROR,
      installerOptions: { clientOptions: { slackApiUrl: slack.apiUrl } },
    });
    app = new App({ token: slack.botToken, receiver, logLevel: LogLevel.ERROR, clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } } });
    app.event('app_mention', async ({ event, say }) => {
      mentions.push(event.ts);
      await say({ text: 'hello from the socket', thread_ts: event.ts });
    });
    app.command('/status', async ({ ack }) => {
      await ack('all good');
    });
    await app.start();
  });

  afterAll(async () => {
    await app?.stop();
    await slack?.close();
  });

  it('opens the socket with the app token and receives an acked events_api envelope', async () => {
    const open = slack.state.calls.find((c) => c.method === 'apps.connections.open');
    expect(open?.token).toBe(slack.appToken);
    expect(slack.openSocketConnections()).toBe(1);

    const question = slack.userMessage({ text: 'are you there?', mention: true });
    const delivery = await slack.deliverSocketEvent(question.mentionEvent ?? {});
    expect(delivery.acked).toBe(true);
    expect(slack.state.socket.acks.map((a) => a.envelope_id)).toContain(delivery.envelopeIds[0]);
    const reply = await slack.waitFor(() => slack.messages(question.channel, question.ts).find((m) => m.user === slack.botUserId));
    expect(reply.text).toBe('hello from the socket');
  });

  it('acks slash commands with a response payload', async () => {
    const delivery = await slack.deliverSocketSlashCommand({ command: '/status' });
    expect(delivery.acked).toBe(true);
    expect(delivery.ackPayload).toMatchObject({ text: 'all good' });
  });

  it('reconnects after a disconnect message and keeps receiving', async () => {
    slack.socketDisconnect('refresh_requested');
    await slack.waitFor(() => slack.state.socket.connections === 2 && slack.openSocketConnections() === 1, 5000);
    expect(slack.state.socket.urlsIssued).toBe(2);
    const question = slack.userMessage({ text: 'still there?', mention: true });
    const delivery = await slack.deliverSocketEvent(question.mentionEvent ?? {});
    expect(delivery.acked).toBe(true);
    await slack.waitFor(() => slack.messages(question.channel, question.ts).find((m) => m.user === slack.botUserId));
  });
});

describe('WebClient against the limits', () => {
  let slack: FakeSlack;
  let client: WebClient;

  beforeAll(async () => {
    slack = await startFakeSlack();
    client = webClient(slack);
  });

  afterAll(async () => {
    await slack?.close();
  });

  it('rejects over-long text with msg_too_long: 40,000 for postMessage, 4,000 for update, 12,000 for markdown_text', async () => {
    const channel = slack.channelId;
    await expect(slackError(client.chat.postMessage({ channel, text: 'a'.repeat(40_001) }))).resolves.toBe('msg_too_long');
    const posted = await client.chat.postMessage({ channel, text: 'a'.repeat(40_000) });
    expect(posted.ok).toBe(true);
    const ts = posted.ts ?? '';
    await expect(slackError(client.chat.update({ channel, ts, text: 'b'.repeat(4001) }))).resolves.toBe('msg_too_long');
    await expect(slackError(client.chat.postMessage({ channel, markdown_text: 'c'.repeat(12_001) }))).resolves.toBe('msg_too_long');
    await expect(slackError(client.chat.postMessage({ channel, markdown_text: '**hi**', text: 'hi' } as never))).resolves.toBe('markdown_text_conflict');
    await expect(slackError(client.chat.postMessage({ channel, text: '' }))).resolves.toBe('no_text');
    await expect(slackError(client.chat.postMessage({ channel: 'C0NOPE', text: 'x' }))).resolves.toBe('channel_not_found');
    expect(slack.findMessage(channel, ts)?.versions).toHaveLength(1);
  });

  it('answers a tier overflow with 429 + Retry-After; WebClient waits and retries, or rejects when told to', async () => {
    // Tier 3 is 50 per minute; two per second keeps the test short.
    const slack = await startFakeSlack({ rateLimits: { 'chat.update': { limit: 2, windowMs: 1000 } } });
    const client = webClient(slack);
    const channel = slack.channelId;
    const { ts = '' } = await client.chat.postMessage({ channel, text: 'v0' });
    const rejecting = webClient(slack, { rejectRateLimitedCalls: true });
    await rejecting.chat.update({ channel, ts, text: 'v1' });
    await rejecting.chat.update({ channel, ts, text: 'v2' });
    const error = (await rejecting.chat.update({ channel, ts, text: 'never' }).catch((e: unknown) => e)) as WebAPIRateLimitedError;
    expect(error.code).toBe(ErrorCode.RateLimitedError);
    expect(error.retryAfter).toBe(1);

    const started = Date.now();
    await client.chat.update({ channel, ts, text: 'v3' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(slack.state.rateLimited).toBe(2);
    expect(slack.findMessage(channel, ts)?.versions.map((v) => v.text)).toEqual(['v0', 'v1', 'v2', 'v3']);
    expect(slack.state.calls.filter((c) => c.method === 'chat.update' && c.status === 429)).toHaveLength(2);
    await slack.close();
  });

  it('limits chat.postMessage per channel (5 per 5 s by default), not per workspace', async () => {
    const fresh = await startFakeSlack();
    try {
      const rejecting = webClient(fresh, { rejectRateLimitedCalls: true });
      const busy = fresh.channelIds.general ?? '';
      for (let i = 0; i < 5; i += 1) await rejecting.chat.postMessage({ channel: busy, text: `burst ${i}` });
      const limited = (await rejecting.chat.postMessage({ channel: busy, text: 'one too many' }).catch((e: unknown) => e)) as WebAPIRateLimitedError;
      expect(limited.code).toBe(ErrorCode.RateLimitedError);
      expect(limited.retryAfter).toBeGreaterThanOrEqual(1);
      const elsewhere = await rejecting.chat.postMessage({ channel: fresh.channelIds.random ?? '', text: 'another channel is fine' });
      expect(elsewhere.ok).toBe(true);
      expect(fresh.messages(busy).map((m) => m.text)).not.toContain('one too many');
    } finally {
      await fresh.close();
    }
  });

  it('checks tokens and records reactions, statuses and lookups', async () => {
    const stranger = new WebClient('xoxb-not-ours', { slackApiUrl: slack.apiUrl, logLevel: LogLevel.ERROR, retryConfig: { retries: 0 } });
    await expect(slackError(stranger.auth.test())).resolves.toBe('invalid_auth');
    await expect(slackError(client.apps.connections.open({}))).resolves.toBe('not_allowed_token_type');

    const question = slack.userMessage({ text: 'react to me' });
    await client.reactions.add({ channel: question.channel, timestamp: question.ts, name: 'eyes' });
    await expect(slackError(client.reactions.add({ channel: question.channel, timestamp: question.ts, name: 'eyes' }))).resolves.toBe('already_reacted');
    expect(slack.state.reactions).toMatchObject([{ channel: question.channel, timestamp: question.ts, name: 'eyes', user: slack.botUserId }]);

    await client.assistant.threads.setStatus({ channel_id: question.channel, thread_ts: question.ts, status: 'is thinking…' });
    expect(slack.state.statuses.at(-1)).toMatchObject({ thread_ts: question.ts, status: 'is thinking…' });

    const user = await client.users.info({ user: slack.users.alice.id });
    expect(user.user?.name).toBe('alice');
    const info = await client.conversations.info({ channel: question.channel });
    expect(info.channel?.name).toBe('general');
  });
});

describe('native streaming (chat.startStream / appendStream / stopStream)', () => {
  let slack: FakeSlack;
  let client: WebClient;

  beforeAll(async () => {
    slack = await startFakeSlack({ streaming: { maxAgeMs: 400 } });
    client = webClient(slack);
  });

  afterAll(async () => {
    await slack?.close();
  });

  const recipients = () => ({ recipient_user_id: slack.users.alice.id, recipient_team_id: slack.teamId });

  it('streams markdown and task updates into a thread reply, then finalizes it', async () => {
    const question = slack.userMessage({ text: 'stream please', mention: true });
    const channel = question.channel;
    const started = await client.chat.startStream({ channel, thread_ts: question.ts, ...recipients(), markdown_text: 'Hel' });
    const ts = started.ts ?? '';
    await client.chat.appendStream({ channel, ts, markdown_text: 'lo' });
    await client.chat.appendStream({ channel, ts, chunks: [{ type: 'task_update', id: 't1', title: 'Searching', status: 'in_progress' }] } as never);
    expect(await slackError(client.chat.update({ channel, ts, text: 'edit mid-stream' }))).toBe('streaming_state_conflict');
    const stopped = await client.chat.stopStream({ channel, ts, markdown_text: ' world' });
    expect(stopped.ok).toBe(true);

    const stream = slack.state.streams.get(ts);
    expect(stream).toMatchObject({ text: 'Hello world', status: 'completed', thread_ts: question.ts, recipientUserId: slack.users.alice.id });
    expect(stream?.tasks.get('t1')).toMatchObject({ title: 'Searching', status: 'in_progress' });
    expect(slack.messages(channel, question.ts).at(-1)?.text).toBe('Hello world');
    expect(await slackError(client.chat.appendStream({ channel, ts, markdown_text: 'late' }))).toBe('message_not_in_streaming_state');
  });

  it('works with the SDK ChatStreamer (which sends chunks)', async () => {
    const question = slack.userMessage({ text: 'use the helper', mention: true });
    const streamer = client.chatStream({ channel: question.channel, thread_ts: question.ts, ...recipients(), buffer_size: 4 });
    await streamer.append({ markdown_text: 'one ' });
    await streamer.append({ markdown_text: 'two ' });
    await streamer.stop({ markdown_text: 'three' });
    const stream = slack.state.streams.get(streamer.ts ?? '');
    expect(stream?.text).toBe('one two three');
    expect(stream?.chunks.every((c) => c.type === 'markdown_text')).toBe(true);
  });

  it('enforces recipients in channels, the 12,000-character chunk limit, expiry and the user stop', async () => {
    const question = slack.userMessage({ text: 'rules', mention: true });
    const channel = question.channel;
    expect(await slackError(client.chat.startStream({ channel, thread_ts: question.ts }))).toBe('missing_recipient_user_id');
    const dm = slack.userMessage({ text: 'in a DM', dm: true });
    const inDm = await client.chat.startStream({ channel: dm.channel, thread_ts: dm.ts, markdown_text: 'no recipients needed' });
    expect(inDm.ok).toBe(true);

    const { ts = '' } = await client.chat.startStream({ channel, thread_ts: question.ts, ...recipients(), markdown_text: 'x' });
    expect(await slackError(client.chat.appendStream({ channel, ts, markdown_text: 'y'.repeat(12_001) }))).toBe('msg_too_long');
    await client.chat.appendStream({ channel, ts, markdown_text: 'y'.repeat(12_000) });
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(await slackError(client.chat.appendStream({ channel, ts, markdown_text: 'too late' }))).toBe('message_not_in_streaming_state');

    const fresh = await client.chat.startStream({ channel, thread_ts: question.ts, ...recipients(), markdown_text: 'again' });
    slack.stopStreamAsUser(fresh.ts ?? '');
    expect(await slackError(client.chat.appendStream({ channel, ts: fresh.ts ?? '', markdown_text: 'more' }))).toBe('stopped_by_user');
  });

  it('can reject the streaming methods so a fallback to postMessage can be tested', async () => {
    const locked = await startFakeSlack({ streaming: { rejectWith: 'unknown_method' } });
    try {
      const lockedClient = webClient(locked);
      const question = locked.userMessage({ text: 'no streaming here', mention: true });
      expect(
        await slackError(lockedClient.chat.startStream({ channel: question.channel, thread_ts: question.ts, recipient_user_id: locked.users.alice.id, recipient_team_id: locked.teamId })),
      ).toBe('unknown_method');
      await lockedClient.chat.postMessage({ channel: question.channel, thread_ts: question.ts, text: 'fallback answer' });
      expect(locked.messages(question.channel, question.ts).map((m) => m.text)).toEqual([question.text, 'fallback answer']);
    } finally {
      await locked.close();
    }
  });
});
