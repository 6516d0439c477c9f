/**
 * Runs test/bench/runtime.ts over a list of scenarios, one after another (each
 * its own processes and throwaway servers), and prints one summary table.
 *
 *   npm run bench:runtime:matrix                 # the scenarios below
 *   npm run bench:runtime:matrix -- --only single-redis,concurrent-redis-pglite
 *   npm run bench:runtime:matrix -- --quiet-wait 120   (passed to every run)
 *   npm run bench:runtime:matrix -- --report results.jsonl   (only print the table of earlier runs)
 *
 * Each run's own table is printed as it finishes; the JSON lines go to
 * --json (default: a temporary file).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '../..');

const TARGET = ['--sessions', '500', '--rate', '20', '--tokens', '100'];
/** Long enough (30 s each) that the start-up ramp is a small part of the run. */
const STEADY = ['--sessions', '500', '--rate', '20', '--tokens', '600', '--ramp-ms', '5000'];

export const SCENARIOS: Record<string, string[]> = {
  // The target: 500 concurrent sessions × 20 tokens/s with Redis.
  'concurrent-redis-pglite': [...TARGET, '--log', 'redis', '--db', 'pglite'],
  'concurrent-redis-postgres': [...TARGET, '--log', 'redis', '--db', 'postgres'],
  'concurrent-redis-postgres-2w': [...TARGET, '--log', 'redis', '--db', 'postgres', '--workers', '2'],
  'concurrent-memory-pglite': [...TARGET, '--log', 'memory', '--db', 'pglite'],
  'steady-redis-postgres': [...STEADY, '--log', 'redis', '--db', 'postgres'],
  'steady-redis-postgres-2w': [...STEADY, '--log', 'redis', '--db', 'postgres', '--workers', '2'],
  // Two runtimes, each session's stream on the one running it: the best a balancer could route.
  'steady-redis-postgres-2r': [...STEADY, '--log', 'redis', '--db', 'postgres', '--replicas', '2'],
  // One session as fast as possible.
  'single-memory': ['--sessions', '1', '--rate', '0', '--tokens', '100000', '--log', 'memory', '--max-duration', '60'],
  'single-redis': ['--sessions', '1', '--rate', '0', '--tokens', '100000', '--log', 'redis', '--max-duration', '60'],
  // Where the latency targets still hold: fewer concurrent sessions at 20 tokens/s.
  'capacity-100': ['--sessions', '100', '--rate', '20', '--tokens', '300', '--log', 'redis', '--db', 'postgres'],
  'capacity-200': ['--sessions', '200', '--rate', '20', '--tokens', '300', '--log', 'redis', '--db', 'postgres'],
  'capacity-200-2w': ['--sessions', '200', '--rate', '20', '--tokens', '300', '--log', 'redis', '--db', 'postgres', '--workers', '2'],
  'capacity-300-2w': ['--sessions', '300', '--rate', '20', '--tokens', '300', '--log', 'redis', '--db', 'postgres', '--workers', '2'],
};

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    json: { type: 'string' },
    'quiet-wait': { type: 'string', default: '0' },
    report: { type: 'string' },
  },
});

const names = values.report ? [] : values.only ? values.only.split(',') : Object.keys(SCENARIOS);
const json = values.report ?? values.json ?? join(mkdtempSync(join(tmpdir(), 'conclave-bench-matrix-')), 'results.jsonl');
for (const name of names) {
  const scenario = SCENARIOS[name];
  if (!scenario) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  console.log(`\n## ${name}: ${scenario.join(' ')}`);
  spawnSync(
    process.execPath,
    ['--max-semi-space-size=64', '--import', 'tsx', join(here, 'runtime.ts'), ...scenario, '--label', name, '--json', json, '--quiet-wait', values['quiet-wait']!],
    { cwd: ROOT, stdio: 'inherit' },
  );
}

const rows = readFileSync(json, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line));
const f = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '—');
const n = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—');
console.log(`\nresults (${json}):\n`);
console.log(
  '| scenario | sessions × tokens @ rate | log / db | processes | p50 ms | p90 ms | p99 ms | max ms | steady p50 / p99 ms | tokens/s | e2e tokens/s (1 session) | runtime CPU | µs/token | steady µs/token | POST→202 p50 ms | peak RSS MiB | lost | dup | finished | other CPU |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
const pct = (v: number) => (Number.isFinite(v) ? `${Math.round(v * 100)} %` : '—');
for (const r of rows) {
  const cpuPerToken = (r.cpu.runtime * r.windowSeconds * 1e6) / Math.max(1, r.received);
  const steady = r.steadyLatencyMs?.count ? `${f(r.steadyLatencyMs.p50, 2)} / ${f(r.steadyLatencyMs.p99)}` : '—';
  console.log(
    `| ${r.label ?? ''} | ${r.sessions} × ${r.tokens} @ ${r.rate || 'max'} | ${r.log} / ${r.db} | ${r.replicas > 1 ? `${r.replicas} replicas` : r.workers > 1 ? `${r.workers} workers` : 1} | ${f(r.latencyMs.p50, 2)} | ${f(r.latencyMs.p90)} | ${f(r.latencyMs.p99)} | ${f(r.latencyMs.max)} | ${steady} | ${n(r.tokensPerSecond)} | ${r.sessions === 1 ? n(r.e2eTokensPerSecond) : '—'} | ${pct(r.cpu.runtime)} | ${n(cpuPerToken)} | ${n(r.steadyCpuMicrosPerToken ?? Number.NaN)} | ${f(r.postLatencyMs?.p50 ?? Number.NaN)} | ${n(r.runtimePeakRssKb / 1024)} | ${r.lost} | ${r.duplicates} | ${r.finished}/${r.sessions} | ${pct(r.cpu.other)} |`,
  );
}
