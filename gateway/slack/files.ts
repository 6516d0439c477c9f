/**
 * Slack's shared files for the model. A file's `url_private` answers only
 * with the bot token, so no model provider can fetch it: small images and
 * text files (snippets, code, notes) are fetched here and passed on as bytes;
 * everything else stays a reference (the bridge sends it as a file part with
 * its name and URL).
 *
 * The token goes only to Slack's file host (files.slack.com) or to the host of
 * a configured API URL (GovSlack, a test server), never to a URL an event
 * names elsewhere. A file is inlined only if the answer is of its kind (an
 * image for an image, text for a text file) and of at most the remaining byte
 * budget (the runtime's request body limit is 1 MB by default, and base64
 * adds a third); on any failure the attachment stays as it was.
 */
import { isTextMimeType } from '../../shared/protocol/media.js';
import type { Attachment } from '../bridge/platform.js';

export interface InlineOptions {
  token: string;
  /** Hosts the token may be sent to. */
  hosts: ReadonlySet<string>;
  /** Most bytes inlined per message, all files together. */
  budgetBytes: number;
  /** Gives up on a download after this long. */
  timeoutMs: number;
  onError?: (attachment: Attachment, reason: string) => void;
}

export const SLACK_FILE_HOST = 'files.slack.com';

type Kind = 'image' | 'text';

/** What a shared file is, for inlining: an image, a text file, or neither. */
function kindOf(mimeType: string | undefined | null): Kind | null {
  if (mimeType?.startsWith('image/')) return 'image';
  return isTextMimeType(mimeType) ? 'text' : null;
}

/**
 * Whether Slack's answer is the file asked for, by its content type. Slack's
 * sign-in page is HTML, so an HTML answer counts only for an HTML file; a
 * text file may also come as application/octet-stream (checked as UTF-8
 * after the download).
 */
function answerFits(kind: Kind, fileType: string | undefined, answerType: string): boolean {
  const base = (type: string | undefined) => type?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (kind === 'image') return base(answerType).startsWith('image/');
  if (base(answerType) === 'text/html') return base(fileType) === 'text/html';
  return isTextMimeType(answerType) || base(answerType) === 'application/octet-stream';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function inlinePrivateFiles(attachments: Attachment[], options: InlineOptions): Promise<Attachment[]> {
  let budget = options.budgetBytes;
  const out: Attachment[] = [];
  for (const attachment of attachments) {
    const kind = kindOf(attachment.mimeType);
    if (!attachment.private || !kind || budget <= 0) {
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

async function download(attachment: Attachment, kind: Kind, limit: number, options: InlineOptions): Promise<Buffer | null> {
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
  if (!options.hosts.has(url.host)) return fail(`${url.host} is not a Slack file host`);
  try {
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${options.token}` },
      // A redirect means "sign in" (the token was refused), not the file.
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
