/**
 * Work run one piece at a time per key, in the order it was queued. A piece
 * that fails does not hold up the ones after it. The bridge uses it to handle
 * one place's messages and commands in order; the adapters, to hand one
 * place's messages over in the order they came although each is prepared
 * (a user's name, fetched files) on its own time.
 */
export class SerialQueues {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `work` after everything queued before it under `key`; settles as `work` does. */
  run(key: string, work: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
