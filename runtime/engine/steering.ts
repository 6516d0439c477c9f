/**
 * Steering: text a person sends while a session runs, injected at the next
 * model-call boundary. The queue closes when the session decides to finish;
 * a steer that arrives after that is refused (the caller then starts a new
 * run with it), so a steer is never dropped.
 */
export class SteeringQueue {
  private items: string[] = [];
  private closed = false;

  /** Adds text; false when the session no longer accepts steering. */
  push(text: string): boolean {
    if (this.closed) return false;
    this.items.push(text);
    return true;
  }

  /** Takes everything queued so far. */
  drain(): string[] {
    const taken = this.items;
    this.items = [];
    return taken;
  }

  get size(): number {
    return this.items.length;
  }

  /**
   * Closes the queue if it is empty and returns true; returns false (and stays
   * open) when steering is waiting, so the session takes one more turn.
   */
  closeIfEmpty(): boolean {
    if (this.items.length > 0) return false;
    this.closed = true;
    return true;
  }
}
