/**
 * The contract every gateway PlatformAdapter (gateway/bridge/platform.ts)
 * passes: one vitest suite, run against a real adapter talking to a fake
 * platform server. Each platform's integration test calls it:
 *
 *   platformContract('discord', async (handlers) => {
 *     ...start a fake server and the adapter with `handlers`...
 *     return harness;
 *   });
 *
 * The harness gives the suite the adapter, a channel place it may post in,
 * and read access to the fake's state. What the suite checks:
 * - limits are sane; a message of exactly `maxMessageLength` is accepted;
 * - post returns an id and the platform holds exactly the text;
 * - edit replaces the text; react adds the emoji; typing reaches the platform
 *   in a thread (and does not fail in a channel);
 * - openThread from a person's message gives a different place whose posts
 *   land in the thread, and opening it again gives the same thread;
 * - a persona post shows the persona's name (and avatar, when the platform
 *   has avatars) and its edits keep it;
 * - two posts with one idempotency key make one message;
 * - 429s are waited out: the writes succeed, the fake counts its 429s;
 * - editing a deleted message fails (PlatformError `not_found` when the
 *   adapter classifies errors);
 * - inbound (when the harness can play a person): a mention is normalised
 *   (text without the mention, mentionsBot, opensThread, user, dedupeKey);
 *   a slash command arrives with its options and `respond` answers it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PlatformError,
  type InboundCommand,
  type InboundHandlers,
  type InboundMessage,
  type Place,
  type PlatformAdapter,
} from '../../gateway/bridge/platform.js';
import { waitFor } from '../fakes/plumbing.js';

/** A message as the fake platform holds it. */
export interface PlatformMessage {
  id: string;
  text: string;
  /** The name shown as author (a persona's name for persona posts). */
  authorName: string;
  /** The avatar URL a persona post was made with, if the platform has avatars. */
  avatarUrl?: string | null;
}

export interface ContractHarness {
  /** Started with the handlers given to `setup`. */
  adapter: PlatformAdapter;
  /** A channel (not a thread, not a DM) the bot may post in and people write in. */
  channel: Place;
  /** Messages of a place (channel, thread or DM), oldest first, deleted ones left out. */
  messages(place: Place): Promise<PlatformMessage[]> | PlatformMessage[];
  /** Emoji the bot added to a message. */
  reactions(place: Place, messageId: string): Promise<string[]> | string[];
  /** Typing pulses received for a place. */
  typingCount(place: Place): number;
  /** 429 answers the fake has sent so far. */
  rateLimitedCount(): number;
  /** The next `count` message writes get a 429 with a short retry_after. */
  injectRateLimit(count: number): void;
  /** A person writes a message in the channel (it may also reach the handlers); returns its id. */
  personMessage(text: string, options?: { mentionBot?: boolean }): Promise<string> | string;
  /** Deletes a message on the platform, as a moderator would. */
  deleteMessage(place: Place, messageId: string): Promise<void> | void;
  /** A person runs a slash command in the channel; resolves with the text of its answer. Leave out when the fake cannot. */
  runCommand?(name: string, options: Record<string, string>): Promise<string>;
  /** Whether persona posts carry an avatar the harness can read. Default true. */
  personaAvatars?: boolean;
  close(): Promise<void>;
}

/** Waits until `fn` returns something truthy. */
const until = <T>(fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 10_000) => waitFor(fn, timeoutMs, 20);

