/**
 * Gateway benchmark: K conversations streaming at once into one chat
 * channel of a fake platform (one thread each), through the real gateway
 * (bridge + adapter), a real runtime and the scripted fake OpenAI.
 *
 *   npm run bench:gateway -- --conversations 10 --tokens 600 --rate 40 --platform all
 *
 * Platforms (PLATFORMS):
 * - `discord`: the discord.js adapter on the fake Discord (its default limits:
 *   5 writes / 5 s per channel, 50 requests / s per bot);
 * - `slack-native`: the Slack adapter (Bolt, HTTP events) on the fake Slack
 *   with native streaming (chat.startStream / appendStream / stopStream);
 * - `slack-fallback`: the same with native streaming turned off
 *   (`nativeStreaming: false`, i.e. SLACK_NATIVE_STREAMING=false): post +
 *   chat.update. Both Slack runs use one fresh workspace each, under the
 *   fake's default tiers (SLACK_BUDGETS below).
 * `--platform slack` runs both Slack variants.
 *
 * Prints, per platform:
 * - first token → first visible text: from the runtime's first
 *   TEXT_MESSAGE_CONTENT event of a turn (its `timestamp`) to the moment the
 *   turn's first platform message first showed text (Discord: its creation;
 *   Slack: the first version with text, so a native stream counts from its
 *   first append, not from its empty start), p50 / p99 / max over the K turns;
 * - platform calls per 1,000 tokens (message posts, edits, stream calls,
 *   typing/status, all of the conversation's calls, 429'd ones included) and
 *   the 429s the fake sent;
 * - exactness: every conversation's messages, with the fence lines the
 *   splitter added taken away (a native stream is one unsplit message), must
 *   equal the model's text (lost or extra characters are counted; the run
 *   fails when any conversation differs);
 * - Slack only: calls per Web API method over the whole workspace (429s
 *   included), the most calls the fake accepted in any window of the
 *   method's tier against the tier's budget, and which methods went over
 *   (got a 429, or more accepted calls in a window than the budget). With
 *   native streaming the run fails unless every answer was a native stream
 *   and nothing else (no post + edit fallback), and unless chat.update
 *   stayed inside Tier 3 (≤ 50 accepted per minute, no 429).
 *
 * Layout: everything in this process (one clock): the fake OpenAI, the
 * runtime (embedded PGlite in memory, memory event log), the fake platforms
 * and one gateway per platform. The platforms run AT THE SAME TIME, each
 * against its own fake (own limits), sharing the runtime: Slack's budgets are
 * per minute, so each Slack run alone takes a minute or more at the defaults,
 * and running them side by side keeps a default run near that. `--sequential`
 * runs them one after another instead (no shared load; about 3 minutes).
 *
 * Adding a platform: implement `BenchPlatform` (start its fake, make an
 * adapter for it, ask a question in a fresh thread, read what was rendered)
 * and add it to PLATFORMS.
 *
 * Options: --conversations K (10)  --tokens N per answer (600)
 *          --rate tokens/s per answer (40)
 *          --platform discord|slack|slack-native|slack-fallback|all (all)
 *          --json FILE (append the figures as one JSON line per platform)
 *          --sequential (one platform after another; default: all at once)
 *          --log LEVEL (the gateway's pino log on stderr; silent)
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { RESERVE, type PlatformAdapter } from '../../gateway/bridge/index.js';
import { createDiscordAdapter } from '../../gateway/discord/index.js';
import { startGateway } from '../../gateway/index.js';
import { loadConfig } from '../../runtime/config/index.js';
import { startRuntime, type RuntimeHandle } from '../../runtime/server.js';
import { ConclaveClient } from '../../shared/client/index.js';
import { splitPieces } from '../../shared/text/index.js';
import { startFakeDiscord } from '../fakes/discord.js';
import { startFakeOpenAI } from '../fakes/openai.js';
import { startFakeSlack, type FakeSlack, type SlackRateRule } from '../fakes/slack.js';
import { slackAdapterOn } from '../support/slack-adapter.js';

// ---------------------------------------------------------------- options

const { values: args } = parseArgs({
  options: {
    conversations: { type: 'string', default: '10' },
    tokens: { type: 'string', default: '600' },
    rate: { type: 'string', default: '40' },
    platform: { type: 'string', default: 'all' },
    json: { type: 'string' },
    log: { type: 'string', default: 'silent' },
    sequential: { type: 'boolean', default: false },
  },
  strict: true,
});

const positive = (name: string, value: string | undefined) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
};
const CONVERSATIONS = Math.round(positive('conversations', args.conversations));
const TOKENS = Math.round(positive('tokens', args.tokens));
const RATE = positive('rate', args.rate);
/** The gateway's and the adapters' log (pino, to stderr); `--log warn` shows waits, fallbacks and failed writes. */
const gatewayLogger = pino({ level: args.log ?? 'silent' }, pino.destination(2));

