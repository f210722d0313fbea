// The status page: the daemon's health and each plugin's state, from GET /api/v1/health (which
// answers 503 with the same body when the daemon is not healthy).
import { el } from './api.js';

function uptime(s) {
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function render(root) {
  const summary = el('p', { id: 'health-summary', role: 'status', text: 'Asking the daemon…' });
  const table = el('div', { class: 'table-wrap' });
  const refresh = el('button', { type: 'button', class: 'ghost', id: 'refresh', text: 'Refresh' });
  root.append(el('h1', { text: 'Status' }), summary, table, el('p', {}, refresh));
  let timer = 0;
  let gone = false;

  async function load() {
    clearTimeout(timer);
    try {
      const res = await fetch('/api/v1/health', { headers: { Accept: 'application/json' } });
      const h = await res.json();
      if (gone) return;
      const up = Number.isFinite(h.uptime_seconds) ? `, up ${uptime(h.uptime_seconds)}` : '';
      summary.replaceChildren(
        'The daemon is ',
        el('strong', { class: `health-${h.status}`, text: h.status }),
        ` (version ${h.version}, ${h.mode} mode${up}).`,
      );
      const rows = (h.plugins || []).map((p) =>
        el(
          'tr',
          { 'data-plugin': p.name },
          el('th', { scope: 'row', text: p.name }),
          el('td', { text: p.state }),
          el('td', { class: `health-${p.health}`, text: p.health }),
          el('td', { class: 'message', text: p.message || '' }),
        ),
      );
      table.replaceChildren(
        el(
          'table',
          { id: 'plugins' },
          el('caption', { class: 'muted', text: 'Plugins' }),
          el('thead', {}, el('tr', {}, ...['Plugin', 'State', 'Health', 'Message'].map((t) => el('th', { scope: 'col', text: t })))),
          el('tbody', {}, rows),
        ),
      );
    } catch (e) {
      if (gone) return;
      summary.className = 'error';
      summary.textContent = `The daemon did not answer: ${e.message}`;
    }
    if (!gone) timer = setTimeout(load, 5000);
  }
  refresh.addEventListener('click', load);
  load();
  return () => {
    gone = true;
    clearTimeout(timer);
  };
}