export function platformContract(name: string, setup: (handlers: InboundHandlers) => Promise<ContractHarness>): void {
  describe(`platform contract: ${name}`, () => {
    let h: ContractHarness;
    const inbound: InboundMessage[] = [];
    const commands: InboundCommand[] = [];
    const handlers: InboundHandlers = {
      message: async (message) => {
        inbound.push(message);
      },
      command: async (command) => {
        commands.push(command);
        await command.respond(`ran /${command.name} ${JSON.stringify(command.options)}`, { ephemeral: true });
      },
    };

    beforeAll(async () => {
      h = await setup(handlers);
    });
    afterAll(async () => {
      await h?.close();
    });

    const find = async (place: Place, id: string) => (await h.messages(place)).find((m) => m.id === id);

    it('declares sane limits and accepts a message of exactly maxMessageLength', async () => {
      const { limits } = h.adapter;
      expect(limits.maxMessageLength).toBeGreaterThanOrEqual(1000);
      expect(limits.editIntervalMs).toBeGreaterThan(0);
      expect(limits.typingIntervalMs).toBeGreaterThanOrEqual(0);
      const text = 'x'.repeat(limits.maxMessageLength);
      const posted = await h.adapter.post(h.channel, text);
      expect((await find(h.channel, posted.id))?.text).toBe(text);
    });

    it('posts, edits and reacts; the platform holds exactly the text', async () => {
      const text = 'Hello from the contract — *markdown*, `code`, emoji 😀 and a\nsecond line.';
      const posted = await h.adapter.post(h.channel, text);
      expect(posted.id).toBeTruthy();
      expect((await find(h.channel, posted.id))?.text).toBe(text);
      await h.adapter.edit(h.channel, posted.id, `${text} (edited)`);
      expect((await find(h.channel, posted.id))?.text).toBe(`${text} (edited)`);
      await h.adapter.react(h.channel, posted.id, '✅');
      expect(await h.reactions(h.channel, posted.id)).toContain('✅');
    });

    it('sends typing in a conversation thread (and never fails elsewhere)', async () => {
      const starter = await h.personMessage('something to think about');
      const thread = await h.adapter.openThread(h.channel, starter, 'Thinking');
      const before = h.typingCount(thread);
      await h.adapter.typing(thread);
      if (h.adapter.limits.typingIntervalMs > 0) expect(h.typingCount(thread)).toBe(before + 1);
      await h.adapter.typing(h.channel); // a platform without typing there may do nothing, but must not throw
    });

    it('opens a thread from a person’s message; posts land there; opening it again reuses it', async () => {
      const starter = await h.personMessage('a question that deserves a thread');
      const thread = await h.adapter.openThread(h.channel, starter, 'A question');
      expect(thread.key).not.toBe(h.channel.key);
      expect(thread.platform).toBe(h.channel.platform);
      const reply = await h.adapter.post(thread, 'inside the thread');
      expect((await find(thread, reply.id))?.text).toBe('inside the thread');
      expect(await find(h.channel, reply.id)).toBeUndefined();
      const again = await h.adapter.openThread(h.channel, starter, 'A question');
      expect(again.key).toBe(thread.key);
    });

    it('posts and edits as a persona', async () => {
      const persona = { name: 'Ada Lovelace', avatarUrl: 'https://example.com/ada.png' };
      const posted = await h.adapter.post(h.channel, 'speaking as Ada', { persona });
      const shown = await find(h.channel, posted.id);
      expect(shown?.authorName === 'Ada Lovelace' || shown?.text.includes('Ada Lovelace')).toBe(true);
      if (h.personaAvatars !== false && shown?.authorName === 'Ada Lovelace') expect(shown.avatarUrl).toBe(persona.avatarUrl);
      await h.adapter.edit(h.channel, posted.id, 'still Ada', { persona });
      const edited = await find(h.channel, posted.id);
      expect(edited?.text.endsWith('still Ada')).toBe(true);
      expect(edited?.authorName === 'Ada Lovelace' || edited?.text.includes('Ada Lovelace')).toBe(true);
    });

    it('makes one message of two posts with the same idempotency key', async () => {
      const key = `contract-${Date.now()}`;
      const first = await h.adapter.post(h.channel, 'only once', { idempotencyKey: key });
      const second = await h.adapter.post(h.channel, 'only once', { idempotencyKey: key });
      expect(second.id).toBe(first.id);
      expect((await h.messages(h.channel)).filter((m) => m.text === 'only once')).toHaveLength(1);
    });

    it('waits out 429s: every write lands, nothing is dropped', async () => {
      const before = h.rateLimitedCount();
      h.injectRateLimit(2);
      const posted = await h.adapter.post(h.channel, 'after a rate limit');
      await h.adapter.edit(h.channel, posted.id, 'after a rate limit, edited');
      expect((await find(h.channel, posted.id))?.text).toBe('after a rate limit, edited');
      expect(h.rateLimitedCount()).toBeGreaterThanOrEqual(before + 2);
    });

    it('fails to edit a deleted message', async () => {
      const posted = await h.adapter.post(h.channel, 'about to be deleted');
      await h.deleteMessage(h.channel, posted.id);
      const error = await h.adapter.edit(h.channel, posted.id, 'too late').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      if (error instanceof PlatformError) expect(error.code).toBe('not_found');
    });

    it('normalises a person’s mention of the bot', async () => {
      const id = await h.personMessage('what is the weather?', { mentionBot: true });
      const message = await until(() => inbound.find((m) => m.id === id));
      expect(message.text).toBe('what is the weather?');
      expect(message.mentionsBot).toBe(true);
      expect(message.opensThread).toBe(true);
      expect(message.place.key).toBe(h.channel.key);
      expect(message.user.isBot).toBe(false);
      expect(message.dedupeKey).toBeTruthy();
    });

    it('delivers a slash command with its options, and its answer reaches the person', async (context) => {
      if (!h.runCommand) return context.skip();
      const answer = await h.runCommand('preset', { id: 'helper' });
      const command = await until(() => commands.find((c) => c.name === 'preset'));
      expect(command.options).toMatchObject({ id: 'helper' });
      expect(command.place.key).toBe(h.channel.key);
      expect(answer).toContain('ran /preset');
    });
  });
}