// ---------------------------------------------------------------- platforms

/** One conversation's question on a platform. */
interface Asked {
  /** The binding key of the conversation's place (`<place key>`). */
  placeKey: string;
}

interface RenderedMessage {
  text: string;
  /** When it first showed text on the platform (ms since the epoch). */
  visibleAt: number;
  /** A native stream message: it holds its part of the answer unsplit, without added fence lines. */
  streamed?: boolean;
}

/** Platform-specific figures of a run (Slack: calls per method, tier budgets). */
interface RunDetails {
  /** Printed under the common figures. */
  lines: string[];
  /** Added to the --json line. */
  json: Record<string, unknown>;
  /** Checks that failed (the bench exits 1). */
  failures: string[];
}

/** A fake platform with the gateway's adapter for it. */
interface PlatformRun {
  adapter: PlatformAdapter;
  /** A person asks the bot in a fresh thread of the one channel. */
  ask(index: number, text: string): Promise<Asked>;
  /** The bot's messages of that conversation, oldest first. */
  rendered(asked: Asked): RenderedMessage[];
  /** Platform API calls spent on that conversation. */
  calls(asked: Asked): number;
  /** 429 answers sent so far. */
  rateLimited(): number;
  /** Platform-specific figures and checks, once every turn is settled. */
  details?(asked: Asked[]): RunDetails;
  close(): Promise<void>;
}

interface BenchPlatform {
  name: string;
  start(): Promise<PlatformRun>;
}

const discordPlatform: BenchPlatform = {
  name: 'discord',
  async start() {
    // The fake's defaults are Discord's limits: 5 writes / 5 s per channel, 50 requests / s per bot.
    const discord = await startFakeDiscord();
    const adapter = createDiscordAdapter({ token: discord.token, apiUrl: discord.apiUrl, logger: gatewayLogger.child({ platform: 'discord' }) });
    const threadOf = (asked: Asked) => asked.placeKey.split('/t')[1] ?? '';
    return {
      adapter,
      async ask(_index, text) {
        const message = discord.userMessage({ content: text, mentionsBot: true });
        return { placeKey: `g${discord.guildId}/c${discord.channelId}/t${message.id}` };
      },
      rendered: (asked) =>
        discord
          .stored(threadOf(asked))
          .filter((s) => !s.deleted && s.source !== 'user')
          .map((s) => ({ text: s.message.content, visibleAt: s.versions[0]?.at ?? 0 })),
      calls: (asked) => discord.state.restCalls.filter((c) => c.path.startsWith(`/channels/${threadOf(asked)}/`)).length,
      rateLimited: () => discord.state.rateLimited,
      close: () => discord.close(),
    };
  },
};

/**
 * The fake Slack's default limits (test/fakes/slack.ts, DEFAULT_RATE_LIMITS),
 * spelled out so the budget check below does not depend on how the fake
 * enforces them; they are also handed to the fake, so both agree.
 * Tier 2 = 20/min, Tier 3 = 50/min, Tier 4 = 100/min, per method and
 * workspace; chat.postMessage 5 per 5 s per channel. auth.test and
 * assistant.threads.setStatus are unlimited.
 */
