/**
 * Configuration: one zod schema over environment variables, read from the
 * process environment and an optional `.env` in the working directory (the
 * environment wins). An invalid value stops start-up with a message naming the
 * variable. Every variable is listed, with a comment, in `.env.example`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const optionalUrl = (protocols: string[]) =>
  optionalString.refine(
    (v) => v === undefined || (URL.canParse(v) && protocols.includes(new URL(v).protocol)),
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

const integer = (fallback: number, min: number, max: number) =>
  optionalString
    .transform((v) => (v === undefined ? fallback : Number(v)))
    .pipe(z.number({ message: 'must be a number' }).int('must be a whole number').min(min).max(max));

const flag = (fallback: boolean) =>
  optionalString.transform((v, ctx) => {
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(v.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(v.toLowerCase())) return false;
    ctx.addIssue({ code: 'custom', message: 'must be true or false' });
    return z.NEVER;
  });

const byteSize = (fallback: string) =>
  optionalString.transform((v, ctx) => {
    const text = (v ?? fallback).toLowerCase();
    const match = /^(\d+)\s*(b|kb|mb)?$/.exec(text);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: 'must be a size such as 512kb or 1mb' });
      return z.NEVER;
    }
    const unit = match[2] === 'mb' ? 1024 * 1024 : match[2] === 'kb' ? 1024 : 1;
    return Number(match[1]) * unit;
  });

const list = optionalString.transform((v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []));

export const configSchema = z.object({
  // server
  CONCLAVE_HOST: optionalString.transform((v) => v ?? '127.0.0.1'),
  CONCLAVE_PORT: integer(8700, 0, 65535),
  CONCLAVE_PUBLIC_URL: optionalUrl(['http:', 'https:']),
  CONCLAVE_DATA_DIR: optionalString.transform((v) => resolve(v ?? './data')),
  CONCLAVE_AUTH_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, {
    message: 'must be at least 16 characters',
  }),
  CONCLAVE_BODY_LIMIT: byteSize('1mb'),
  CONCLAVE_RATE_LIMIT_PER_MINUTE: integer(600, 1, 1_000_000),
  CONCLAVE_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .optional()
    .transform((v) => v ?? 'info'),
  CONCLAVE_LOG_FORMAT: z
    .enum(['auto', 'json', 'pretty'])
    .optional()
    .transform((v) => v ?? 'auto'),
  CONCLAVE_SHUTDOWN_TIMEOUT_SECONDS: integer(30, 0, 86_400),
  // storage
  DATABASE_URL: optionalUrl(['postgres:', 'postgresql:']),
  REDIS_URL: optionalUrl(['redis:', 'rediss:']),
  CONCLAVE_EVENT_RETENTION_SECONDS: integer(3600, 1, 30 * 86_400),
  // providers (standard names)
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl(['http:', 'https:']),
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl(['http:', 'https:']),
  // gateway
  CONCLAVE_RUNTIME_URL: optionalUrl(['http:', 'https:']),
  CONCLAVE_SERVICE_KEY: optionalString,
  CONCLAVE_GATEWAY: z
    .enum(['auto', 'on', 'off'])
    .optional()
    .transform((v) => v ?? 'auto'),
  DISCORD_BOT_TOKEN: optionalString,
  DISCORD_API_URL: optionalUrl(['http:', 'https:']),
  SLACK_BOT_TOKEN: optionalString,
  SLACK_SIGNING_SECRET: optionalString,
  SLACK_APP_TOKEN: optionalString,
  SLACK_API_URL: optionalUrl(['http:', 'https:']),
  CONCLAVE_ALLOWED_USERS: list,
  CONCLAVE_WEB_UI: flag(true),
});

export type Config = z.output<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads `.env` (if present) under the environment, then validates. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const dotenvPath = resolve(cwd, '.env');
  const fromFile = existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath)) : {};
  const merged = { ...fromFile, ...env };
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  return result.data;
}
