/**
 * Persists what the gateway must remember about one binding in the runtime
 * (`PATCH /api/bindings/:id`): the rendering cursor and the renderer state of
 * the turn in flight (its platform message ids). This file owns coalescing
 * and retrying those writes; ./subscription.ts decides what to write.
 *
 * - `write(patch, { urgent })` merges the patch into the pending one. Urgent
 *   writes (a new platform message id, the end of a turn) go out at once,
 *   after the write in flight; others (an idle cursor move) within
 *   `throttleMs`. At most one PATCH per binding is in flight.
 * - The returned promise resolves once the patch (or a later one that
 *   includes it) is stored. Failures are retried with backoff (Retry-After
 *   honoured) until they succeed or the writer is closed; a 404 means the
 *   binding was deleted and calls `onGone`.
 */
import type { Logger } from 'pino';
import { ConclaveApiError, type BindingPatch, type ConclaveClient } from '../../shared/client/index.js';

/** Renderer state of the turn in flight, as stored in `binding.state.turn`. */
export interface StoredTurn {
  session_id: string;
  /** Platform message ids of the turn, chunk i in message i. */
  message_ids: string[];
  /** How many of those messages already hold their final text. */
  finalized: number;
}

export interface StoredState {
  turn?: StoredTurn;
}

export interface BindingWriterOptions {
  throttleMs?: number;
  logger: Logger;
  onGone?: () => void;
}

export class BindingWriter {
  private pending: BindingPatch | null = null;
  private pendingUrgent = false;
  private waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private failures = 0;
  private closed = false;
  private readonly throttleMs: number;

  constructor(
    private readonly client: ConclaveClient,
    private readonly bindingId: string,
    private readonly options: BindingWriterOptions,
  ) {
    this.throttleMs = options.throttleMs ?? 3000;
  }

  write(patch: BindingPatch, { urgent = false }: { urgent?: boolean } = {}): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.pending = { ...this.pending, ...patch };
    this.pendingUrgent ||= urgent;
    const stored = new Promise<void>((resolve) => this.waiters.push(resolve));
    this.schedule(urgent ? 0 : this.throttleMs);
    return stored;
  }

  /** Makes one last attempt to store what is pending, then stops. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.running) await new Promise((resolve) => setTimeout(resolve, 10));
    if (this.pending) await this.attempt().catch(() => undefined);
    this.closed = true;
    this.release(this.waiters);
    this.waiters = [];
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.running) return; // the running loop picks the pending patch up
    if (this.timer) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, delayMs);
  }

  private async run(): Promise<void> {
    this.running = true;
    let retryInMs: number | null = null;
    try {
      while (this.pending && !this.closed) {
        const ok = await this.attempt();
        if (!ok) {
          retryInMs = this.backoff();
          break;
        }
        if (!this.pendingUrgent) break; // a non-urgent follow-up waits for the throttle
      }
    } finally {
      this.running = false;
    }
    if (this.pending && !this.closed) this.schedule(retryInMs ?? (this.pendingUrgent ? 0 : this.throttleMs));
  }

  /** One PATCH of everything pending; false when it failed and should be retried. */
  private async attempt(): Promise<boolean> {
    const patch = this.pending;
    if (!patch) return true;
    const waiters = this.waiters;
    this.pending = null;
    this.pendingUrgent = false;
    this.waiters = [];
    try {
      await this.client.patchBinding(this.bindingId, patch);
      this.failures = 0;
      this.release(waiters);
      return true;
    } catch (error) {
      if (error instanceof ConclaveApiError && error.status === 404) {
        this.options.logger.warn({ bindingId: this.bindingId }, 'the binding was deleted; the gateway stops following it');
        this.release(waiters);
        this.options.onGone?.();
        this.closed = true;
        return true;
      }
      // Put the patch back under anything newer, and retry.
      this.pending = { ...patch, ...(this.pending ?? {}) };
      this.pendingUrgent = true;
      this.waiters = [...waiters, ...this.waiters];
      this.failures += 1;
      this.lastRetryAfterMs = error instanceof ConclaveApiError ? error.retryAfterMs : null;
      this.options.logger.warn({ err: error, bindingId: this.bindingId, attempt: this.failures }, 'could not store the binding state; retrying');
      return false;
    }
  }

  private lastRetryAfterMs: number | null = null;

  private backoff(): number {
    const exponential = Math.min(30_000, 250 * 2 ** this.failures);
    return Math.max(exponential, this.lastRetryAfterMs ?? 0);
  }

  private release(waiters: Array<() => void>): void {
    for (const resolve of waiters) resolve();
  }
}
