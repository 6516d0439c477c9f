/**
 * Configuration: one zod schema over environment variables, read from the
 * process environment and an optional `.env` in the working directory (the
 * environment wins). An invalid value stops start-up with a message naming the
 * variable. Every variable is listed, with a comment, in `.env.example`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
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

/** A JSON setting checked by `schema`; `{}` when unset. */
const jsonSetting = <T extends z.ZodType>(schema: T, example: string) =>
  optionalString
    .transform((v, ctx) => {
      if (v === undefined) return {};
      try {
        return JSON.parse(v) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be JSON, for example ${example}` });
        return z.NEVER;
      }
    })
    .pipe(schema);

/**
 * A JSON object whose keys must match `pattern`. (zod's own record-key errors
 * only say "Invalid key in record"; this names the key and the rule.)
 */
const recordWithKeys = <T extends z.ZodType>(pattern: RegExp, rule: string, value: T) =>
  z.record(z.string(), value).superRefine((record, ctx) => {
    for (const key of Object.keys(record)) {
      if (!pattern.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: rule });
    }
  });

/** CONCLAVE_PROVIDERS: extra named providers (see runtime/providers/registry.ts). */
export const customProvidersSchema = recordWithKeys(
  /^[a-z][a-z0-9_-]*$/,
  'provider names use a-z, 0-9, - and _, starting with a letter',
  z.strictObject({
    type: z.enum(['openai', 'anthropic'], { message: "type must be 'openai' or 'anthropic'" }),
    base_url: z.string().refine((v) => URL.canParse(v) && ['http:', 'https:'].includes(new URL(v).protocol), {
      message: 'base_url must be an http:// or https:// URL',
    }),
    /** The environment variable holding the key; leave out for keyless local servers. */
    api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'api_key_env must be an environment variable name').optional(),
  }),
);

/** CONCLAVE_PRICES: USD per million tokens by model id (see runtime/providers/pricing.ts). */
export const pricesSchema = recordWithKeys(
  /^[a-z][a-z0-9_-]*:.+$/,
  'price keys are model ids like openai:gpt-4.1',
  z.strictObject({
    input: z.number().nonnegative(),
    output: z.number().nonnegative(),
    cached: z.number().nonnegative().optional(),
  }),
);

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
  /** Runtime worker processes sharing the port (`auto`: one per CPU); more than one needs PostgreSQL and Redis. */
  CONCLAVE_WORKERS: optionalString
    .transform((v) => (v === undefined ? 1 : v.toLowerCase() === 'auto' ? availableParallelism() : Number(v)))
    .pipe(
      z
        .number({ message: 'must be a number or auto' })
        .int('must be a whole number or auto')
        .min(1, 'must be at least 1')
        .max(256, 'must be at most 256'),
    ),
  // storage
  DATABASE_URL: optionalUrl(['postgres:', 'postgresql:']),
  REDIS_URL: optionalUrl(['redis:', 'rediss:']),
  CONCLAVE_EVENT_RETENTION_SECONDS: integer(3600, 1, 30 * 86_400),
  // engine
  CONCLAVE_MAX_STEPS: integer(25, 1, 1000),
  CONCLAVE_MAX_SUBAGENTS: integer(8, 0, 100),
  CONCLAVE_MAX_SUBAGENT_DEPTH: integer(2, 1, 10),
  CONCLAVE_SSE_HEARTBEAT_SECONDS: integer(15, 1, 3600),
  CONCLAVE_SESSION_HEARTBEAT_SECONDS: integer(5, 1, 3600),
  CONCLAVE_PROVIDER_RETRIES: integer(2, 0, 10),
  CONCLAVE_PROVIDER_RETRY_BASE_MS: integer(1000, 1, 60_000),
  CONCLAVE_COMPACTION_THRESHOLD: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 0.8 : Number(v)))
    .pipe(z.number({ message: 'must be a number' }).gt(0, 'must be above 0').max(1, 'must be at most 1')),
  CONCLAVE_CONTEXT_WINDOW_TOKENS: integer(128_000, 1000, 10_000_000),
  // providers (standard names)
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl(['http:', 'https:']),
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl(['http:', 'https:']),
  OLLAMA_BASE_URL: optionalUrl(['http:', 'https:']),
  OLLAMA_API_KEY: optionalString,
  LMSTUDIO_BASE_URL: optionalUrl(['http:', 'https:']),
  VLLM_BASE_URL: optionalUrl(['http:', 'https:']),
  VLLM_API_KEY: optionalString,
  DEEPSEEK_BASE_URL: optionalUrl(['http:', 'https:']),
  DEEPSEEK_API_KEY: optionalString,
  OPENROUTER_BASE_URL: optionalUrl(['http:', 'https:']),
  OPENROUTER_API_KEY: optionalString,
  GEMINI_BASE_URL: optionalUrl(['http:', 'https:']),
  GEMINI_API_KEY: optionalString,
  CONCLAVE_PROVIDERS: jsonSetting(
    customProvidersSchema,
    '{"local":{"type":"openai","base_url":"http://127.0.0.1:8080/v1","api_key_env":"LOCAL_KEY"}}',
  ),
  CONCLAVE_PRICES: jsonSetting(pricesSchema, '{"openai:gpt-4.1":{"input":2,"output":8,"cached":0.5}}'),
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
  SLACK_MODE: z
    .enum(['auto', 'http', 'socket'])
    .optional()
    .transform((v) => v ?? 'auto'),
  SLACK_PORT: integer(3000, 0, 65535),
  SLACK_EVENTS_PATH: optionalString
    .transform((v) => v ?? '/slack/events')
    .refine((v) => v.startsWith('/'), { message: 'must be a path starting with /' }),
  SLACK_BIND_CHANNELS: list,
  SLACK_NATIVE_STREAMING: flag(true),
  CONCLAVE_ALLOWED_USERS: list,
  CONCLAVE_ALLOWED_GUILDS: list,
  CONCLAVE_ALLOWED_CHANNELS: list,
  CONCLAVE_ALLOWED_ROLES: list,
  CONCLAVE_ALLOW_DMS: flag(true),
  /** Unset: the gateway's default text; `off`: only a 🚫 reaction. */
  CONCLAVE_DENIED_MESSAGE: optionalString,
  CONCLAVE_GATEWAY_PRESET: optionalString,
  CONCLAVE_GATEWAY_REASONING: z
    .enum(['hidden', 'status'])
    .optional()
    .transform((v) => v ?? 'hidden'),
  CONCLAVE_GATEWAY_EDIT_INTERVAL_MS: integer(0, 0, 60_000),
  CONCLAVE_WEB_UI: flag(true),
});

export type Config = z.output<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * The environment merged over `.env` (if present), with every variable, not
 * only the schema's: custom providers name their key variable in
 * CONCLAVE_PROVIDERS (`api_key_env`), and that key may live in `.env` too.
 */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Record<string, string | undefined> {
  const dotenvPath = resolve(cwd, '.env');
  const fromFile = existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath)) : {};
  return { ...fromFile, ...env };
}

/** Reads `.env` (if present) under the environment, then validates. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const merged = readEnvironment(env, cwd);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  return result.data;
}
