/**
 * Inbound de-duplication: platforms deliver some events more than once (Slack
 * retries an event that was not acknowledged within 3 s, Discord replays
 * dispatches after a gateway RESUME). The bridge remembers the keys it has
 * handled in a bounded LRU with a time-to-live and drops repeats.
 *
 * Memory only: a repeat that arrives after a gateway restart is not caught
 * here; the runtime catches it instead, by the message's Idempotency-Key
 * (bridge.ts `deliver`; Discord does not replay across a fresh IDENTIFY; see
 * docs/gateway.md).
 */

export interface DeduperOptions {
  /** Most keys remembered; the oldest are forgotten first. Default 10,000. */
  maxKeys?: number;
  /** How long a key is remembered. Default 10 minutes. */
  ttlMs?: number;
  now?: () => number;
}

export class Deduper {
  /** key → time first seen; a Map keeps insertion order, so the oldest key is first. */
  private readonly seenAt = new Map<string, number>();
  private readonly maxKeys: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: DeduperOptions = {}) {
    this.maxKeys = options.maxKeys ?? 10_000;
    this.ttlMs = options.ttlMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Records every key and says whether any of them was already seen (within
   * the TTL). Pass all the keys an event is known by (e.g. Slack's event_id and
   * channel+ts), so a repeat under either key is caught.
   */
  isRepeat(...keys: string[]): boolean {
    const at = this.now();
    this.forgetExpired(at);
    let repeat = false;
    for (const key of keys) {
      const first = this.seenAt.get(key);
      if (first !== undefined && at - first < this.ttlMs) repeat = true;
      else this.seenAt.set(key, at);
    }
    while (this.seenAt.size > this.maxKeys) {
      const oldest = this.seenAt.keys().next().value;
      if (oldest === undefined) break;
      this.seenAt.delete(oldest);
    }
    return repeat;
  }

  get size(): number {
    return this.seenAt.size;
  }

  private forgetExpired(at: number): void {
    for (const [key, first] of this.seenAt) {
      if (at - first < this.ttlMs) break; // insertion order = time order
      this.seenAt.delete(key);
    }
  }
}
