/**
 * Workspace file tools: list_files, read_file, write_file and search_files
 * over the folders of the workspace in force. Offered only when that
 * workspace has folders; write_file only when at least one folder is writable.
 *
 * Folder paths resolve once, when the toolset opens: an absolute path is used
 * as it is, a relative one lives under `<dataDir>/workspaces/` and is created
 * if missing. A folder that cannot be used is skipped with a warning.
 *
 * Path convention (repeated in the tool descriptions): with one folder, a
 * path is relative to it (`src/index.ts`). With several, a path starts with
 * the folder's name, the last segment of the folder path (`app/src/index.ts`),
 * made unique with `-2`, `-3`, ... when two folders share it; the empty path
 * (or `.`) then means all folders. Both `/` and `\` separate segments.
 *
 * Confinement, the security-critical part. A model-given path is refused
 * (a ToolFailure, never an exception past the tool) when it
 *   - contains a NUL byte,
 *   - is absolute (`/x`, `\x`, `C:x`),
 *   - climbs above its folder with `..` (`..` inside the folder is fine),
 *   - resolves, through any symbolic link, outside the folder: fs.realpath
 *     resolves the longest existing part of the path (so a symlinked
 *     directory in a write target's parent chain counts), and the result must
 *     lie inside the realpath of the folder root,
 *   - goes through a broken symbolic link (its target cannot be checked).
 * Every operation then works on the resolved real path, so a symlink is never
 * followed after the check: writing to a final symlink that points inside the
 * folder writes its target; one pointing outside is refused. Listings show
 * symlinks without following them; searches skip them. What remains is the
 * race of another process swapping a directory for a link between the check
 * and the use; write_file re-checks the parent directory right before it
 * writes, and reads open with O_NOFOLLOW.
 *
 * Limits (FILE_LIMITS): listings stop at 500 entries, reads at 5 MB files and
 * 100,000 characters of output, writes at 5 MB, searches at 500 matches,
 * 20,000 files and files of 1 MB. Searches and recursive listings honour the
 * call's abort signal.
 */
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { WorkspaceFolder } from '../../store/schema.js';
import { ToolFailure, type Tool, type ToolSource, type Toolset, type ToolsetContext } from '../tools.js';

export const FILE_LIMITS = {
  /** Entries in one listing. */
  listEntries: 500,
  /** Levels a recursive listing descends at most (and by default). */
  listDepth: 10,
  /** Largest file read_file reads. */
  readFileBytes: 5 * 1024 * 1024,
  /** Lines read_file returns when no limit is given. */
  readDefaultLines: 2000,
  /** Characters read_file returns at most in one call. */
  readOutputChars: 100_000,
  /** Largest content write_file writes (UTF-8 bytes). */
  writeBytes: 5 * 1024 * 1024,
  /** Matches search_files returns by default and at most. */
  searchDefaultResults: 100,
  searchMaxResults: 500,
  /** Files search_files looks at, at most. */
  searchFiles: 20_000,
  /** Files larger than this are skipped by search_files. */
  searchFileBytes: 1024 * 1024,
  /** A matching line is shown up to this many characters. */
  searchLineChars: 300,
  /** Bytes looked at to tell a binary file (one with a NUL byte) from text. */
  binarySniffBytes: 8000,
} as const;

/** Directories listed but not descended into, and not searched. */
const SKIPPED_DIRECTORIES = new Set(['.git', 'node_modules']);

/** A usable workspace folder, resolved when the toolset opens. */
export interface ResolvedFolder {
  /** The name paths start with when there are several folders. */
  name: string;
  /** The realpath of the folder. */
  root: string;
  writable: boolean;
  description?: string;
}

/** Where a model-given path leads. */
type Location =
  | { kind: 'all' } // the empty path with several folders: every folder
  | {
      kind: 'path';
      folder: ResolvedFolder;
      /** Segments under the folder root, `..` already applied. */
      segments: string[];
      /** The real path: the realpath of the existing part plus the missing rest. */
      real: string;
      /** The path as the model should write it. */
      display: string;
    };

