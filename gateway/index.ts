/**
 * The gateway's entry point: settings → platform adapters → the bridge.
 *
 *   const gateway = await startGateway({ runtimeUrl, serviceToken, settings: config, logger });
 *   ...
 *   await gateway.stop();
 *
 * Adapters: Discord when DISCORD_BOT_TOKEN is set (./discord), Slack when
 * SLACK_BOT_TOKEN is set (./slack, loaded only then). The gateway reaches the
 * runtime over HTTP with a service credential (a service key, or the root
 * token under `conclave start`); it never imports runtime/.
 *
 * `serveHealth` answers GET /api/health for `conclave gateway` on its own
 * (container health checks).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { ConclaveClient } from '../shared/client/index.js';
import { Bridge, DEFAULT_BRIDGE_SETTINGS, DEFAULT_DENIED_MESSAGE, type BridgeSettings } from './bridge/bridge.js';
import type { PlatformAdapter } from './bridge/platform.js';
import { createDiscordAdapter, type DiscordAdapterOptions } from './discord/index.js';

/**
 * Gateway settings, named as in the environment (runtime/config), so
 * bin/cli.ts passes its config straight in. Every one is documented in
 * docs/gateway.md and .env.example.
 */
export interface GatewaySettings {
  DISCORD_BOT_TOKEN?: string | undefined;
  DISCORD_API_URL?: string | undefined;
  SLACK_BOT_TOKEN?: string | undefined;
  SLACK_SIGNING_SECRET?: string | undefined;
  SLACK_APP_TOKEN?: string | undefined;
  SLACK_API_URL?: string | undefined;
  SLACK_MODE?: 'http' | 'socket' | 'auto' | undefined;
  SLACK_PORT?: number | undefined;
  SLACK_EVENTS_PATH?: string | undefined;
  SLACK_BIND_CHANNELS?: string[] | undefined;
  SLACK_NATIVE_STREAMING?: boolean | undefined;
  CONCLAVE_ALLOWED_USERS?: string[] | undefined;
  CONCLAVE_ALLOWED_GUILDS?: string[] | undefined;
  CONCLAVE_ALLOWED_CHANNELS?: string[] | undefined;
  CONCLAVE_ALLOWED_ROLES?: string[] | undefined;
  CONCLAVE_ALLOW_DMS?: boolean | undefined;
  /** Unset: the default text; `off`: only a 🚫 reaction. */
  CONCLAVE_DENIED_MESSAGE?: string | undefined;
  CONCLAVE_GATEWAY_PRESET?: string | undefined;
  CONCLAVE_GATEWAY_REASONING?: 'hidden' | 'status' | undefined;
  CONCLAVE_GATEWAY_EDIT_INTERVAL_MS?: number | undefined;
}

export interface GatewayOptions {
  /** The runtime's base URL, e.g. http://127.0.0.1:8700. */
  runtimeUrl: string;
  /** A service key, or the root token (both may act for platform users). */
  serviceToken: string;
  settings?: GatewaySettings;
  logger?: Logger;
  /** Use these adapters instead of the ones the settings describe (tests, embedding). */
  adapters?: PlatformAdapter[];
  /** Extra options of the Discord adapter (tests shorten its limits). */
  discord?: Partial<DiscordAdapterOptions>;
  /** Overrides of the bridge settings derived from `settings`. */
  bridge?: Partial<BridgeSettings>;
}

export interface Gateway {
  bridge: Bridge;
  adapters: PlatformAdapter[];
  client: ConclaveClient;
  /** Stops taking events, stores each binding's state, and disconnects. */
  stop(): Promise<void>;
}

