/**
 * The message splitter (shared/text/split.ts) and its streaming variant
 * (shared/text/stream-splitter.ts): examples of each cutting rule, then
 * property tests over seeded pseudo-random Markdown (paragraphs, long words,
 * emoji at boundaries, code fences of every kind, unterminated fences,
 * backticks that only look like fences).
 */
import { describe, expect, it } from 'vitest';
import { splitMessage, splitPieces, type SplitPiece } from '../../shared/text/split.js';
import { StreamSplitter } from '../../shared/text/stream-splitter.js';

// ------------------------------------------------------------------ helpers

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

const WORDS = ['the', 'agent', 'runtime', 'streams', 'events', 'over', 'SSE', 'and', 'a', 'gateway', 'renders', 'them', 'café', 'naïve', 'x'];
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧', '🇺🇸', '🇫🇷🇩🇪', 'e\u0301', '𝒳', '❤️', '🧪'];
const LANGUAGES = ['', 'ts', 'python', 'c++', 'js title="a.js"', 'sh'];

function sentence(rng: Rng): string {
  const words = Array.from({ length: rng.int(3, 14) }, () => rng.pick(WORDS));
  if (rng.next() < 0.2) words.splice(rng.int(0, words.length), 0, rng.pick(EMOJI));
  if (rng.next() < 0.1) words.splice(rng.int(0, words.length), 0, '`inline`');
  return words.join(' ') + rng.pick(['.', '!', '?', '.', ':']);
}

const paragraph = (rng: Rng) => Array.from({ length: rng.int(1, 8) }, () => sentence(rng)).join(' ');

/** A word far longer than any line: no space to cut at. */
const longWord = (rng: Rng) => Array.from({ length: rng.int(40, 900) }, () => rng.pick(['a', 'b', '0', '/', '-', '_'])).join('');

const emojiRun = (rng: Rng) => Array.from({ length: rng.int(1, 300) }, () => rng.pick(EMOJI)).join(rng.next() < 0.5 ? '' : ' ');

/** Lines that look like fences but are not (or are, inside another fence kind). */
function trickyLine(rng: Rng): string {
  return rng.pick([
    'use ``` to start a block and ~~~ too',
    '```js```',
    'a line ending in ```',
    '``not a fence``',
    '`` ` ``',
    '~~ almost',
    'inline ```code``` here',
  ]);
}

function codeBlock(rng: Rng, terminated: boolean): string {
  const marker = rng.pick(['```', '```', '~~~', '````', '~~~~']);
  const indent = rng.pick(['', '', '  ', '   ']);
  const lines: string[] = [];
  for (let i = rng.int(0, 40); i > 0; i--) {
    const kind = rng.next();
    if (kind < 0.6) lines.push(`${' '.repeat(rng.int(0, 8))}${sentence(rng).replace(/[.!?:]$/, ';')}`);
    else if (kind < 0.7) lines.push('');
    else if (kind < 0.8) lines.push(marker.startsWith('`') ? '~~~' : '```'); // the other kind: content
    else if (kind < 0.85 && marker.length > 3) lines.push(marker.slice(0, 3)); // shorter run: content
    else if (kind < 0.9) lines.push(`${marker}python`); // a run with info: never a closing line
    else if (kind < 0.95) lines.push(rng.pick(EMOJI).repeat(rng.int(1, 30)));
    else lines.push(longWord(rng).slice(0, 150));
  }
  const open = `${indent}${marker}${rng.pick(LANGUAGES)}`;
  const close = terminated ? [`${indent}${marker}${rng.next() < 0.2 ? '  ' : ''}`] : [];
  return [open, ...lines, ...close].join('\n');
}

/** A pseudo-random Markdown answer. */
function markdown(rng: Rng): string {
  const parts: string[] = [];
  for (let i = rng.int(1, 14); i > 0; i--) {
    const kind = rng.next();
    if (kind < 0.35) parts.push(paragraph(rng));
    else if (kind < 0.45) parts.push(longWord(rng));
    else if (kind < 0.55) parts.push(emojiRun(rng));
    else if (kind < 0.65) parts.push(trickyLine(rng));
    else parts.push(codeBlock(rng, true));
    // A block's closing line ends at a line break ("``` more text" would be a new opening line).
    const afterBlock = kind >= 0.65;
    parts.push(rng.pick(afterBlock ? ['\n', '\n\n'] : ['\n\n', '\n\n', '\n', ' ', '\n\n\n', '\r\n']));
  }
  let text = parts.join('');
  if (rng.next() < 0.2) text += `\n${codeBlock(rng, false)}`; // unterminated at the end
  if (rng.next() < 0.1) text = text.replace(/\n/g, '\r\n');
  return text;
}

