/**
 * Workspace file tools on real temporary directories: listing, reading,
 * writing and searching, the multi-folder naming convention, and above all
 * confinement — `..` escapes, absolute paths, NUL bytes, symlinks leading out
 * of the folder (for every tool), symlinked directories in a write target's
 * parent chain, and read-only folders.
 */
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolFailure, type Tool, type ToolContext, type ToolsetContext } from '../../runtime/engine/tools.js';
import { FILE_LIMITS, filesToolSource, globToRegExp } from '../../runtime/engine/toolsets/files.js';
import type { ConversationRow, PresetRow, WorkspaceFolder } from '../../runtime/store/schema.js';

let base: string;
let ws: string;
let outside: string;

function toolsetContext(folders: WorkspaceFolder[] | null, dataDir = base): ToolsetContext {
  return {
    preset: { tools: [] } as unknown as PresetRow,
    conversation: {} as unknown as ConversationRow,
    workspace:
      folders === null
        ? null
        : { id: 'w1', name: 'w', description: '', folders, metadata: {}, createdAt: new Date(), updatedAt: new Date() },
    dataDir,
    env: {},
    signal: new AbortController().signal,
  };
}

function callContext(signal = new AbortController().signal): ToolContext {
  return { conversationId: 'c1', sessionId: 's1', userId: 'u1', signal };
}

async function openTools(folders: WorkspaceFolder[] | null, dataDir = base) {
  const toolset = await filesToolSource().open(toolsetContext(folders, dataDir));
  const byName = new Map(toolset.tools.map((tool) => [tool.name, tool] as const));
  const run = (name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<string> => {
    const tool: Tool | undefined = byName.get(name);
    if (!tool) throw new Error(`no tool ${name}`);
    return tool.execute(args, callContext(signal));
  };
  return { toolset, byName, run };
}

/** Expects a ToolFailure whose message matches. */
async function expectFailure(promise: Promise<unknown>, message: RegExp): Promise<ToolFailure> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ToolFailure);
  expect((error as ToolFailure).message).toMatch(message);
  return error as ToolFailure;
}

const exists = (file: string) =>
  fs.lstat(file).then(
    () => true,
    () => false,
  );

beforeAll(async () => {
  base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'conclave-files-')));
  ws = path.join(base, 'ws');
  outside = path.join(base, 'outside');
  await fs.mkdir(path.join(ws, 'src', 'util'), { recursive: true });
  await fs.mkdir(path.join(ws, 'node_modules', 'dep'), { recursive: true });
  await fs.mkdir(outside, { recursive: true });
  await fs.writeFile(path.join(outside, 'secret.txt'), 'TOP SECRET outside\n');
  await fs.writeFile(path.join(ws, 'README.md'), 'Hello workspace\nsecond line\nthird line\n');
  await fs.writeFile(path.join(ws, 'src', 'index.ts'), 'export const answer = 42;\nexport const Greeting = "hello";\n');
  await fs.writeFile(path.join(ws, 'src', 'util', 'strings.ts'), 'export function shout(s: string) { return s.toUpperCase(); }\n');
  await fs.writeFile(path.join(ws, 'src', 'notes.md'), 'answer in markdown\n');
  await fs.writeFile(path.join(ws, 'node_modules', 'dep', 'index.js'), 'const answer = 1;\n');
  await fs.writeFile(path.join(ws, 'image.bin'), Buffer.from([0x89, 0x50, 0x00, 0x01, 0x61, 0x6e, 0x73]));
  // links: one to a file outside, one to a directory outside, one inside, one broken and pointing outside
  await fs.symlink(path.join(outside, 'secret.txt'), path.join(ws, 'out-link'));
  await fs.symlink(outside, path.join(ws, 'out-dir'));
  await fs.symlink('../../outside', path.join(ws, 'src', 'up-link'));
  await fs.symlink('src/index.ts', path.join(ws, 'in-link'));
  await fs.symlink(path.join(outside, 'not-yet.txt'), path.join(ws, 'dangling'));
});

afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

