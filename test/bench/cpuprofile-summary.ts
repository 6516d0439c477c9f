/**
 * Summarises a V8 .cpuprofile (from `--cpu-prof`, e.g. `npm run bench:runtime
 * -- --cpu-prof /tmp/prof`): self time by function, by file / package, and
 * total (inclusive) time of chosen functions, optionally limited to a time
 * window of the profile.
 *
 *   npx tsx test/bench/cpuprofile-summary.ts /tmp/prof/CPU.*.cpuprofile [--top 40] [--from-ms 5000 --to-ms 20000]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '35' },
    'from-ms': { type: 'string' },
    'to-ms': { type: 'string' },
  },
});
const top = Number(values.top);
const fromMs = values['from-ms'] !== undefined ? Number(values['from-ms']) : -Infinity;
const toMs = values['to-ms'] !== undefined ? Number(values['to-ms']) : Infinity;

/** node_modules/<pkg>, runtime/<file>, node:<module>, or a V8 marker like (garbage collector). */
function place(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return `npm:${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith('node:')) return url;
  const root = url.indexOf('/main/');
  return root >= 0 ? url.slice(root + '/main/'.length) : url.replace(/^file:\/\//, '');
}

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let windowUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const at = (t - profile.startTime) / 1000;
    if (at < fromMs || at > toMs) continue;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
    windowUs += delta;
  }

  const key = (n: ProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'}  ${place(n.callFrame.url, n.callFrame.functionName)}:${n.callFrame.lineNumber + 1}`;
  const selfByFunction = new Map<string, number>();
  const selfByPlace = new Map<string, number>();
  const totalByFunction = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    selfByFunction.set(key(node), (selfByFunction.get(key(node)) ?? 0) + us);
    const where = place(node.callFrame.url, node.callFrame.functionName);
    selfByPlace.set(where, (selfByPlace.get(where) ?? 0) + us);
    // Inclusive time: count each function once per sample stack.
    const seen = new Set<string>();
    for (let cursor: number | undefined = id; cursor !== undefined; cursor = parent.get(cursor)) {
      const k = key(byId.get(cursor)!);
      if (seen.has(k)) continue;
      seen.add(k);
      totalByFunction.set(k, (totalByFunction.get(k) ?? 0) + us);
    }
  }

  const idle = [...selfByFunction].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
  const busy = windowUs - idle;
  const show = (title: string, map: Map<string, number>, skipIdle = true) => {
    console.log(`\n${title}`);
    const rows = [...map].filter(([k]) => !(skipIdle && (k.startsWith('(idle)') || k.startsWith('(root)') || k.startsWith('(program)  (root)')))).sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [k, us] of rows) console.log(`${(us / 1000).toFixed(0).padStart(8)} ms ${((us / busy) * 100).toFixed(1).padStart(5)} %  ${k}`);
  };
  console.log(`${file}\nwindow ${(windowUs / 1e6).toFixed(2)} s, busy (not idle) ${(busy / 1e6).toFixed(2)} s (${((busy / windowUs) * 100).toFixed(0)} %)`);
  show('self time by file / package (% of busy)', selfByPlace);
  show('self time by function (% of busy)', selfByFunction);
  show('total (inclusive) time by function (% of busy)', totalByFunction);
  show(
    'total (inclusive) time of functions in runtime/ and shared/ (% of busy)',
    new Map([...totalByFunction].filter(([k]) => / (runtime|shared)\//.test(k))),
  );
}