/**
 * An independent fence checker (the rules of ./fences.ts, written again):
 * true when the chunk leaves a code block open.
 */
function leavesFenceOpen(chunk: string): boolean {
  let open: { char: string; length: number } | null = null;
  for (const raw of chunk.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const match = /^[ \t]*(`{3,}|~{3,})(.*)$/.exec(line);
    if (!match) continue;
    const run = match[1] ?? '';
    const rest = match[2] ?? '';
    if (open === null) {
      if (run.startsWith('`') && rest.includes('`')) continue;
      open = { char: run[0] ?? '', length: run.length };
    } else if (run[0] === open.char && run.length >= open.length && /^[ \t]*$/.test(rest)) {
      open = null;
    }
  }
  return open !== null;
}

const isHigh = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/**
 * Every property a split must have; returns the pieces. (Checked in plain
 * code and asserted once: thousands of expect() calls per input are slow.)
 */
function checkSplit(text: string, limit: number, options: { balanced: boolean }): SplitPiece[] {
  const pieces = splitPieces(text, limit);
  const problems: string[] = [];
  const problem = (i: number, what: string) => problems.push(`limit ${limit}, chunk ${i}/${pieces.length}: ${what}`);
  if (pieces.map((p) => p.text).join('') !== text) problems.push(`limit ${limit}: the pieces do not reconstruct the input`);
  let start = 0;
  pieces.forEach((piece, i) => {
    if (piece.chunk !== piece.reopen + piece.text + piece.close) problem(i, 'chunk is not reopen + text + close');
    if (piece.start !== start) problem(i, `start ${piece.start}, expected ${start}`);
    start += piece.text.length;
    if (piece.text.length === 0) problem(i, 'empty');
    if (piece.chunk.length > limit) problem(i, `${piece.chunk.length} characters`);
    for (const part of [piece.chunk, piece.text]) {
      if (isHigh(part.charCodeAt(part.length - 1))) problem(i, 'ends with a lone high surrogate');
      if (isLow(part.charCodeAt(0))) problem(i, 'starts with a lone low surrogate');
    }
    if (options.balanced && leavesFenceOpen(piece.chunk)) problem(i, `unbalanced fences: ${JSON.stringify(piece.chunk)}`);
  });
  if (splitMessage(text, limit).join('\u0000') !== pieces.map((p) => p.chunk).join('\u0000')) problems.push('splitMessage differs');
  expect(problems, `input ${JSON.stringify(text.slice(0, 2000))}`).toEqual([]);
  return pieces;
}

// ------------------------------------------------------------------ examples

describe('splitMessage: examples', () => {
  it('returns short text as one chunk, and nothing for empty text', () => {
    expect(splitMessage('hello', 2000)).toEqual(['hello']);
    expect(splitMessage('x'.repeat(2000), 2000)).toEqual(['x'.repeat(2000)]);
    expect(splitMessage('', 2000)).toEqual([]);
  });

  it('rejects limits that cannot hold a surrogate pair', () => {
    expect(() => splitMessage('abc', 1)).toThrow(RangeError);
    expect(() => splitMessage('abc', 2.5)).toThrow(RangeError);
  });

  it('prefers a paragraph break, then a line break, then a sentence end, then a space', () => {
    const para = `${'a'.repeat(60)}\n\n${'b '.repeat(10)}c\nd. e ${'f'.repeat(50)}`;
    expect(splitMessage(para, 80)[0]).toBe(`${'a'.repeat(60)}\n\n`);
    const line = `${'a'.repeat(60)}\n${'b'.repeat(5)}. ${'c'.repeat(5)} ${'d'.repeat(50)}`;
    expect(splitMessage(line, 80)[0]).toBe(`${'a'.repeat(60)}\n`);
    const sentenceEnd = `${'a '.repeat(30)}end. ${'b'.repeat(5)} ${'c'.repeat(50)}`;
    expect(splitMessage(sentenceEnd, 80)[0]).toBe(`${'a '.repeat(30)}end. `);
    const space = `${'a'.repeat(50)} ${'b'.repeat(50)}`;
    expect(splitMessage(space, 80)).toEqual([`${'a'.repeat(50)} `, 'b'.repeat(50)]);
  });

  it('does not cut at an early paragraph break when a later line break fills the chunk', () => {
    const text = `intro\n\n${'word '.repeat(14)}\n${'x'.repeat(60)}`;
    expect(splitMessage(text, 100)[0]).toBe(`intro\n\n${'word '.repeat(14)}\n`);
  });

  it('cuts a word longer than the limit hard, and never inside a surrogate pair', () => {
    expect(splitMessage('x'.repeat(250), 100)).toEqual(['x'.repeat(100), 'x'.repeat(100), 'x'.repeat(50)]);
    const chunks = splitMessage(`${'a'.repeat(99)}😀${'b'.repeat(10)}`, 100);
    expect(chunks).toEqual(['a'.repeat(99), `😀${'b'.repeat(10)}`]);
  });

  it('keeps a flag, a skin tone and a zero-width-joined family together when it can', () => {
    for (const emoji of ['🇺🇸', '👍🏽', '👨‍👩‍👧', 'e\u0301']) {
      const chunks = splitMessage(`${'a'.repeat(99)}${emoji}${'b'.repeat(10)}`, 100);
      expect(chunks[0]).toBe('a'.repeat(99));
    }
  });

  it('closes a code block at the cut and reopens it with its language', () => {
    const code = Array.from({ length: 30 }, (_, i) => `print(${i})`).join('\n');
    const text = `Here:\n\n\`\`\`python\n${code}\n\`\`\`\n\nDone.`;
    const pieces = checkSplit(text, 120, { balanced: true });
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces[0]?.close).toMatch(/^\n?```$/);
    expect(pieces[1]?.reopen).toBe('```python\n');
    expect(pieces[1]?.chunk.startsWith('```python\nprint(')).toBe(true);
    expect(pieces.at(-1)?.chunk.endsWith('```\n\nDone.')).toBe(true);
  });

  it('repairs ~~~ and longer fences with their own marker', () => {
    const text = `~~~~sh\n${'echo hi\n'.repeat(30)}~~~~\n`;
    const pieces = checkSplit(text, 100, { balanced: true });
    expect(pieces[0]?.close).toBe('~~~~');
    expect(pieces[1]?.reopen).toBe('~~~~sh\n');
  });

  it('closes an unterminated code block at the end of the last chunk', () => {
    const pieces = checkSplit('Look:\n```js\nlet a = 1;', 2000, { balanced: true });
    expect(pieces.map((p) => p.chunk)).toEqual(['Look:\n```js\nlet a = 1;\n```']);
    expect(splitMessage('```js', 2000)).toEqual(['```js\n```']);
  });

  it('does not cut before inline backticks, which would start a code block in the next chunk', () => {
    const text = `${'word '.repeat(15)}\`\`\`not-a-fence`;
    const chunks = splitMessage(text, 80);
    for (const chunk of chunks) expect(leavesFenceOpen(chunk)).toBe(false);
    expect(chunks.join('')).toBe(text);
  });

  it('splits a 5,000-character answer with a code block into balanced chunks under 2,000', () => {
    const rng = prng(5000);
    const prose = () => Array.from({ length: 6 }, () => paragraph(rng)).join('\n\n');
    const code = Array.from({ length: 60 }, (_, i) => `    const value${i} = await fetchThing(${i}); // step ${i}`).join('\n');
    let text = `${prose()}\n\n\`\`\`typescript\n${code}\n\`\`\`\n\n${prose()}`;
    while (text.length < 5000) text += `\n\n${paragraph(rng)}`;
    const pieces = checkSplit(text, 2000, { balanced: true });
    expect(text.length).toBeGreaterThanOrEqual(5000);
    expect(pieces.length).toBeGreaterThanOrEqual(3);
    for (const piece of pieces) expect(piece.chunk.length).toBeLessThan(2000 + 1);
    expect(pieces.some((p) => p.reopen === '```typescript\n')).toBe(true);
  });
});