describe('which tools a workspace gets', () => {
  it('offers nothing without a workspace or without folders', async () => {
    expect((await openTools(null)).toolset.tools).toEqual([]);
    expect((await openTools([])).toolset.tools).toEqual([]);
  });

  it('offers all four tools for a writable folder and documents the path convention', async () => {
    const { toolset } = await openTools([{ path: ws, writable: true, description: 'the project' }]);
    expect(toolset.tools.map((tool) => tool.name)).toEqual(['list_files', 'read_file', 'write_file', 'search_files']);
    expect(toolset.warnings).toEqual([]);
    for (const tool of toolset.tools) {
      expect(tool.description).toContain('Paths are relative to the workspace folder "ws" (writable: the project)');
    }
  });

  it('leaves write_file out when no folder is writable', async () => {
    const { toolset } = await openTools([{ path: ws, writable: false }]);
    expect(toolset.tools.map((tool) => tool.name)).toEqual(['list_files', 'read_file', 'search_files']);
  });

  it('resolves relative folders under <dataDir>/workspaces and creates them', async () => {
    const dataDir = path.join(base, 'data');
    const { run, toolset } = await openTools([{ path: 'project-a', writable: true }], dataDir);
    expect(toolset.warnings).toEqual([]);
    expect((await fs.stat(path.join(dataDir, 'workspaces', 'project-a'))).isDirectory()).toBe(true);
    await run('write_file', { path: 'hello.txt', content: 'hi' });
    expect(await fs.readFile(path.join(dataDir, 'workspaces', 'project-a', 'hello.txt'), 'utf8')).toBe('hi');
  });

  it('skips unusable folders with a warning', async () => {
    const dataDir = path.join(base, 'data2');
    const { toolset } = await openTools(
      [
        { path: path.join(base, 'does-not-exist'), writable: false },
        { path: '../../escape', writable: true },
        { path: path.join(ws, 'README.md'), writable: false },
      ],
      dataDir,
    );
    expect(toolset.tools).toEqual([]);
    expect(toolset.warnings).toHaveLength(3);
    expect(toolset.warnings[0]).toMatch(/does-not-exist.*skipped/);
    expect(toolset.warnings[1]).toMatch(/must stay inside/);
    expect(toolset.warnings[2]).toMatch(/not a directory/);
  });
});

describe('list_files', () => {
  it('lists one level by default with sizes, directories and links marked', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    const listing = await run('list_files', {});
    expect(listing.split('\n')).toEqual([
      'README.md  (39 B)',
      'dangling@  (broken link)',
      'image.bin  (7 B)',
      'in-link@  -> src/index.ts',
      'node_modules/',
      'out-dir@  (link outside the workspace folder; not followed)',
      'out-link@  (link outside the workspace folder; not followed)',
      'src/',
    ]);
    expect(listing).not.toContain('secret');
  });

  it('lists recursively, not descending into node_modules or links', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    const listing = await run('list_files', { path: 'src', recursive: true });
    expect(listing.split('\n')).toEqual([
      'src/index.ts  (59 B)',
      'src/notes.md  (19 B)',
      'src/up-link@  (link outside the workspace folder; not followed)',
      'src/util/',
      'src/util/strings.ts  (61 B)',
    ]);
    const top = await run('list_files', { depth: 2 });
    expect(top).toContain('node_modules/  (not listed');
    expect(top).not.toContain('node_modules/dep');
    expect(top).not.toContain('TOP SECRET');
  });

  it('bounds the output', async () => {
    const many = path.join(base, 'many');
    await fs.mkdir(many);
    await Promise.all(
      Array.from({ length: FILE_LIMITS.listEntries + 20 }, (_, i) => fs.writeFile(path.join(many, `f${i}.txt`), '')),
    );
    const { run } = await openTools([{ path: many, writable: false }]);
    const lines = (await run('list_files', {})).split('\n');
    expect(lines).toHaveLength(FILE_LIMITS.listEntries + 1);
    expect(lines.at(-1)).toMatch(/listing stopped at 500 entries/);
  });

  it('says when a path is a file or an empty directory', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    expect(await run('list_files', { path: 'README.md' })).toMatch(/is a file; use read_file/);
    await fs.mkdir(path.join(ws, 'empty'), { recursive: true });
    expect(await run('list_files', { path: 'empty' })).toBe('empty is an empty directory');
    await expectFailure(run('list_files', { path: 'nope' }), /no such file or directory: "nope"/);
  });
});

