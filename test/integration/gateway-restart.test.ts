/**
 * Restart safety of the Discord gateway, with the real `conclave gateway`
 * command as a child process (test/support/process.ts) against a real
 * runtime, the fake OpenAI and the fake Discord: the gateway is killed with
 * SIGKILL while an answer streams, started again, and must continue the SAME
 * Discord messages to the exact end — no duplicate message, no lost or
 * doubled text, no earlier turn posted again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESERVE } from '../../gateway/bridge/index.js';
import { ConclaveClient } from '../../shared/client/index.js';
import { splitPieces } from '../../shared/text/index.js';
import { startFakeDiscord, type FakeDiscord } from '../fakes/discord.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { spawnRuntime, type RuntimeProcess } from '../support/process.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';

describe('the gateway killed mid-answer and restarted', () => {
  let rt: TestRuntime;
  let openai: FakeOpenAI;
  let discord: FakeDiscord;
  let client: ConclaveClient;
  const children: RuntimeProcess[] = [];

  beforeAll(async () => {
    openai = await startFakeOpenAI();
    rt = await startTestRuntime({ env: { OPENAI_BASE_URL: openai.baseURL, OPENAI_API_KEY: 'sk-test', CONCLAVE_RATE_LIMIT_PER_MINUTE: '100000' } });
    expect((await rt.api('POST', '/api/presets', { body: { id: 'helper', name: 'Helper', model: 'openai:gpt-test', is_default: true } })).status).toBe(201);
    discord = await startFakeDiscord();
    client = new ConclaveClient({ baseUrl: rt.url, token: rt.token });
  });

  afterAll(async () => {
    for (const child of children) await child.stop('SIGKILL').catch(() => undefined);
    await discord?.close();
    await rt?.close();
    await openai?.close();
  });

  /** `conclave gateway` as its own process; resolves once it is connected to Discord. */
  async function gatewayProcess(): Promise<RuntimeProcess> {
    const identifies = discord.state.gateway.identifies.length;
    const child = await spawnRuntime(
      {
        CONCLAVE_RUNTIME_URL: rt.url,
        CONCLAVE_SERVICE_KEY: rt.token,
        DISCORD_BOT_TOKEN: discord.token,
        DISCORD_API_URL: discord.apiUrl,
        CONCLAVE_LOG_LEVEL: 'warn',
      },
      'gateway',
    );
    children.push(child);
    await discord.waitFor(() => discord.state.gateway.identifies.length > identifies, 20_000);
    return child;
  }

  const botMessages = (channelId: string) => discord.stored(channelId).filter((s) => !s.deleted && s.source === 'bot');

  it('continues the same messages after SIGKILL and restart: nothing duplicated, nothing lost', async () => {
    const first = await gatewayProcess();

    // An earlier turn in the same thread: it must not be posted again after the restart.
    openai.script({ text: 'An earlier answer.' });
    const question = discord.userMessage({ content: 'first, a short one', mentionsBot: true }).id;
    await discord.waitFor(() => botMessages(question).find((s) => s.message.content === 'An earlier answer.'), 20_000);
    const key = `g${discord.guildId}/c${discord.channelId}/t${question}`;

    // A long answer (two Discord messages), streamed slowly.
    const answer = Array.from({ length: 160 }, (_, i) => `token${String(i).padStart(3, '0')} `).join('').repeat(2);
    const deltas = answer.match(/[\s\S]{1,24}/g) ?? [];
    openai.script({ text: deltas, chunkDelayMs: 70 });
    discord.userMessage({ content: 'now a long one', channelId: question });

    // Part of the answer is on Discord (posted and edited at least once) when the gateway dies.
    const partial = await discord.waitFor(() => {
      const second = botMessages(question)[1];
      return second && second.versions.length >= 2 ? second : undefined;
    }, 20_000);
    await first.stop('SIGKILL');
    const shownAtKill = discord.findMessage(partial.message.id)?.message.content ?? '';
    expect(shownAtKill.length).toBeGreaterThan(0);
    expect(shownAtKill.length).toBeLessThan(answer.length);

    const second = await gatewayProcess();
    // The answer was still streaming when the new gateway came up: it picks up a live turn.
    const conversationId = (await client.listBindings({ platform: 'discord', key })).items[0]!.conversation_id;
    expect((await client.listSessions(conversationId)).items.at(-1)?.status).toBe('running');
    const expected = splitPieces(answer, 2000 - RESERVE).map((p) => p.chunk);
    expect(expected.length).toBeGreaterThanOrEqual(2);
    await discord.waitFor(() => {
      const contents = botMessages(question).slice(1).map((s) => s.message.content);
      return contents.length === expected.length && contents.every((c, i) => c === expected[i]);
    }, 30_000);
    // The binding's state is settled: the turn's final text stored, the cursor past it.
    const binding = await waitForSettled(key);
    expect(binding.state).toEqual({});

    const messages = botMessages(question);
    expect(messages.map((s) => s.message.content)).toEqual(['An earlier answer.', ...expected]);
    // The message that was streaming when the gateway died is the one that was finished.
    expect(messages[1]!.message.id).toBe(partial.message.id);
    // Every version of it is a prefix of its final text: nothing shown twice or out of order.
    for (const version of discord.findMessage(partial.message.id)!.versions) expect(expected[0]!.startsWith(version.content)).toBe(true);
    // Exactly one run per message.
    expect(openai.chatRequests()).toHaveLength(2);
    await second.stop('SIGTERM');
  });

  async function waitForSettled(key: string) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const binding = (await client.listBindings({ platform: 'discord', key })).items[0];
      if (binding && binding.cursor !== null && !binding.state.turn) return binding;
      if (Date.now() > deadline) throw new Error(`binding ${key} did not settle: ${JSON.stringify(binding)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});
