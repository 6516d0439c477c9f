/**
 * Fenced code blocks in Markdown text, as the message splitter (./split.ts)
 * sees them. This file owns the one definition of a fence used by the
 * splitter and the streaming splitter.
 *
 * The rules (CommonMark's, except that any indentation is accepted, because
 * chat platforms render indented fences inside lists too):
 *
 * - An opening fence is a line whose first non-blank characters are three or
 *   more backticks or three or more tildes, optionally followed by an info
 *   string (the language). A backtick fence's info string may not contain a
 *   backtick, so "```js```" on one line is not a fence.
 * - The block ends at the first later line made only of the same character,
 *   at least as many of them, and blanks. Inside a ``` block, a "~~~" line or a
 *   "```python" line is content.
 * - A block with no closing line runs to the end of the text (unterminated).
 *
 * Lines end at "\n"; a "\r" before it is ignored when classifying the line.
 */

/** One fenced code block, by positions (UTF-16 indices) in the text. */
export interface FenceBlock {
  /** Index of the opening line's first character. */
  openStart: number;
  /** Index just after the opening line's "\n" (the text length when the opening line is the last line). */
  contentStart: number;
  /** Index of the closing line's first character; the text length when unterminated. */
  closeStart: number;
  /** Index just after the closing line (after its "\n" when it has one); the text length when unterminated. */
  end: number;
  terminated: boolean;
  /** The opening line including its line break ("\n" is added when the text ended on that line). */
  openLine: string;
  /** The fence run that opened the block, e.g. "```" or "~~~~"; a closing line needs at least this. */
  marker: string;
}

/** Matches the start of a line that begins a fence run: blanks, then 3+ backticks or 3+ tildes. */
export const FENCE_RUN_AT_LINE_START = /^[ \t]*(`{3,}|~{3,})/;

const OPENING_LINE = /^[ \t]*(`{3,}|~{3,})(.*)$/;
const CLOSING_LINE = /^[ \t]*(`{3,}|~{3,})[ \t]*$/;

/** The marker of the fence a line opens, or null when the line opens none. `line` excludes its line break. */
export function openingMarker(line: string): string | null {
  const match = OPENING_LINE.exec(withoutCR(line));
  if (!match) return null;
  const marker = match[1] ?? '';
  const info = match[2] ?? '';
  if (marker.startsWith('`') && info.includes('`')) return null;
  return marker;
}

/** Whether `line` (without its line break) closes a block opened with `marker`. */
export function closesFence(line: string, marker: string): boolean {
  const match = CLOSING_LINE.exec(withoutCR(line));
  if (!match) return false;
  const run = match[1] ?? '';
  return run[0] === marker[0] && run.length >= marker.length;
}

/** Every fenced code block of `text`, in order. */
export function findFences(text: string): FenceBlock[] {
  const blocks: FenceBlock[] = [];
  let open: { openStart: number; contentStart: number; openLine: string; marker: string } | null = null;
  let lineStart = 0;
  for (;;) {
    const newline = text.indexOf('\n', lineStart);
    const lineEnd = newline === -1 ? text.length : newline;
    const next = newline === -1 ? text.length : newline + 1;
    const line = text.slice(lineStart, lineEnd);
    if (open === null) {
      const marker = openingMarker(line);
      if (marker !== null) {
        const openLine = newline === -1 ? `${line}\n` : text.slice(lineStart, next);
        open = { openStart: lineStart, contentStart: next, openLine, marker };
      }
    } else if (closesFence(line, open.marker)) {
      blocks.push({ ...open, closeStart: lineStart, end: next, terminated: true });
      open = null;
    }
    if (newline === -1) break;
    lineStart = next;
  }
  if (open !== null) blocks.push({ ...open, closeStart: text.length, end: text.length, terminated: false });
  return blocks;
}

/**
 * Whether an unfinished last line could still turn out to be a fence line
 * once more characters arrive: it is blanks and at most a partial fence run
 * (e.g. "", "  ", "``"), or it already starts with a fence run (whether it
 * opens or closes depends on the rest of the line).
 */
export function mayBecomeFenceLine(partialLine: string): boolean {
  return /^[ \t]*(`*|~*)$/.test(partialLine) || FENCE_RUN_AT_LINE_START.test(partialLine);
}

function withoutCR(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
