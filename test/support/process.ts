/**
 * Runs the real `conclave` command as a child process, for tests that need
 * separate runtime processes (two replicas, kill -9 and restart).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './service-processes.js';

const BIN = fileURLToPath(new URL('../../bin/conclave.js', import.meta.url));

export interface RuntimeProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  output(): string;
  /** Sends a signal and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function spawnRuntime(env: Record<string, string>, command = 'runtime'): Promise<RuntimeProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, command], {
    env: { ...process.env, CONCLAVE_LOG_FORMAT: 'json', CONCLAVE_LOG_LEVEL: 'warn', ...env, CONCLAVE_PORT: String(port), CONCLAVE_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`runtime exited early:\n${output}`);
    const ok = await fetch(`${url}/api/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`runtime did not become healthy:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid!,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A process's children, from /proc (Linux): the workers of a runtime run with CONCLAVE_WORKERS, and helpers such as esbuild. */
export function childProcesses(pid: number): { pid: number; command: string }[] {
  const children: { pid: number; command: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 is the parent pid; the command name before it may contain spaces, so count from its ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
      children.push({ pid: Number(name), command: readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() });
    } catch {
      /* exited meanwhile */
    }
  }
  return children.sort((a, b) => a.pid - b.pid);
}

/** The runtime workers a primary forked (CONCLAVE_WORKERS); its other children are helpers such as esbuild. */
export function runtimeWorkerPids(primary: number): number[] {
  return childProcesses(primary)
    .filter((child) => child.command.includes('bin/conclave.js'))
    .map((child) => child.pid);
}
