/** What route handlers may use: configuration, repositories and the event seams. */
import type { Config } from '../config/index.js';
import type { RunManager } from '../engine/runs.js';
import type { RoomOrchestrator } from '../rooms/orchestrator.js';
import type { Bus, EventLog } from '../events/types.js';
import type { Logger } from '../logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { Database } from '../store/database.js';
import type { Repos } from '../store/repos/index.js';
import type { WriteLimiter } from './rate-limit.js';

export interface AppContext {
  config: Config;
  database: Database;
  repos: Repos;
  eventLog: EventLog;
  bus: Bus;
  logger: Logger;
  rootToken: string;
  version: string;
  runs: RunManager;
  rooms: RoomOrchestrator;
  providers: ProviderRegistry;
  /** The write rate limit (runtime/http/rate-limit.ts). */
  writeLimiter: WriteLimiter;
  /** Interval of SSE comment heartbeats. */
  sseHeartbeatMs: number;
}
