/**
 * The `conclave` command line:
 *   start            runtime, plus the gateway when platform tokens are set
 *   runtime          the HTTP API and agent engine only
 *   gateway          the Discord/Slack gateway only (a client of a runtime)
 *   db migrate       apply database migrations
 *   keys create|list|revoke   manage API keys directly in the database
 * `start` and `runtime` run CONCLAVE_WORKERS runtime processes on one port
 * (runtime/cluster.ts); the banner and the gateway stay in this process.
 * Configuration comes from the environment and .env (see .env.example).
 */
import { parseArgs } from 'node:util';
import { hasPlatform, serveHealth, startGateway, type Gateway } from '../gateway/index.js';
import { isRuntimeWorker, startWorkers } from '../runtime/cluster.js';
import { ConfigError, loadConfig, type Config } from '../runtime/config/index.js';
import { createLogger, type Logger } from '../runtime/logger.js';
import { startRuntime } from '../runtime/server.js';
import { openDatabase } from '../runtime/store/database.js';
import { createRepos } from '../runtime/store/repos/index.js';
import { ROOT_USER_ID } from '../runtime/store/repos/users.js';

const USAGE = `usage: conclave <command>

  start                       run the runtime (and the gateway when DISCORD_BOT_TOKEN or SLACK_BOT_TOKEN is set)
  runtime                     run the runtime only
  gateway                     run the gateway only (needs CONCLAVE_RUNTIME_URL, CONCLAVE_SERVICE_KEY and a platform token)
  db migrate                  apply database migrations and exit
  keys create --name NAME [--user ID] [--admin] [--service] [--expires-days N]
  keys list [--user ID]
  keys revoke KEY_ID

Settings come from the environment and .env; see .env.example.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command ? 0 : 1;
  }
  const config = loadConfig();
  switch (command) {
    case 'start':
    case 'runtime':
      return serve(config, command);
    case 'gateway':
      return gatewayOnly(config);
    case 'db':
      if (rest[0] !== 'migrate') break;
      return migrateOnly(config);
    case 'keys':
      return keys(config, rest);
  }
  console.error(`unknown command: ${argv.join(' ')}\n\n${USAGE}`);
  return 1;
}

async function serve(config: Config, command: 'start' | 'runtime'): Promise<number> {
  const logger = createLogger({ level: config.CONCLAVE_LOG_LEVEL, format: config.CONCLAVE_LOG_FORMAT });
  if (isRuntimeWorker()) return serveAsWorker(config, logger);
  // Several workers: this process is their primary; it prints the banner and runs the gateway once.
  const runtime = config.CONCLAVE_WORKERS > 1 ? await startWorkers(config, logger) : await startRuntime(config, { logger });
  const { rootToken } = runtime;
  if (rootToken.source === 'generated') {
    // Printed once, like Jupyter: the token is stored (mode 600) and reused on later starts.
    process.stdout.write(
      `\n  Conclave is running at ${runtime.url}\n\n` +
        `  A root token was generated and saved to ${rootToken.path}:\n\n      ${rootToken.token}\n\n` +
        `  Use it as "Authorization: Bearer <token>", or open ${runtime.url}/?token=${rootToken.token}\n\n`,
    );
  } else {
    const where = rootToken.source === 'file' ? `the token in ${rootToken.path}` : 'CONCLAVE_AUTH_TOKEN';
    process.stdout.write(`\n  Conclave is running at ${runtime.url} (sign in with ${where})\n\n`);
  }
  // One process: the gateway reaches the runtime over HTTP at its own URL, with the root token as its service credential.
  let gateway: Gateway | null = null;
  const wantGateway = config.CONCLAVE_GATEWAY === 'on' || (config.CONCLAVE_GATEWAY === 'auto' && hasPlatform(config));
  if (command === 'start' && wantGateway) {
    if (!hasPlatform(config)) logger.warn('CONCLAVE_GATEWAY=on, but neither DISCORD_BOT_TOKEN nor SLACK_BOT_TOKEN is set');
    gateway = await startGateway({ runtimeUrl: runtime.url, serviceToken: rootToken.token, settings: config, logger });
  }

  await untilSignal(logger);
  const forced = setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, (config.CONCLAVE_SHUTDOWN_TIMEOUT_SECONDS + 10) * 1000);
  forced.unref();
  await gateway?.stop();
  await runtime.close();
  return 0;
}

/** One of CONCLAVE_WORKERS runtime processes: no banner, no gateway; its primary stops it with SIGTERM. */
async function serveAsWorker(config: Config, logger: Logger): Promise<number> {
  const runtime = await startRuntime(config, { logger });
  await untilSignal(logger);
  await runtime.close();
  return 0;
}

/** `conclave gateway`: the gateway alone, a client of the runtime at CONCLAVE_RUNTIME_URL. */
async function gatewayOnly(config: Config): Promise<number> {
  const logger = createLogger({ level: config.CONCLAVE_LOG_LEVEL, format: config.CONCLAVE_LOG_FORMAT });
  if (!config.CONCLAVE_RUNTIME_URL || !config.CONCLAVE_SERVICE_KEY) {
    console.error('conclave gateway needs CONCLAVE_RUNTIME_URL and CONCLAVE_SERVICE_KEY (see docs/gateway.md)');
    return 1;
  }
  if (!hasPlatform(config)) {
    console.error('conclave gateway needs DISCORD_BOT_TOKEN or SLACK_BOT_TOKEN (see docs/gateway.md)');
    return 1;
  }
  const gateway = await startGateway({ runtimeUrl: config.CONCLAVE_RUNTIME_URL, serviceToken: config.CONCLAVE_SERVICE_KEY, settings: config, logger });
  const health = await serveHealth(gateway, config.CONCLAVE_HOST, config.CONCLAVE_PORT, logger);
  await untilSignal(logger);
  const forced = setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, 15_000);
  forced.unref();
  health?.close();
  await gateway.stop();
  return 0;
}

function untilSignal(logger: { info(obj: object, msg: string): void }): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

async function withRepos<T>(config: Config, work: (repos: ReturnType<typeof createRepos>) => Promise<T>): Promise<T> {
  const database = await openDatabase({ url: config.DATABASE_URL, dataDir: config.CONCLAVE_DATA_DIR });
  try {
    await database.migrate();
    return await work(createRepos(database.db));
  } finally {
    await database.close();
  }
}

async function migrateOnly(config: Config): Promise<number> {
  await withRepos(config, async () => undefined);
  console.log('database is up to date');
  return 0;
}

async function keys(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      user: { type: 'string' },
      admin: { type: 'boolean', default: false },
      service: { type: 'boolean', default: false },
      'expires-days': { type: 'string' },
    },
  });
  const [action, keyId] = positionals;
  return withRepos(config, async (repos) => {
    if (action === 'create') {
      if (!values.name) throw new UsageError('keys create needs --name');
      const days = values['expires-days'] ? Number(values['expires-days']) : null;
      if (days !== null && (!Number.isInteger(days) || days < 1)) throw new UsageError('--expires-days must be a whole number of days');
      const userId = values.user ?? ROOT_USER_ID;
      const user = await repos.users.ensure(userId, { isAdmin: values.admin || userId === ROOT_USER_ID });
      const { row, key } = await repos.users.createKey({
        userId: user.id,
        name: values.name,
        scope: values.service ? 'service' : 'user',
        expiresAt: days ? new Date(Date.now() + days * 86_400_000) : null,
      });
      console.log(`created key ${row.id} for ${user.id} (${row.scope}); it is shown only now:\n\n${key}\n`);
      return 0;
    }
    if (action === 'list') {
      for (const k of await repos.users.listKeys(values.user ?? null)) {
        const state = k.revokedAt ? 'revoked' : k.expiresAt && k.expiresAt < new Date() ? 'expired' : 'active';
        console.log([k.id, k.userId, k.scope, state, k.keyPrefix, k.name].join('\t'));
      }
      return 0;
    }
    if (action === 'revoke') {
      if (!keyId) throw new UsageError('keys revoke needs a key id');
      const row = await repos.users.revokeKey(keyId);
      console.log(row ? `revoked key ${row.id}` : `no active key ${keyId}`);
      return row ? 0 : 1;
    }
    throw new UsageError(`unknown keys action: ${action ?? '(none)'}`);
  });
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof UsageError) console.error(`conclave: ${error.message}`);
    else console.error('conclave: failed to start:', error);
    process.exit(1);
  },
);