const SLACK_BUDGETS: Record<string, SlackRateRule & { tier: string }> = {
  'chat.postMessage': { limit: 5, windowMs: 5000, per: 'channel', tier: 'per channel' },
  'chat.update': { limit: 50, windowMs: 60_000, tier: 'Tier 3' },
  'chat.delete': { limit: 50, windowMs: 60_000, tier: 'Tier 3' },
  'chat.getPermalink': { limit: 50, windowMs: 60_000, tier: 'Tier 3' },
  'reactions.add': { limit: 50, windowMs: 60_000, tier: 'Tier 3' },
  'reactions.remove': { limit: 50, windowMs: 60_000, tier: 'Tier 3' },
  'conversations.info': { limit: 50, windowMs: 60_000, tier: 'Tier 3' },
  'conversations.replies': { limit: 50, windowMs: 60_000, tier: 'Tier 3' },
  'conversations.history': { limit: 50, windowMs: 60_000, tier: 'Tier 3' },
  'apps.connections.open': { limit: 50, windowMs: 60_000, tier: 'Tier 3' },
  'chat.startStream': { limit: 20, windowMs: 60_000, tier: 'Tier 2' },
  'chat.stopStream': { limit: 20, windowMs: 60_000, tier: 'Tier 2' },
  'chat.appendStream': { limit: 100, windowMs: 60_000, tier: 'Tier 4' },
  'chat.postEphemeral': { limit: 100, windowMs: 60_000, tier: 'Tier 4' },
  'users.info': { limit: 100, windowMs: 60_000, tier: 'Tier 4' },
};

interface MethodFigures {
  method: string;
  /** Every call, 429'd ones included. */
  calls: number;
  rateLimited: number;
  /** Answered ok:false for another reason. */
  errors: number;
  /** Most calls accepted (not 429'd) in any window of the budget, per key; null when unlimited. */
  peak: number | null;
  budget: { limit: number; windowMs: number; tier: string } | null;
  overBudget: boolean;
}

/** Calls per method over the workspace, with the most accepted in any sliding window of the method's budget. */
function slackMethodFigures(slack: FakeSlack): MethodFigures[] {
  const byMethod = new Map<string, FakeSlack['state']['calls']>();
  for (const call of slack.state.calls) byMethod.set(call.method, [...(byMethod.get(call.method) ?? []), call]);
  const figures: MethodFigures[] = [];
  for (const [method, calls] of byMethod) {
    const rule = SLACK_BUDGETS[method];
    const rateLimited = calls.filter((c) => c.status === 429).length;
    let peak: number | null = null;
    if (rule) {
      peak = 0;
      const keys = new Map<string, number[]>();
      for (const c of calls) {
        if (c.status === 429) continue;
        const key = rule.per === 'channel' ? String(c.args.channel ?? '') : '';
        keys.set(key, [...(keys.get(key) ?? []), c.at]);
      }
      // The fake counts a call when the ones before it in (at - windowMs, at] number fewer than the limit.
      for (const times of keys.values()) {
        times.sort((a, b) => a - b);
        let from = 0;
        for (let to = 0; to < times.length; to += 1) {
          while (times[from]! <= times[to]! - rule.windowMs) from += 1;
          peak = Math.max(peak, to - from + 1);
        }
      }
    }
    figures.push({
      method,
      calls: calls.length,
      rateLimited,
      errors: calls.filter((c) => c.status !== 429 && !c.ok).length,
      peak,
      budget: rule ? { limit: rule.limit, windowMs: rule.windowMs, tier: rule.tier } : null,
      overBudget: rateLimited > 0 || (rule !== undefined && peak !== null && peak > rule.limit),
    });
  }
  return figures.sort((a, b) => b.calls - a.calls || a.method.localeCompare(b.method));
}

