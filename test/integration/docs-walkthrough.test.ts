/**
 * The curl walkthrough in docs/api.md, run as written with bash, curl and jq
 * against a runtime and the fake OpenAI server, so the documentation cannot
 * drift from what the API does.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';

const run = promisify(execFile);

/** The bash blocks marked with `<!-- walkthrough -->` in a Markdown file. */
export function walkthroughBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  const pattern = /<!-- walkthrough -->\s*```bash\n([\s\S]*?)```/g;
  for (let match = pattern.exec(markdown); match; match = pattern.exec(markdown)) blocks.push(match[1]!);
  return blocks;
}

describe('docs/api.md walkthrough', () => {
  let fake: FakeOpenAI;
  let rt: TestRuntime;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    fake.onRequest(() => ({ text: ['Hello ', 'from ', 'the ', 'fake ', 'model.'] }));
    rt = await startTestRuntime({ env: { OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: 'test' } });
  });
  afterAll(async () => {
    await rt?.close();
    await fake?.close();
  });

  it('runs as written and prints what the page says', async () => {
    const blocks = walkthroughBlocks(readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8'));
    expect(blocks).toHaveLength(1);
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', blocks[0]!], {
      env: { ...process.env, API: `${rt.url}/api`, TOKEN: rt.token },
      timeout: 30_000,
    });
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['helper', 'running']);
    const types = lines.slice(lines.indexOf('running') + 1, lines.indexOf('RUN_FINISHED') + 1);
    expect(types).toEqual(['RUN_STARTED', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'CUSTOM', 'RUN_FINISHED']);
    expect(lines).toContain('Hello from the fake model.');
    const conversations = await rt.api('GET', '/api/conversations');
    expect(lines).toContain(conversations.body.items[0].id);
    expect(lines.at(-1)).toBe('1');
    // The system prompt template reached the model.
    expect(fake.chatRequests()[0]!.body.messages[0].content).toMatch(/^You are brief\. Today is \d{4}-\d{2}-\d{2}\.$/);
  });
});