// ---------------------------------------------------------------- the source

export function filesToolSource(): ToolSource {
  return {
    name: 'files',
    async open(context: ToolsetContext): Promise<Toolset> {
      const folders = context.workspace?.folders ?? [];
      if (folders.length === 0) return { tools: [], warnings: [], close: async () => {} };
      const { resolved, warnings } = await resolveWorkspaceFolders(folders, context.dataDir);
      return { tools: resolved.length > 0 ? fileTools(resolved) : [], warnings, close: async () => {} };
    },
  };
}

/**
 * Resolves the configured folders: absolute paths as they are, relative ones
 * under `<dataDir>/workspaces/` (created if missing). Unusable folders are
 * left out with a warning.
 */
export async function resolveWorkspaceFolders(
  folders: WorkspaceFolder[],
  dataDir: string,
): Promise<{ resolved: ResolvedFolder[]; warnings: string[] }> {
  const resolved: ResolvedFolder[] = [];
  const warnings: string[] = [];
  const taken = new Set<string>();
  const workspacesDir = path.resolve(dataDir, 'workspaces');

  for (const folder of folders) {
    let location: string;
    if (path.isAbsolute(folder.path)) {
      location = path.resolve(folder.path);
    } else {
      location = path.resolve(workspacesDir, folder.path);
      if (!isInside(location, workspacesDir) || location === workspacesDir) {
        warnings.push(`workspace folder "${folder.path}" is skipped: a relative folder must stay inside <data dir>/workspaces`);
        continue;
      }
      try {
        await fs.mkdir(location, { recursive: true });
      } catch (error) {
        warnings.push(`workspace folder "${folder.path}" is skipped: it could not be created (${errorCode(error)})`);
        continue;
      }
    }

    let root: string;
    try {
      root = await fs.realpath(location);
      const stat = await fs.stat(root);
      if (!stat.isDirectory()) {
        warnings.push(`workspace folder "${folder.path}" is skipped: it is not a directory`);
        continue;
      }
    } catch (error) {
      warnings.push(`workspace folder "${folder.path}" is skipped: it cannot be opened (${errorCode(error)})`);
      continue;
    }

    const base = path.basename(location).replace(/\\/g, '_') || 'folder';
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
    taken.add(name);

    resolved.push({
      name,
      root,
      writable: folder.writable === true,
      ...(folder.description ? { description: folder.description } : {}),
    });
  }
  return { resolved, warnings };
}

