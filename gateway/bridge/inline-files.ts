/**
 * Fetches shared files whose URL a model provider cannot use, so they reach
 * the model as bytes. Which ones is the adapter's call:
 *  - Slack: a file's `url_private` answers only with the bot token, so images
 *    and text files (snippets, code, notes) are fetched with it;
 *  - Discord: attachment URLs are public, and providers fetch images from
 *    them, but no model reads a text file from a URL (Chat Completions fetches
 *    nothing), so text attachments are fetched; Discord turns a long pasted
 *    message into one (message.txt).
 * Everything else stays a reference (the bridge sends it as a file part with
 * its name and URL).
 *
 * Downloads go only to the hosts the adapter names (with its headers: a token
 * never goes to a URL an event names elsewhere). A file is inlined only if
 * the answer is of its kind (an image for an image, UTF-8 text for a text
 * file) and of at most the remaining byte budget (the runtime's request body
 * limit is 1 MB by default, and base64 adds a third); on any failure the
 * attachment stays as it was.
 */
import { isTextMimeType } from '../../shared/protocol/media.js';
import type { Attachment } from './platform.js';

export type FileKind = 'image' | 'text';

/** The default budget per message: 700 kB is 933 kB of base64, within the runtime's default 1 MB request body. */
export const INLINE_BUDGET_BYTES = 700_000;

export interface InlineOptions {
  /** Hosts downloads may go to. */
  hosts: ReadonlySet<string>;
  /** The kinds of file fetched. */
  kinds: ReadonlySet<FileKind>;
  /** Sent with every download (e.g. Slack's bot token). */
  headers?: Record<string, string>;
  /** Most bytes inlined per message, all files together. */
  budgetBytes: number;
  /** Gives up on a download after this long. */
  timeoutMs: number;
  onError?: (attachment: Attachment, reason: string) => void;
}

/** What a shared file is, for inlining: an image, a text file, or neither. */
function kindOf(mimeType: string | undefined | null): FileKind | null {
  if (mimeType?.startsWith('image/')) return 'image';
  return isTextMimeType(mimeType) ? 'text' : null;
}

/**
 * Whether an answer is the file asked for, by its content type. A sign-in
 * page (Slack's, when it refuses the token) is HTML, so an HTML answer counts
 * only for an HTML file; a text file may also come as
 * application/octet-stream (checked as UTF-8 after the download).
 */
function answerFits(kind: FileKind, fileType: string | undefined, answerType: string): boolean {
  const base = (type: string | undefined) => type?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (kind === 'image') return base(answerType).startsWith('image/');
  if (base(answerType) === 'text/html') return base(fileType) === 'text/html';
  return isTextMimeType(answerType) || base(answerType) === 'application/octet-stream';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The attachments, in order, with the bytes (`data`, base64) of those fetched. */
export async function inlineFiles(attachments: Attachment[], options: InlineOptions): Promise<Attachment[]> {
  let budget = options.budgetBytes;
  const out: Attachment[] = [];
  for (const attachment of attachments) {
    const kind = kindOf(attachment.mimeType);
    if (!kind || !options.kinds.has(kind) || attachment.data || budget <= 0) {
      out.push(attachment);
      continue;
    }
    const bytes = await download(attachment, kind, budget, options);
    if (bytes) {
      budget -= bytes.length;
      out.push({ ...attachment, data: bytes.toString('base64') });
    } else out.push(attachment);
  }
  return out;
}

async function download(attachment: Attachment, kind: FileKind, limit: number, options: InlineOptions): Promise<Buffer | null> {
  const fail = (reason: string) => {
    options.onError?.(attachment, reason);
    return null;
  };
  let url: URL;
  try {
    url = new URL(attachment.url);
  } catch {
    return fail('not a URL');
  }
  if (!options.hosts.has(url.host)) return fail(`${url.host} is not a host files are fetched from`);
  try {
    const response = await fetch(url, {
      headers: options.headers ?? {},
      // A redirect means "sign in" (Slack refused the token), not the file.
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    if (response.status !== 200) return fail(`answered ${response.status}`);
    const type = response.headers.get('content-type') ?? '';
    if (!answerFits(kind, attachment.mimeType, type)) return fail(`answered ${type || 'no content type'}, not ${kind === 'image' ? 'an image' : 'text'}`);
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > limit) {
      await response.body?.cancel();
      return fail(`${declared} bytes is over the ${limit} left to inline`);
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    if (bytes.length > limit) return fail(`${bytes.length} bytes is over the ${limit} left to inline`);
    if (kind === 'text') {
      try {
        utf8.decode(bytes);
      } catch {
        return fail('the text is not UTF-8');
      }
    }
    return bytes;
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
}
