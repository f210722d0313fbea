// The library: a grid of videos, newest first, with live progress for those still processing
// (GET /api/v1/videos/{id}/events: "state" and "progress" events) and paging by next_cursor.
import { api, duration, el, posterUrl } from './api.js';

const PAGE = 24;
const TERMINAL = new Set(['ready', 'failed', 'deleted']);

const STAGES = {
  uploading: 'Uploading',
  uploaded: 'Waiting for the transcoder',
  queued: 'Queued',
  processing: 'Processing',
};

export function render(root) {
  const streams = new Map();
  const grid = el('ul', { class: 'grid', id: 'videos', 'aria-label': 'Videos' });
  const more = el('button', { type: 'button', class: 'ghost', id: 'more', hidden: true, text: 'Load more' });
  const note = el('p', { class: 'muted', role: 'status' });
  root.append(el('h1', { text: 'Library' }), note, grid, el('div', { class: 'pager' }, more));
  let cursor = '';

  function watchEvents(video, card) {
    if (TERMINAL.has(video.state) || streams.has(video.id)) return;
    const source = new EventSource(`/api/v1/videos/${encodeURIComponent(video.id)}/events`);
    streams.set(video.id, source);
    const stop = () => {
      source.close();
      streams.delete(video.id);
    };
    source.addEventListener('state', (e) => {
      const v = JSON.parse(e.data);
      fill(card, v);
      if (TERMINAL.has(v.state)) stop();
    });
    source.addEventListener('progress', (e) => showProgress(card, JSON.parse(e.data)));
    // The stream ends after a final state; anything else (the daemon went away) is not retried
    // by hand: the browser reconnects while the page is open.
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) stop();
    });
  }

  function card(video) {
    const li = el('li', { class: 'card', 'data-id': video.id });
    fill(li, video);
    watchEvents(video, li);
    return li;
  }

  async function load() {
    more.disabled = true;
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (cursor) q.set('cursor', cursor);
      const page = await api(`/api/v1/videos?${q}`);
      for (const v of page.videos || []) grid.append(card(v));
      cursor = page.next_cursor || '';
      more.hidden = !cursor;
      if (!grid.children.length) {
        note.replaceChildren(
          el('strong', { text: 'No videos yet. ' }),
          'Upload one on the ',
          el('a', { href: '#/upload', text: 'Upload page' }),
          ' (pick a file or drop it there), or from a shell: ',
          el('code', { text: 'streamgate upload FILE --title "My video"' }),
          '. It shows up here at once and plays when it is ready.',
        );
        note.className = 'notice empty';
      } else {
        note.textContent = '';
        note.className = 'muted';
      }
    } catch (e) {
      note.className = 'notice error';
      note.textContent = `The videos could not be listed: ${e.message}${e.hint ? ` (${e.hint})` : ''}`;
    } finally {
      more.disabled = false;
    }
  }

  more.addEventListener('click', load);
  load();
  return () => {
    for (const s of streams.values()) s.close();
    streams.clear();
  };
}

function fill(li, video) {
  const poster = posterUrl(video);
  const thumb = el('div', { class: 'thumb' });
  if (poster) thumb.style.backgroundImage = `url("${poster}")`;
  else thumb.append(el('span', { 'aria-hidden': 'true', text: video.state === 'ready' ? '▶' : '…' }));
  const d = duration(video.duration);
  if (d) thumb.append(el('span', { class: 'duration', text: d, 'aria-label': `Duration ${d}` }));
  const body = el(
    'div',
    { class: 'body' },
    el('h2', { text: video.title || 'Untitled' }),
    el('span', { class: `state ${video.state}`, 'data-state': video.state, text: video.state }),
    video.visibility && video.visibility !== 'public' ? el('span', { class: 'muted', text: ` · ${video.visibility}` }) : null,
  );
  if (video.state === 'failed' && video.failure_reason) {
    body.append(el('p', { class: 'error', text: video.failure_reason }));
  }
  if (!TERMINAL.has(video.state)) {
    body.append(
      el('p', { class: 'stage muted', text: STAGES[video.state] || video.state }),
      el('progress', { max: '100', 'aria-label': `Progress of ${video.title || 'the video'}` }),
    );
  }
  const link = el('a', { href: `#/watch/${encodeURIComponent(video.id)}` }, thumb, body);
  li.replaceChildren(link);
  li.dataset.state = video.state;
  if (video.progress) showProgress(li, video.progress);
}

function showProgress(li, p) {
  const bar = li.querySelector('progress');
  if (!bar || !Number.isFinite(p.percent)) return;
  bar.value = p.percent;
  const stage = li.querySelector('.stage');
  const eta = Number.isFinite(p.eta_seconds) ? `, about ${duration(p.eta_seconds) || '0:00'} left` : '';
  if (stage) stage.textContent = `${p.stage || 'Processing'}: ${Math.round(p.percent)} %${eta}`;
}
