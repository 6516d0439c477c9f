/**
 * Splitting a long message into chunks a chat platform accepts (Discord:
 * 2,000 characters; Slack: about 4,000), without breaking what a reader sees.
 * This file owns where a message is cut and how code blocks are repaired at a
 * cut. ./stream-splitter.ts applies the same cuts while the text is streaming.
 *
 * Lengths are UTF-16 code units (`string.length`), which is what Discord and
 * Slack count.
 *
 * Where a chunk ends (the latest candidate of the first rule that has one):
 *
 *  1. the whole rest of the text, when it fits;
 *  2. outside code blocks, at least half-way into the chunk: after a
 *     paragraph break ("\n\n"), else after a line break, else after a
 *     sentence end (". ", "! ", "? "), else after a space;
 *  3. inside a code block, at least half-way into the chunk: after a blank
 *     line, else after a line break;
 *  4. the latest paragraph, line, sentence or space break anywhere (code
 *     included), however early in the chunk;
 *  5. anywhere, preferring not to separate a character from its combining
 *     marks, skin tone or zero-width joiner (grapheme-ish);
 *  6. anywhere that does not split a surrogate pair.
 *
 * Never: between the two halves of a surrogate pair; between "\r" and "\n";
 * inside an opening or closing fence line; and never mid-line where the piece
 * before or after the cut would itself look like a fence line (e.g. cutting
 * "see ``` here" before the backticks) — that would invent a code block.
 *
 * Code blocks (see ./fences.ts): when a cut falls inside a fenced block, the
 * chunk gets a closing fence appended ("\n" if needed, then the block's
 * marker, e.g. "```"), and the next chunk starts with a copy of the block's
 * opening line (e.g. "```ts\n"). Those added characters count toward the
 * limit. An unterminated block is closed at the end of the last chunk too, so
 * every chunk has balanced fences.
 *
 * RECONSTRUCTION CONTRACT. `splitPieces` returns, per chunk,
 * `{ text, reopen, close, chunk, start }` with `chunk === reopen + text + close`:
 *
 *   - `pieces.map((p) => p.text).join('') === input`, always, exactly;
 *   - `reopen` and `close` are the only added characters; they are '' unless
 *     the piece starts or ends inside a code block (a cut inside a block, or
 *     an unterminated block at the end of the input);
 *   - so when no piece has them, `splitMessage(input).join('') === input`.
 *
 * `splitMessage` returns just the chunk strings. Every chunk is at most
 * `limit` long and non-empty; an empty input gives no chunks.
 *
 * Degraded case: when no allowed cut fits — only with pathological input,
 * such as a fence line (with its repair markers) or a run of blanks longer
 * than `limit` — the chunk is cut plainly at the limit, without repair.
 * Lengths, surrogate pairs and reconstruction still hold; fence balance may
 * not, for the chunks around it.
 */
import { findFences, type FenceBlock } from './fences.js';

/** One chunk of a split message; see the reconstruction contract above. */
export interface SplitPiece {
  /** The slice of the input this chunk carries. */
  text: string;
  /** Added before `text`: the opening fence line of the code block the chunk starts inside, or ''. */
  reopen: string;
  /** Added after `text`: "\n" if needed plus the marker closing the code block the chunk ends inside, or ''. */
  close: string;
  /** What to post: `reopen + text + close`, at most `limit` long. */
  chunk: string;
  /** Index of `text` in the input. */
  start: number;
}

/** The smallest limit accepted: room for one surrogate pair. */
export const MIN_SPLIT_LIMIT = 2;

/** Splits `text` into chunks of at most `limit` UTF-16 code units. */
export function splitMessage(text: string, limit: number): string[] {
  return splitPieces(text, limit).map((piece) => piece.chunk);
}

/** Like splitMessage, with what each chunk carries of the input and what was added. */
export function splitPieces(text: string, limit: number): SplitPiece[] {
  const splitter = new MessageSplitter(text, limit);
  const pieces: SplitPiece[] = [];
  let pos = 0;
  while (pos < text.length) {
    const piece = splitter.pieceAt(pos);
    pieces.push(piece);
    pos += piece.text.length;
  }
  return pieces;
}

export function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < MIN_SPLIT_LIMIT) {
    throw new RangeError(`limit must be an integer of at least ${MIN_SPLIT_LIMIT}, got ${limit}`);
  }
}

// Kinds of break a cut can follow, best first (higher is better).
const PARAGRAPH = 4;
const LINE = 3;
const SENTENCE = 2;
const SPACE = 1;
const NO_BREAK = 0;
const OUTSIDE_ORDER = [PARAGRAPH, LINE, SENTENCE, SPACE];
const INSIDE_ORDER = [PARAGRAPH, LINE];

/** Blanks, a run of 3+ backticks or tildes, blanks: matched at a line start (sticky; never crosses a line). */
const FENCE_RUN = /([ \t]*)(`{3,}|~{3,})[ \t]*/y;

/** A line that starts with a fence run (whether or not it opens or closes a block). */
interface FenceLikeLine {
  /** The run's character: "`" or "~". */
  char: string;
  runStart: number;
  runEnd: number;
  /** End of the blanks after the run. */
  blanksEnd: number;
  /** Index of the first backtick after the run, or the line's end. */
  infoBacktick: number;
}

