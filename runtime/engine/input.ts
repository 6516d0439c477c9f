/** A message's input (text or parts, DESIGN.md §8) as model content and as plain text. */
import type { Input } from '../../shared/protocol/api.js';
import type { ContentPart } from '../providers/types.js';

/** Input → the user message content the providers take. */
export function inputToContent(input: Input): string | ContentPart[] {
  if (typeof input === 'string') return input;
  return input.map((part): ContentPart => {
    if (part.type === 'text') return { type: 'text', text: part.text };
    if (part.type === 'image') return { type: 'image', url: part.url, data: part.data, mimeType: part.mime_type };
    return { type: 'file', url: part.url, data: part.data, mimeType: part.mime_type, name: part.name };
  });
}

/** The text of an input, for titles, search and steering. */
export function inputText(input: Input): string {
  if (typeof input === 'string') return input;
  return input
    .map((p) => (p.type === 'text' ? p.text : p.type === 'image' ? '[image]' : `[file${p.name ? ` ${p.name}` : ''}]`))
    .join('\n');
}
