/**
 * Helpers for the byte-carrying content parts of a request (images and files
 * given as base64 or as a `data:` URL), shared by the provider adapters.
 */
import { isTextMimeType } from '../../shared/protocol/media.js';
import type { ContentPart } from './types.js';

/** The base64 payload and MIME type of `data`, which is plain base64 or a `data:` URL. */
export function splitData(data: string, mimeType: string | undefined): { base64: string; mimeType: string | undefined } {
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(data);
  return match ? { base64: match[2] ?? '', mimeType: match[1] } : { base64: data, mimeType };
}

/** The text of a file part that carries a text file's bytes (read as UTF-8); null for any other part. */
export function fileText(part: ContentPart): string | null {
  if (part.type !== 'file' || !part.data) return null;
  const { base64, mimeType } = splitData(part.data, part.mimeType);
  return isTextMimeType(mimeType) ? Buffer.from(base64, 'base64').toString('utf8') : null;
}

/** A file given by URL, as a line of text: for a model that cannot fetch it, at least its name and where it is. */
export function fileReference(url: string, name: string | undefined): string {
  return `[file${name ? ` ${name}` : ''}: ${url}]`;
}

/** A file given as bytes the provider cannot take, as a line of text: the model at least learns it was there. */
export function fileLeftOut(name: string | undefined, mimeType: string | undefined): string {
  return `[file ${name ?? ''} of type ${mimeType ?? 'unknown'} left out: not supported]`;
}

/** Whether a file part is a PDF: by its MIME type, or without one by its name or URL path. */
export function isPdf(part: { mimeType?: string; name?: string; url?: string }): boolean {
  const type = part.mimeType?.split(';')[0]?.trim().toLowerCase();
  if (type) return type === 'application/pdf';
  return /\.pdf$/i.test(part.name ?? '') || /\.pdf(?:[?#]|$)/i.test(part.url ?? '');
}