// ------------------------------------------------------------------ properties

describe('splitMessage: properties over generated Markdown', () => {
  const LIMITS = [60, 80, 137, 200, 500, 2000, 4000];

  it('keeps every invariant for 600 generated answers', () => {
    const rng = prng(20240611);
    let fenced = 0;
    for (let i = 0; i < 600; i++) {
      const text = markdown(rng);
      const limit = rng.pick(LIMITS);
      const pieces = checkSplit(text, limit, { balanced: true });
      if (pieces.some((p) => p.reopen !== '')) fenced += 1;
    }
    expect(fenced).toBeGreaterThan(50); // the generator really cuts inside code blocks
  });

  it('places surrogate pairs on every possible boundary', () => {
    for (let limit = 2; limit <= 12; limit++) {
      for (let offset = 0; offset < limit; offset++) {
        checkSplit(`${'a'.repeat(offset)}${'😀'.repeat(limit)}b🇺🇸c`, limit, { balanced: false });
      }
    }
  });

  it('keeps lengths and reconstruction for tiny limits and pathological fences', () => {
    const rng = prng(7);
    const odd = [
      `\`\`\`${'x'.repeat(500)}\ncode\n\`\`\``, // an opening line longer than the limit
      `~~~\n${'y'.repeat(300)}\n${'~'.repeat(400)}`, // a closing line longer than the limit
      ' '.repeat(500),
      '```\n```\n```\n```',
      '\r\n'.repeat(100),
    ];
    for (let i = 0; i < 300; i++) {
      const text = i < odd.length ? (odd[i] as string) : markdown(rng);
      checkSplit(text, rng.int(2, 40), { balanced: false });
    }
  });

  it('fills chunks of plain prose at least half-way', () => {
    const rng = prng(99);
    for (let i = 0; i < 100; i++) {
      const text = Array.from({ length: 20 }, () => paragraph(rng)).join(rng.pick(['\n\n', '\n', ' ']));
      const limit = rng.pick([200, 500, 2000]);
      const chunks = splitMessage(text, limit);
      chunks.slice(0, -1).forEach((chunk) => expect(chunk.length).toBeGreaterThanOrEqual(limit / 2));
    }
  });
});

