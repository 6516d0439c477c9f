/**
 * Runtime streaming benchmark: many concurrent sessions, a scripted fake
 * model, one SSE client per session, and the added latency of every token
 * from the fake's write to the SSE client's read.
 *
 *   npm run bench:runtime -- --sessions 500 --rate 20 --tokens 100 --log redis
 *   npm run bench:runtime -- --sessions 1 --rate 0 --tokens 100000 --log memory
 *
 * Layout (one machine):
 *   - this process: the fake OpenAI server (test/fakes/openai.ts plumbing) and
 *     every HTTP/SSE client, on one clock (performance.timeOrigin + now());
 *   - a child process: `node bin/conclave.js runtime`, so its CPU and memory
 *     are its own (optionally with --cpu-prof);
 *   - throwaway Redis / PostgreSQL servers (test/support/service-processes.ts)
 *     when --log redis / --db postgres.
 *
 * Every chat request carries the session's number (`bench:<n>` as input). The
 * fake streams `--tokens` content chunks at `--rate` tokens/s (0 = as fast as
 * the runtime reads), each token being `⟨<index>:<ms>⟩` with its write time in
 * milliseconds since the bench's epoch. Tokens may arrive merged into one
 * delta (the runtime coalesces while an append is in flight); the client scans
 * each delta for every `⟨…⟩`. Latencies are kept per token in a preallocated
 * array (NaN = not received), so loss and duplicates are exact.
 *
 * Options: --sessions N  --rate tokens/s  --tokens N  --log memory|redis
 *          --db pglite|postgres  --ramp-ms MS (spread of the message posts)
 *          --post-concurrency N  --max-duration SECONDS  --cpu-prof DIR
 *          --fake-batch N (tokens per write when --rate 0)  --json FILE
 *          --label TEXT  --strict (exit 1 when a target is missed)
 *          --quiet-wait SECONDS (wait for an idle machine before measuring)
 *          --runtime-output (copy the runtime's stdout/stderr to stderr)
 *          --pg-statements (with --db postgres: log every statement during the
 *            window and count them by kind; costs Postgres some CPU)
 *          --workers N (CONCLAVE_WORKERS; above 1 needs --log redis --db postgres:
 *            CPU is summed over the primary and its workers, peak RSS is the
 *            sum of each one's own peak, the event-loop figures are per worker)
 *          --replicas N (above 1 needs --log redis --db postgres: N runtime
 *            processes, each on its own port, sharing the servers; session i
 *            and its SSE client go to replica i mod N, as a balancer that
 *            routes a session's stream to the process running it would; CPU,
 *            RSS and event-loop figures as with --workers)
 *
 * Exit code: 0 done, 1 a correctness check failed (or a target, with
 * --strict), 2 --max-duration reached. Everything started is stopped and
 * removed on every exit path.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http, { type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { sendJson, startFakeHttp, type FakeHttp, type RecordedRequest } from '../fakes/openai.js';
import { childProcesses, runtimeWorkerPids } from '../support/process.js';
import { freePort, startPostgres, startRedis, type RunningService } from '../support/service-processes.js';

// ---------------------------------------------------------------- options

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '500' },
    rate: { type: 'string', default: '20' },
    tokens: { type: 'string', default: '100' },
    log: { type: 'string', default: 'redis' },
    db: { type: 'string', default: 'pglite' },
    'ramp-ms': { type: 'string' },
    'post-concurrency': { type: 'string', default: '64' },
    'max-duration': { type: 'string', default: '300' },
    'cpu-prof': { type: 'string' },
    'fake-batch': { type: 'string', default: '8' },
    json: { type: 'string' },
    label: { type: 'string' },
    strict: { type: 'boolean', default: false },
    'quiet-wait': { type: 'string', default: '0' },
    'runtime-output': { type: 'boolean', default: false },
    'pg-statements': { type: 'boolean', default: false },
    workers: { type: 'string', default: '1' },
    replicas: { type: 'string', default: '1' },
  },
  strict: true,
});

function intArg(name: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min}`);
  return n;
}

const SESSIONS = intArg('sessions', args.sessions, 1);
const RATE = Number(args.rate);
if (!Number.isFinite(RATE) || RATE < 0) throw new Error('--rate must be >= 0 (0 = as fast as possible)');
const TOKENS = intArg('tokens', args.tokens, 1);
const LOG = args.log as 'memory' | 'redis';
if (LOG !== 'memory' && LOG !== 'redis') throw new Error('--log must be memory or redis');
const DB = args.db as 'pglite' | 'postgres';
if (DB !== 'pglite' && DB !== 'postgres') throw new Error('--db must be pglite or postgres');
/** Default: 2 s for many sessions, so all of them overlap when a session lasts ≥ 2 s. */
const RAMP_MS = args['ramp-ms'] !== undefined ? intArg('ramp-ms', args['ramp-ms'], 0) : SESSIONS > 1 ? 2000 : 0;
const POST_CONCURRENCY = intArg('post-concurrency', args['post-concurrency'], 1);
const MAX_DURATION_MS = intArg('max-duration', args['max-duration'], 1) * 1000;
const FAKE_BATCH = intArg('fake-batch', args['fake-batch'], 1);
const CPU_PROF_DIR = args['cpu-prof'] ? resolve(args['cpu-prof']) : null;
/** Before measuring, wait up to this many seconds for the machine to be idle (shared machines). */
const QUIET_WAIT_MS = intArg('quiet-wait', args['quiet-wait'], 0) * 1000;
const WORKERS = intArg('workers', args.workers, 1);
if (WORKERS > 1 && (LOG !== 'redis' || DB !== 'postgres')) throw new Error('--workers above 1 needs --log redis --db postgres');
const REPLICAS = intArg('replicas', args.replicas, 1);
if (REPLICAS > 1 && (LOG !== 'redis' || DB !== 'postgres' || WORKERS > 1)) throw new Error('--replicas above 1 needs --log redis --db postgres and one worker');
const MODEL = 'bench-model';
/** monitorEventLoopDelay records whole timer intervals; the excess over this is the delay. */
const DELAY_RESOLUTION_MS = 10;
const PRESET = 'bench';

// ---------------------------------------------------------------- clock

/** The clock shared by the fake and the SSE clients (same process). */
const EPOCH = Math.floor(performance.timeOrigin + performance.now());
/** Milliseconds since EPOCH, sub-millisecond resolution. */
const now = () => performance.timeOrigin + performance.now() - EPOCH;

// ---------------------------------------------------------------- cleanup

const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | null = null;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (error) {
        console.error('cleanup step failed:', error);
      }
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}
process.on('uncaughtException', (error) => {
  console.error('bench failed:', error);
  void cleanup().finally(() => process.exit(1));
});
process.on('unhandledRejection', (error) => {
  console.error('bench failed (unhandled rejection):', error);
  void cleanup().finally(() => process.exit(1));
});

// ---------------------------------------------------------------- per-token state

const SLOTS = SESSIONS * TOKENS;
/** Fake write time of token (session, index), ms since EPOCH; NaN = never sent. */
const sendAt = new Float64Array(SLOTS).fill(Number.NaN);
/** Added latency of token (session, index); NaN = never received. */
const latency = new Float64Array(SLOTS).fill(Number.NaN);

