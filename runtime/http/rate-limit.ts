/**
 * The write rate limit: `perMinute` write requests per principal in each
 * one-minute window (a fixed window that starts with the principal's first
 * write), counted by rate-limiter-flexible. Over the limit a request gets 429
 * with Retry-After (seconds until the window ends).
 *
 * With Redis the count is shared by every process and replica using it, so
 * CONCLAVE_WORKERS or several replicas do not multiply the limit. When Redis
 * does not answer, each process counts on its own until it does (an
 * in-memory insurance limiter): writes are neither refused nor unlimited.
 * Without Redis the count lives in the process.
 */
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { connectionName, type EventsLogger } from '../events/redis.js';
import type { Principal } from './auth.js';
import { ApiError } from './errors.js';

export interface WriteLimiter {
  /** Counts a write by this principal; rejects with a 429 ApiError over the limit. */
  limit(principal: Principal): Promise<void>;
  /**
   * Waits, at most `timeoutMs`, until the count is shared (the Redis
   * connection is ready); true when it is, or when there is no Redis.
   */
  ready(timeoutMs: number): Promise<boolean>;
  /** Closes the Redis connection, if any. */
  close(): Promise<void>;
}

export interface WriteLimiterOptions {
  /** Share the count through this Redis server (unset or null: in the process). */
  redisUrl?: string | null;
  /** Redis key prefix (default 'conclave:'); keys are `<prefix>ratelimit:<principal>`. */
  keyPrefix?: string;
  logger?: EventsLogger;
}

const WINDOW_SECONDS = 60;

export function createWriteLimiter(perMinute: number, options: WriteLimiterOptions = {}): WriteLimiter {
  const prefix = options.keyPrefix ?? 'conclave:';
  const inProcess = new RateLimiterMemory({ points: perMinute, duration: WINDOW_SECONDS });
  let redis: Redis | null = null;
  let limiter: RateLimiterAbstract = inProcess;
  if (options.redisUrl) {
    // No offline queue: while the connection is down, counting fails over at once.
    redis = new Redis(options.redisUrl, { connectionName: connectionName(prefix, 'rate-limit'), enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    redis.on('error', (error: Error) => options.logger?.warn({ err: error }, 'rate limit redis connection error'));
    limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${prefix}ratelimit`,
      points: perMinute,
      duration: WINDOW_SECONDS,
      rejectIfRedisNotReady: true,
      insuranceLimiter: inProcess,
    });
  }

  return {
    async limit(principal) {
      try {
        await limiter.consume(principal.rateKey);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        throw new ApiError(429, 'rate_limited', `too many write requests; retry in ${retryAfter} s`, { retry_after: retryAfter }, {
          'Retry-After': String(retryAfter),
        });
      }
    },
    async ready(timeoutMs) {
      if (!redis || redis.status === 'ready') return true;
      const connection = redis;
      return new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          connection.off('ready', onReady);
          resolve(ok);
        };
        const onReady = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        connection.on('ready', onReady);
      });
    },
    async close() {
      redis?.disconnect();
    },
  };
}
