/**
 * Slack's shared files for the model. A file's `url_private` answers only
 * with the bot token, so no model provider can fetch it: small images are
 * fetched here and passed on as bytes; everything else stays a reference
 * (the bridge sends it as a file part with its name and URL).
 *
 * The token goes only to Slack's file host (files.slack.com) or to the host of
 * a configured API URL (GovSlack, a test server), never to a URL an event
 * names elsewhere. An image is inlined only if the answer is an image of at
 * most the remaining byte budget (the runtime's request body limit is 1 MB by
 * default, and base64 adds a third); on any failure the attachment stays as
 * it was.
 */
import type { Attachment } from '../bridge/platform.js';

export interface InlineOptions {
  token: string;
  /** Hosts the token may be sent to. */
  hosts: ReadonlySet<string>;
  /** Most bytes inlined per message, all images together. */
  budgetBytes: number;
  /** Gives up on a download after this long. */
  timeoutMs: number;
  onError?: (attachment: Attachment, reason: string) => void;
}

export const SLACK_FILE_HOST = 'files.slack.com';

export async function inlinePrivateImages(attachments: Attachment[], options: InlineOptions): Promise<Attachment[]> {
  let budget = options.budgetBytes;
  const out: Attachment[] = [];
  for (const attachment of attachments) {
    if (!attachment.private || !attachment.mimeType?.startsWith('image/') || budget <= 0) {
      out.push(attachment);
      continue;
    }
    const bytes = await download(attachment, budget, options);
    if (bytes) {
      budget -= bytes.length;
      out.push({ ...attachment, data: bytes.toString('base64') });
    } else out.push(attachment);
  }
  return out;
}

async function download(attachment: Attachment, limit: number, options: InlineOptions): Promise<Buffer | null> {
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
    if (!type.startsWith('image/')) return fail(`answered ${type || 'no content type'}, not an image`);
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > limit) {
      await response.body?.cancel();
      return fail(`${declared} bytes is over the ${limit} left to inline`);
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    return bytes.length <= limit ? bytes : fail(`${bytes.length} bytes is over the ${limit} left to inline`);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
}