interface FakeStream {
  requests: number;
  sent: number;
  /** Exactly the text sent as content, token by token. */
  parts: string[];
  /** The runtime closed the connection before the end. */
  cut: boolean;
}
const fakeStreams: FakeStream[] = Array.from({ length: SESSIONS }, () => ({ requests: 0, sent: 0, parts: [], cut: false }));
let fakeActive = 0;
let fakePeakActive = 0;
let fakeUnknownRequests = 0;

interface Client {
  index: number;
  sessionId: string | null;
  postStart: number;
  postDone: number;
  buffer: string;
  events: number;
  contentEvents: number;
  tokens: number;
  duplicates: number;
  outOfOrder: number;
  lastIndex: number;
  lastType: string | null;
  sseOpenedAt: number;
  lastTokenAt: number;
  parts: string[];
  terminal: string | null;
  error: string | null;
  settled: boolean;
  endedAt: number;
  /** The SSE connection (a plain socket: see openSse). */
  request: Socket | null;
}

const clients: Client[] = Array.from({ length: SESSIONS }, (_, index) => ({
  index,
  sessionId: null,
  postStart: Number.NaN,
  postDone: Number.NaN,
  buffer: '',
  events: 0,
  contentEvents: 0,
  tokens: 0,
  duplicates: 0,
  outOfOrder: 0,
  lastIndex: -1,
  lastType: null,
  sseOpenedAt: Number.NaN,
  lastTokenAt: Number.NaN,
  parts: [],
  terminal: null,
  error: null,
  settled: false,
  endedAt: Number.NaN,
  request: null,
}));

let settledCount = 0;
let resolveAllSettled: () => void = () => undefined;
const allSettled = new Promise<void>((r) => (resolveAllSettled = r));

function settle(client: Client, error: string | null): void {
  if (client.settled) return;
  client.settled = true;
  client.endedAt = now();
  if (error && !client.error) client.error = error;
  settledCount += 1;
  if (settledCount === SESSIONS) resolveAllSettled();
}

// ---------------------------------------------------------------- the fake model

const TOKEN_OPEN = '⟨';
const TOKEN_CLOSE = '⟩';
const tokenText = (index: number, at: number) => `${TOKEN_OPEN}${index}:${at.toFixed(3)}${TOKEN_CLOSE}`;

function chunkParts(id: string) {
  const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${Math.floor(Date.now() / 1000)},"model":"${MODEL}","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":`;
  const tail = `,"logprobs":null,"finish_reason":null}],"usage":null}\n\n`;
  return {
    role: `${head}{"role":"assistant","content":"","refusal":null}${tail}`,
    /** Token text needs no JSON escaping (digits, ':', '.', ⟨ ⟩). */
    contentHead: `${head}{"content":"`,
    contentTail: `"}${tail}`,
    end:
      `${head}{}${tail.replace('"finish_reason":null', '"finish_reason":"stop"')}` +
      `data: {"id":"${id}","object":"chat.completion.chunk","created":${Math.floor(Date.now() / 1000)},"model":"${MODEL}","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":${TOKENS},"total_tokens":${10 + TOKENS}}}\n\n` +
      'data: [DONE]\n\n',
  };
}

function sessionOfRequest(body: any): number {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message?.role !== 'user') continue;
    const text = typeof message.content === 'string' ? message.content : JSON.stringify(message.content);
    const match = /bench:(\d+)/.exec(text);
    if (match) return Number(match[1]);
  }
  return -1;
}

function recordToken(session: number, index: number, text: string, at: number): void {
  const stream = fakeStreams[session]!;
  stream.parts.push(text);
  stream.sent += 1;
  sendAt[session * TOKENS + index] = at;
}

/**
 * Writes one HTTP/1.1 chunk (`<size hex>\r\n<data>\r\n`, the bytes
 * `res.write` sends for a chunked response) straight to the socket in one
 * write: the load generator shares the machine with the runtime, so it keeps
 * its own cost per token low. The head and first chunk went through `res`.
 */
function writeChunk(res: ServerResponse, data: string): void {
  const socket = res.socket;
  if (!socket || socket.destroyed) return;
  socket.write(`${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`);
}

/** Streams one answer: role chunk, TOKENS content chunks (paced or flat out), finish, usage, [DONE]. */
function streamAnswer(session: number, res: ServerResponse): Promise<void> {
  const stream = fakeStreams[session]!;
  stream.requests += 1;
  const parts = chunkParts(`chatcmpl-bench${session}-${stream.requests}`);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.write(parts.role);
  fakeActive += 1;
  if (fakeActive > fakePeakActive) fakePeakActive = fakeActive;

  return new Promise<void>((done) => {
    let index = 0;
    let closed = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      fakeActive -= 1;
      done();
    };
    res.on('close', () => {
      closed = true;
      if (index < TOKENS) stream.cut = true;
      finish();
    });
    const end = () => {
      res.end(parts.end);
      finish();
    };

    if (RATE > 0) {
      const interval = 1000 / RATE;
      const start = now();
      const tick = () => {
        if (closed) return;
        const at = now();
        const text = tokenText(index, at);
        recordToken(session, index, text, at);
        writeChunk(res, parts.contentHead + text + parts.contentTail);
        index += 1;
        if (index >= TOKENS) return end();
        // Absolute schedule: timer drift does not lower the rate.
        setTimeout(tick, Math.max(0, start + (index + 1) * interval - now()));
      };
      setTimeout(tick, interval);
      return;
    }

    // As fast as the runtime reads: FAKE_BATCH tokens per write, honouring
    // backpressure, yielding to the event loop between writes so the SSE
    // clients in this process keep reading.
    const pump = () => {
      while (!closed && index < TOKENS) {
        let chunk = '';
        for (let k = 0; k < FAKE_BATCH && index < TOKENS; k++, index++) {
          const at = now();
          const text = tokenText(index, at);
          recordToken(session, index, text, at);
          chunk += parts.contentHead + text + parts.contentTail;
        }
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
        if (index < TOKENS) {
          setImmediate(pump);
          return;
        }
      }
      if (!closed) end();
    };
    pump();
  });
}

async function startFake(): Promise<{ fake: FakeHttp; baseURL: string }> {
  const fake = await startFakeHttp(async (request: RecordedRequest, res: ServerResponse) => {
    if (request.method === 'GET' && request.path === '/v1/models') {
      sendJson(res, 200, { object: 'list', data: [{ id: MODEL, object: 'model', created: 1_700_000_000, owned_by: 'bench' }] });
      return;
    }
    if (request.method === 'POST' && request.path === '/v1/chat/completions' && request.body?.stream === true) {
      const session = sessionOfRequest(request.body);
      if (session >= 0 && session < SESSIONS) return streamAnswer(session, res);
    }
    fakeUnknownRequests += 1;
    sendJson(res, 400, { error: { message: 'bench fake: not a bench request', type: 'invalid_request_error', param: null, code: null } });
  });
  // The recorded requests are not needed and would only grow.
  fake.requests.push = () => 0;
  return { fake, baseURL: `http://127.0.0.1:${fake.port}/v1` };
}

