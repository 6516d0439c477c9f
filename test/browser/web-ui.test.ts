/**
 * The web UI in a real browser (system Chromium through playwright-core)
 * against a real runtime serving the built UI, with the fake OpenAI server
 * scripted per model: sign-in, streaming, steer, stop, fork, approvals, a
 * room of three personas, the preset editor, and phone-width layout.
 * Screenshots go to test-artifacts/screenshots/.
 *
 * The HTTP checks of how the UI is served (SPA fallback, caching, never
 * shadowing /api or /v1) need no browser and always run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webUi } from '../../runtime/http/web.js';
import { ensureWebBuild } from '../../runtime/web/build.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { sessionEvents } from '../support/sse.js';
import { describeWithChromium, launchChromium, screenshotPath } from './chromium.js';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let rt: TestRuntime;
let fake: FakeOpenAI;

beforeAll(async () => {
  await ensureWebBuild({ quiet: true });
  fake = await startFakeOpenAI();
  rt = await startTestRuntime({
    env: { OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: 'sk-test', CONCLAVE_WEB_UI: 'true' },
    engine: { retryBaseDelayMs: 20 },
  });
  const presets = [
    { id: 'helper', name: 'Helper', model: 'openai:gpt-helper', system_prompt: 'Be brief.', persona: { display_name: 'Helper', title: 'Generalist', color: '#4f46e5' } },
    {
      id: 'guarded',
      name: 'Guarded',
      model: 'openai:gpt-guarded',
      tools: [{ type: 'builtin', name: 'current_time', requires_approval: true }],
      persona: { display_name: 'Guard', color: '#b45309' },
    },
    { id: 'worker', name: 'Worker', model: 'openai:gpt-worker', persona: { display_name: 'Researcher' } },
    { id: 'boss', name: 'Boss', model: 'openai:gpt-boss', subagents: [{ name: 'researcher', preset_id: 'worker', description: 'Looks things up' }] },
    { id: 'asker', name: 'Asker', model: 'openai:gpt-asker', tools: ['ask_user'], persona: { display_name: 'Curious' } },
    { id: 'ada', name: 'Ada', model: 'openai:m-ada', persona: { display_name: 'Ada', title: 'Mathematician', color: '#e11d48' } },
    { id: 'grace', name: 'Grace', model: 'openai:m-grace', persona: { display_name: 'Grace', title: 'Admiral', color: '#0ea5e9' } },
    { id: 'linus', name: 'Linus', model: 'openai:m-linus', persona: { display_name: 'Linus', title: 'Kernel hacker', color: '#16a34a' } },
  ];
  for (const body of presets) {
    const res = await rt.api('POST', '/api/presets', { body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
});

afterAll(async () => {
  await rt?.close();
  await fake?.close();
});

describe('the runtime serves the web UI', () => {
  it('answers / and client routes with index.html (no-cache), hashed assets for a year, and never shadows /api or /v1', async () => {
    const home = await fetch(`${rt.url}/`);
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toMatch(/text\/html/);
    expect(home.headers.get('cache-control')).toBe('no-cache');
    expect(home.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(home.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await home.text();
    expect(html).toContain('<div id="root">');

    const deep = await fetch(`${rt.url}/c/some-conversation`, { headers: { accept: 'text/html' } });
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(html);

    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeTruthy();
    const js = await fetch(`${rt.url}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');

    for (const path of ['/api/no-such-route', '/api', '/v1/no-such-route']) {
      const res = await fetch(`${rt.url}${path}`, { headers: { accept: 'text/html' } });
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toMatch(/application\/json/);
    }
    // A missing file is a 404, not the app.
    expect((await fetch(`${rt.url}/assets/missing-123.js`)).status).toBe(404);
    // The API still answers under /api.
    expect((await fetch(`${rt.url}/api/health`)).status).toBe(200);
  });
});

describe('runtime/http/web.ts', () => {
  async function serve(handler: express.RequestHandler): Promise<{ url: string; close(): Promise<void> }> {
    const app = express();
    app.use(handler);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
  }

  it('says how to build the UI when there is no build, and serves nothing when turned off', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'conclave-web-'));
    const missing = await serve(webUi({ enabled: true, distDir: join(empty, 'dist') }));
    const off = await serve(webUi({ enabled: false }));
    try {
      const res = await fetch(`${missing.url}/`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('npm run build:web');
      expect((await fetch(`${missing.url}/api/anything`)).status).toBe(404);
      expect((await fetch(`${off.url}/`)).status).toBe(404);
    } finally {
      await missing.close();
      await off.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describeWithChromium('the web UI in Chromium', () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    context = await browser.newContext({ viewport: DESKTOP, colorScheme: 'light' });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
  });

  const signIn = async (p: Page = page) => {
    await p.goto(`${rt.url}/?token=${encodeURIComponent(rt.token)}`);
    await p.getByRole('button', { name: 'New conversation' }).waitFor();
  };

  /** Widths of everything that could scroll sideways; all must fit. */
  const overflow = async (p: Page): Promise<string[]> =>
    (await p.evaluate(`(() => {
      const out = [];
      const check = (el, name) => { if (el && el.scrollWidth - el.clientWidth > 1) out.push(name + ': ' + el.scrollWidth + ' > ' + el.clientWidth); };
      check(document.documentElement, 'html');
      check(document.body, 'body');
      for (const sel of ['.main', '.thread', '.admin-body', '.chat-head', '.composer', '.editor', '.sidebar']) document.querySelectorAll(sel).forEach((el) => check(el, sel));
      return out;
    })()`)) as string[];

  const openConversation = async (id: string, p: Page = page) => {
    await p.goto(`${rt.url}/c/${id}`);
    await p.getByRole('textbox', { name: 'Message' }).waitFor();
  };

  const send = async (text: string, p: Page = page) => {
    const box = p.getByRole('textbox', { name: 'Message' });
    await box.fill(text);
    await box.press('Enter');
  };

  it('signs in from ?token= (and strips it from the address), signs out, and signs in with the form', async () => {
    await signIn();
    expect(page.url()).toBe(`${rt.url}/`);
    expect(await page.evaluate(`localStorage.getItem('conclave.token')`)).toBe(rt.token);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(`localStorage.getItem('conclave.token')`)).toBeNull();

    await page.getByLabel('Token or API key').fill('not-a-valid-token-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token is not valid').waitFor();
    await page.screenshot({ path: screenshotPath('sign-in-desktop') });

    await page.getByLabel('Token or API key').fill(rt.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'New conversation' }).waitFor();

    // The theme follows the system (light here) until toggled; the choice is kept.
    await page.getByRole('button', { name: 'Switch to dark theme' }).click();
    expect(await page.evaluate(`document.documentElement.dataset.theme`)).toBe('dark');
    await page.reload();
    await page.getByRole('button', { name: 'Switch to light theme' }).click();
    expect(await page.evaluate(`localStorage.getItem('conclave.theme')`)).toBe('light');
  });

  it('starts a conversation from a preset and streams the reply in as it is written', async () => {
    await signIn();
    const words = ['Streaming ', 'starts ', 'here ', 'and ', 'goes ', 'on ', 'word ', 'by ', 'word ', 'until ', 'the ', 'very ', 'last ', 'token ', 'arrives.'];
    fake.script({ text: words, tokensPerSecond: 12 }, { model: 'gpt-helper' });

    await page.getByRole('button', { name: 'New conversation' }).click();
    const dialog = page.getByRole('dialog', { name: 'New conversation' });
    await dialog.getByRole('radio', { name: /Helper/ }).check();
    await page.screenshot({ path: screenshotPath('new-conversation-desktop') });
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/c\/[^/]+$/);

    await send('Tell me something, slowly.');
    await page.locator('.bubble', { hasText: 'Tell me something, slowly.' }).waitFor();
    // Partial text first, while the end has not arrived.
    await page.locator('.msg-agent .markdown', { hasText: 'Streaming starts' }).waitFor();
    expect(await page.getByText('last token arrives.').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Stop' }).isVisible()).toBe(true);
    // The list shows the conversation as replying.
    await page.getByRole('navigation', { name: 'Conversation list' }).getByRole('img', { name: 'Replying' }).waitFor();
    // Then all of it, and the run is over.
    await page.locator('.msg-agent .markdown', { hasText: 'last token arrives.' }).waitFor();
    await page.getByRole('button', { name: 'Stop' }).waitFor({ state: 'detached' });
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Reply finished.' }).count()).toBe(1);

    // The title came from the first message, in the header and the list.
    await page.getByRole('heading', { name: 'Tell me something, slowly.' }).waitFor();
    await page.getByRole('navigation', { name: 'Conversation list' }).getByText('Tell me something, slowly.').waitFor();
  });

  it('renders markdown with highlighted code, tool calls as cards, and usage', async () => {
    await signIn();
    const conversation = (await rt.api('POST', '/api/conversations', { body: { preset_id: 'helper', title: 'Markdown and tools' } })).body;
    fake.script(
      [
        { reasoning: 'The user wants the time; call the tool.', toolCalls: [{ name: 'current_time', arguments: '{}' }] },
        {
          text: '## Result\n\nHere is **bold** text and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```ts\nconst answer: number = 42; // the answer\n```\n\n<script>alert(1)</script><img src=x onerror="alert(1)">',
          usage: { promptTokens: 120, completionTokens: 40 },
        },
      ],
      { model: 'gpt-helper' },
    );
    await rt.api('PATCH', '/api/presets/helper', { body: { tools: ['current_time'] } });
    await openConversation(conversation.id);
    await send('What time is it? Show code.');
    await page.locator('.markdown h2', { hasText: 'Result' }).waitFor();
    // Code is highlighted; raw HTML from the model is sanitised away.
    expect(await page.locator('.code-block .hljs-keyword').count()).toBeGreaterThan(0);
    expect(await page.locator('.markdown script').count()).toBe(0);
    expect(await page.locator('.markdown img[onerror]').count()).toBe(0);
    expect(await page.locator('.markdown table').count()).toBe(1);
    // The tool call is a collapsed card; opening it shows arguments and result.
    const card = page.locator('.tool-card', { hasText: 'current_time' });
    await expect.poll(() => card.locator('.status-badge').textContent()).toBe('complete');
    await card.locator('summary').click();
    await card.getByText('Arguments').waitFor();
    expect(await card.locator('pre').nth(1).textContent()).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    await page.screenshot({ path: screenshotPath('tools-desktop') });
    // Reasoning is collapsed.
    expect(await page.locator('details.reasoning').getAttribute('open')).toBeNull();
    // Usage per conversation, in the details panel.
    await page.getByRole('complementary', { name: 'Participants and usage' }).getByText('openai:gpt-helper').waitFor();
    await rt.api('PATCH', '/api/presets/helper', { body: { tools: [] } });
  });

  it('steers a running reply with Send and stops one with Stop', async () => {
    await signIn();
    const conversation = (await rt.api('POST', '/api/conversations', { body: { preset_id: 'helper', title: 'Steer and stop' } })).body;
    const slow = Array.from({ length: 30 }, (_, i) => `part${i} `);
    fake.script([{ text: slow, tokensPerSecond: 15 }, { text: 'Steered: the short version.' }], { model: 'gpt-helper' });
    await openConversation(conversation.id);

    await send('Write a long answer.');
    await page.locator('.msg-agent .markdown', { hasText: 'part1' }).waitFor();
    // While it runs, the button steers.
    await page.getByRole('button', { name: 'Steer' }).waitFor();
    await page.getByRole('textbox', { name: 'Message' }).fill('Make it short.');
    await page.getByRole('button', { name: 'Steer' }).click();
    await page.locator('.note-steer', { hasText: 'Make it short.' }).waitFor();
    expect(await page.getByText('Steering received').count()).toBeGreaterThan(0);
    await page.getByText('Steered: the short version.').waitFor();
    const steered = fake.chatRequests().at(-1)!.body.messages.map((m: { content: unknown }) => JSON.stringify(m.content)).join('\n');
    expect(steered).toContain('Make it short.');
    await page.screenshot({ path: screenshotPath('chat-desktop') });

    // Stop: the run ends as interrupted, partial output kept.
    fake.script({ text: Array.from({ length: 200 }, (_, i) => `slow${i} `), tokensPerSecond: 10 }, { model: 'gpt-helper' });
    await page.getByRole('button', { name: 'Send' }).waitFor();
    await send('Another long one.');
    await page.locator('.msg-agent .markdown', { hasText: 'slow1' }).waitFor();
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.locator('.run-interrupted', { hasText: 'Interrupted' }).waitFor();
    await page.getByRole('button', { name: 'Send' }).waitFor();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Interrupted.' }).count()).toBe(1);
  });

  it('forks from a turn into a new conversation', async () => {
    await signIn();
    const conversation = (await rt.api('POST', '/api/conversations', { body: { preset_id: 'helper', title: 'Fork source' } })).body;
    fake.script([{ text: 'First answer.' }, { text: 'Second answer.' }], { model: 'gpt-helper' });
    await openConversation(conversation.id);
    await send('First question');
    await page.getByText('First answer.').waitFor();
    await page.getByRole('button', { name: 'Send' }).waitFor();
    await send('Second question');
    await page.getByText('Second answer.').waitFor();

    await page.getByRole('button', { name: /^Fork from this turn/ }).first().click();
    await page.waitForURL((url) => url.pathname.startsWith('/c/') && !url.pathname.endsWith(conversation.id));
    await page.getByRole('heading', { name: 'Fork source (fork)' }).waitFor();
    await page.getByText('First answer.').waitFor();
    expect(await page.getByText('Second answer.').count()).toBe(0);
  });

  it('asks for approval inline and runs the tool once approved', async () => {
    await signIn();
    const conversation = (await rt.api('POST', '/api/conversations', { body: { preset_id: 'guarded', title: 'Approval' } })).body;
    fake.script([{ toolCalls: [{ name: 'current_time', arguments: '{}' }] }, { text: 'It is tea time.' }], { model: 'gpt-guarded' });
    await openConversation(conversation.id);
    await send('What time is it?');
    const waiting = page.getByRole('group', { name: 'Waiting for you' });
    await waiting.getByText('current_time').waitFor();
    await waiting.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('It is tea time.').waitFor();
    const result = fake.chatRequests().at(-1)!.body.messages.find((m: { role: string }) => m.role === 'tool');
    expect(String(result.content)).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  });

  it('shows a room of three personas with their names, colours, and who is speaking', async () => {
    await signIn();
    const res = await rt.api('POST', '/api/conversations', {
      body: {
        title: 'Design review',
        mode: 'round_robin',
        participants: [
          { preset_id: 'ada', handle: 'ada' },
          { preset_id: 'grace', handle: 'grace' },
          { preset_id: 'linus', handle: 'linus' },
        ],
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const replies: Record<string, string> = {
      'm-ada': 'Ada here: the **proof** comes first.',
      'm-grace': 'Grace here: ship it, then measure.\n\n```bash\nmake test && make deploy\n```',
      'm-linus': 'Linus here: show me the code.',
    };
    fake.onRequest((req) => {
      const text = replies[String(req.body.model)];
      return text ? { text: text.split(/(?<= )/), tokensPerSecond: 25 } : undefined;
    });
    try {
      await openConversation(res.body.id);
      const panel = page.getByRole('complementary', { name: 'Participants and usage' });
      for (const name of ['Ada', 'Grace', 'Linus']) await panel.getByText(name, { exact: true }).waitFor();

      await send('Introduce yourselves, briefly.');
      // Someone is speaking while the round runs.
      await panel.getByText('speaking', { exact: true }).waitFor();
      await page.getByText('Linus here: show me the code.').waitFor();
      await panel.getByText('speaking', { exact: true }).waitFor({ state: 'detached' });

      const names = await page.locator('.msg-agent .persona-name').allTextContents();
      expect(names).toEqual(['Ada', 'Grace', 'Linus']);
      const colours = await page.evaluate(`[...document.querySelectorAll('.msg-agent .persona-name')].map((el) => el.dataset.personaColor)`);
      expect(colours).toEqual(['#e11d48', '#0ea5e9', '#16a34a']);
      const avatarColours = (await page.evaluate(
        `[...document.querySelectorAll('.msg-agent > .avatar')].map((el) => getComputedStyle(el).backgroundColor)`,
      )) as string[];
      expect(new Set(avatarColours).size).toBe(3);
      await page.screenshot({ path: screenshotPath('room-desktop') });

      // Phone width: everything fits, and the room still reads.
      await page.setViewportSize(PHONE);
      await page.getByText('Linus here: show me the code.').waitFor();
      expect(await overflow(page)).toEqual([]);
      await page.screenshot({ path: screenshotPath('room-phone') });
      await page.getByRole('button', { name: 'Participants and usage' }).click();
      await panel.getByText('Grace', { exact: true }).waitFor();
      await page.screenshot({ path: screenshotPath('room-phone-participants') });
    } finally {
      fake.onRequest(undefined);
      await page.setViewportSize(DESKTOP);
    }
  });

  it('answers an ask_user question with the next message', async () => {
    await signIn();
    const conversation = (await rt.api('POST', '/api/conversations', { body: { preset_id: 'asker', title: 'Question' } })).body;
    fake.script([{ toolCalls: [{ name: 'ask_user', arguments: '{"question":"Which colour do you like?"}' }] }, { text: 'Teal it is.' }], { model: 'gpt-asker' });
    await openConversation(conversation.id);
    await send('Pick a colour for me.');
    const waiting = page.getByRole('group', { name: 'Waiting for you' });
    await waiting.getByText('Which colour do you like?').waitFor();
    await page.getByPlaceholder('Type your answer…').waitFor();
    await send('Teal, please.');
    await page.getByText('Teal it is.').waitFor();
    const answer = fake.chatRequests().at(-1)!.body.messages.find((m: { role: string }) => m.role === 'tool');
    expect(String(answer.content)).toContain('Teal, please.');
    await expect.poll(() => page.getByRole('group', { name: 'Waiting for you' }).count()).toBe(0);
  });

  it('shows background results in the mailbox and fires them', async () => {
    await signIn();
    const conversation = (await rt.api('POST', '/api/conversations', { body: { preset_id: 'boss', title: 'Mailbox', auto_fire: false } })).body;
    fake.script(
      [
        { toolCalls: [{ name: 'spawn_agent', arguments: '{"name":"researcher","instruction":"Find the answer."}' }] },
        { text: 'I asked the researcher.' },
        { text: 'The researcher says 42.' },
      ],
      { model: 'gpt-boss' },
    );
    fake.script({ text: ['Research ', 'result: ', '42.'], tokensPerSecond: 4 }, { model: 'gpt-worker' });
    await openConversation(conversation.id);
    await send('Look it up in the background.');
    await page.getByText('I asked the researcher.').waitFor();
    // The background agent shows as a card, and its result lands in the mailbox.
    await page.locator('.subagent-card', { hasText: 'researcher' }).first().waitFor();
    const badge = page.getByRole('button', { name: 'Mailbox: 1 pending' });
    await badge.waitFor();
    await badge.click();
    const dialog = page.getByRole('dialog', { name: 'Mailbox' });
    await dialog.getByText('Research result: 42.').waitFor();
    expect(await dialog.getByRole('checkbox', { name: /Auto-fire/ }).isChecked()).toBe(false);
    await page.screenshot({ path: screenshotPath('mailbox-desktop') });
    await dialog.getByRole('button', { name: 'Fire (1)' }).click();
    await page.getByText('The researcher says 42.').waitFor();
    await badge.waitFor({ state: 'detached' });
  });

  it('pages older history in when scrolled to the top', async () => {
    await signIn();
    const conversation = (await rt.api('POST', '/api/conversations', { body: { preset_id: 'helper', title: 'Long history' } })).body;
    fake.onRequest((req) => ({ text: `Reply to ${String(req.body.messages.at(-1)?.content ?? '')}` }));
    try {
      for (let i = 1; i <= 24; i++) {
        const run = await rt.api('POST', `/api/conversations/${conversation.id}/messages`, { body: { input: `question ${i}` } });
        expect(run.status).toBe(202);
        await sessionEvents(rt.url, rt.token, run.body.session_id);
      }
    } finally {
      fake.onRequest(undefined);
    }
    await openConversation(conversation.id);
    await page.getByText('Reply to question 24').waitFor();
    // The newest page (20 turns) is shown; the oldest are not, until the reader scrolls up.
    expect(await page.locator('.turn').count()).toBe(20);
    expect(await page.getByText('Reply to question 1', { exact: true }).count()).toBe(0);
    await page.evaluate(`document.querySelector('.thread').scrollTo(0, 0)`);
    await page.getByText('Reply to question 1', { exact: true }).waitFor();
    expect(await page.locator('.turn').count()).toBe(24);
    await page.getByText('Beginning of the conversation').waitFor();
    // In order, oldest first.
    const bubbles = await page.locator('.bubble').allTextContents();
    expect(bubbles.slice(0, 3)).toEqual(['question 1', 'question 2', 'question 3']);
  });

  it('searches, filters archived conversations, and pages the list', async () => {
    await signIn();
    for (let i = 0; i < 32; i++) {
      await rt.api('POST', '/api/conversations', { body: { preset_id: 'helper', title: `Bulk conversation ${String(i).padStart(2, '0')}` } });
    }
    await page.reload();
    const list = page.getByRole('navigation', { name: 'Conversation list' });
    await list.getByText('Bulk conversation 31').waitFor();
    await list.getByRole('button', { name: 'Load more' }).click();
    await list.getByText('Tell me something, slowly.').waitFor();

    await page.getByRole('searchbox', { name: 'Search conversations' }).fill('Fork source');
    await expect.poll(() => list.getByRole('link').count()).toBe(2);
    await page.getByRole('searchbox', { name: 'Search conversations' }).fill('');

    // Archive one from its header; it moves to Archived.
    await list.getByRole('link', { name: /Bulk conversation 31/ }).click();
    await page.getByRole('button', { name: 'Archive', exact: true }).click();
    await page.getByRole('button', { name: 'Unarchive' }).waitFor();
    await expect.poll(() => list.getByText('Bulk conversation 31').count()).toBe(0);
    await page.getByRole('button', { name: 'Archived', exact: true }).click();
    await list.getByText('Bulk conversation 31').waitFor();
    expect(await list.getByRole('link').count()).toBe(1);
    await page.getByRole('button', { name: 'Active', exact: true }).click();
  });

  it('creates a room from a template', async () => {
    await signIn();
    await page.getByRole('button', { name: 'New conversation' }).click();
    const dialog = page.getByRole('dialog', { name: 'New conversation' });
    await dialog.getByRole('button', { name: 'From template' }).click();
    const first = dialog.getByRole('radio').first();
    await first.waitFor();
    await first.check();
    await dialog.getByLabel('Title (optional)').fill('From a template');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'From a template' }).waitFor();
    const conversation = (await rt.api('GET', '/api/conversations?q=From%20a%20template')).body.items[0];
    expect(conversation.participants.length).toBeGreaterThan(1);
    const panel = page.getByRole('complementary', { name: 'Participants and usage' });
    for (const p of conversation.participants) await panel.getByText(p.display_name, { exact: true }).waitFor();
  });

  it('edits a preset: model with fallbacks, tools, and persona look', async () => {
    await signIn();
    await page.goto(`${rt.url}/admin/presets`);
    await page.getByRole('link', { name: /Helper/ }).first().click();
    await page.getByRole('heading', { name: /Preset Helper/ }).waitFor();
    await page.getByLabel('Fallbacks (one per line)').fill('openai:gpt-backup\nanthropic:claude-test');
    await page.getByLabel('Title', { exact: true }).fill('Generalist, brief');
    await page.getByLabel('Colour', { exact: true }).fill('#0f766e');
    await page.getByRole('checkbox', { name: /ask_user/ }).check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const preset = (await rt.api('GET', '/api/presets/helper')).body;
    expect(preset.model.fallbacks).toEqual(['openai:gpt-backup', 'anthropic:claude-test']);
    expect(preset.persona).toMatchObject({ title: 'Generalist, brief', color: '#0f766e' });
    expect(JSON.stringify(preset.tools)).toContain('ask_user');
    const toTop = `document.querySelector('.admin-body').scrollTo(0, 0)`;
    await page.evaluate(toTop);
    await page.screenshot({ path: screenshotPath('preset-editor-desktop') });

    await page.setViewportSize(PHONE);
    try {
      await page.getByRole('heading', { name: /Preset Helper/ }).waitFor();
      expect(await overflow(page)).toEqual([]);
      await page.evaluate(toTop);
      await page.screenshot({ path: screenshotPath('preset-editor-phone') });
    } finally {
      await page.setViewportSize(DESKTOP);
    }

    // A new preset, then delete it.
    await page.goto(`${rt.url}/admin/presets/new`);
    await page.getByLabel('Name', { exact: true }).fill('Scratch');
    await page.getByLabel(/^Id/).fill('scratch');
    await page.getByLabel('Model', { exact: true }).fill('openai:gpt-scratch');
    await page.getByRole('button', { name: 'Create preset' }).click();
    await page.waitForURL(/\/admin\/presets\/scratch$/);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete preset?' }).getByRole('button', { name: 'Delete' }).click();
    await page.waitForURL(/\/admin\/presets$/);
    expect((await rt.api('GET', '/api/presets/scratch')).status).toBe(404);
  });

  it('creates, edits and deletes a workspace', async () => {
    await signIn();
    await page.goto(`${rt.url}/admin/workspaces`);
    await page.getByRole('button', { name: 'New workspace' }).click();
    const dialog = page.getByRole('dialog', { name: 'New workspace' });
    await dialog.getByLabel('Name', { exact: true }).fill('Docs');
    await dialog.getByLabel(/^Id/).fill('docs');
    await dialog.getByLabel('Path').fill('docs-folder');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByText('docs-folder').waitFor();
    expect((await rt.api('GET', '/api/workspaces/docs')).body.folders).toEqual([{ path: 'docs-folder', writable: true }]);

    await page.getByRole('button', { name: 'Edit Docs' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit workspace' });
    await edit.getByRole('checkbox', { name: 'Writable' }).uncheck();
    await edit.getByRole('button', { name: 'Save' }).click();
    await page.getByText('docs-folder (read-only)').waitFor();

    await page.getByRole('button', { name: 'Delete Docs' }).click();
    await page.getByRole('dialog', { name: 'Delete workspace?' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No workspaces yet.').waitFor();
  });

  it('creates an API key shown once, and revokes it', async () => {
    await signIn();
    await page.goto(`${rt.url}/admin/keys`);
    await page.getByLabel('Name', { exact: true }).fill('browser test key');
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Your new API key' });
    const key = await dialog.getByLabel('The new API key').textContent();
    expect(key).toMatch(/^cnk_/);
    await page.screenshot({ path: screenshotPath('api-key-created-desktop') });
    expect((await rt.api('GET', '/api/presets', { token: key! })).status).toBe(200);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('button', { name: 'Revoke browser test key' }).click();
    await page.getByRole('dialog', { name: 'Revoke key?' }).getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('row', { name: /browser test key/ }).getByText('revoked').waitFor();
    expect((await rt.api('GET', '/api/presets', { token: key! })).status).toBe(401);
  });

  it('fits a phone (375 px and 390 px), in dark mode too, with the list as the home screen', async () => {
    const phone = await browser.newContext({ viewport: PHONE, colorScheme: 'dark', hasTouch: true, isMobile: true });
    const p = await phone.newPage();
    p.setDefaultTimeout(10_000);
    try {
      await signIn(p);
      // Home on a phone is the conversation list.
      await p.getByRole('searchbox', { name: 'Search conversations' }).fill('slowly');
      await p.getByRole('navigation', { name: 'Conversation list' }).getByText('Tell me something, slowly.').click();
      await p.getByRole('textbox', { name: 'Message' }).waitFor();
      await p.locator('.msg-agent .markdown', { hasText: 'last token arrives.' }).waitFor();
      expect(await overflow(p)).toEqual([]);
      await p.screenshot({ path: screenshotPath('chat-phone') });
      // The drawer opens from the menu button and closes with Escape.
      await p.getByRole('button', { name: 'Open conversations' }).click();
      await p.getByRole('button', { name: 'Close conversations' }).waitFor();
      await expect.poll(() => p.evaluate(`document.querySelector('#sidebar').getBoundingClientRect().left`)).toBe(0);
      // Focus moved into the drawer.
      expect(await p.evaluate(`document.activeElement.getAttribute('aria-label')`)).toBe('Close conversations');
      await p.screenshot({ path: screenshotPath('chat-phone-drawer') });
      await p.keyboard.press('Escape');
      await p.getByRole('button', { name: 'Close conversations' }).waitFor({ state: 'hidden' });

      const conversation = (await rt.api('GET', '/api/conversations?q=Markdown')).body.items[0];
      await p.setViewportSize({ width: 375, height: 812 });
      await openConversation(conversation.id, p);
      await p.locator('.code-block').waitFor();
      expect(await overflow(p)).toEqual([]);
      await p.screenshot({ path: screenshotPath('chat-phone-375-dark') });
    } finally {
      await phone.close();
    }
  });
});
