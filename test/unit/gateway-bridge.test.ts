/**
 * The gateway bridge's pieces without a platform or a runtime: the inbound
 * de-duplication, the allow-lists, message input, and the TurnRenderer
 * against an in-memory adapter — random streams rendered exactly, transient
 * write failures, a lost state write after a post (idempotent re-post), a
 * restored turn editing its messages, deleted messages, status and last
 * lines, typing, and native streaming with its fallback.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { checkAccess, runtimeUserId, type AccessLists } from '../../gateway/bridge/access.js';
import type { StoredTurn } from '../../gateway/bridge/binding-writer.js';
import { messageInput, threadTitle } from '../../gateway/bridge/bridge.js';
import { Deduper } from '../../gateway/bridge/dedupe.js';
import {
  PlatformError,
  type NativeStream,
  type Persona,
  type Place,
  type PlatformAdapter,
  type PlatformLimits,
  type PostedMessage,
} from '../../gateway/bridge/platform.js';
import { RESERVE, TurnRenderer } from '../../gateway/bridge/renderer.js';
import { compareEventIds } from '../../gateway/bridge/subscription.js';
import type { ConclaveEvent } from '../../shared/protocol/events.js';
import { splitPieces } from '../../shared/text/index.js';

const logger = pino({ level: 'silent' });
const place: Place = { platform: 'discord', teamId: 'g1', channelId: 'c1', threadId: 't1', isDirect: false, key: 'g1/c1/t1' };

// ---------------------------------------------------------------- an in-memory platform

interface MemoryMessage {
  id: string;
  text: string;
  versions: string[];
  persona?: string;
}

class MemoryAdapter implements PlatformAdapter {
  readonly platform = 'discord' as const;
  readonly limits: PlatformLimits;
  readonly messages: MemoryMessage[] = [];
  readonly typings: number[] = [];
  readonly byKey = new Map<string, string>();
  /** Fail the next N writes with a transient error. */
  failNext = 0;
  private next = 1;

  constructor(limits: Partial<PlatformLimits> = {}) {
    this.limits = { maxMessageLength: 400, editIntervalMs: 5, typingIntervalMs: 0, ...limits };
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  private check(text: string): void {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new PlatformError('other', 'transient failure');
    }
    if (text.length > this.limits.maxMessageLength) throw new PlatformError('invalid', `too long: ${text.length}`);
    if (text.trim() === '') throw new PlatformError('invalid', 'empty');
  }

  async post(_place: Place, text: string, options: { persona?: Persona; idempotencyKey?: string } = {}): Promise<PostedMessage> {
    const known = options.idempotencyKey ? this.byKey.get(options.idempotencyKey) : undefined;
    if (known) return { id: known };
    this.check(text);
    const id = `m${this.next++}`;
    this.messages.push({ id, text, versions: [text], ...(options.persona && { persona: options.persona.name }) });
    if (options.idempotencyKey) this.byKey.set(options.idempotencyKey, id);
    return { id };
  }

  async edit(_place: Place, messageId: string, text: string): Promise<void> {
    const message = this.messages.find((m) => m.id === messageId);
    if (!message) throw new PlatformError('not_found', 'unknown message');
    this.check(text);
    message.text = text;
    message.versions.push(text);
  }

  async react(): Promise<void> {}
  async typing(): Promise<void> {
    this.typings.push(Date.now());
  }
  async openThread(p: Place): Promise<Place> {
    return p;
  }
}

/** An event as a test writes it (the envelope is added by `play`). */
type TestEvent = { type: string } & Record<string, unknown>;