// ---------------------------------------------------------------- /proc sampling

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function readProc(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** CPU seconds (user + system, or only system) of a process; NaN when it is gone. */
function cpuSeconds(pid: number, only?: 'system'): number {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return Number.NaN;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (only === 'system') return Number(fields[12]) / CLK_TCK;
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** KiB value of a field of /proc/<pid>/status (VmRSS, VmHWM). */
function statusKb(pid: number | 'self', field: string): number {
  const status = readProc(`/proc/${pid}/status`);
  const match = status && new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : Number.NaN;
}

/** The runtime's processes: the one spawned, and with --workers its worker children. */
const runtimePids = (primary: number): number[] => [primary, ...runtimeWorkerPids(primary)];

/** CPU seconds summed over processes. */
const cpuSecondsOf = (processes: number[], only?: 'system') => processes.reduce((sum, pid) => sum + cpuSeconds(pid, only), 0);

/** KiB of a /proc status field summed over processes. */
const statusKbOf = (processes: number[], field: string) => processes.reduce((sum, pid) => sum + statusKb(pid, field), 0);

function pids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

function cmdline(pid: number): string {
  return (readProc(`/proc/${pid}/cmdline`) ?? '').replace(/\0/g, ' ');
}

/** The processes of a service: redis-server on a port, or a postmaster and its children. */
function servicePids(kind: 'redis' | 'postgres', port: number): number[] {
  const all = pids();
  if (kind === 'redis') return all.filter((pid) => /redis-server/.test(cmdline(pid)) && cmdline(pid).includes(`:${port}`));
  const postmaster = all.find((pid) => /\bpostgres\b/.test(cmdline(pid)) && cmdline(pid).includes(`-p ${port}`));
  if (postmaster === undefined) return [];
  return [postmaster, ...childProcesses(postmaster).map((child) => child.pid)];
}

/** Machine-wide busy and total jiffies from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  const line = (readProc('/proc/stat') ?? '').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

/** Waits (at most `limitMs`) for 2 s in which the whole machine is < 15 % busy besides the runtime. */
async function waitForQuiet(limitMs: number): Promise<void> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    const before = machineJiffies();
    await new Promise((r) => setTimeout(r, 2000));
    const after = machineJiffies();
    const busy = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    if (busy < 0.15) return;
    console.error(`bench: machine ${(busy * 100).toFixed(0)} % busy, waiting for it to settle`);
  }
  console.error('bench: the machine did not settle; measuring anyway');
}

/** Redis `INFO commandstats` as command → calls and µs spent (one short-lived connection). */
function redisCommandCalls(port: number): Promise<Map<string, { calls: number; usec: number }>> {
  return new Promise((resolvePromise) => {
    const calls = new Map<string, { calls: number; usec: number }>();
    let text = '';
    const socket = connect(port, '127.0.0.1', () => socket.write('*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n'));
    const done = () => {
      socket.destroy();
      for (const match of text.matchAll(/^cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/gm)) calls.set(match[1]!, { calls: Number(match[2]), usec: Number(match[3]) });
      resolvePromise(calls);
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const header = /^\$(\d+)\r\n/.exec(text);
      if (header && Buffer.byteLength(text) >= header[0].length + Number(header[1]) + 2) done();
    });
    socket.on('error', done);
    socket.setTimeout(2000, done);
  });
}

/** The server log of a throwaway Postgres (startPostgres logs to <dir>/log, data in <dir>/data). */
function postgresLogFile(port: number): string | null {
  const postmaster = servicePids('postgres', port)[0];
  if (postmaster === undefined) return null;
  const match = / -D (\S+)\/data /.exec(`${cmdline(postmaster)} `);
  return match ? `${match[1]}/log` : null;
}

async function setStatementLogging(url: string, on: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(on ? "alter system set log_statement = 'all'" : 'alter system reset log_statement');
    await client.query('select pg_reload_conf()');
  } finally {
    await client.end();
  }
}

/** Statements logged after `offset` in a Postgres log: by first word, and the most frequent texts. */
function countStatements(file: string, offset: number): { kinds: Record<string, number>; top: [string, number][] } {
  const text = readFileSync(file, 'utf8').slice(offset);
  const kinds: Record<string, number> = {};
  const texts = new Map<string, number>();
  for (const match of text.matchAll(/LOG:\s+(?:statement|execute [^:]*):\s+([^\n]*)/g)) {
    const statement = match[1]!;
    if (/alter system|pg_reload_conf/i.test(statement)) continue; // the bench's own
    const kind = (/^\w+/.exec(statement)?.[0] ?? '?').toLowerCase();
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    const shape = statement.slice(0, 160);
    texts.set(shape, (texts.get(shape) ?? 0) + 1);
  }
  return { kinds, top: [...texts].sort((a, b) => b[1] - a[1]).slice(0, 20) };
}

// ---------------------------------------------------------------- HTTP client

const postAgent = new http.Agent({ keepAlive: true, maxSockets: POST_CONCURRENCY });

interface Target {
  port: number;
  token: string;
}

