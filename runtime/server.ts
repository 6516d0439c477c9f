/**
 * Assembles and runs one runtime process: configuration → database (migrated)
 * → event log and bus → HTTP server. `startRuntime` returns a handle whose
 * `close` shuts everything down in order. The CLI and the tests both use it.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readEnvironment, type Config } from './config/index.js';
import { resolveRootToken, type RootToken } from './config/root-token.js';
import { modelStreamFactory } from './engine/models.js';
import { RunManager } from './engine/runs.js';
import { RoomOrchestrator } from './rooms/orchestrator.js';
import { builtinTools, ToolRegistry } from './engine/tools.js';
import { filesToolSource } from './engine/toolsets/files.js';
import { httpToolSource } from './engine/toolsets/http.js';
import { mcpToolSource } from './engine/toolsets/mcp.js';
import { createBus, createEventLog } from './events/index.js';
import { createApp } from './http/app.js';
import { createWriteLimiter } from './http/rate-limit.js';
import type { AppContext } from './http/context.js';
import { createLogger, type Logger } from './logger.js';
import { costOf, priceTable } from './providers/pricing.js';
import { createProviderRegistry } from './providers/registry.js';
import { openDatabase } from './store/database.js';
import { createRepos } from './store/repos/index.js';
import { ROOT_USER_ID } from './store/repos/users.js';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** The URL a runtime listening on `host` and `port` is reached at. */
export function listenUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export interface RuntimeHandle {
  url: string;
  rootToken: RootToken;
  context: AppContext;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Keep PGlite in memory instead of under the data directory (tests). */
  inMemoryDatabase?: boolean;
  /** Engine timings (tests shorten them). */
  engine?: { heartbeatMs?: number; staleAfterMs?: number; sseHeartbeatMs?: number; retryBaseDelayMs?: number };
}

export async function startRuntime(config: Config, options: StartOptions = {}): Promise<RuntimeHandle> {
  const logger = options.logger ?? createLogger({ level: config.CONCLAVE_LOG_LEVEL, format: config.CONCLAVE_LOG_FORMAT });
  const rootToken = resolveRootToken(config.CONCLAVE_AUTH_TOKEN, config.CONCLAVE_DATA_DIR);

  const database = await openDatabase({
    url: config.DATABASE_URL,
    dataDir: options.inMemoryDatabase ? null : config.CONCLAVE_DATA_DIR,
  });
  await database.migrate();
  const repos = createRepos(database.db);
  await repos.users.ensure(ROOT_USER_ID, { displayName: 'Administrator', isAdmin: true });

  const eventLog = createEventLog({ redisUrl: config.REDIS_URL, logger });
  const bus = createBus({ redisUrl: config.REDIS_URL, logger });

  const providers = createProviderRegistry(config, readEnvironment());
  const prices = priceTable(config.CONCLAVE_PRICES);
  const tools = new ToolRegistry();
  for (const tool of builtinTools()) tools.register(tool);
  const runs = new RunManager({
    db: database.db,
    mailbox: repos.mailbox,
    toolSources: [filesToolSource(), httpToolSource(), mcpToolSource()],
    dataDir: config.CONCLAVE_DATA_DIR,
    env: readEnvironment(),
    eventLog,
    bus,
    logger,
    tools,
    modelStream: modelStreamFactory(providers, {
      attempts: config.CONCLAVE_PROVIDER_RETRIES + 1,
      baseDelayMs: options.engine?.retryBaseDelayMs ?? config.CONCLAVE_PROVIDER_RETRY_BASE_MS,
    }),
    costOf: (model, usage) => costOf(model, usage, prices) ?? 0,
    retentionSeconds: config.CONCLAVE_EVENT_RETENTION_SECONDS,
    compaction: { threshold: config.CONCLAVE_COMPACTION_THRESHOLD, contextWindow: config.CONCLAVE_CONTEXT_WINDOW_TOKENS },
    limits: {
      maxSteps: config.CONCLAVE_MAX_STEPS,
      maxSubagents: config.CONCLAVE_MAX_SUBAGENTS,
      maxSubagentDepth: config.CONCLAVE_MAX_SUBAGENT_DEPTH,
    },
    heartbeatMs: options.engine?.heartbeatMs ?? config.CONCLAVE_SESSION_HEARTBEAT_SECONDS * 1000,
    staleAfterMs: options.engine?.staleAfterMs ?? config.CONCLAVE_SESSION_HEARTBEAT_SECONDS * 3000,
    soleProcess: database.kind === 'pglite',
  });
  await runs.start();
  const rooms = new RoomOrchestrator({ db: database.db, runs, eventLog, bus, logger, runnerId: runs.runnerId });
  await rooms.start();

  const context: AppContext = {
    config,
    database,
    repos,
    eventLog,
    bus,
    logger,
    rootToken: rootToken.token,
    version: VERSION,
    runs,
    rooms,
    providers,
    writeLimiter: createWriteLimiter(config.CONCLAVE_RATE_LIMIT_PER_MINUTE, { redisUrl: config.REDIS_URL, logger }),
    sseHeartbeatMs: options.engine?.sseHeartbeatMs ?? config.CONCLAVE_SSE_HEARTBEAT_SECONDS * 1000,
  };
  // Before serving: otherwise the first writes are counted per process (the limiter's failover).
  if (!(await context.writeLimiter.ready(5_000))) logger.warn('Redis did not answer within 5 s: write rate limits count per process until it does');
  const app = createApp(context);

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.CONCLAVE_PORT, config.CONCLAVE_HOST, () => resolve(s));
    s.once('error', reject);
  });
  const url = listenUrl(config.CONCLAVE_HOST, (server.address() as AddressInfo).port);
  logger.info({ url, database: database.kind, eventLog: eventLog.kind }, 'runtime listening');

  // Idempotency keys live 24 h; expired ones are also taken over on reuse, this keeps the table small.
  const purgeKeys = setInterval(() => {
    repos.idempotency.purgeExpired().catch((error: unknown) => logger.warn({ err: error }, 'purging expired idempotency keys failed'));
  }, 60 * 60_000);
  purgeKeys.unref();

  let closing: Promise<void> | null = null;
  return {
    url,
    rootToken,
    context,
    close() {
      closing ??= (async () => {
        // Let running sessions finish (their terminal events reach open streams), then stop serving.
        clearInterval(purgeKeys);
        await runs.drain(config.CONCLAVE_SHUTDOWN_TIMEOUT_SECONDS * 1000);
        await runs.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await context.writeLimiter.close();
        await bus.close();
        await eventLog.close();
        await database.close();
        logger.info('runtime stopped');
      })();
      return closing;
    },
  };
}
