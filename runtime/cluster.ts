/**
 * Several runtime processes on one port (`CONCLAVE_WORKERS` > 1), with
 * node:cluster. The primary serves nothing itself: it refuses settings that
 * cannot be shared between processes, resolves the root token once, forks the
 * workers (each an ordinary `startRuntime`), replaces a worker that exits on
 * its own, and on `close` asks every worker to drain and waits for them.
 *
 * What several processes share is already safe across replicas: migrations
 * take an advisory lock, the busy guard is a unique index, control goes over
 * the Redis bus, and a worker's sessions are recovered by the heartbeat rule.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { ConfigError, type Config } from './config/index.js';
import { resolveRootToken, type RootToken } from './config/root-token.js';
import type { Logger } from './logger.js';
import { listenUrl } from './server.js';

/** Pause before a worker that exited is replaced, so a worker that cannot start does not spin. */
const REPLACE_DELAY_MS = 1000;
/** How long after the drain timeout a worker that has not exited is killed. */
const KILL_GRACE_MS = 5000;

export interface WorkersHandle {
  url: string;
  rootToken: RootToken;
  close(): Promise<void>;
}

/** Whether this process is a worker forked by `startWorkers`. */
export const isRuntimeWorker = (): boolean => cluster.isWorker;

/** Why these settings cannot run `CONCLAVE_WORKERS` processes; empty when they can. */
export function workerSettingProblems(config: Config): string[] {
  const count = config.CONCLAVE_WORKERS;
  if (count === 1) return [];
  const problems: string[] = [];
  if (!config.DATABASE_URL) {
    problems.push(`CONCLAVE_WORKERS: ${count} worker processes need DATABASE_URL (PostgreSQL); the embedded database serves one process`);
  }
  if (!config.REDIS_URL) {
    problems.push(`CONCLAVE_WORKERS: ${count} worker processes need REDIS_URL; the in-memory event log and bus reach one process only`);
  }
  return problems;
}

/** Forks `CONCLAVE_WORKERS` runtime workers and resolves once every one of them listens. */
export async function startWorkers(config: Config, logger: Logger): Promise<WorkersHandle> {
  const problems = workerSettingProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  // Before forking: a generated token is written here once, and every worker reads the same file.
  const rootToken = resolveRootToken(config.CONCLAVE_AUTH_TOKEN, config.CONCLAVE_DATA_DIR);

  const live = new Set<Worker>();
  const replacements = new Set<NodeJS.Timeout>();
  let started = false;
  let closing: Promise<void> | null = null;

  /** Forks one worker; resolves with its URL when it listens, rejects if it exits first. */
  function fork(): Promise<string> {
    const worker = cluster.fork();
    live.add(worker);
    return new Promise<string>((resolve, reject) => {
      let listening = false;
      worker.once('listening', (address: AddressInfo) => {
        listening = true;
        resolve(listenUrl(config.CONCLAVE_HOST, address.port));
      });
      worker.once('exit', (code: number | null, signal: string | null) => {
        live.delete(worker);
        if (!listening) reject(new Error(`a runtime worker exited during start-up (${signal ?? `code ${code}`}); its error is above`));
        if (!started || closing) return;
        // Its running sessions are failed by a live worker once their heartbeat is stale.
        logger.error({ worker: worker.process.pid, code, signal }, 'runtime worker exited; starting a new one');
        const timer = setTimeout(() => {
          replacements.delete(timer);
          fork().then(
            () => logger.info({ workers: pidsOf(live) }, 'runtime worker replaced'),
            () => undefined, // logged by its own exit handler
          );
        }, REPLACE_DELAY_MS);
        replacements.add(timer);
      });
    });
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      for (const timer of replacements) clearTimeout(timer);
      const exited = [...live].map((worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve())));
      // SIGTERM makes each worker drain like a single runtime does (see bin/cli.ts).
      for (const worker of live) worker.process.kill('SIGTERM');
      const kill = setTimeout(() => {
        for (const worker of live) worker.process.kill('SIGKILL');
      }, config.CONCLAVE_SHUTDOWN_TIMEOUT_SECONDS * 1000 + KILL_GRACE_MS);
      await Promise.all(exited);
      clearTimeout(kill);
      logger.info('runtime workers stopped');
    })();
    return closing;
  }

  let url: string;
  try {
    [url] = (await Promise.all(Array.from({ length: config.CONCLAVE_WORKERS }, () => fork()))) as [string];
  } catch (error) {
    await close();
    throw error;
  }
  started = true;
  logger.info({ url, workers: pidsOf(live) }, 'runtime workers listening');
  return { url, rootToken, close };
}

const pidsOf = (workers: Set<Worker>): number[] => [...workers].map((worker) => worker.process.pid!);
