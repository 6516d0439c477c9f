/**
 * Event log and bus factories: pick the Redis implementation when a Redis URL
 * is configured, the in-process memory one otherwise. Callers depend only on
 * the EventLog / Bus interfaces from ./types.ts.
 */
import { MemoryBus, MemoryEventLog } from './memory.js';
import { RedisBus, RedisEventLog, type EventsLogger } from './redis.js';
import type { Bus, EventLog } from './types.js';

export type { Bus, BusHandler, EventLog, FollowOptions, LogEntry, LogEvent, ReadResult } from './types.js';
export { compareIds, isEntryId } from './types.js';
export type { EventsLogger } from './redis.js';

export interface EventsOptions {
  /** Redis URL; null or absent selects the in-process implementation. */
  redisUrl?: string | null;
  /** Redis key and channel prefix (default 'conclave:'). */
  keyPrefix?: string;
  /** Most entries kept per key (default 100,000; approximate with Redis). */
  maxLen?: number;
  logger?: EventsLogger;
}

export function createEventLog(options: EventsOptions = {}): EventLog {
  const { redisUrl, keyPrefix, maxLen, logger } = options;
  if (redisUrl) return new RedisEventLog(redisUrl, { keyPrefix, maxLen, logger });
  return new MemoryEventLog({ maxLen });
}

export function createBus(options: EventsOptions = {}): Bus {
  const { redisUrl, keyPrefix, logger } = options;
  if (redisUrl) return new RedisBus(redisUrl, { keyPrefix, logger });
  return new MemoryBus();
}