/** Feeds a session's events to a renderer, with a little time between some of them. */
async function play(renderer: TurnRenderer, events: TestEvent[], pauseEvery = 7): Promise<void> {
  for (const [i, event] of events.entries()) {
    renderer.handle({ conversationId: 'c', sessionId: renderer.sessionId, seq: i, timestamp: Date.now(), ...event } as unknown as ConclaveEvent);
    if (i % pauseEvery === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await renderer.complete();
}

function textEvents(deltas: string[], end: TestEvent = { type: 'RUN_FINISHED' }): TestEvent[] {
  return [
    { type: 'RUN_STARTED' },
    { type: 'TEXT_MESSAGE_START', messageId: 'x' },
    ...deltas.map((delta) => ({ type: 'TEXT_MESSAGE_CONTENT', messageId: 'x', delta })),
    { type: 'TEXT_MESSAGE_END', messageId: 'x' },
    end,
  ];
}

function renderer(adapter: PlatformAdapter, options: { sessionId?: string; restored?: StoredTurn | null; saved?: StoredTurn[]; save?: (turn: StoredTurn) => Promise<void> } = {}) {
  return new TurnRenderer({
    adapter,
    place,
    sessionId: options.sessionId ?? 's1',
    restored: options.restored ?? null,
    settings: { reasoning: 'status', editIntervalMs: 0 },
    logger,
    persona: async (speaker) => ({ name: speaker.name }),
    saveState: options.save ?? (async (turn) => void options.saved?.push(structuredClone(turn))),
  });
}

/** A random answer with prose, code fences, emoji and long words, cut into random deltas. */
function randomAnswer(seed: number): { text: string; deltas: string[] } {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const parts = ['Hello world. ', 'A longer sentence with several words in it. ', '\n\n', '😀🎉 ', '```ts\nconst x = 1;\n', 'console.log(x);\n', '```\n', '~~~\nplain\n~~~\n', 'supercalifragilistic'.repeat(3), '\n- item\n'];
  let text = '';
  while (text.length < 1500 + seed * 37) text += parts[Math.floor(random() * parts.length)];
  const deltas: string[] = [];
  for (let i = 0; i < text.length; ) {
    const n = 1 + Math.floor(random() * 30);
    deltas.push(text.slice(i, i + n));
    i += n;
  }
  return { text, deltas };
}

// ---------------------------------------------------------------- the renderer

describe('TurnRenderer', () => {
  it('renders random streams exactly: the final messages are the split of the text, none over the limit', async () => {
    for (let seed = 1; seed <= 12; seed += 1) {
      const adapter = new MemoryAdapter();
      const { text, deltas } = randomAnswer(seed);
      await play(renderer(adapter), textEvents(deltas));
      const expected = splitPieces(text, 400 - Math.min(RESERVE, 100));
      expect(adapter.messages.map((m) => m.text), `seed ${seed}`).toEqual(expected.map((p) => p.chunk));
      for (const message of adapter.messages) for (const version of message.versions) expect(version.length).toBeLessThanOrEqual(400);
      expect(expected.map((p) => p.text).join('')).toBe(text);
    }
  });

  it('posts the first text at once and edits at most once per interval, skipping unchanged text', async () => {
    const adapter = new MemoryAdapter({ editIntervalMs: 100, maxMessageLength: 2000 });
    const r = renderer(adapter);
    r.handle({ type: 'RUN_STARTED', sessionId: 's1' } as unknown as ConclaveEvent);
    r.handle({ type: 'TEXT_MESSAGE_CONTENT', delta: 'Hi', sessionId: 's1' } as unknown as ConclaveEvent);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(adapter.messages.map((m) => m.text)).toEqual(['Hi']);
    const started = Date.now();
    for (let i = 0; i < 50; i += 1) {
      r.handle({ type: 'TEXT_MESSAGE_CONTENT', delta: ` ${i}`, sessionId: 's1' } as unknown as ConclaveEvent);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const elapsed = Date.now() - started;
    r.handle({ type: 'RUN_FINISHED', sessionId: 's1' } as unknown as ConclaveEvent);
    await r.complete();
    const versions = adapter.messages[0]!.versions;
    expect(versions.length).toBeLessThanOrEqual(2 + Math.ceil(elapsed / 100));
    expect(new Set(versions).size).toBe(versions.length); // never the same text twice
    expect(versions.at(-1)).toBe(`Hi${Array.from({ length: 50 }, (_, i) => ` ${i}`).join('')}`);
  });

  it('retries transient write failures and still ends exact', async () => {
    const adapter = new MemoryAdapter();
    const { text, deltas } = randomAnswer(5);
    const r = renderer(adapter);
    adapter.failNext = 2;
    const started = Date.now();
    await play(r, textEvents(deltas));
    // Backed off (0.5 s, then 1 s) instead of hammering the platform with every new token.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(adapter.failNext).toBe(0);
    expect(adapter.messages.map((m) => m.text).join('')).toContain(text.slice(0, 50));
    expect(adapter.messages.map((m) => m.text)).toEqual(splitPieces(text, 300).map((p) => p.chunk));
  });

  it('does not double a message whose id was never stored (the gateway died right after the post)', async () => {
    const adapter = new MemoryAdapter();
    const { deltas, text } = randomAnswer(3);
    // First life: the state write after the first post never lands.
    const first = renderer(adapter, { save: () => new Promise(() => undefined) });
    for (const event of textEvents(deltas.slice(0, 5), { type: 'TEXT_MESSAGE_END' })) {
      first.handle({ sessionId: 's1', ...event } as unknown as ConclaveEvent);
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    first.dispose();
    expect(adapter.messages).toHaveLength(1);
    // Second life: nothing stored, the whole session replayed.
    await play(renderer(adapter, { restored: null }), textEvents(deltas));
    expect(adapter.messages.map((m) => m.text)).toEqual(splitPieces(text, 300).map((p) => p.chunk));
  });

  it('keeps editing the stored messages of a restored turn', async () => {
    const adapter = new MemoryAdapter();
    const { text, deltas } = randomAnswer(7);
    const saved: StoredTurn[] = [];
    const first = renderer(adapter, { saved });
    const half = Math.floor(deltas.length * 0.6);
    for (const event of textEvents(deltas.slice(0, half), { type: 'TEXT_MESSAGE_END' })) first.handle({ sessionId: 's1', ...event } as unknown as ConclaveEvent);
    await new Promise((resolve) => setTimeout(resolve, 50));
    first.dispose();
    const stored = saved.at(-1)!;
    const before = adapter.messages.length;
    expect(stored.message_ids).toHaveLength(before);
    // A new key space: a re-post could not be caught by idempotency, so any post beyond the split would show.
    adapter.byKey.clear();
    await play(renderer(adapter, { restored: stored }), textEvents(deltas));
    const expected = splitPieces(text, 300).map((p) => p.chunk);
    expect(adapter.messages.map((m) => m.text)).toEqual(expected);
    expect(adapter.messages.slice(0, before).map((m) => m.id)).toEqual(stored.message_ids);
  });

  it('posts a chunk again when its message was deleted', async () => {
    const adapter = new MemoryAdapter({ maxMessageLength: 2000 });
    const r = renderer(adapter);
    r.handle({ type: 'TEXT_MESSAGE_CONTENT', delta: 'first part', sessionId: 's1' } as unknown as ConclaveEvent);
    await new Promise((resolve) => setTimeout(resolve, 20));
    adapter.messages.length = 0; // a moderator deleted it
    r.handle({ type: 'TEXT_MESSAGE_CONTENT', delta: ', second part', sessionId: 's1' } as unknown as ConclaveEvent);
    r.handle({ type: 'RUN_FINISHED', sessionId: 's1' } as unknown as ConclaveEvent);
    await r.complete();
    expect(adapter.messages.map((m) => m.text)).toEqual(['first part, second part']);
  });

  it('shows one tool status line while a tool runs, and the last line of a failed run', async () => {
    const adapter = new MemoryAdapter({ maxMessageLength: 2000 });
    const r = renderer(adapter);
    const step = async (event: TestEvent) => {
      r.handle({ sessionId: 's1', ...event } as unknown as ConclaveEvent);
      await new Promise((resolve) => setTimeout(resolve, 30)); // longer than the edit interval: every state is shown
    };
    await step({ type: 'RUN_STARTED' });
    await step({ type: 'TEXT_MESSAGE_CONTENT', delta: 'Let me look.' });
    await step({ type: 'TOOL_CALL_START', toolCallId: 'a', toolCallName: 'search_files' });
    await step({ type: 'TEXT_MESSAGE_START', messageId: 'y' });
    await step({ type: 'TOOL_CALL_RESULT', toolCallId: 'a', content: 'found' });
    await step({ type: 'TEXT_MESSAGE_CONTENT', delta: 'Found it.' });
    await step({ type: 'RUN_ERROR', code: 'interrupted', message: 'the run was interrupted' });
    await r.complete();
    const versions = adapter.messages[0]!.versions;
    expect(versions).toContain('Let me look.\n\n🔧 running `search_files`…');
    expect(adapter.messages[0]!.text).toBe('Let me look.\n\nFound it.\n\n⏹️ Stopped.');

    // A turn that only ran a tool and said nothing: the status line does not stay behind.
    const silent = new MemoryAdapter({ maxMessageLength: 2000 });
    const quiet = renderer(silent);
    quiet.handle({ type: 'TOOL_CALL_START', toolCallId: 'b', toolCallName: 'write_file', sessionId: 's1' } as unknown as ConclaveEvent);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(silent.messages.map((m) => m.text)).toEqual(['🔧 running `write_file`…']);
    quiet.handle({ type: 'TOOL_CALL_RESULT', toolCallId: 'b', sessionId: 's1' } as unknown as ConclaveEvent);
    quiet.handle({ type: 'RUN_FINISHED', sessionId: 's1' } as unknown as ConclaveEvent);
    await quiet.complete();
    expect(silent.messages.map((m) => m.text)).toEqual(['✅ Done.']);

    const failed = new MemoryAdapter({ maxMessageLength: 2000 });
    await play(renderer(failed), [{ type: 'RUN_STARTED' }, { type: 'RUN_ERROR', code: 'provider_error', message: 'openai:gpt-4.1 answered 500' }]);
    expect(failed.messages.map((m) => m.text)).toEqual(['⚠️ openai:gpt-4.1 answered 500']);
  });

  it('pulses typing while the turn works and stops at the end', async () => {
    const adapter = new MemoryAdapter({ typingIntervalMs: 20, maxMessageLength: 2000 });
    const r = renderer(adapter);
    r.handle({ type: 'RUN_STARTED', sessionId: 's1' } as unknown as ConclaveEvent);
    await new Promise((resolve) => setTimeout(resolve, 110));
    r.handle({ type: 'RUN_FINISHED', sessionId: 's1' } as unknown as ConclaveEvent);
    await r.complete();
    const count = adapter.typings.length;
    expect(count).toBeGreaterThanOrEqual(4);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(adapter.typings.length).toBe(count);
  });

  it('streams natively when the adapter can, and ends with the complete text', async () => {
    const adapter = new MemoryAdapter({ maxMessageLength: 2000 });
    const appended: string[] = [];
    let stopped: string | undefined;
    const native: PlatformAdapter = Object.assign(Object.create(adapter) as MemoryAdapter, {
      startStream: async (): Promise<NativeStream> => ({
        messageId: 'stream-1',
        append: async (text: string) => void appended.push(text),
        stop: async (finalText?: string) => void (stopped = finalText),
      }),
    });
    const saved: StoredTurn[] = [];
    const { text, deltas } = randomAnswer(2);
    await play(renderer(native, { saved }), textEvents(deltas, { type: 'RUN_ERROR', code: 'interrupted' }));
    expect(appended.join('')).toBe(text);
    expect(stopped).toBe(`${text}${text.endsWith('\n') ? '\n' : '\n\n'}⏹️ Stopped.`);
    expect(saved[0]?.message_ids).toEqual(['stream-1']);
    expect(adapter.messages).toHaveLength(0);

    // A platform that refuses streaming: posts and edits instead.
    const refusing: PlatformAdapter = Object.assign(Object.create(adapter) as MemoryAdapter, {
      startStream: async () => {
        throw Object.assign(new Error('no streaming here'), { code: 'native_stream_unavailable' });
      },
    });
    await play(renderer(refusing), textEvents(['plain ', 'edits']));
    expect(adapter.messages.map((m) => m.text)).toEqual(['plain edits']);
  });
});

// ---------------------------------------------------------------- inbound pieces

describe('inbound', () => {
  it('drops repeats by any of their keys, forgets them after the TTL, and stays bounded', () => {
    let now = 0;
    const dedupe = new Deduper({ ttlMs: 1000, maxKeys: 3, now: () => now });
    expect(dedupe.isRepeat('event:1', 'message:a')).toBe(false);
    expect(dedupe.isRepeat('event:2', 'message:a')).toBe(true); // a retry under a new event id
    expect(dedupe.isRepeat('event:1')).toBe(true);
    now = 1500;
    expect(dedupe.isRepeat('event:1')).toBe(false);
    dedupe.isRepeat('x');
    dedupe.isRepeat('y');
    dedupe.isRepeat('z');
    expect(dedupe.size).toBeLessThanOrEqual(3);
  });

  it('applies the allow-lists', () => {
    const open: AccessLists = { users: [], guilds: [], channels: [], roles: [], allowDirectMessages: true };
    const alice = { id: '111', name: 'alice', isBot: false, roles: ['r-dev'] };
    const bob = { id: '222', name: 'bob', isBot: false, roles: [] };
    const dm: Place = { platform: 'discord', teamId: null, channelId: 'd1', threadId: null, isDirect: true, key: 'dm/d1' };
    expect(checkAccess(open, place, bob)).toEqual({ allowed: true });
    expect(checkAccess({ ...open, users: ['discord:111'] }, place, alice)).toEqual({ allowed: true });
    expect(checkAccess({ ...open, users: ['111'] }, place, bob)).toEqual({ allowed: false, reason: 'user' });
    expect(checkAccess({ ...open, roles: ['r-dev'] }, place, alice)).toEqual({ allowed: true });
    expect(checkAccess({ ...open, roles: ['r-dev'] }, place, bob)).toEqual({ allowed: false, reason: 'user' });
    expect(checkAccess({ ...open, guilds: ['g2'] }, place, alice)).toEqual({ allowed: false, reason: 'guild' });
    expect(checkAccess({ ...open, channels: ['c1'] }, place, alice)).toEqual({ allowed: true }); // a thread of an allowed channel
    expect(checkAccess({ ...open, channels: ['c9'] }, place, alice)).toEqual({ allowed: false, reason: 'channel' });
    expect(checkAccess({ ...open, channels: ['c9'], guilds: ['g9'] }, dm, alice)).toEqual({ allowed: true });
    expect(checkAccess({ ...open, allowDirectMessages: false }, dm, alice)).toEqual({ allowed: false, reason: 'direct' });
    expect(runtimeUserId({ ...place, platform: 'slack', teamId: 'T01' }, { ...alice, id: 'U02' })).toBe('slack:t01:u02');
  });

  it('builds message input: text alone, or text plus attachments as URL parts', () => {
    expect(messageInput('  hello ', [])).toBe('hello');
    expect(messageInput('   ', [])).toBeNull();
    expect(
      messageInput('look', [
        { url: 'https://x/cat.png', name: 'cat.png', mimeType: 'image/png' },
        { url: 'https://x/notes.pdf', name: 'notes.pdf', mimeType: 'application/pdf' },
        { url: 'https://x/photo.jpg', name: 'photo.jpg' },
      ]),
    ).toEqual([
      { type: 'text', text: 'look' },
      { type: 'image', url: 'https://x/cat.png', mime_type: 'image/png' },
      { type: 'file', url: 'https://x/notes.pdf', mime_type: 'application/pdf', name: 'notes.pdf' },
      { type: 'image', url: 'https://x/photo.jpg' },
    ]);
    // Behind the bot's credentials: the bytes when the adapter fetched them, else only a reference.
    expect(
      messageInput('', [
        { url: 'https://files.slack.com/a.png', name: 'a.png', mimeType: 'image/png', private: true, data: 'iVBORw0K' },
        { url: 'https://files.slack.com/b.png', name: 'b.png', mimeType: 'image/png', private: true },
        { url: 'https://files.slack.com/c.py', name: 'c.py', mimeType: 'text/x-python', private: true, data: 'cHJpbnQoMSk=' },
        { url: 'https://files.slack.com/d.zip', name: 'd.zip', mimeType: 'application/zip', private: true },
      ]),
    ).toEqual([
      { type: 'image', data: 'iVBORw0K', mime_type: 'image/png' },
      { type: 'file', url: 'https://files.slack.com/b.png', mime_type: 'image/png', name: 'b.png' },
      { type: 'file', data: 'cHJpbnQoMSk=', mime_type: 'text/x-python', name: 'c.py' },
      { type: 'file', url: 'https://files.slack.com/d.zip', mime_type: 'application/zip', name: 'd.zip' },
    ]);
    expect(threadTitle('  a\nquestion  ')).toBe('a question');
    expect(threadTitle('x'.repeat(200))).toHaveLength(90);
  });

  it('orders event ids numerically', () => {
    expect(compareEventIds('1700000000000-2', '1700000000000-10')).toBeLessThan(0);
    expect(compareEventIds('1700000000001-0', '1700000000000-99')).toBeGreaterThan(0);
    expect(compareEventIds('5-5', '5-5')).toBe(0);
  });
});
