/**
 * The message splitter for streaming renderers: the text of an answer grows
 * token by token, and a renderer shows it as a series of chat messages of at
 * most `limit` characters. This file owns deciding which chunks are final.
 *
 * CONTRACT
 *
 * - Feed the whole text so far with `update(text)` (each text must start with
 *   the previous one) or the new part with `append(delta)`; call `finish()`
 *   when the answer is complete. Each call returns a snapshot
 *   `{ frozen, live, newlyFrozen, done }`.
 * - `frozen` pieces are final: once a piece is frozen it never changes, is
 *   never removed, and is exactly the piece `splitPieces` (./split.ts) gives
 *   for the complete text, whatever text arrives later. Post it and stop
 *   editing it. The last `newlyFrozen` entries of `frozen` became frozen in
 *   this call.
 * - `live` pieces are the rest of the text as it would be split now (usually
 *   one piece; none when everything is frozen). Render them as messages you
 *   keep editing; they may change, shrink or merge on the next call.
 * - At every call `[...frozen, ...live]` equals `splitPieces(text, limit)`, so
 *   chunk i of a snapshot always belongs in message i, and the reconstruction
 *   contract of ./split.ts holds for the pieces (joining their `text` gives
 *   the text so far).
 * - After `finish()`, everything is frozen and `live` is empty.
 *
 * When a piece becomes frozen: the split rules for a piece starting at `pos`
 * look at the text up to `pos + limit + 3` and at the fence lines starting
 * before `pos + limit`. So a piece is frozen once the text reaches that far
 * and no unfinished last line starting within that range could still become
 * a fence line (one starting with blanks and backticks or tildes; it is
 * decided at its line break). In practice message i is final about one
 * message-length after it started.
 *
 * Cost: each call scans the whole text once (about 1 ms per 10,000
 * characters), so call it at the renderer's edit rate rather than per token
 * if answers get very long.
 */
import { mayBecomeFenceLine } from './fences.js';
import { checkLimit, MessageSplitter, type SplitPiece } from './split.js';

/** How far past a window the split rules read (the next code point and a "```" check). */
const LOOKAHEAD = 3;

export interface StreamSnapshot {
  /** Every frozen piece so far, in order. */
  frozen: readonly SplitPiece[];
  /** The pieces after the frozen ones, as the text stands now. */
  live: readonly SplitPiece[];
  /** How many of `frozen` (its last entries) became frozen in this call. */
  newlyFrozen: number;
  /** True after finish(). */
  done: boolean;
}

export class StreamSplitter {
  private current = '';
  private readonly frozen: SplitPiece[] = [];
  /** Where the text of the first non-frozen piece starts. */
  private frozenEnd = 0;
  private done = false;

  constructor(readonly limit: number) {
    checkLimit(limit);
  }

  /** The text fed so far. */
  get text(): string {
    return this.current;
  }

  /** Replaces the text with a longer version of it. */
  update(text: string): StreamSnapshot {
    if (this.done) throw new Error('StreamSplitter: update after finish()');
    if (!text.startsWith(this.current)) throw new Error('StreamSplitter: the new text must start with the previous text');
    this.current = text;
    return this.split();
  }

  append(delta: string): StreamSnapshot {
    return this.update(this.current + delta);
  }

  /** The text is complete (optionally give its final version): freezes every piece. */
  finish(text?: string): StreamSnapshot {
    if (text !== undefined) this.update(text);
    this.done = true;
    return this.split();
  }

  private split(): StreamSnapshot {
    const splitter = new MessageSplitter(this.current, this.limit);
    const before = this.frozen.length;
    const live: SplitPiece[] = [];
    let pos = this.frozenEnd;
    while (pos < this.current.length) {
      const piece = splitter.pieceAt(pos);
      if (live.length === 0 && (this.done || this.isSettled(pos))) {
        this.frozen.push(piece);
        this.frozenEnd = pos + piece.text.length;
      } else {
        live.push(piece);
      }
      pos += piece.text.length;
    }
    return { frozen: [...this.frozen], live, newlyFrozen: this.frozen.length - before, done: this.done };
  }

  /** Whether the piece starting at `pos` can no longer change (see the header). */
  private isSettled(pos: number): boolean {
    const text = this.current;
    const reach = pos + this.limit;
    if (text.length < reach + LOOKAHEAD) return false;
    const lastLineStart = text.lastIndexOf('\n') + 1;
    return !(lastLineStart <= reach && mayBecomeFenceLine(text.slice(lastLineStart)));
  }
}