/** The file tools over resolved folders (write_file only if one is writable). */
export function fileTools(folders: ResolvedFolder[]): Tool[] {
  const convention = describeConvention(folders);
  const pathHelp = folders.length === 1 ? 'Path relative to the workspace folder.' : 'Path starting with a workspace folder name.';
  const tools: Tool[] = [
    {
      name: 'list_files',
      description:
        'List the files and directories at a path of the workspace. Directories end with "/", symbolic links with "@"; ' +
        `files show their size. At most ${FILE_LIMITS.listEntries} entries. ${convention}`,
      parameters: {
        type: 'object',
        properties: {
          path: { type: 'string', description: `${pathHelp} Empty or "." for the top.` },
          recursive: { type: 'boolean', description: 'Also list the contents of subdirectories.' },
          depth: {
            type: 'integer',
            minimum: 1,
            maximum: FILE_LIMITS.listDepth,
            description: `How many levels to list (1 = this directory only). Implies recursive; default ${FILE_LIMITS.listDepth} when recursive.`,
          },
        },
        additionalProperties: false,
      },
      execute: async (args, context) => guard(args, () => listFiles(folders, args, context.signal)),
    },
    {
      name: 'read_file',
      description:
        'Read a text file of the workspace. Returns its lines; for long files use offset and limit to read a part. ' +
        `Binary files and files over ${FILE_LIMITS.readFileBytes / (1024 * 1024)} MB are refused. ${convention}`,
      parameters: {
        type: 'object',
        properties: {
          path: { type: 'string', description: pathHelp },
          offset: { type: 'integer', minimum: 1, description: 'First line to read (1-based). Default 1.' },
          limit: {
            type: 'integer',
            minimum: 1,
            description: `How many lines to read. Default ${FILE_LIMITS.readDefaultLines}.`,
          },
        },
        required: ['path'],
        additionalProperties: false,
      },
      execute: async (args) => guard(args, () => readFile(folders, args)),
    },
    {
      name: 'search_files',
      description:
        'Search the text files of the workspace for a string (or a regular expression) and return the matching lines ' +
        'as "path:line: text". Binary files, files over 1 MB, symbolic links, .git and node_modules are skipped. ' +
        `${convention}`,
      parameters: {
        type: 'object',
        properties: {
          query: { type: 'string', description: 'The text to find (a JavaScript regular expression if regex is true).' },
          regex: { type: 'boolean', description: 'Treat query as a regular expression. Default false.' },
          case_sensitive: { type: 'boolean', description: 'Match case exactly. Default false.' },
          path: { type: 'string', description: `${pathHelp} A directory or file to search; default: everything.` },
          glob: {
            type: 'string',
            description:
              'Only search files matching this pattern: * and ? within a name, ** across directories, {a,b} alternatives. ' +
              'Without "/" it matches the file name ("*.ts"); with "/" the path under the searched path ("src/**/*.ts").',
          },
          max_results: {
            type: 'integer',
            minimum: 1,
            maximum: FILE_LIMITS.searchMaxResults,
            description: `Most matches to return. Default ${FILE_LIMITS.searchDefaultResults}.`,
          },
        },
        required: ['query'],
        additionalProperties: false,
      },
      execute: async (args, context) => guard(args, () => searchFiles(folders, args, context.signal)),
    },
  ];

  if (folders.some((folder) => folder.writable)) {
    const writable = folders.filter((folder) => folder.writable).map((folder) => `"${folder.name}"`);
    tools.splice(2, 0, {
      name: 'write_file',
      description:
        'Create or replace a text file of the workspace with the given content (the whole file). Missing parent ' +
        'directories are created. ' +
        (folders.length === 1 ? '' : `Only these folders are writable: ${writable.join(', ')}. `) +
        convention,
      parameters: {
        type: 'object',
        properties: {
          path: { type: 'string', description: pathHelp },
          content: { type: 'string', description: 'The complete new content of the file.' },
        },
        required: ['path', 'content'],
        additionalProperties: false,
      },
      execute: async (args) => guard(args, () => writeFile(folders, args)),
    });
  }
  return tools;
}

function describeConvention(folders: ResolvedFolder[]): string {
  const describe = (folder: ResolvedFolder): string =>
    `"${folder.name}" (${folder.writable ? 'writable' : 'read-only'}${folder.description ? `: ${folder.description}` : ''})`;
  const rules = 'Use "/" between names. Absolute paths, ".." above the folder and links leading outside it are refused.';
  const only = folders[0];
  if (folders.length === 1 && only) {
    return `Paths are relative to the workspace folder ${describe(only)}, e.g. "src/index.ts". ${rules}`;
  }
  const example = folders[0]?.name ?? 'folder';
  return (
    `The workspace has several folders and every path starts with a folder name: ${folders.map(describe).join(', ')}; ` +
    `e.g. "${example}/src/index.ts". An empty path means all folders. ${rules}`
  );
}

// ---------------------------------------------------------------- confinement

function escapes(raw: string, why: string): ToolFailure {
  return new ToolFailure(`path escapes the workspace: ${JSON.stringify(raw)} ${why}`);
}

function isInside(candidate: string, root: string): boolean {
  if (candidate === root) return true;
  const prefix = root.endsWith(path.sep) ? root : root + path.sep;
  return candidate.startsWith(prefix);
}

/**
 * Splits a model-given path into segments, applying `.` and `..`; refuses
 * NUL bytes, absolute paths and climbing above the top.
 */