/**
 * The cutting rules over one text. `pieceAt(pos)` depends only on the text up
 * to `pos + limit + 3` and on the fence lines starting before `pos + limit`;
 * the streaming splitter relies on that to know which pieces are final.
 */
export class MessageSplitter {
  private readonly blocks: FenceBlock[];
  /** For each position 0..n: the index of the block whose span (openStart, end) contains it, or -1. */
  private readonly owner: Int32Array;
  private readonly fenceLikeLines: FenceLikeLine[] = [];
  /** For each position inside a line (after its first character, up to its end): that line's index in fenceLikeLines, or -1. */
  private readonly fenceLikeLineAt: Int32Array;

  constructor(
    readonly text: string,
    readonly limit: number,
  ) {
    checkLimit(limit);
    const n = text.length;
    this.blocks = findFences(text);
    this.owner = new Int32Array(n + 1).fill(-1);
    this.blocks.forEach((block, index) => {
      const last = block.terminated ? block.end - 1 : n;
      for (let p = block.openStart + 1; p <= last; p++) this.owner[p] = index;
    });
    this.fenceLikeLineAt = new Int32Array(n + 1).fill(-1);
    let lineStart = 0;
    while (lineStart <= n) {
      const newline = text.indexOf('\n', lineStart);
      const lineEnd = newline === -1 ? n : newline;
      FENCE_RUN.lastIndex = lineStart;
      const match = FENCE_RUN.exec(text);
      if (match) {
        const runStart = lineStart + (match[1] ?? '').length;
        const runEnd = runStart + (match[2] ?? '').length;
        const backtick = text.indexOf('`', runEnd);
        this.fenceLikeLines.push({
          char: text[runStart] ?? '',
          runStart,
          runEnd,
          blanksEnd: lineStart + match[0].length,
          infoBacktick: backtick === -1 || backtick > lineEnd ? lineEnd : backtick,
        });
        for (let p = lineStart + 1; p <= lineEnd; p++) this.fenceLikeLineAt[p] = this.fenceLikeLines.length - 1;
      }
      if (newline === -1) break;
      lineStart = newline + 1;
    }
  }

  /** The piece that starts at `pos` (0, or the end of the previous piece). */
  pieceAt(pos: number): SplitPiece {
    const { text } = this;
    const reopen = this.reopenAt(pos);
    const end = this.chooseEnd(pos, reopen);
    if (end === null) {
      // Degraded: the fence repair does not fit; cut plainly.
      const plainEnd = this.plainEnd(pos);
      const slice = text.slice(pos, plainEnd);
      return { text: slice, reopen: '', close: '', chunk: slice, start: pos };
    }
    const slice = text.slice(pos, end);
    const close = this.closeAt(end);
    return { text: slice, reopen, close, chunk: reopen + slice + close, start: pos };
  }

  /** The end of the piece starting at `pos`, or null when no valid end fits. */
  private chooseEnd(pos: number, reopen: string): number | null {
    const { text, limit } = this;
    const n = text.length;
    const budget = limit - reopen.length;
    if (budget < MIN_SPLIT_LIMIT) return null;
    const fits = (p: number) => reopen.length + (p - pos) + this.closeAt(p).length <= limit;
    if (fits(n)) return n;

    const last = Math.min(n, pos + budget);
    const halfway = pos + Math.floor(budget / 2);
    const outside: (number | undefined)[] = [];
    const inside: (number | undefined)[] = [];
    let graphemeEnd: number | undefined;
    let anyEnd: number | undefined;
    for (let p = last; p > pos; p--) {
      if (!this.isValidEnd(p) || !fits(p)) continue;
      anyEnd ??= p;
      if (graphemeEnd === undefined && this.isGraphemeBoundary(p)) graphemeEnd = p;
      const kind = this.breakKind(p);
      if (kind === NO_BREAK) continue;
      const table = this.blockToClose(p) ? inside : outside;
      table[kind] ??= p;
    }

    for (const kind of OUTSIDE_ORDER) {
      const p = outside[kind];
      if (p !== undefined && p >= halfway) return p;
    }
    for (const kind of INSIDE_ORDER) {
      const p = inside[kind];
      if (p !== undefined && p >= halfway) return p;
    }
    const soft = [...outside, ...inside].filter((p): p is number => p !== undefined);
    if (soft.length > 0) return Math.max(...soft);
    return graphemeEnd ?? anyEnd ?? null;
  }

  /** A cut for the degraded case: as far as the limit allows, not inside a surrogate pair. */
  private plainEnd(pos: number): number {
    const { text } = this;
    let end = Math.min(text.length, pos + this.limit);
    if (end < text.length && splitsSurrogatePair(text, end)) end -= 1;
    return end;
  }

