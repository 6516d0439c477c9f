/**
 * Markdown → safe HTML for messages: marked (GFM), highlight.js for fenced
 * code (a fixed set of common languages, to keep the bundle small), and
 * DOMPurify over the result — model output is untrusted, so raw HTML in it
 * is sanitised (no scripts, event handlers or javascript: URLs). Links open
 * in a new tab without a referrer. Code blocks get a Copy button (handled by
 * a delegated click listener in <Markdown>).
 */
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import dockerfile from 'highlight.js/lib/languages/dockerfile';
import go from 'highlight.js/lib/languages/go';
import ini from 'highlight.js/lib/languages/ini';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { Marked, type Tokens } from 'marked';

const languages = { bash, c, cpp, css, diff, dockerfile, go, ini, java, javascript, json, markdown, python, rust, shell, sql, typescript, xml, yaml };
for (const [name, language] of Object.entries(languages)) hljs.registerLanguage(name, language);
hljs.registerAliases(['sh', 'zsh', 'console'], { languageName: 'bash' });
hljs.registerAliases(['js', 'jsx', 'mjs', 'cjs'], { languageName: 'javascript' });
hljs.registerAliases(['ts', 'tsx'], { languageName: 'typescript' });
hljs.registerAliases(['py'], { languageName: 'python' });
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });
hljs.registerAliases(['yml'], { languageName: 'yaml' });
hljs.registerAliases(['rs'], { languageName: 'rust' });
hljs.registerAliases(['toml'], { languageName: 'ini' });

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Highlighted HTML for a code text (escaped plain text when the language is unknown). */
export function highlight(code: string, language?: string): string {
  const lang = (language ?? '').trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  if (lang && hljs.getLanguage(lang)) {
    try {
      return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
    } catch {
      /* fall through to plain */
    }
  }
  return escapeHtml(code);
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }: Tokens.Code): string {
      const label = (lang ?? '').trim().split(/\s+/)[0] ?? '';
      return (
        `<div class="code-block"><div class="code-head"><span class="code-lang">${escapeHtml(label || 'text')}</span>` +
        `<button type="button" class="copy-code" data-copy-code="1" aria-label="Copy code">Copy</button></div>` +
        `<pre><code class="hljs${label ? ` language-${escapeHtml(label)}` : ''}">${highlight(text, label)}</code></pre></div>`
      );
    },
  },
});

let hooked = false;
function hookPurifier(): void {
  if (hooked) return;
  hooked = true;
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A' && node.getAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    }
  });
}

/** Renders markdown to sanitised HTML. */
export function renderMarkdown(text: string): string {
  hookPurifier();
  // Wide tables scroll inside their own box instead of widening the page.
  const html = marked.parse(text, { async: false }).replace(/<table>/g, '<div class="table-scroll"><table>').replace(/<\/table>/g, '</table></div>');
  return DOMPurify.sanitize(html, { ADD_ATTR: ['target', 'data-copy-code'], FORBID_TAGS: ['style', 'form', 'input', 'textarea', 'select'] });
}