// ------------------------------------------------------------------ streaming

describe('StreamSplitter', () => {
  const texts = (piece: readonly SplitPiece[]) => piece.map((p) => p.chunk);

  it('freezes pieces that equal the final split, and always agrees with splitPieces', () => {
    const rng = prng(424242);
    for (let i = 0; i < 60; i++) {
      const text = markdown(rng) + markdown(rng);
      const limit = rng.pick([60, 100, 300, 2000]);
      const final = splitPieces(text, limit);
      const stream = new StreamSplitter(limit);
      let fed = 0;
      let frozenBefore = 0;
      const problems: string[] = [];
      while (fed < text.length) {
        fed = Math.min(text.length, fed + rng.pick([1, 2, 3, 7, 20, 64, 400]));
        // Never end a feed between the halves of a surrogate pair (a real stream never does).
        if (isLow(text.charCodeAt(fed)) && fed < text.length) fed += 1;
        const snap = stream.update(text.slice(0, fed));
        const now = texts([...snap.frozen, ...snap.live]).join('\u0000');
        if (now !== texts(splitPieces(text.slice(0, fed), limit)).join('\u0000')) problems.push(`${fed}: differs from splitPieces`);
        if (snap.frozen.length - snap.newlyFrozen !== frozenBefore) problems.push(`${fed}: newlyFrozen is wrong`);
        // Only the new ones need checking: the older ones are the same objects as before.
        snap.frozen.slice(frozenBefore).forEach((piece, k) => {
          const expected = final[frozenBefore + k];
          if (piece.chunk !== expected?.chunk || piece.start !== expected.start) problems.push(`${fed}: frozen piece ${frozenBefore + k} is not final`);
        });
        frozenBefore = snap.frozen.length;
      }
      expect(problems, `limit ${limit}, input ${JSON.stringify(text.slice(0, 500))}`).toEqual([]);
      const done = stream.finish();
      expect(done.live).toEqual([]);
      expect(done.done).toBe(true);
      expect(done.frozen).toEqual(final);
    }
  });

  it('finalizes message 1 while message 2 is still being written', () => {
    const stream = new StreamSplitter(100);
    let snap = stream.append('word '.repeat(19)); // 95 characters: one live piece
    expect(snap.frozen).toEqual([]);
    expect(snap.live.map((p) => p.chunk)).toEqual(['word '.repeat(19)]);
    snap = stream.append('more ');
    expect(snap.frozen).toEqual([]); // 100 characters: not far enough to be sure of the cut
    snap = stream.append('tail '.repeat(20));
    expect(snap.frozen.map((p) => p.chunk)).toEqual(['word '.repeat(19) + 'more ']);
    expect(snap.newlyFrozen).toBe(1);
    expect(snap.live.length).toBeGreaterThan(0);
  });

  it('waits for an unfinished line that may become a fence', () => {
    const stream = new StreamSplitter(50);
    // The last line starts within reach of the first piece and may still open a block.
    let snap = stream.update(`${'a '.repeat(20)}\n\`\``);
    snap = stream.append('`typescript and more info');
    expect(stream.text.length).toBeGreaterThan(50 + 3);
    expect(snap.frozen).toEqual([]);
    snap = stream.append('\nconst x = 1;\n');
    expect(snap.frozen.length).toBe(1);
  });

  it('rejects text that does not extend the previous text, and updates after finish', () => {
    const stream = new StreamSplitter(100);
    stream.update('hello');
    expect(() => stream.update('help')).toThrow(/must start with/);
    stream.finish();
    expect(() => stream.append('!')).toThrow(/after finish/);
  });
});