describe('read_file', () => {
  it('reads a whole file, and a part with offset and limit', async () => {
    const { run } = await openTools([{ path: ws, writable: false }]);
    expect(await run('read_file', { path: 'README.md' })).toBe('Hello workspace\nsecond line\nthird line');
    expect(await run('read_file', { path: 'README.md', offset: 2, limit: 1 })).toBe(
      'second line\n\n[lines 2-2 of 3; continue with offset=3]',
    );
    expect(await run('read_file', { path: './src//index.ts' })).toContain('answer = 42');
    expect(await run('read_file', { path: 'src/util/../index.ts' })).toContain('answer = 42');
    expect(await run('read_file', { path: 'src\\index.ts' })).toContain('answer = 42');
  });

  it('follows a link that stays inside the folder', async () => {
    const { run } = await openTools([{ path: ws, writable: false }]);
    expect(await run('read_file', { path: 'in-link' })).toContain('answer = 42');
  });

  it('cuts long output with a note saying where to continue', async () => {
    const long = path.join(base, 'long');
    await fs.mkdir(long);
    const line = 'x'.repeat(999);
    await fs.writeFile(path.join(long, 'big.txt'), `${line}\n`.repeat(300));
    const { run } = await openTools([{ path: long, writable: false }]);
    const output = await run('read_file', { path: 'big.txt' });
    expect(output).toMatch(/\[lines 1-100 of 300; continue with offset=101\]$/);
  });

  it('refuses binary files, directories, missing files and files over the size cap', async () => {
    const { run } = await openTools([{ path: ws, writable: false }]);
    await expectFailure(run('read_file', { path: 'image.bin' }), /looks like a binary file/);
    await expectFailure(run('read_file', { path: 'src' }), /is a directory; use list_files/);
    await expectFailure(run('read_file', { path: 'missing.txt' }), /no such file or directory: "missing.txt"/);
    await expectFailure(run('read_file', { path: 'README.md', offset: 10 }), /offset 10 is past the end of README.md \(3 lines\)/);
    await expectFailure(run('read_file', {}), /path is required/);

    const huge = path.join(base, 'huge');
    await fs.mkdir(huge);
    await fs.writeFile(path.join(huge, 'big.log'), '');
    await fs.truncate(path.join(huge, 'big.log'), FILE_LIMITS.readFileBytes + 1);
    const big = await openTools([{ path: huge, writable: false }]);
    await expectFailure(big.run('read_file', { path: 'big.log' }), /big\.log is 5\.0 MB; read_file reads files up to 5\.0 MB/);
  });
});