  /** Whether a piece may end at `p` (pos < p <= n). */
  private isValidEnd(p: number): boolean {
    const { text } = this;
    if (p === text.length) return true;
    if (splitsSurrogatePair(text, p)) return false;
    if (text[p - 1] === '\r' && text[p] === '\n') return false;
    if (this.isInFenceLine(p)) return false;
    if (text[p - 1] !== '\n') {
      // Mid-line: the line's tail starts the next chunk, so it must not
      // start like a fence line; and its head, which ends this chunk, must
      // not become an opening or closing fence line.
      const next = text[p];
      if (next === ' ' || next === '\t') return false;
      if (text.startsWith('```', p) || text.startsWith('~~~', p)) return false;
      if (this.headBecomesFenceLine(p)) return false;
    }
    return true;
  }

  /**
   * Whether the part of p's line before p would, as a line of its own, open
   * a block (outside blocks) or close the block it is in, when the whole line
   * does not: e.g. "```js" of "```js`x`", or "```" of "``` not a close".
   */
  private headBecomesFenceLine(p: number): boolean {
    const line = this.fenceLikeLines[this.fenceLikeLineAt[p] ?? -1];
    if (!line) return false;
    const headRun = Math.min(p, line.runEnd) - line.runStart;
    if (headRun < 3) return false;
    const block = this.blockAt(p); // p is valid so far: inside a block it is in the content
    if (block) return line.char === block.marker[0] && headRun >= block.marker.length && p <= line.blanksEnd;
    return line.char === '~' || p <= line.infoBacktick;
  }

  /** Inside an opening fence line (or right after it, which would leave an empty block) or a closing fence line. */
  private isInFenceLine(p: number): boolean {
    const block = this.blockAt(p);
    if (!block) return false;
    if (p <= block.contentStart) return true;
    return block.terminated && p >= block.closeStart;
  }

  /** The block a piece ending at `p` must close, if any. */
  private blockToClose(p: number): FenceBlock | null {
    const block = this.blockAt(p);
    if (!block) return null;
    if (p === this.text.length) return block.terminated ? null : block;
    return p > block.contentStart && p < block.closeStart ? block : null;
  }

  /** The opening line to repeat at the start of a piece starting at `pos`, or ''. */
  private reopenAt(pos: number): string {
    const block = this.blockAt(pos);
    if (!block) return '';
    return pos > block.contentStart && pos < block.closeStart ? block.openLine : '';
  }

  /** What to append to a piece ending at `p`: a closing fence when it ends inside a block. */
  private closeAt(p: number): string {
    const block = this.blockToClose(p);
    if (!block) return '';
    return (this.text[p - 1] === '\n' ? '' : '\n') + block.marker;
  }

  private blockAt(p: number): FenceBlock | undefined {
    const index = this.owner[p] ?? -1;
    return index === -1 ? undefined : this.blocks[index];
  }

  /** What the text just before `p` ends with. */
  private breakKind(p: number): number {
    const { text } = this;
    const before = text[p - 1];
    if (before === '\n') {
      const previous = text[p - 2];
      return previous === '\n' || (previous === '\r' && text[p - 3] === '\n') ? PARAGRAPH : LINE;
    }
    if (before === ' ' || before === '\t') {
      const previous = text[p - 2];
      return previous === '.' || previous === '!' || previous === '?' ? SENTENCE : SPACE;
    }
    return NO_BREAK;
  }

  /**
   * An approximation of a grapheme boundary that looks at most one code point
   * ahead: false before a combining mark, variation selector, skin tone, tag
   * or zero-width joiner, after a zero-width joiner, and inside a flag
   * (a pair of regional indicators).
   */
  private isGraphemeBoundary(p: number): boolean {
    const { text } = this;
    const next = text.codePointAt(p) ?? 0;
    if (isExtender(next)) return false;
    const previous = codePointBefore(text, p);
    if (previous === ZWJ) return false;
    if (isRegionalIndicator(previous) && isRegionalIndicator(next)) {
      let count = 0;
      for (let q = p; q >= 2 && isRegionalIndicator(codePointBefore(text, q)); q -= 2) count += 1;
      return count % 2 === 0;
    }
    return true;
  }
}

const ZWJ = 0x200d;
const COMBINING = /\p{M}/u;

function isExtender(cp: number): boolean {
  return (
    cp === ZWJ ||
    (cp >= 0x1f3fb && cp <= 0x1f3ff) || // skin tones
    (cp >= 0xe0020 && cp <= 0xe007f) || // tags (subdivision flags)
    COMBINING.test(String.fromCodePoint(cp)) // combining marks and variation selectors
  );
}

const isRegionalIndicator = (cp: number) => cp >= 0x1f1e6 && cp <= 0x1f1ff;

function codePointBefore(text: string, p: number): number {
  const low = text.charCodeAt(p - 1);
  if (isLowSurrogate(low) && p >= 2 && isHighSurrogate(text.charCodeAt(p - 2))) return text.codePointAt(p - 2) ?? 0;
  return low;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/** Whether cutting at `p` would separate a high surrogate from its low surrogate. */
function splitsSurrogatePair(text: string, p: number): boolean {
  return p > 0 && isHighSurrogate(text.charCodeAt(p - 1)) && isLowSurrogate(text.charCodeAt(p));
}
