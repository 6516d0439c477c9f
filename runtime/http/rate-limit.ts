/**
 * A per-principal token bucket for write routes: `perMinute` requests a
 * minute, refilled continuously, bursting up to the same amount. Over the
 * limit a request gets 429 with Retry-After (seconds). Buckets live in the
 * process; each replica limits on its own.
 */
import { ApiError } from './errors.js';
import type { Principal } from './auth.js';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export function createWriteLimiter(perMinute: number, now: () => number = Date.now) {
  const buckets = new Map<string, Bucket>();
  const refillPerMs = perMinute / 60_000;
  let lastSweep = now();

  return function limitWrites(principal: Principal): void {
    const at = now();
    if (at - lastSweep > 60_000) {
      // Forget buckets that have refilled completely.
      for (const [key, bucket] of buckets) if (bucket.tokens + (at - bucket.updatedAt) * refillPerMs >= perMinute) buckets.delete(key);
      lastSweep = at;
    }
    const bucket = buckets.get(principal.rateKey) ?? { tokens: perMinute, updatedAt: at };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (at - bucket.updatedAt) * refillPerMs);
    bucket.updatedAt = at;
    if (bucket.tokens < 1) {
      buckets.set(principal.rateKey, bucket);
      const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000));
      throw new ApiError(429, 'rate_limited', `too many write requests; retry in ${retryAfter} s`, { retry_after: retryAfter }, {
        'Retry-After': String(retryAfter),
      });
    }
    bucket.tokens -= 1;
    buckets.set(principal.rateKey, bucket);
  };
}