describe('write_file', () => {
  it('creates files with their parent directories and replaces them atomically', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    expect(await run('write_file', { path: 'out/deep/new.txt', content: 'first' })).toBe('created out/deep/new.txt (5 bytes)');
    expect(await fs.readFile(path.join(ws, 'out', 'deep', 'new.txt'), 'utf8')).toBe('first');
    expect(await run('write_file', { path: 'out/deep/new.txt', content: 'second ✓' })).toBe(
      'replaced out/deep/new.txt (10 bytes)',
    );
    expect(await fs.readFile(path.join(ws, 'out', 'deep', 'new.txt'), 'utf8')).toBe('second ✓');
    expect(await fs.readdir(path.join(ws, 'out', 'deep'))).toEqual(['new.txt']); // no temporary left behind
  });

  it('writes through a link that stays inside the folder, keeping the link', async () => {
    const copy = path.join(base, 'linkcopy');
    await fs.mkdir(copy);
    await fs.writeFile(path.join(copy, 'target.txt'), 'old');
    await fs.symlink('target.txt', path.join(copy, 'alias'));
    const { run } = await openTools([{ path: copy, writable: true }]);
    expect(await run('write_file', { path: 'alias', content: 'new' })).toBe('replaced target.txt (3 bytes)');
    expect(await fs.readFile(path.join(copy, 'target.txt'), 'utf8')).toBe('new');
    expect((await fs.lstat(path.join(copy, 'alias'))).isSymbolicLink()).toBe(true);
  });

  it('refuses directories, the folder itself and bad arguments', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    await expectFailure(run('write_file', { path: 'src', content: 'x' }), /src is a directory/);
    await expectFailure(run('write_file', { path: '.', content: 'x' }), /names a workspace folder, not a file/);
    await expectFailure(run('write_file', { path: 'a.txt' }), /content is required/);
    await expectFailure(run('write_file', { path: 'a.txt', content: 42 }), /content must be a string/);
    await expectFailure(run('write_file', { path: 'README.md/x', content: 'x' }), /not a directory|file operation/);
  });
});