function slackPlatform(native: boolean): BenchPlatform {
  return {
    name: native ? 'slack-native' : 'slack-fallback',
    async start() {
      const slack = await startFakeSlack({
        // Its own workspace id: the two Slack runs share the runtime, and binding keys start with it.
        teamId: native ? 'T0BENCHNATIVE' : 'T0BENCHFALLBACK',
        rateLimits: Object.fromEntries(Object.entries(SLACK_BUDGETS).map(([method, { tier: _tier, ...rule }]) => [method, rule])),
      });
      // Default tuning (edits every 1.5 s, appends at most every 1 s): the production pacing.
      const adapter = slackAdapterOn(slack, { nativeStreaming: native, logger: gatewayLogger.child({ platform: 'slack' }) });
      const threadOf = (asked: Asked) => asked.placeKey.split('/')[2] ?? '';
      const botMessages = (threadTs: string) =>
        (slack.state.messages.get(slack.channelId) ?? []).filter((m) => m.thread_ts === threadTs && m.ts !== threadTs && m.source !== 'user');
      return {
        adapter,
        async ask(_index, text) {
          const question = slack.userMessage({ text, mention: true });
          const delivered = await slack.deliverEvent(adapter.eventsUrl ?? '', question.mentionEvent ?? {});
          if (delivered.status !== 200) throw new Error(`the Slack adapter answered ${delivered.status} to an event`);
          return { placeKey: `${slack.teamId}/${question.channel}/${question.ts}` };
        },
        rendered: (asked) =>
          botMessages(threadOf(asked))
            .filter((m) => !m.deleted)
            .map((m) => ({
              text: m.text,
              visibleAt: m.versions.find((v) => v.text.length > 0)?.at ?? Number.NaN,
              streamed: m.source === 'stream',
            })),
        calls(asked) {
          const threadTs = threadOf(asked);
          const ids = new Set([threadTs, ...botMessages(threadTs).map((m) => m.ts)]);
          return slack.state.calls.filter((c) => c.args.thread_ts === threadTs || ids.has(String(c.args.ts ?? c.args.timestamp ?? ''))).length;
        },
        rateLimited: () => slack.state.rateLimited,
        details(asked) {
          const methods = slackMethodFigures(slack);
          const failures: string[] = [];
          const streamedAnswers = asked.filter((a) => botMessages(threadOf(a)).some((m) => m.source === 'stream')).length;
          const postedAnswers = asked.filter((a) => botMessages(threadOf(a)).some((m) => m.source === 'bot')).length;
          const update = methods.find((m) => m.method === 'chat.update');
          const updatePeak = update?.peak ?? 0;
          const updateWithin = updatePeak <= (SLACK_BUDGETS['chat.update']?.limit ?? 50) && (update?.rateLimited ?? 0) === 0;
          if (native) {
            if (streamedAnswers !== asked.length) failures.push(`native streaming: only ${streamedAnswers} of ${asked.length} answers were native streams`);
            if (postedAnswers !== 0) failures.push(`native streaming: ${postedAnswers} of ${asked.length} answers went over to chat.postMessage + chat.update (run with --log warn to see why)`);
            if (!updateWithin) failures.push(`native streaming: chat.update went over Tier 3 (peak ${updatePeak}/50 per minute, ${update?.rateLimited ?? 0} × 429)`);
          } else if (streamedAnswers !== 0) {
            failures.push(`fallback: ${streamedAnswers} answers were streamed natively`);
          }
          const over = methods.filter((m) => m.overBudget);
          const total = methods.reduce((n, m) => n + m.calls, 0);
          const window = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);
          const lines = [
            `  native streams / posted answers    ${streamedAnswers} / ${postedAnswers}`,
            `  429s waited out by the adapter     ${adapter.rateLimitWaits}`,
            `  Web API calls (workspace, all)     ${total}`,
            `    method                       calls   429s  errors   peak accepted / budget`,
            ...methods.map(
              (m) =>
                `    ${m.method.padEnd(28)} ${String(m.calls).padStart(5)} ${String(m.rateLimited).padStart(6)} ${String(m.errors).padStart(7)}   ${
                  m.budget ? `${m.peak} / ${m.budget.limit} per ${window(m.budget.windowMs)} (${m.budget.tier})` : 'unlimited'
                }${m.overBudget ? '   OVER' : ''}`,
            ),
            `  methods over their tier budget     ${over.length === 0 ? 'none' : over.map((m) => `${m.method} (${m.rateLimited} × 429)`).join(', ')}`,
            `  chat.update within Tier 3          ${updateWithin ? 'yes' : 'NO'} (${update?.calls ?? 0} calls, peak ${updatePeak}/50 per min, ${update?.rateLimited ?? 0} × 429)${native ? ' [asserted]' : ''}`,
          ];
          return {
            lines,
            json: { nativeStreaming: native, streamedAnswers, postedAnswers, rateLimitWaits: adapter.rateLimitWaits, totalCalls: total, methods, overBudget: over.map((m) => m.method), chatUpdateWithinTier3: updateWithin },
            failures,
          };
        },
        close: () => slack.close(),
      };
    },
  };
}

const PLATFORMS: BenchPlatform[] = [discordPlatform, slackPlatform(true), slackPlatform(false)];

// ---------------------------------------------------------------- the answer

