/**
 * The process logger (pino): JSON by default, pretty when attached to a TTY
 * (or CONCLAVE_LOG_FORMAT=pretty). Secrets are redacted wherever they appear
 * in a logged object: authorization headers, tokens, keys, passwords.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-slack-signature"]',
  'req.query.access_token',
  'headers.authorization',
  'authorization',
  'token',
  'key',
  'apiKey',
  'api_key',
  'secret',
  'password',
  '*.token',
  '*.key',
  '*.apiKey',
  '*.api_key',
  '*.secret',
  '*.password',
  'config.CONCLAVE_AUTH_TOKEN',
  'config.OPENAI_API_KEY',
  'config.ANTHROPIC_API_KEY',
  'config.DISCORD_BOT_TOKEN',
  'config.SLACK_BOT_TOKEN',
  'config.SLACK_SIGNING_SECRET',
  'config.SLACK_APP_TOKEN',
  'config.CONCLAVE_SERVICE_KEY',
];

export interface LoggerOptions {
  level: string;
  format: 'auto' | 'json' | 'pretty';
  /** Where JSON goes; tests pass a stream to inspect output. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  const base = { level: options.level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (pretty && !options.destination) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l' } } });
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}
