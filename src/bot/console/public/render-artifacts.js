/*
 * signoff console: artifact lists — image and audio previews, text excerpts, download links.
 */
import { artifactUrl } from './api.js';
import { h } from './dom.js';
import { fmtSize } from './format.js';
import { state } from './state.js';

const excerpts = new Map(); // artifact id -> Promise<string>

function kindOf(a) {
  const t = a.mediaType.toLowerCase();
  if (t.startsWith('image/')) return 'image';
  if (t.startsWith('audio/')) return 'audio';
  if (t.startsWith('text/html')) return 'file';
  if (t.startsWith('text/') || t.includes('json') || t.includes('markdown') || /\.(md|txt|log|json|ya?ml|csv)$/i.test(a.name)) return 'text';
  return 'file';
}

/** fold: text excerpts behind a "Preview" disclosure (notices; gate cards show them open). */
export function renderArtifacts(list, { fold = false } = {}) {
  if (!list?.length) return null;
  return h('ul', { class: `artifacts${list.length > 3 ? ' artifacts-grid' : ''}`, 'aria-label': 'Artifacts' }, list.map((a) => artifactItem(a, fold)));
}

function artifactItem(a, fold) {
  const url = artifactUrl(a.id);
  const kind = kindOf(a);
  const file = a.name.split('/').pop();
  let preview = null;
  if (kind === 'image') preview = h('a', { href: url, target: '_blank', rel: 'noopener', class: 'artifact-image' }, h('img', { src: url, alt: a.name, loading: 'lazy', decoding: 'async' }));
  else if (kind === 'audio') preview = h('audio', { controls: true, preload: 'none', src: url, 'aria-label': a.name });
  else if (kind === 'text' && !fold) preview = excerpt(a);
  else if (kind === 'text') {
    preview = h('details', { class: 'excerpt-fold' }, h('summary', { text: 'Preview' }));
    preview.addEventListener('toggle', () => { if (preview.open && !preview.querySelector('pre')) preview.append(excerpt(a)); });
  }
  return h('li', { class: `artifact kind-${kind}`, 'data-artifact': a.id, 'data-media-type': a.mediaType },
    preview,
    h('div', { class: 'artifact-meta' },
      h('a', { href: url, target: '_blank', rel: 'noopener', class: 'artifact-name', text: a.name }),
      h('span', { class: 'artifact-info', text: `${fmtSize(a.size)} · ${a.mediaType.split(';')[0]}` }),
      h('a', { href: artifactUrl(a.id, true), download: file, class: 'artifact-download', 'aria-label': `Download ${a.name}`, text: 'Download' })));
}

/** Excerpts load when they scroll into view (collapsed threads fetch nothing). */
const excerptObserver = new IntersectionObserver((seen) => {
  for (const { target: pre, isIntersecting } of seen) {
    if (!isIntersecting) continue;
    excerptObserver.unobserve(pre);
    fetchExcerpt(Number(pre.dataset.artifactId)).then((text) => { pre.textContent = text || '(empty)'; },
      (e) => { pre.textContent = `Could not load the preview (${e.message}).`; pre.classList.add('is-error'); });
  }
}, { rootMargin: '400px' });

function excerpt(a) {
  const pre = h('pre', { class: 'excerpt', tabindex: 0, 'data-artifact-id': a.id, 'aria-label': `Start of ${a.name}`, text: 'Loading…' });
  excerptObserver.observe(pre);
  return pre;
}

/** The first ~600 characters of a text artifact, read without downloading the rest. */
function fetchExcerpt(id) {
  if (!excerpts.has(id)) {
    const p = (async () => {
      const res = await fetch(artifactUrl(id), { headers: { 'x-console-token': state.token } });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let text = '';
      let done = false;
      while (text.length <= 600) {
        const chunk = await reader.read();
        if (chunk.done) { done = true; text += decoder.decode(); break; }
        text += decoder.decode(chunk.value, { stream: true });
      }
      if (!done) reader.cancel().catch(() => {});
      return text.length > 600 || !done ? `${text.slice(0, 600).trimEnd()}\n…` : text;
    })();
    p.catch(() => excerpts.delete(id));
    excerpts.set(id, p);
  }
  return excerpts.get(id);
}