/** The bridge settings the environment describes. */
export function bridgeSettingsOf(settings: GatewaySettings): BridgeSettings {
  const denied = settings.CONCLAVE_DENIED_MESSAGE;
  return {
    ...DEFAULT_BRIDGE_SETTINGS,
    access: {
      users: settings.CONCLAVE_ALLOWED_USERS ?? [],
      guilds: settings.CONCLAVE_ALLOWED_GUILDS ?? [],
      channels: settings.CONCLAVE_ALLOWED_CHANNELS ?? [],
      roles: settings.CONCLAVE_ALLOWED_ROLES ?? [],
      allowDirectMessages: settings.CONCLAVE_ALLOW_DMS ?? true,
    },
    deniedMessage: denied === undefined ? DEFAULT_DENIED_MESSAGE : denied.toLowerCase() === 'off' ? null : denied,
    reasoning: settings.CONCLAVE_GATEWAY_REASONING ?? 'hidden',
    editIntervalMs: settings.CONCLAVE_GATEWAY_EDIT_INTERVAL_MS ?? 0,
    defaultPresetId: settings.CONCLAVE_GATEWAY_PRESET ?? null,
  };
}

/** Whether the settings name any platform to connect to. */
export function hasPlatform(settings: GatewaySettings): boolean {
  return Boolean(settings.DISCORD_BOT_TOKEN || settings.SLACK_BOT_TOKEN);
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const settings = options.settings ?? {};
  const client = new ConclaveClient({ baseUrl: options.runtimeUrl, token: options.serviceToken });
  const adapters = options.adapters ?? (await adaptersOf(settings, options, logger));
  if (adapters.length === 0) logger.warn('the gateway has no platform to connect to (set DISCORD_BOT_TOKEN or SLACK_BOT_TOKEN)');

  const bridge = new Bridge({
    client,
    adapters,
    settings: { ...bridgeSettingsOf(settings), ...options.bridge },
    logger: logger.child({ component: 'gateway' }),
  });
  await bridge.start();
  logger.info({ platforms: adapters.map((a) => a.platform), runtime: options.runtimeUrl }, 'gateway started');
  return {
    bridge,
    adapters,
    client,
    async stop() {
      await bridge.stop();
      logger.info('gateway stopped');
    },
  };
}

async function adaptersOf(settings: GatewaySettings, options: GatewayOptions, logger: Logger): Promise<PlatformAdapter[]> {
  const adapters: PlatformAdapter[] = [];
  if (settings.DISCORD_BOT_TOKEN) {
    adapters.push(
      createDiscordAdapter({
        token: settings.DISCORD_BOT_TOKEN,
        ...(settings.DISCORD_API_URL && { apiUrl: settings.DISCORD_API_URL }),
        logger: logger.child({ platform: 'discord' }),
        ...options.discord,
      }),
    );
  }
  if (settings.SLACK_BOT_TOKEN) {
    // Loaded only when Slack is configured (it brings in @slack/bolt).
    const slack = await import('./slack/index.js').catch((error: unknown) => {
      logger.error({ err: error }, 'the Slack adapter could not be loaded; Slack is skipped');
      return null;
    });
    if (slack && typeof slack.createSlackAdapter === 'function') {
      const slackOptions = slack.slackOptionsFromSettings(settings, logger.child({ platform: 'slack' }));
      if (slackOptions) adapters.push(slack.createSlackAdapter(slackOptions));
    } else if (slack) {
      logger.warn('gateway/slack does not export createSlackAdapter; Slack is skipped');
    }
  }
  return adapters;
}

/** Serves GET /api/health for a gateway running on its own; resolves with the server (null when the port is taken). */
export async function serveHealth(gateway: Gateway, host: string, port: number, logger?: Logger): Promise<Server | null> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/api/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', component: 'gateway', platforms: gateway.adapters.map((a) => a.platform), following: gateway.bridge.activeSubscriptions }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'not_found', message: 'the gateway serves only GET /api/health' } }));
  });
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', (error) => {
      logger?.warn({ err: error, host, port }, 'the gateway health endpoint could not listen; going on without it');
      resolve(false);
    });
    server.listen(port, host, () => resolve(true));
  });
  if (!listening) return null;
  logger?.info({ url: `http://${host}:${(server.address() as AddressInfo).port}/api/health` }, 'gateway health endpoint');
  return server;
}