export function pathSegments(raw: string): string[] {
  if (raw.includes('\0')) throw new ToolFailure(`path ${JSON.stringify(raw)} contains a NUL byte`);
  if (raw.startsWith('/') || raw.startsWith('\\') || /^[A-Za-z]:/.test(raw) || path.isAbsolute(raw)) {
    throw escapes(raw, 'is absolute; give a path relative to the workspace');
  }
  const segments: string[] = [];
  for (const segment of raw.split(/[\\/]+/)) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) throw escapes(raw, 'climbs above the workspace folder with ".."');
      segments.pop();
    } else {
      segments.push(segment);
    }
  }
  return segments;
}

/** Finds where a path leads and checks it stays inside its folder (see the header). */
async function locate(folders: ResolvedFolder[], raw: string): Promise<Location> {
  const segments = pathSegments(raw);
  let folder: ResolvedFolder;
  let rest: string[];
  const single = folders.length === 1 ? folders[0] : undefined;
  if (single) {
    folder = single;
    rest = segments;
  } else {
    const [first, ...others] = segments;
    if (first === undefined) return { kind: 'all' };
    const named = folders.find((candidate) => candidate.name === first);
    if (!named) {
      throw new ToolFailure(
        `unknown workspace folder "${first}" in ${JSON.stringify(raw)}: paths start with one of ${folders.map((f) => `"${f.name}"`).join(', ')}`,
      );
    }
    folder = named;
    rest = others;
  }

  const real = await realpathOfExisting(path.join(folder.root, ...rest), folder, raw);
  if (!isInside(real, folder.root)) throw escapes(raw, 'leads outside the workspace folder through a symbolic link');
  return { kind: 'path', folder, segments: rest, real, display: displayPath(folders, folder, rest) };
}

/**
 * realpath of the longest existing prefix of `target`, joined with the
 * missing rest. A broken symbolic link on the way is refused: where it would
 * lead cannot be checked.
 */
async function realpathOfExisting(target: string, folder: ResolvedFolder, raw: string): Promise<string> {
  const missing: string[] = [];
  let current = target;
  for (;;) {
    try {
      const real = await fs.realpath(current);
      return path.join(real, ...missing.reverse());
    } catch (error) {
      const code = errorCode(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    }
    if (current === folder.root || !isInside(current, folder.root)) {
      throw new ToolFailure(`workspace folder "${folder.name}" no longer exists`);
    }
    const exists = await fs.lstat(current).then(
      (stat) => stat,
      () => null,
    );
    if (exists?.isSymbolicLink()) {
      throw new ToolFailure(`cannot use ${JSON.stringify(raw)}: it goes through a broken symbolic link`);
    }
    missing.push(path.basename(current));
    current = path.dirname(current);
  }
}

/** The path as the model writes it: folder name first when there are several folders. */
function displayPath(folders: ResolvedFolder[], folder: ResolvedFolder, segments: string[]): string {
  const parts = folders.length === 1 ? segments : [folder.name, ...segments];
  return parts.length === 0 ? '.' : parts.join('/');
}

/** The display path of a real path known to be inside `folder`. */
function displayOfReal(folders: ResolvedFolder[], folder: ResolvedFolder, real: string): string {
  const relative = path.relative(folder.root, real);
  return displayPath(folders, folder, relative === '' ? [] : relative.split(path.sep));
}

// ---------------------------------------------------------------- arguments and errors

function stringArg(args: Record<string, unknown>, name: string, fallback?: string): string {
  const value = args[name];
  if (value === undefined || value === null) {
    if (fallback !== undefined) return fallback;
    throw new ToolFailure(`${name} is required`);
  }
  if (typeof value !== 'string') throw new ToolFailure(`${name} must be a string`);
  return value;
}

function booleanArg(args: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = args[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new ToolFailure(`${name} must be true or false`);
  return value;
}

function integerArg(args: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const value = args[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new ToolFailure(`${name} must be an integer`);
  if (value < min || value > max) throw new ToolFailure(`${name} must be between ${min} and ${max}`);
  return value;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'error';
}

/** Runs a tool body; file-system errors become ToolFailures without host paths. */
async function guard(args: Record<string, unknown>, body: () => Promise<string>): Promise<string> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof ToolFailure) throw error;
    const shown = typeof args.path === 'string' ? JSON.stringify(args.path) : 'the path';
    switch (errorCode(error)) {
      case 'ENOENT':
        throw new ToolFailure(`no such file or directory: ${shown}`);
      case 'ENOTDIR':
        throw new ToolFailure(`not a directory: a part of ${shown} is a file`);
      case 'EISDIR':
        throw new ToolFailure(`${shown} is a directory`);
      case 'EACCES':
      case 'EPERM':
        throw new ToolFailure(`permission denied: ${shown}`);
      case 'ELOOP':
        throw new ToolFailure(`${shown} goes through a symbolic link, which is not followed here`);
      case 'ENAMETOOLONG':
        throw new ToolFailure(`${shown} is too long`);
      case 'ENOSPC':
        throw new ToolFailure('no space left on the device');
      default:
        throw new ToolFailure(`file operation on ${shown} failed (${errorCode(error)})`);
    }
  }
}