/** The scripted answer of conversation i: words, line breaks and a code block, TOKENS tokens. */
function answerTokens(i: number): string[] {
  const tokens: string[] = [];
  const codeAt = Math.floor(TOKENS / 3);
  for (let n = 0; n < TOKENS; n += 1) {
    if (n === codeAt) tokens.push('\n\n```ts\n');
    else if (n === codeAt + 40) tokens.push('\n```\n\n');
    else if (n > codeAt && n < codeAt + 40) tokens.push(`let v${n} = ${i};\n`);
    else tokens.push(n % 14 === 13 ? `w${i}_${n}.\n` : `w${i}_${n} `);
  }
  return tokens;
}

// ---------------------------------------------------------------- one platform run

interface Figures {
  platform: string;
  conversations: number;
  tokensPerAnswer: number;
  rate: number;
  firstVisibleMs: { p50: number; p99: number; max: number };
  callsPer1000Tokens: number;
  rateLimited: number;
  exact: number;
  charactersLost: number;
  durationMs: number;
  /** Platform-specific figures (Slack: calls per method, tier budgets). */
  details: Record<string, unknown>;
  /** Checks that failed besides exactness. */
  failures: string[];
  /** Printed under the common figures. */
  lines: string[];
}

async function runPlatform(platform: BenchPlatform, runtime: RuntimeHandle, answers: string[][]): Promise<Figures> {
  const run = await platform.start();
  const client = new ConclaveClient({ baseUrl: runtime.url, token: runtime.rootToken.token });
  const gateway = await startGateway({ runtimeUrl: runtime.url, serviceToken: runtime.rootToken.token, adapters: [run.adapter], logger: gatewayLogger });
  const limit = run.adapter.limits.maxMessageLength - Math.min(RESERVE, Math.floor(run.adapter.limits.maxMessageLength / 4));

  const rateLimitedBefore = run.rateLimited();
  const started = Date.now();
  const asked = await Promise.all(answers.map((_, i) => run.ask(i, `bench ${i}: please answer at length`)));

  // Wait until every conversation's turn is rendered and its binding settled.
  const deadline = started + (TOKENS / RATE) * 1000 + 120_000;
  for (;;) {
    const pages = await Promise.all(asked.map((a) => client.listBindings({ platform: run.adapter.platform, key: a.placeKey })));
    const settled = pages.every((page) => {
      const binding = page.items[0];
      return binding && binding.cursor !== null && !(binding.state as { turn?: unknown }).turn;
    });
    if (settled) break;
    if (Date.now() > deadline) throw new Error('the bench did not finish in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const durationMs = Date.now() - started;

  const latencies: number[] = [];
  let exact = 0;
  let lost = 0;
  let calls = 0;
  for (const [i, a] of asked.entries()) {
    const binding = (await client.listBindings({ platform: run.adapter.platform, key: a.placeKey })).items[0]!;
    const { entries } = await runtime.context.eventLog.read(binding.conversation_id, null);
    const firstToken = entries.find((e) => e.event.type === 'TEXT_MESSAGE_CONTENT')?.event.timestamp as number | undefined;
    const messages = run.rendered(a);
    const visibleAt = Math.min(...messages.map((m) => m.visibleAt).filter(Number.isFinite));
    if (firstToken !== undefined && Number.isFinite(visibleAt)) latencies.push(visibleAt - firstToken);
    calls += run.calls(a);

    const text = answers[i]!.join('');
    let rebuilt: string;
    let countOk: boolean;
    if (messages.length > 0 && messages.every((m) => m.streamed)) {
      // Native stream messages hold the answer as appended, unsplit (several only after a roll).
      rebuilt = messages.map((m) => m.text).join('');
      countOk = true;
    } else {
      const expected = splitPieces(text, limit);
      const shown = messages.map((m, k) => {
        const piece = expected[k];
        return piece && m.text.startsWith(piece.reopen) && m.text.endsWith(piece.close)
          ? m.text.slice(piece.reopen.length, m.text.length - piece.close.length)
          : m.text;
      });
      rebuilt = shown.join('');
      countOk = messages.length === expected.length;
    }
    if (rebuilt === text && countOk) exact += 1;
    else lost += Math.abs(text.length - rebuilt.length) || 1;
  }
  const details = run.details?.(asked) ?? { lines: [], json: {}, failures: [] };

  await gateway.stop();
  await run.close();
  latencies.sort((x, y) => x - y);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    platform: platform.name,
    conversations: CONVERSATIONS,
    tokensPerAnswer: TOKENS,
    rate: RATE,
    firstVisibleMs: { p50: pick(0.5), p99: pick(0.99), max: latencies.at(-1) ?? NaN },
    callsPer1000Tokens: (calls / (CONVERSATIONS * TOKENS)) * 1000,
    rateLimited: run.rateLimited() - rateLimitedBefore,
    exact,
    charactersLost: lost,
    durationMs,
    details: details.json,
    failures: details.failures,
    lines: details.lines,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const chosen = args.platform === 'all' ? PLATFORMS : PLATFORMS.filter((p) => p.name === args.platform || p.name.startsWith(`${args.platform}-`));
  if (chosen.length === 0) throw new Error(`--platform must be all, slack or one of: ${PLATFORMS.map((p) => p.name).join(', ')}`);

  const openai = await startFakeOpenAI();
  const dataDir = mkdtempSync(join(tmpdir(), 'conclave-bench-gateway-'));
  const config = loadConfig(
    { CONCLAVE_PORT: '0', CONCLAVE_DATA_DIR: dataDir, CONCLAVE_LOG_LEVEL: 'silent', OPENAI_BASE_URL: openai.baseURL, OPENAI_API_KEY: 'bench', CONCLAVE_RATE_LIMIT_PER_MINUTE: '100000' },
    dataDir,
  );
  const runtime = await startRuntime(config, { logger: pino({ level: 'silent' }), inMemoryDatabase: true });
  const client = new ConclaveClient({ baseUrl: runtime.url, token: runtime.rootToken.token });
  await client.createPreset({ id: 'bench', name: 'Bench', model: 'openai:bench-model', is_default: true });

  const answers = Array.from({ length: CONVERSATIONS }, (_, i) => answerTokens(i));
  openai.onRequest((request) => {
    const user = (request.body.messages as Array<{ role: string; content: unknown }>).filter((m) => m.role === 'user').at(-1);
    const index = Number(/bench (\d+)/.exec(JSON.stringify(user?.content ?? ''))?.[1] ?? -1);
    const tokens = answers[index];
    return tokens ? { text: tokens, tokensPerSecond: RATE } : undefined;
  });

  let failed = false;
  const report = (figures: Figures) => {
    const f = figures.firstVisibleMs;
    console.log(
      [
        `${figures.platform}`,
        `  first token → first visible text   p50 ${f.p50.toFixed(0)} ms   p99 ${f.p99.toFixed(0)} ms   max ${f.max.toFixed(0)} ms`,
        `  platform calls per 1,000 tokens    ${figures.callsPer1000Tokens.toFixed(1)}`,
        `  429s received                      ${figures.rateLimited}`,
        `  exact answers                      ${figures.exact}/${figures.conversations} (characters lost or extra: ${figures.charactersLost})`,
        `  wall time                          ${(figures.durationMs / 1000).toFixed(1)} s`,
        ...figures.lines,
        ...figures.failures.map((f) => `  FAILED: ${f}`),
        '',
      ].join('\n'),
    );
    const { lines: _lines, ...json } = figures;
    if (args.json) appendFileSync(args.json, `${JSON.stringify({ at: new Date().toISOString(), sequential: Boolean(args.sequential), ...json })}\n`);
    if (figures.exact !== figures.conversations || figures.failures.length > 0) failed = true;
  };
  const started = Date.now();
  try {
    console.log(
      `gateway bench: ${CONVERSATIONS} conversations × ${TOKENS} tokens at ${RATE} tokens/s, one channel per platform, ` +
        `${args.sequential ? 'platforms one after another' : 'platforms at the same time'}\n`,
    );
    if (args.sequential) {
      for (const platform of chosen) report(await runPlatform(platform, runtime, answers));
    } else {
      // Each platform has its own fake (its own limits); they share the runtime, the fake OpenAI and this process.
      for (const figures of await Promise.all(chosen.map((platform) => runPlatform(platform, runtime, answers)))) report(figures);
    }
    console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    openai.onRequest(undefined);
    await runtime.close();
    await openai.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
