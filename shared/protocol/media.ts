/**
 * Which input files are text: notes, source code, JSON, YAML, CSV… Their
 * bytes reach a model as text in the prompt, whatever its provider accepts as
 * file attachments. Used by the runtime's provider adapters and by the
 * gateway, which fetches such files from Slack and Discord for the model.
 */

/** Text formats that are registered under `application/`. */
const TEXT_APPLICATION_TYPES = new Set([
  'application/json',
  'application/x-ndjson',
  'application/xml',
  'application/yaml',
  'application/x-yaml',
  'application/toml',
  'application/javascript',
  'application/x-javascript',
  'application/typescript',
  'application/x-typescript',
  'application/x-sh',
  'application/x-shellscript',
  'application/sql',
  'application/graphql',
  'application/csv',
]);

/** True for a MIME type (parameters allowed: `text/plain; charset=utf-8`) whose content is text. */
export function isTextMimeType(mimeType: string | null | undefined): boolean {
  const type = mimeType?.split(';')[0]?.trim().toLowerCase();
  if (!type) return false;
  return type.startsWith('text/') || TEXT_APPLICATION_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml');
}