describe('search_files', () => {
  it('finds text case-insensitively, skipping binaries, links and node_modules', async () => {
    const { run } = await openTools([{ path: ws, writable: false }]);
    const output = await run('search_files', { query: 'ANSWER' });
    expect(output).toContain('src/index.ts:1: export const answer = 42;');
    expect(output).toContain('src/notes.md:1: answer in markdown');
    expect(output).not.toContain('node_modules');
    expect(output).not.toContain('in-link'); // links are not followed
    expect(output).toMatch(/\[2 matches in \d+ files searched; 1 binary or large files skipped\]$/);
  });

  it('supports case-sensitive, regex, path, glob and max_results', async () => {
    const { run } = await openTools([{ path: ws, writable: false }]);
    expect(await run('search_files', { query: 'greeting', case_sensitive: true })).toMatch(/^no matches/);
    expect(await run('search_files', { query: 'export (const|function) \\w+', regex: true, path: 'src' })).toMatch(
      /3 matches in 3 files searched/,
    );
    const ts = await run('search_files', { query: 'answer', glob: '*.ts' });
    expect(ts).toContain('src/index.ts:1:');
    expect(ts).not.toContain('notes.md');
    expect(await run('search_files', { query: 'export', glob: 'src/**/*.ts' })).toContain('src/util/strings.ts:1:');
    expect(await run('search_files', { query: 'export', path: 'src', glob: 'util/*.{ts,js}' })).toMatch(/1 match in 1 file/);
    expect(await run('search_files', { query: 'export', max_results: 1 })).toMatch(/stopped at 1 matches/);
    await expectFailure(run('search_files', { query: '(', regex: true }), /invalid regular expression/);
    await expectFailure(run('search_files', { query: '' }), /query must not be empty/);
  });

  it('honours the abort signal', async () => {
    const { run } = await openTools([{ path: ws, writable: false }]);
    const controller = new AbortController();
    controller.abort();
    await expectFailure(run('search_files', { query: 'answer' }, controller.signal), /search cancelled/);
  });

  it('compiles globs', () => {
    expect(globToRegExp('*.ts').test('a.ts')).toBe(true);
    expect(globToRegExp('*.ts').test('a/b.ts')).toBe(false);
    expect(globToRegExp('**/*.ts').test('a/b/c.ts')).toBe(true);
    expect(globToRegExp('**/*.ts').test('c.ts')).toBe(true);
    expect(globToRegExp('f?.{md,txt}').test('f1.txt')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });
});

describe('several folders', () => {
  let multiBase: string;
  beforeAll(async () => {
    multiBase = path.join(base, 'multi');
    for (const dir of ['docs', 'one/app', 'two/app']) await fs.mkdir(path.join(multiBase, dir), { recursive: true });
    await fs.writeFile(path.join(multiBase, 'docs', 'guide.md'), 'the guide\n');
    await fs.writeFile(path.join(multiBase, 'two', 'app', 'main.ts'), 'main app two\n');
  });

  const folders = (): WorkspaceFolder[] => [
    { path: path.join(multiBase, 'docs'), writable: false, description: 'reference' },
    { path: path.join(multiBase, 'one', 'app'), writable: true },
    { path: path.join(multiBase, 'two', 'app'), writable: true },
  ];

  it('names folders by their last segment, made unique, and lists them at the top', async () => {
    const { run, byName } = await openTools(folders());
    expect(byName.get('read_file')?.description).toContain(
      'every path starts with a folder name: "docs" (read-only: reference), "app" (writable), "app-2" (writable)',
    );
    expect(byName.get('write_file')?.description).toContain('Only these folders are writable: "app", "app-2"');
    expect((await run('list_files', {})).split('\n')).toEqual([
      'docs/  (read-only: reference)',
      'app/  (writable)',
      'app-2/  (writable)',
    ]);
    expect(await run('list_files', { depth: 2 })).toContain('app-2/main.ts  (13 B)');
  });

  it('reads, writes and searches with the folder name first', async () => {
    const { run } = await openTools(folders());
    expect(await run('read_file', { path: 'docs/guide.md' })).toBe('the guide');
    expect(await run('read_file', { path: 'app-2/main.ts' })).toBe('main app two');
    expect(await run('write_file', { path: 'app/new.ts', content: 'main app one' })).toBe('created app/new.ts (12 bytes)');
    expect(await fs.readFile(path.join(multiBase, 'one', 'app', 'new.ts'), 'utf8')).toBe('main app one');
    const found = await run('search_files', { query: 'main app' });
    expect(found).toContain('app/new.ts:1: main app one');
    expect(found).toContain('app-2/main.ts:1: main app two');
    expect(await run('read_file', { path: 'docs/../app-2/main.ts' })).toBe('main app two');
  });

  it('refuses unknown folder names and writes to read-only folders', async () => {
    const { run } = await openTools(folders());
    await expectFailure(run('read_file', { path: 'guide.md' }), /unknown workspace folder "guide.md".*"docs", "app", "app-2"/);
    await expectFailure(
      run('write_file', { path: 'docs/new.md', content: 'x' }),
      /workspace folder "docs" is read-only; docs\/new.md cannot be written/,
    );
    expect(await exists(path.join(multiBase, 'docs', 'new.md'))).toBe(false);
    await expectFailure(run('write_file', { path: 'docs/guide.md', content: 'x' }), /is read-only/);
    expect(await fs.readFile(path.join(multiBase, 'docs', 'guide.md'), 'utf8')).toBe('the guide\n');
    await expectFailure(run('read_file', { path: '' }), /use list_files/);
  });

  it('refuses writes to a single read-only folder through any path', async () => {
    const { run } = await openTools([
      { path: path.join(multiBase, 'docs'), writable: false },
      { path: path.join(multiBase, 'one', 'app'), writable: true },
    ]);
    await expectFailure(run('write_file', { path: 'docs/sub/x.md', content: 'x' }), /is read-only/);
    await expectFailure(run('write_file', { path: 'app/../docs/x.md', content: 'x' }), /is read-only/);
    expect(await exists(path.join(multiBase, 'docs', 'sub'))).toBe(false);
  });
});

describe('confinement', () => {
  const escapes = /path escapes the workspace/;
  const allTools = (p: string): [string, Record<string, unknown>][] => [
    ['list_files', { path: p }],
    ['read_file', { path: p }],
    ['write_file', { path: p, content: 'pwned' }],
    ['search_files', { query: 'SECRET', path: p }],
  ];

  it('refuses ../ escapes in every spelling, for every tool', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    const spellings = [
      '..',
      '../',
      '../outside/secret.txt',
      'a/../../outside/secret.txt',
      'src/../../outside/secret.txt',
      './../outside/secret.txt',
      'src/util/../../../x',
      '..\\outside\\secret.txt',
      'src\\..\\..\\x',
      '../ws/README.md', // climbs out and back in: still refused
    ];
    for (const spelling of spellings) {
      for (const [name, args] of allTools(spelling)) {
        await expectFailure(run(name, args), escapes);
      }
    }
    expect(await fs.readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('TOP SECRET outside\n');
    expect(await exists(path.join(base, 'x'))).toBe(false);
  });

  it('refuses ../ escapes in multi-folder mode too', async () => {
    const { run } = await openTools([
      { path: ws, writable: true },
      { path: outside, writable: false },
    ]);
    await expectFailure(run('read_file', { path: '../outside/secret.txt' }), escapes);
    await expectFailure(run('read_file', { path: 'ws/../../x' }), escapes);
  });

  it('does not decode URL-encoded dots: %2e%2e is just a name', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    await expectFailure(run('read_file', { path: '%2e%2e/outside/secret.txt' }), /no such file or directory/);
    expect(await run('write_file', { path: '%2e%2e/x.txt', content: 'inside' })).toBe('created %2e%2e/x.txt (6 bytes)');
    expect(await fs.readFile(path.join(ws, '%2e%2e', 'x.txt'), 'utf8')).toBe('inside');
  });

  it('refuses absolute paths, for every tool', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    for (const absolute of ['/etc/passwd', path.join(outside, 'secret.txt'), path.join(ws, 'README.md'), '\\etc\\passwd', 'C:\\x', 'c:x']) {
      for (const [name, args] of allTools(absolute)) {
        await expectFailure(run(name, args), /path escapes the workspace: .* is absolute/);
      }
    }
  });

  it('refuses NUL bytes, for every tool', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    for (const [name, args] of allTools('README.md\0.txt')) {
      await expectFailure(run(name, args), /contains a NUL byte/);
    }
    expect(await exists(path.join(ws, 'README.md'))).toBe(true);
  });

  it('refuses a symlink to a file outside: read, write, list, search', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    for (const [name, args] of allTools('out-link')) {
      await expectFailure(run(name, args), /path escapes the workspace: "out-link" leads outside .* symbolic link/);
    }
    expect(await fs.readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('TOP SECRET outside\n');
    // searching everything skips the link
    expect(await run('search_files', { query: 'TOP SECRET' })).toMatch(/^no matches/);
    // listing the parent shows the link without following it
    expect(await run('list_files', { recursive: true })).not.toContain('secret.txt');
  });

  it('refuses a symlink to a directory outside, and paths through it', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    for (const p of ['out-dir', 'out-dir/secret.txt', 'src/up-link', 'src/up-link/secret.txt']) {
      for (const [name, args] of allTools(p)) await expectFailure(run(name, args), escapes);
    }
  });

  it('refuses writes whose parent chain goes through a symlinked directory outside', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    for (const p of ['out-dir/new.txt', 'out-dir/new/deeper/file.txt', 'src/up-link/new/file.txt', 'src/./up-link/x.txt']) {
      await expectFailure(run('write_file', { path: p, content: 'pwned' }), escapes);
    }
    expect((await fs.readdir(outside)).sort()).toEqual(['secret.txt']);
  });

  it('refuses a broken symlink, which could create a file outside', async () => {
    const { run } = await openTools([{ path: ws, writable: true }]);
    await expectFailure(run('write_file', { path: 'dangling', content: 'pwned' }), /broken symbolic link/);
    await expectFailure(run('write_file', { path: 'dangling/x', content: 'pwned' }), /broken symbolic link|not a directory/);
    await expectFailure(run('read_file', { path: 'dangling' }), /broken symbolic link/);
    expect(await exists(path.join(outside, 'not-yet.txt'))).toBe(false);
  });

  it('works when the folder itself is reached through a symlink', async () => {
    const alias = path.join(base, 'ws-alias');
    await fs.symlink(ws, alias);
    const { run } = await openTools([{ path: alias, writable: true }]);
    expect(await run('read_file', { path: 'README.md', limit: 1 })).toMatch(/^Hello workspace/);
    await expectFailure(run('read_file', { path: 'out-link' }), escapes);
  });
});