function checkAborted(signal: AbortSignal, what: string): void {
  if (signal.aborted) throw new ToolFailure(`${what} cancelled`);
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function looksBinary(buffer: Buffer): boolean {
  return buffer.subarray(0, FILE_LIMITS.binarySniffBytes).includes(0);
}

async function readDirectorySorted(directory: string): Promise<Dirent[]> {
  const entries = await fs.readdir(directory, { withFileTypes: true });
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---------------------------------------------------------------- list_files

async function listFiles(folders: ResolvedFolder[], args: Record<string, unknown>, signal: AbortSignal): Promise<string> {
  const raw = stringArg(args, 'path', '');
  const recursive = booleanArg(args, 'recursive', false);
  const depthArg = integerArg(args, 'depth', 1, FILE_LIMITS.listDepth);
  const depth = depthArg ?? (recursive ? FILE_LIMITS.listDepth : 1);

  const location = await locate(folders, raw);
  const lines: string[] = [];
  const state = { truncated: false };

  if (location.kind === 'all') {
    for (const folder of folders) {
      lines.push(`${folder.name}/  (${folder.writable ? 'writable' : 'read-only'}${folder.description ? `: ${folder.description}` : ''})`);
      if (depth > 1) await listDirectory(folders, folder, folder.root, depth - 1, lines, state, signal);
    }
    return finishListing(lines, state.truncated);
  }

  const stat = await fs.stat(location.real);
  if (!stat.isDirectory()) {
    return `${location.display}  (${formatSize(stat.size)}) is a file; use read_file to read it`;
  }
  await listDirectory(folders, location.folder, location.real, depth, lines, state, signal);
  if (lines.length === 0) return `${location.display} is an empty directory`;
  return finishListing(lines, state.truncated);
}

function finishListing(lines: string[], truncated: boolean): string {
  if (truncated) {
    lines.push(`[listing stopped at ${FILE_LIMITS.listEntries} entries; list a subdirectory or use a smaller depth]`);
  }
  return lines.join('\n');
}

async function listDirectory(
  folders: ResolvedFolder[],
  folder: ResolvedFolder,
  directory: string,
  depth: number,
  lines: string[],
  state: { truncated: boolean },
  signal: AbortSignal,
): Promise<void> {
  checkAborted(signal, 'listing');
  for (const entry of await readDirectorySorted(directory)) {
    if (lines.length >= FILE_LIMITS.listEntries) {
      state.truncated = true;
      return;
    }
    const full = path.join(directory, entry.name);
    const shown = displayOfReal(folders, folder, full);
    if (entry.isSymbolicLink()) {
      lines.push(`${shown}@  ${await describeLink(folders, folder, full)}`);
    } else if (entry.isDirectory()) {
      const skipped = SKIPPED_DIRECTORIES.has(entry.name) && depth > 1;
      lines.push(`${shown}/${skipped ? '  (not listed; list it explicitly to see it)' : ''}`);
      if (depth > 1 && !skipped) await listDirectory(folders, folder, full, depth - 1, lines, state, signal);
    } else if (entry.isFile()) {
      const size = await fs.lstat(full).then(
        (stat) => formatSize(stat.size),
        () => '?',
      );
      lines.push(`${shown}  (${size})`);
    } else {
      lines.push(`${shown}  (special file)`);
    }
  }
}

/** Where a symlink leads, without revealing anything outside the folder. */
async function describeLink(folders: ResolvedFolder[], folder: ResolvedFolder, link: string): Promise<string> {
  let target: string;
  try {
    target = await fs.realpath(link);
  } catch {
    return '(broken link)';
  }
  if (!isInside(target, folder.root)) return '(link outside the workspace folder; not followed)';
  return `-> ${displayOfReal(folders, folder, target)}`;
}

// ---------------------------------------------------------------- read_file

async function readFile(folders: ResolvedFolder[], args: Record<string, unknown>): Promise<string> {
  const raw = stringArg(args, 'path');
  const offset = integerArg(args, 'offset', 1, Number.MAX_SAFE_INTEGER) ?? 1;
  const limit = integerArg(args, 'limit', 1, Number.MAX_SAFE_INTEGER) ?? FILE_LIMITS.readDefaultLines;

  const location = await locate(folders, raw);
  if (location.kind === 'all') throw new ToolFailure('the empty path is the list of folders; use list_files to see it');
  const stat = await fs.stat(location.real);
  if (stat.isDirectory()) throw new ToolFailure(`${location.display} is a directory; use list_files to see it`);
  if (!stat.isFile()) throw new ToolFailure(`${location.display} is not a regular file`);
  if (stat.size > FILE_LIMITS.readFileBytes) {
    throw new ToolFailure(
      `${location.display} is ${formatSize(stat.size)}; read_file reads files up to ${formatSize(FILE_LIMITS.readFileBytes)}. ` +
        'Use search_files to find the lines you need.',
    );
  }

  const handle = await fs.open(location.real, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
  let buffer: Buffer;
  try {
    buffer = await handle.readFile();
  } finally {
    await handle.close();
  }
  if (buffer.length > FILE_LIMITS.readFileBytes) throw new ToolFailure(`${location.display} grew past the read limit`);
  if (looksBinary(buffer)) throw new ToolFailure(`${location.display} looks like a binary file; read_file only reads text`);

  const text = buffer.toString('utf8');
  if (text.length === 0) return `(${location.display} is empty)`;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop(); // the final newline ends the last line
  const total = lines.length;
  if (offset > total) throw new ToolFailure(`offset ${offset} is past the end of ${location.display} (${total} lines)`);

  const shown: string[] = [];
  let chars = 0;
  let cutLine = false;
  const end = Math.min(total, offset - 1 + limit);
  for (let index = offset - 1; index < end; index++) {
    const line = lines[index] ?? '';
    if (chars + line.length + 1 > FILE_LIMITS.readOutputChars) {
      if (shown.length === 0) {
        shown.push(line.slice(0, FILE_LIMITS.readOutputChars));
        cutLine = true;
      }
      break;
    }
    shown.push(line);
    chars += line.length + 1;
  }

  const last = offset - 1 + shown.length;
  let output = shown.join('\n');
  if (cutLine) {
    output += `\n\n[line ${offset} is longer than ${FILE_LIMITS.readOutputChars} characters and was cut]`;
  }
  if (offset > 1 || last < total) {
    const more = last < total ? `; continue with offset=${last + 1}` : '';
    output += `\n\n[lines ${offset}-${last} of ${total}${more}]`;
  }
  return output;
}

// ---------------------------------------------------------------- write_file

async function writeFile(folders: ResolvedFolder[], args: Record<string, unknown>): Promise<string> {
  const raw = stringArg(args, 'path');
  const content = stringArg(args, 'content');
  const bytes = Buffer.byteLength(content, 'utf8');
  if (bytes > FILE_LIMITS.writeBytes) {
    throw new ToolFailure(`content is ${formatSize(bytes)}; write_file writes at most ${formatSize(FILE_LIMITS.writeBytes)}`);
  }

  const location = await locate(folders, raw);
  if (location.kind === 'all' || location.segments.length === 0) {
    throw new ToolFailure(`${JSON.stringify(raw)} names a workspace folder, not a file`);
  }
  if (!location.folder.writable) {
    throw new ToolFailure(`workspace folder "${location.folder.name}" is read-only; ${location.display} cannot be written`);
  }
  if (location.real === location.folder.root) throw new ToolFailure(`${location.display} is the workspace folder itself`);

  const existing = await fs.lstat(location.real).then(
    (stat) => stat,
    () => null,
  );
  if (existing?.isDirectory()) throw new ToolFailure(`${location.display} is a directory`);
  if (existing && !existing.isFile()) throw new ToolFailure(`${location.display} is not a regular file`);

  // The real path's existing part has no symlinks; the missing rest is created as plain directories.
  const directory = path.dirname(location.real);
  await fs.mkdir(directory, { recursive: true });
  // Re-check right before writing: nothing on the way may have become a link meanwhile.
  const realDirectory = await fs.realpath(directory);
  if (realDirectory !== directory || !isInside(realDirectory, location.folder.root)) {
    throw escapes(raw, 'leads outside the workspace folder through a symbolic link');
  }

  const temporary = path.join(directory, `.${path.basename(location.real)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await fs.writeFile(temporary, content, { encoding: 'utf8', flag: 'wx', mode: existing ? existing.mode & 0o777 : 0o644 });
    await fs.rename(temporary, location.real);
  } catch (error) {
    await fs.rm(temporary, { force: true }).catch(() => {});
    throw error;
  }
  const shown = displayOfReal(folders, location.folder, location.real);
  return `${existing ? 'replaced' : 'created'} ${shown} (${bytes} bytes)`;
}

// ---------------------------------------------------------------- search_files

/** A glob as a regular expression: `*` and `?` within a name, `**` across directories, `{a,b}`. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${globSource(glob)}$`);
}

function globSource(glob: string): string {
  let source = '';
  for (let index = 0; index < glob.length; index++) {
    const char = glob[index] ?? '';
    if (char === '*') {
      if (glob[index + 1] === '*') {
        index++;
        if (glob[index + 1] === '/') {
          index++;
          source += '(?:.*/)?';
        } else {
          source += '.*';
        }
      } else {
        source += '[^/]*';
      }
    } else if (char === '?') {
      source += '[^/]';
    } else if (char === '{') {
      const close = glob.indexOf('}', index);
      if (close === -1) {
        source += '\\{';
      } else {
        const alternatives = glob.slice(index + 1, close).split(',');
        source += `(?:${alternatives.map(globSource).join('|')})`;
        index = close;
      }
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return source;
}

interface SearchState {
  matches: string[];
  maxResults: number;
  filesSearched: number;
  filesSkipped: number;
  stopped: 'results' | 'files' | null;
}

async function searchFiles(folders: ResolvedFolder[], args: Record<string, unknown>, signal: AbortSignal): Promise<string> {
  const query = stringArg(args, 'query');
  if (query === '') throw new ToolFailure('query must not be empty');
  const useRegex = booleanArg(args, 'regex', false);
  const caseSensitive = booleanArg(args, 'case_sensitive', false);
  const raw = stringArg(args, 'path', '');
  const glob = stringArg(args, 'glob', '');
  const maxResults = integerArg(args, 'max_results', 1, FILE_LIMITS.searchMaxResults) ?? FILE_LIMITS.searchDefaultResults;

  let matches: (line: string) => boolean;
  if (useRegex) {
    let pattern: RegExp;
    try {
      pattern = new RegExp(query, caseSensitive ? '' : 'i');
    } catch (error) {
      throw new ToolFailure(`invalid regular expression: ${(error as Error).message}`);
    }
    matches = (line) => pattern.test(line);
  } else if (caseSensitive) {
    matches = (line) => line.includes(query);
  } else {
    const lowered = query.toLowerCase();
    matches = (line) => line.toLowerCase().includes(lowered);
  }
  const filter = glob === '' ? null : { pattern: globToRegExp(glob), byName: !glob.includes('/') };

  const location = await locate(folders, raw);
  const state: SearchState = { matches: [], maxResults, filesSearched: 0, filesSkipped: 0, stopped: null };
  const roots =
    location.kind === 'all'
      ? folders.map((folder) => ({ folder, start: folder.root }))
      : [{ folder: location.folder, start: location.real }];

  for (const { folder, start } of roots) {
    if (state.stopped) break;
    const stat = await fs.stat(start);
    const accept = (file: string): boolean => {
      if (!filter) return true;
      const subject = filter.byName ? path.basename(file) : path.relative(start, file).split(path.sep).join('/');
      return filter.pattern.test(subject);
    };
    if (stat.isFile()) {
      await searchFile(folders, folder, start, matches, state, signal);
    } else {
      await searchDirectory(folders, folder, start, matches, accept, state, signal);
    }
  }

  const summary = `${state.matches.length} match${state.matches.length === 1 ? '' : 'es'} in ${state.filesSearched} file${state.filesSearched === 1 ? '' : 's'} searched`;
  const notes: string[] = [];
  if (state.filesSkipped > 0) notes.push(`${state.filesSkipped} binary or large files skipped`);
  if (state.stopped === 'results') notes.push(`stopped at ${maxResults} matches; narrow the query, path or glob`);
  if (state.stopped === 'files') notes.push(`stopped after ${FILE_LIMITS.searchFiles} files; narrow the path or glob`);
  const footer = `[${summary}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}]`;
  if (state.matches.length === 0) return `no matches for ${JSON.stringify(query)} ${footer}`;
  return `${state.matches.join('\n')}\n\n${footer}`;
}

async function searchDirectory(
  folders: ResolvedFolder[],
  folder: ResolvedFolder,
  start: string,
  matches: (line: string) => boolean,
  accept: (file: string) => boolean,
  state: SearchState,
  signal: AbortSignal,
): Promise<void> {
  const pending: string[] = [start];
  while (pending.length > 0 && !state.stopped) {
    checkAborted(signal, 'search');
    const directory = pending.shift() ?? start;
    let entries: Dirent[];
    try {
      entries = await readDirectorySorted(directory);
    } catch {
      continue; // unreadable directory: skip it
    }
    const subdirectories: string[] = [];
    for (const entry of entries) {
      if (state.stopped) return;
      const full = path.join(directory, entry.name);
      if (entry.isSymbolicLink()) continue; // never followed: its target is searched where it really lives
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRECTORIES.has(entry.name)) subdirectories.push(full);
      } else if (entry.isFile() && accept(full)) {
        await searchFile(folders, folder, full, matches, state, signal);
      }
    }
    pending.unshift(...subdirectories); // depth first, in name order
  }
}

async function searchFile(
  folders: ResolvedFolder[],
  folder: ResolvedFolder,
  file: string,
  matches: (line: string) => boolean,
  state: SearchState,
  signal: AbortSignal,
): Promise<void> {
  checkAborted(signal, 'search');
  if (state.filesSearched >= FILE_LIMITS.searchFiles) {
    state.stopped = 'files';
    return;
  }
  let buffer: Buffer;
  try {
    const stat = await fs.lstat(file);
    if (!stat.isFile()) return;
    if (stat.size > FILE_LIMITS.searchFileBytes) {
      state.filesSkipped++;
      return;
    }
    const handle = await fs.open(file, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
    try {
      buffer = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch {
    return; // vanished or unreadable: nothing to report
  }
  if (looksBinary(buffer)) {
    state.filesSkipped++;
    return;
  }
  state.filesSearched++;
  const shown = displayOfReal(folders, folder, file);
  const lines = buffer.toString('utf8').split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = (lines[index] ?? '').replace(/\r$/, '');
    if (!matches(line)) continue;
    const excerpt = line.length > FILE_LIMITS.searchLineChars ? `${line.slice(0, FILE_LIMITS.searchLineChars)}…` : line;
    state.matches.push(`${shown}:${index + 1}: ${excerpt}`);
    if (state.matches.length >= state.maxResults) {
      state.stopped = 'results';
      return;
    }
  }
}