function requestJson(target: Target, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolvePromise, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port: target.port,
        method,
        path,
        agent: postAgent,
        headers: {
          authorization: `Bearer ${target.token}`,
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            /* keep the text */
          }
          resolvePromise({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Runs `work` over 0..count-1 with at most `limit` in flight. */
async function pool(count: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await work(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
}

// ---------------------------------------------------------------- SSE clients

function onSseData(client: Client, chunk: string): void {
  const at = now();
  const buffer = client.buffer.length > 0 ? client.buffer + chunk : chunk;
  let start = 0;
  for (;;) {
    const end = buffer.indexOf('\n\n', start);
    if (end < 0) break;
    onFrame(client, buffer, start, end, at);
    start = end + 2;
  }
  client.buffer = start === 0 ? buffer : buffer.slice(start);
}

function onFrame(client: Client, buffer: string, start: number, end: number, at: number): void {
  const data = buffer.indexOf('data: ', start);
  if (data < 0 || data >= end) return; // a comment (": ping") or an id-only frame
  let lineEnd = buffer.indexOf('\n', data);
  if (lineEnd < 0 || lineEnd > end) lineEnd = end;
  let event: any;
  try {
    event = JSON.parse(buffer.slice(data + 6, lineEnd));
  } catch {
    client.error ??= 'unparsable SSE data';
    return;
  }
  client.events += 1;
  const type = event.type;
  client.lastType = type;
  if (type === 'TEXT_MESSAGE_CONTENT') {
    client.contentEvents += 1;
    const delta: string = event.delta;
    client.parts.push(delta);
    client.lastTokenAt = at;
    scanTokens(client, delta, at);
  } else if (type === 'CUSTOM' && event.name === 'stream_reset') {
    // The runtime says its log cannot serve this stream (a client would refetch /turns).
    client.error ??= 'stream_reset received instead of the events';
  } else if (type === 'RUN_FINISHED') {
    client.terminal = 'RUN_FINISHED';
    settle(client, null);
  } else if (type === 'RUN_ERROR') {
    client.terminal = 'RUN_ERROR';
    settle(client, `RUN_ERROR ${event.code}: ${event.message}`);
  }
}

/** Finds every ⟨index:ms⟩ in a (possibly merged) delta. */
function scanTokens(client: Client, delta: string, at: number): void {
  const base = client.index * TOKENS;
  let position = 0;
  for (;;) {
    const open = delta.indexOf(TOKEN_OPEN, position);
    if (open < 0) return;
    const colon = delta.indexOf(':', open);
    const close = delta.indexOf(TOKEN_CLOSE, colon);
    if (colon < 0 || close < 0) {
      client.error ??= 'a token was split across events';
      return;
    }
    position = close + 1;
    const index = Number(delta.slice(open + 1, colon));
    const sentAt = Number(delta.slice(colon + 1, close));
    if (!(index >= 0 && index < TOKENS)) {
      client.error ??= `bad token index ${index}`;
      continue;
    }
    if (index <= client.lastIndex) client.outOfOrder += 1;
    client.lastIndex = index;
    const slot = base + index;
    if (!Number.isNaN(latency[slot]!)) {
      client.duplicates += 1;
      continue;
    }
    const added = at - sentAt;
    latency[slot] = added < 0 ? 0 : added;
    client.tokens += 1;
  }
}

/**
 * Opens the session's event stream on a plain socket: the request is written
 * by hand and the response head read up to its blank line; after it, the
 * runtime's SSE body is the bytes up to the connection's end (it is
 * close-delimited, see runtime/http/sse.ts), fed to the SSE parser as they
 * come. The same bytes an HTTP client would read, without an HTTP parser
 * and a response stream per token in the load generator, which shares the
 * machine with the runtime.
 */
function openSse(target: Target, client: Client): void {
  const socket = connect(target.port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.setEncoding('utf8');
  let head: string | null = '';
  socket.on('connect', () => {
    socket.write(
      `GET /api/sessions/${client.sessionId}/events HTTP/1.1\r\nHost: 127.0.0.1:${target.port}\r\n` +
        `Authorization: Bearer ${target.token}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n`,
    );
  });
  socket.on('data', (chunk: string) => {
    if (head === null) return onSseData(client, chunk);
    head += chunk;
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    const [statusLine = '', ...headerLines] = head.slice(0, end).split('\r\n');
    const rest = head.slice(end + 4);
    head = null;
    if (!/^HTTP\/1\.1 200 /.test(statusLine)) {
      settle(client, `SSE answered ${statusLine}: ${rest.slice(0, 200)}`);
      socket.destroy();
      return;
    }
    if (headerLines.some((line) => /^transfer-encoding:/i.test(line))) {
      settle(client, 'the SSE body is not close-delimited: this client reads it raw');
      socket.destroy();
      return;
    }
    client.sseOpenedAt = now();
    if (rest) onSseData(client, rest);
  });
  socket.on('end', () => settle(client, client.terminal ? null : 'the SSE stream ended before a terminal event'));
  socket.on('error', (error) => settle(client, `SSE connection failed: ${error.message}`));
  client.request = socket;
}

async function startSession(target: Target, client: Client, conversationId: string): Promise<void> {
  client.postStart = now();
  try {
    const response = await requestJson(target, 'POST', `/api/conversations/${conversationId}/messages`, { input: `bench:${client.index}` });
    client.postDone = now();
    if (response.status !== 202) {
      settle(client, `POST messages answered ${response.status}: ${JSON.stringify(response.body).slice(0, 200)}`);
      return;
    }
    client.sessionId = String(response.body.session_id);
    openSse(target, client);
  } catch (error) {
    settle(client, `POST messages failed: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------- runtime child

interface Runtime {
  child: ChildProcess;
  port: number;
  token: string;
  probeFile: string;
  output: () => string;
  /** Log messages (pino `msg`) and how often each was logged. */
  messages: Map<string, number>;
  exited: Promise<number | null>;
}

async function startRuntimeChild(env: Record<string, string>, dataDir: string): Promise<Runtime> {
  const port = await freePort();
  const token = `bench-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
  const probeFile = join(dataDir, 'probe.jsonl');
  // The Node flags `npm start` and the Docker image run the runtime with (see docs/decisions.md).
  const nodeArgs = ['--max-semi-space-size=64', '--import', pathToFileURL(join(ROOT, 'test/bench/runtime-probe.mjs')).href];
  if (CPU_PROF_DIR) {
    mkdirSync(CPU_PROF_DIR, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`);
  }
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin/conclave.js'), 'runtime'], {
    cwd: dataDir, // no stray .env from the repository
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? dataDir,
      NODE_ENV: 'production',
      CONCLAVE_HOST: '127.0.0.1',
      CONCLAVE_PORT: String(port),
      CONCLAVE_AUTH_TOKEN: token,
      CONCLAVE_DATA_DIR: dataDir,
      CONCLAVE_LOG_LEVEL: 'warn',
      CONCLAVE_LOG_FORMAT: 'json',
      CONCLAVE_RATE_LIMIT_PER_MINUTE: '1000000',
      CONCLAVE_SHUTDOWN_TIMEOUT_SECONDS: '5',
      BENCH_PROBE_OUT: probeFile,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Keep the last 64 KiB of output, and count the log messages (pino JSON
  // lines can be megabytes long when an error carries query parameters).
  let output = '';
  const messages = new Map<string, number>();
  const keep = (chunk: Buffer) => {
    if (args['runtime-output']) process.stderr.write(chunk);
    const text = chunk.toString('utf8');
    for (const match of text.matchAll(/"msg":"([^"]{0,200})"|caused by: ([^"\\]{1,200})/g)) {
      // pino's `msg`, or the cause inside a logged error's stack (e.g. the database's message).
      const message = match[1] ?? `  caused by: ${match[2]}`;
      messages.set(message, (messages.get(message) ?? 0) + 1);
    }
    output += text;
    if (output.length > 65_536) output = output.slice(-65_536);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, port, token, probeFile, output: () => output, messages, exited };
}

async function stopRuntimeChild(runtime: Runtime): Promise<void> {
  if (runtime.child.exitCode !== null || runtime.child.signalCode !== null) return;
  runtime.child.kill('SIGTERM'); // graceful: lets --cpu-prof write its profile
  const timer = setTimeout(() => runtime.child.kill('SIGKILL'), 20_000);
  await runtime.exited;
  clearTimeout(timer);
}

async function waitForHealth(runtime: Runtime, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (runtime.child.exitCode !== null) throw new Error(`the runtime exited (${runtime.child.exitCode}):\n${runtime.output()}`);
    try {
      const res = await requestJson({ port: runtime.port, token: runtime.token }, 'GET', '/api/health');
      if (res.status === 200) return;
      last = JSON.stringify(res.body);
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the runtime did not become healthy in ${timeoutMs} ms (${last}):\n${runtime.output()}`);
}

// ---------------------------------------------------------------- statistics

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

function summarize(values: number[] | Float64Array) {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

const ms = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) : '—');
const mib = (kb: number) => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(0)} MiB` : '—');
const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—');
const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(0)} %` : '—');

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const started = Date.now();
  let timedOut = false;
  const deadline = setTimeout(() => {
    // Report what was measured so far, then clean up; a hard stop if that hangs.
    timedOut = true;
    console.error(`\nmax duration (${MAX_DURATION_MS / 1000} s) reached: ending every open session`);
    for (const client of clients) settle(client, 'max duration reached before the terminal event');
    setTimeout(() => void cleanup().finally(() => process.exit(2)), 60_000).unref();
  }, MAX_DURATION_MS);
  deadline.unref();

  const workDir = mkdtempSync(join(tmpdir(), 'conclave-bench-'));
  cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));

  console.error(`bench: ${SESSIONS} sessions × ${TOKENS} tokens at ${RATE || 'max'} tokens/s, log ${LOG}, db ${DB}, ramp ${RAMP_MS} ms`);

  const env: Record<string, string> = {};
  let redis: RunningService | null = null;
  let postgres: RunningService | null = null;
  if (LOG === 'redis') {
    redis = await startRedis();
    cleanups.push(() => redis!.stop());
    env.REDIS_URL = redis.url;
  }
  if (DB === 'postgres') {
    postgres = await startPostgres();
    cleanups.push(() => postgres!.stop());
    env.DATABASE_URL = postgres.url;
  }

  const { fake, baseURL } = await startFake();
  cleanups.push(() => fake.close());
  env.OPENAI_BASE_URL = baseURL;
  env.OPENAI_API_KEY = 'x';
  env.CONCLAVE_WORKERS = String(WORKERS);

  const spawnedAt = now();
  const runtime = await startRuntimeChild(env, workDir);
  cleanups.push(() => stopRuntimeChild(runtime));
  const runtimePid = runtime.child.pid!;
  await waitForHealth(runtime, 60_000);
  // With workers, health answers once the first listens; the banner comes when all do.
  while (WORKERS > 1 && runtime.child.exitCode === null && !runtime.output().includes('Conclave is running at')) {
    await new Promise((r) => setTimeout(r, 100));
  }
  // Replicas: more runtime processes on their own ports, sharing the services and the token.
  const replicas = [runtime];
  for (let r = 1; r < REPLICAS; r++) {
    const dir = join(workDir, `replica-${r}`);
    mkdirSync(dir);
    const replica = await startRuntimeChild({ ...env, CONCLAVE_AUTH_TOKEN: runtime.token }, dir);
    cleanups.push(() => stopRuntimeChild(replica));
    await waitForHealth(replica, 60_000);
    replicas.push(replica);
  }
  const runtimeProcesses = replicas.flatMap((r) => runtimePids(r.child.pid!));
  let childDied = false;
  for (const r of replicas) {
    void r.exited.then((code) => {
      if (cleaning) return;
      childDied = true;
      console.error(`the runtime exited unexpectedly (${code}):\n${r.output()}`);
      for (const client of clients) settle(client, 'the runtime exited');
    });
  }
  const targets: Target[] = replicas.map((r) => ({ port: r.port, token: runtime.token }));
  const target = targets[0]!;

  // Setup (not measured): one preset, one conversation per session.
  const preset = await requestJson(target, 'POST', '/api/presets', { id: PRESET, name: 'Bench', model: `openai:${MODEL}` });
  if (preset.status !== 201 && preset.status !== 200) throw new Error(`creating the preset answered ${preset.status}: ${JSON.stringify(preset.body)}`);
  const conversationIds: string[] = new Array(SESSIONS);
  await pool(SESSIONS, 32, async (i) => {
    const res = await requestJson(target, 'POST', '/api/conversations', { preset_id: PRESET });
    if (res.status !== 201) throw new Error(`creating a conversation answered ${res.status}: ${JSON.stringify(res.body)}`);
    conversationIds[i] = String(res.body.id);
  });
  cleanups.push(() => {
    for (const client of clients) client.request?.destroy();
    postAgent.destroy();
  });

  if (QUIET_WAIT_MS > 0) await waitForQuiet(QUIET_WAIT_MS);

  // Samplers.
  const benchDelay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  let runtimePeakRssKb = statusKbOf(runtimeProcesses, 'VmRSS');
  const rssBeforeKb = runtimePeakRssKb;
  // Runtime CPU over time, to price the steady state alone (no session starts or commits).
  const cpuTimeline: { at: number; seconds: number }[] = [];
  const rssTimer = setInterval(() => {
    const rss = statusKbOf(runtimeProcesses, 'VmRSS');
    if (rss > runtimePeakRssKb) runtimePeakRssKb = rss;
    cpuTimeline.push({ at: now(), seconds: cpuSecondsOf(runtimeProcesses) });
  }, 200);
  const redisPort = redis ? Number(new URL(redis.url).port) : 0;
  const postgresPort = postgres ? Number(new URL(postgres.url).port) : 0;
  const serviceCpu = () => {
    const out: Record<string, Map<number, number>> = {};
    if (redis) out.redis = new Map(servicePids('redis', redisPort).map((pid) => [pid, cpuSeconds(pid)]));
    if (postgres) out.postgres = new Map(servicePids('postgres', postgresPort).map((pid) => [pid, cpuSeconds(pid)]));
    return out;
  };
  const redisBefore = redis ? await redisCommandCalls(redisPort) : null;
  const pgLog = postgres && args['pg-statements'] ? postgresLogFile(postgresPort) : null;
  let pgLogOffset = 0;
  if (postgres && pgLog) {
    await setStatementLogging(postgres.url, true);
    pgLogOffset = readFileSync(pgLog, 'utf8').length;
  }
  const cpuBefore = {
    runtime: cpuSecondsOf(runtimeProcesses),
    runtimeSystem: cpuSecondsOf(runtimeProcesses, 'system'),
    bench: process.cpuUsage(),
    machine: machineJiffies(),
    services: serviceCpu(),
  };

  // The measured part: post every message (ramped, bounded concurrency), one SSE client per session.
  const windowStart = now();
  benchDelay.enable();
  let inFlight = 0;
  let waiters: (() => void)[] = [];
  for (let i = 0; i < SESSIONS && !childDied && !timedOut; i++) {
    const due = windowStart + (SESSIONS > 1 ? (i * RAMP_MS) / SESSIONS : 0);
    const wait = due - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    while (inFlight >= POST_CONCURRENCY) await new Promise<void>((r) => waiters.push(r));
    inFlight += 1;
    void startSession(targets[i % REPLICAS]!, clients[i]!, conversationIds[i]!).finally(() => {
      inFlight -= 1;
      const next = waiters;
      waiters = [];
      for (const wake of next) wake();
    });
  }
  const rampEnd = now();
  await allSettled;
  const windowEnd = Math.max(...clients.map((c) => c.endedAt));
  benchDelay.disable();
  clearInterval(rssTimer);

  const cpuAfter = {
    runtime: cpuSecondsOf(runtimeProcesses),
    runtimeSystem: cpuSecondsOf(runtimeProcesses, 'system'),
    bench: process.cpuUsage(cpuBefore.bench),
    machine: machineJiffies(),
    services: serviceCpu(),
  };
  const redisAfter = redis ? await redisCommandCalls(redisPort) : null;
  const redisDelta = (field: 'calls' | 'usec') =>
    redisAfter
      ? Object.fromEntries(
          [...redisAfter]
            .map(([command, stats]) => [command, stats[field] - (redisBefore?.get(command)?.[field] ?? 0)] as const)
            .filter(([command, value]) => value > 0 && command !== 'info') // `info`: the bench's own
            .sort((a, b) => b[1] - a[1]),
        )
      : null;
  let pgStatements: ReturnType<typeof countStatements> | null = null;
  if (postgres && pgLog) {
    await setStatementLogging(postgres.url, false);
    pgStatements = countStatements(pgLog, pgLogOffset);
  }
  const runtimeHwmKb = statusKbOf(runtimeProcesses, 'VmHWM');
  if (runtimeHwmKb > runtimePeakRssKb) runtimePeakRssKb = runtimeHwmKb;
  const benchPeakRssKb = statusKb('self', 'VmHWM');
  const windowSeconds = (windowEnd - windowStart) / 1000;

  // ---- results
  const received: number[] = [];
  for (let slot = 0; slot < SLOTS; slot++) if (!Number.isNaN(latency[slot]!)) received.push(latency[slot]!);
  const overall = summarize(received);

  // Steady state: tokens written while every session was streaming.
  let allStreamingFrom = -Infinity;
  let firstEndAt = Infinity;
  for (let s = 0; s < SESSIONS; s++) {
    const first = sendAt[s * TOKENS]!;
    const last = sendAt[s * TOKENS + TOKENS - 1]!;
    if (!Number.isNaN(first)) allStreamingFrom = Math.max(allStreamingFrom, first);
    if (!Number.isNaN(last)) firstEndAt = Math.min(firstEndAt, last);
  }
  const steadyValues: number[] = [];
  if (SESSIONS > 1 && firstEndAt > allStreamingFrom) {
    for (let slot = 0; slot < SLOTS; slot++) {
      const at = sendAt[slot]!;
      if (at >= allStreamingFrom && at <= firstEndAt && !Number.isNaN(latency[slot]!)) steadyValues.push(latency[slot]!);
    }
  }
  const steady = steadyValues.length > 0 ? summarize(steadyValues) : null;
  // Added latency by the second its tokens were sent (JSON only), to see when the tail happens.
  const bySecond = new Map<number, number[]>();
  for (let slot = 0; slot < SLOTS; slot++) {
    if (Number.isNaN(latency[slot]!)) continue;
    const second = Math.floor(sendAt[slot]! / 1000);
    let values = bySecond.get(second);
    if (!values) bySecond.set(second, (values = []));
    values.push(latency[slot]!);
  }
  // The slowest tokens of the steady state (JSON only): whose, which, when.
  const slowest: { session: number; index: number; sentAtMs: number; latencyMs: number }[] = [];
  if (SESSIONS > 1 && firstEndAt > allStreamingFrom) {
    for (let slot = 0; slot < SLOTS; slot++) {
      const at = sendAt[slot]!;
      const value = latency[slot]!;
      if (at < allStreamingFrom || at > firstEndAt || Number.isNaN(value)) continue;
      if (slowest.length < 100 || value > slowest.at(-1)!.latencyMs) {
        slowest.push({ session: Math.floor(slot / TOKENS), index: slot % TOKENS, sentAtMs: Math.round(at), latencyMs: value });
        slowest.sort((a, b) => b.latencyMs - a.latencyMs);
        if (slowest.length > 100) slowest.pop();
      }
    }
  }
  const latencyBySecond = [...bySecond.entries()]
    .sort(([a], [b]) => a - b)
    .map(([second, values]) => {
      const { p50, p99, max } = summarize(values);
      return { atMs: second * 1000, tokens: values.length, p50, p99, max };
    });
  // Runtime CPU per token while every session streamed: the first and last CPU
  // samples inside that span, over the tokens sent between them.
  let steadyCpuMicrosPerToken = Number.NaN;
  const inSteady = cpuTimeline.filter((s) => s.at >= allStreamingFrom && s.at <= firstEndAt);
  if (inSteady.length >= 2) {
    const from = inSteady[0]!;
    const to = inSteady.at(-1)!;
    let tokensBetween = 0;
    for (let slot = 0; slot < SLOTS; slot++) if (sendAt[slot]! >= from.at && sendAt[slot]! < to.at) tokensBetween += 1;
    if (tokensBetween > 0) steadyCpuMicrosPerToken = ((to.seconds - from.seconds) * 1e6) / tokensBetween;
  }

  let sent = 0;
  let lost = 0;
  let requests = 0;
  let cutStreams = 0;
  for (let s = 0; s < SESSIONS; s++) {
    sent += fakeStreams[s]!.sent;
    requests += fakeStreams[s]!.requests;
    if (fakeStreams[s]!.cut) cutStreams += 1;
    for (let i = 0; i < TOKENS; i++) {
      const slot = s * TOKENS + i;
      if (!Number.isNaN(sendAt[slot]!) && Number.isNaN(latency[slot]!)) lost += 1;
    }
  }
  const expected = SESSIONS * TOKENS;
  let duplicates = 0;
  let outOfOrder = 0;
  let events = 0;
  let contentEvents = 0;
  let finished = 0;
  let textMatches = 0;
  const errors = new Map<string, number>();
  for (const client of clients) {
    duplicates += client.duplicates;
    outOfOrder += client.outOfOrder;
    events += client.events;
    contentEvents += client.contentEvents;
    if (client.terminal === 'RUN_FINISHED') finished += 1;
    if (client.parts.join('') === fakeStreams[client.index]!.parts.join('')) textMatches += 1;
    if (client.error) errors.set(client.error, (errors.get(client.error) ?? 0) + 1);
  }
  // Last token read → terminal event read: the commit (usage, DB update, terminal append).
  const tail = summarize(clients.filter((c) => c.terminal && Number.isFinite(c.lastTokenAt)).map((c) => c.endedAt - c.lastTokenAt));
  const post = summarize(clients.filter((c) => Number.isFinite(c.postDone)).map((c) => c.postDone - c.postStart));
  // One session: end to end, first token written → last token read.
  let lastReceipt = -Infinity;
  let firstSend = Infinity;
  for (let slot = 0; slot < SLOTS; slot++) {
    const at = sendAt[slot]!;
    if (!Number.isNaN(at) && at < firstSend) firstSend = at;
    const l = latency[slot]!;
    if (!Number.isNaN(l) && !Number.isNaN(at)) lastReceipt = Math.max(lastReceipt, at + l);
  }
  const e2eTokensPerSecond = received.length / ((lastReceipt - firstSend) / 1000);

  const cpuShare = (before: number, after: number) => (after - before) / windowSeconds;
  const serviceShare = (name: string) => {
    const before = cpuBefore.services[name];
    const after = cpuAfter.services[name];
    if (!before || !after) return Number.NaN;
    let total = 0;
    for (const [pid, seconds] of after) {
      const start = before.get(pid) ?? 0;
      if (Number.isFinite(seconds) && Number.isFinite(start)) total += seconds - start;
    }
    return total / windowSeconds;
  };
  const machineBusy =
    (cpuAfter.machine.busy - cpuBefore.machine.busy) / Math.max(1, cpuAfter.machine.total - cpuBefore.machine.total);

  // Runtime probe: event-loop utilisation and delay during the window (with --workers, of the workers, not the primary).
  const probe = replicas
    .map((r) => readProc(r.probeFile) ?? '')
    .join('\n')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { t: number; pid: number; elu: number; delayP99: number; delayMax: number })
    .filter((s) => s.t - EPOCH >= windowStart + 1000 && s.t - EPOCH <= windowEnd)
    .filter((s) => WORKERS === 1 || s.pid !== runtimePid);
  const probeElu = probe.length ? probe.reduce((a, s) => a + s.elu, 0) / probe.length : Number.NaN;
  const probeEluMax = probe.length ? Math.max(...probe.map((s) => s.elu)) : Number.NaN;
  const probeDelayP99 = probe.length ? Math.max(...probe.map((s) => s.delayP99)) : Number.NaN;
  const probeDelayMax = probe.length ? Math.max(...probe.map((s) => s.delayMax)) : Number.NaN;

  const result = {
    label: args.label ?? null,
    date: new Date().toISOString(),
    sessions: SESSIONS,
    rate: RATE,
    tokens: TOKENS,
    log: LOG,
    db: DB,
    rampMs: RAMP_MS,
    cores: availableParallelism(),
    workers: WORKERS,
    replicas: REPLICAS,
    node: process.version,
    latencyMs: overall,
    steadyLatencyMs: steady,
    steadyCpuMicrosPerToken,
    postLatencyMs: post,
    lastTokenToTerminalMs: tail,
    windowSeconds,
    windowStartMs: windowStart,
    windowEndMs: windowEnd,
    rampSeconds: (rampEnd - windowStart) / 1000,
    eventsPerSecond: events / windowSeconds,
    tokensPerSecond: received.length / windowSeconds,
    e2eTokensPerSecond,
    tokensPerContentEvent: received.length / Math.max(1, contentEvents),
    expected,
    sent,
    received: received.length,
    lost,
    notSent: expected - sent,
    duplicates,
    outOfOrder,
    finished,
    textMatches,
    fakeRequests: requests,
    fakeUnknownRequests,
    fakeCutStreams: cutStreams,
    fakePeakConcurrentStreams: fakePeakActive,
    runtimePeakRssKb,
    runtimeRssBeforeKb: rssBeforeKb,
    benchPeakRssKb,
    cpu: {
      runtime: cpuShare(cpuBefore.runtime, cpuAfter.runtime),
      /** The part of `runtime` spent in the kernel (syscalls, loopback TCP). */
      runtimeSystem: cpuShare(cpuBefore.runtimeSystem, cpuAfter.runtimeSystem),
      bench: (cpuAfter.bench.user + cpuAfter.bench.system) / 1e6 / windowSeconds,
      redis: serviceShare('redis'),
      postgres: serviceShare('postgres'),
      machineBusy,
      /** Everything else on the machine (other people's tests, the kernel), in cores. */
      other: Number.NaN,
    },
    /** Redis commands run during the window (INFO commandstats deltas). */
    redisCalls: redisDelta('calls'),
    /** Redis time per command during the window, µs (a script's time includes the commands it calls). */
    redisUsec: redisDelta('usec'),
    /** Statements the runtime ran on Postgres during the window, by kind (--pg-statements). */
    pgStatements,
    runtimeEventLoop: {
      eluMean: probeElu,
      eluMax: probeEluMax,
      delayP99MaxMs: probeDelayP99,
      delayMaxMs: probeDelayMax,
      /** The probe's seconds (ms since the bench's epoch, like the steady window below), to place stalls in time. */
      samples: probe.map((s) => ({ atMs: Math.round(s.t - EPOCH), pid: s.pid, elu: s.elu, delayP99Ms: s.delayP99, delayMaxMs: s.delayMax })),
    },
    latencyBySecond,
    slowestSteadyTokens: slowest,
    steadyWindowMs: Number.isFinite(allStreamingFrom) && firstEndAt > allStreamingFrom ? [Math.round(allStreamingFrom), Math.round(firstEndAt)] : null,
    benchEventLoopDelayMs: {
      p99: Math.max(0, benchDelay.percentile(99) / 1e6 - DELAY_RESOLUTION_MS),
      max: Math.max(0, benchDelay.max / 1e6 - DELAY_RESOLUTION_MS),
    },
    errors: Object.fromEntries(errors),
    wallSeconds: (Date.now() - started) / 1000,
  };

  result.cpu.other =
    machineBusy * availableParallelism() -
    [result.cpu.runtime, result.cpu.bench, result.cpu.redis, result.cpu.postgres].filter(Number.isFinite).reduce((a, b) => a + b, 0);

  // ---- targets
  const checks: { name: string; met: boolean; detail: string }[] = [];
  const correct = lost === 0 && duplicates === 0 && finished === SESSIONS && textMatches === SESSIONS && result.notSent === 0;
  checks.push({
    name: 'correctness (all finished, text equal, 0 lost, 0 duplicated)',
    met: correct,
    detail: `${finished}/${SESSIONS} finished, ${textMatches}/${SESSIONS} equal, ${lost} lost, ${duplicates} duplicated`,
  });
  if (RATE > 0 && SESSIONS >= 500 && LOG === 'redis') {
    checks.push({ name: 'added latency p50 ≤ 2 ms', met: overall.p50 <= 2, detail: `${ms(overall.p50)} ms` });
    checks.push({ name: 'added latency p99 ≤ 15 ms', met: overall.p99 <= 15, detail: `${ms(overall.p99)} ms` });
  }
  if (RATE === 0 && SESSIONS === 1) {
    checks.push({ name: 'one session ≥ 20,000 tokens/s end to end', met: e2eTokensPerSecond >= 20_000, detail: `${int(e2eTokensPerSecond)} tokens/s` });
  }

  printResult(result, checks);
  if (args.json) appendFileSync(args.json, `${JSON.stringify({ ...result, checks })}\n`);
  if (errors.size > 0 || childDied) {
    console.error('\nerrors:');
    for (const [message, count] of errors) console.error(`  ${count} × ${message}`);
    const failed = clients.filter((c) => c.error).slice(0, 10);
    for (const c of failed) {
      console.error(
        `  session #${c.index} ${c.sessionId}: posted at ${ms(c.postStart - windowStart)} ms, 202 after ${ms(c.postDone - c.postStart)} ms, ` +
          `SSE open after ${ms(c.sseOpenedAt - c.postDone)} ms, ${c.events} events (last ${c.lastType}), ${c.tokens} tokens, ` +
          `ended ${ms(c.endedAt - c.postStart)} ms after the post; the fake sent ${fakeStreams[c.index]!.sent} tokens in ${fakeStreams[c.index]!.requests} request(s)`,
      );
    }
  }
  if (pgStatements) {
    console.error('\nmost frequent Postgres statements during the window (count, text):');
    for (const [text, count] of pgStatements.top) console.error(`  ${String(count).padStart(6)}  ${text}`);
  }
  if (runtime.messages.size > 0) {
    console.error('\nthe runtime logged (warn and above):');
    for (const [message, count] of runtime.messages) console.error(`  ${count} × ${message}`);
  }
  if (!correct) console.error(`\nlast runtime output:\n${runtime.output().slice(-1500)}`);

  await cleanup();
  if (CPU_PROF_DIR && existsSync(CPU_PROF_DIR)) {
    const profiles = readdirSync(CPU_PROF_DIR).filter((f) => f.endsWith('.cpuprofile'));
    console.error(`\nCPU profiles in ${CPU_PROF_DIR}: ${profiles.join(', ') || '(none written)'}`);
    // The profile starts a little after the spawn; these bounds are close enough for --from-ms/--to-ms.
    const from = Math.round(result.windowStartMs - spawnedAt);
    const to = Math.round(result.windowEndMs - spawnedAt);
    console.error(`measured window ≈ profile ms ${from}–${to}: npx tsx test/bench/cpuprofile-summary.ts <file> --from-ms ${from} --to-ms ${to}`);
  }
  if (timedOut) return 2;
  if (!correct) return 1;
  if (args.strict && checks.some((c) => !c.met)) return 1;
  return 0;
}

/** The six largest Redis figures by command (INFO commandstats deltas), each divided by the tokens received. */
function perTokenByCommand(byCommand: Record<string, number> | null, tokens: number, digits: number): string {
  if (!byCommand) return '—';
  return Object.entries(byCommand)
    .slice(0, 6)
    .map(([command, value]) => `${command} ${(value / Math.max(1, tokens)).toFixed(digits)}`)
    .join(', ');
}

function printResult(r: any, checks: { name: string; met: boolean; detail: string }[]): void {
  const processes = r.workers > 1 ? r.workers + 1 : r.replicas; // runtime processes measured together
  const rows: [string, string][] = [
    ['sessions × tokens @ rate', `${r.sessions} × ${r.tokens} @ ${r.rate || 'max'} tokens/s (ramp ${r.rampMs} ms)`],
    ['event log / database', `${r.log} / ${r.db}`],
    ['added latency p50 / p90 / p99 / max', `${ms(r.latencyMs.p50)} / ${ms(r.latencyMs.p90)} / ${ms(r.latencyMs.p99)} / ${ms(r.latencyMs.max)} ms`],
    [
      'steady state (all streaming) p50 / p99 / max',
      r.steadyLatencyMs
        ? `${ms(r.steadyLatencyMs.p50)} / ${ms(r.steadyLatencyMs.p99)} / ${ms(r.steadyLatencyMs.max)} ms (${int(r.steadyLatencyMs.count)} tokens)`
        : '—',
    ],
    ['events/s received', int(r.eventsPerSecond)],
    ['tokens/s received', int(r.tokensPerSecond)],
    ...(r.sessions === 1 ? ([['end-to-end tokens/s (first write → last read)', int(r.e2eTokensPerSecond)]] as [string, string][]) : []),
    ['tokens per TEXT_MESSAGE_CONTENT event', r.tokensPerContentEvent.toFixed(2)],
    ['runtime CPU per token received (µs)', int((r.cpu.runtime * r.windowSeconds * 1e6) / Math.max(1, r.received))],
    ['… in the steady state only (µs)', Number.isFinite(r.steadyCpuMicrosPerToken) ? int(r.steadyCpuMicrosPerToken) : '—'],
    [
      processes > 1 ? `runtime peak RSS, sum of ${processes} processes (before run)` : 'runtime peak RSS (before run)',
      `${mib(r.runtimePeakRssKb)} (${mib(r.runtimeRssBeforeKb)})`,
    ],
    ['bench peak RSS', mib(r.benchPeakRssKb)],
    ['lost / duplicated / out of order', `${r.lost} / ${r.duplicates} / ${r.outOfOrder}`],
    ['finished (RUN_FINISHED) / text equal', `${r.finished} / ${r.textMatches} of ${r.sessions}`],
    ['tokens expected / sent / received', `${int(r.expected)} / ${int(r.sent)} / ${int(r.received)}`],
    ['peak concurrent model streams', int(r.fakePeakConcurrentStreams)],
    ['POST /messages → 202 p50 / p99', `${ms(r.postLatencyMs.p50)} / ${ms(r.postLatencyMs.p99)} ms`],
    ['last token → terminal event p50 / max', `${ms(r.lastTokenToTerminalMs.p50)} / ${ms(r.lastTokenToTerminalMs.max)} ms`],
    ['measured window', `${r.windowSeconds.toFixed(2)} s`],
    [
      `CPU (1 core = 100 %) runtime${processes > 1 ? ` (sum of ${processes} processes)` : ''} / bench / redis / postgres`,
      `${pct(r.cpu.runtime)} (kernel ${pct(r.cpu.runtimeSystem)}) / ${pct(r.cpu.bench)} / ${pct(r.cpu.redis)} / ${pct(r.cpu.postgres)}`,
    ],
    ['machine busy (all cores) / other processes (1 core = 100 %)', `${pct(r.cpu.machineBusy)} / ${pct(r.cpu.other)}`],
    [
      `runtime event loop${r.workers > 1 ? ' (per worker)' : r.replicas > 1 ? ' (per replica)' : ''}: utilisation mean / max, delay p99 / max`,
      `${pct(r.runtimeEventLoop.eluMean)} / ${pct(r.runtimeEventLoop.eluMax)}, ${ms(r.runtimeEventLoop.delayP99MaxMs)} / ${ms(r.runtimeEventLoop.delayMaxMs)} ms`,
    ],
    ['Redis time per token received, µs (evalsha includes its commands)', perTokenByCommand(r.redisUsec, r.received, 1)],
    ['Redis commands per token received', perTokenByCommand(r.redisCalls, r.received, 2)],
    ...(r.pgStatements
      ? ([
          [
            'Postgres statements per session (window)',
            Object.entries(r.pgStatements.kinds as Record<string, number>)
              .sort((a, b) => b[1] - a[1])
              .map(([kind, count]) => `${kind} ${(count / r.sessions).toFixed(1)}`)
              .join(', '),
          ],
        ] as [string, string][])
      : []),
    ['bench event loop delay p99 / max', `${ms(r.benchEventLoopDelayMs.p99)} / ${ms(r.benchEventLoopDelayMs.max)} ms`],
  ];
  for (const check of checks) rows.push([`target: ${check.name}`, `${check.met ? 'met' : 'NOT met'} (${check.detail})`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const out = ['', `| ${'metric'.padEnd(width)} | value |`, `| ${'-'.repeat(width)} | ----- |`];
  for (const [k, v] of rows) out.push(`| ${k.padEnd(width)} | ${v} |`);
  console.log(out.join('\n'));
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    console.error('bench failed:', error);
    await cleanup();
    process.exit(1);
  },
);
