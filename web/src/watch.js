// The watch page (#/watch/ID): the video's details, and hls.js playing the URL that
// GET /api/v1/videos/{id}/playback gives (a capability URL for a private or gated video), with a
// quality menu of its levels; native HLS where there is no MediaSource (Safari on iOS).
import { ApiError, api, bytes, duration, el, openSignIn } from './api.js';

export function render(root, params) {
  const id = params[0] || '';
  let hls = null;
  let events = null;
  let gone = false;
  const heading = el('h1', { text: 'Watch' });
  const video = el('video', { id: 'player', controls: true, playsinline: true, preload: 'metadata', 'aria-label': 'Video player' });
  const quality = el('select', { id: 'quality', disabled: true }, el('option', { value: '-1', text: 'Auto' }));
  const bar = el('div', { class: 'row watch-bar' }, el('label', { for: 'quality', text: 'Quality' }), quality);
  const message = el('p', { id: 'watch-message', role: 'status' });
  const details = el('dl', { class: 'details', id: 'details' });
  root.append(heading, el('div', { class: 'player' }, video), bar, message, details);

  const say = (parts, kind = '') => {
    message.className = kind;
    message.replaceChildren(...(Array.isArray(parts) ? parts : [parts]));
  };
  const signInButton = (why) =>
    el('button', { type: 'button', class: 'ghost', text: 'Sign in', onclick: () => openSignIn(why).then((ok) => ok && start()) });

  function showDetails(v) {
    heading.textContent = v.title || 'Untitled';
    document.title = `${v.title || 'Untitled'} · StreamGate`;
    const rows = [
      ['State', v.state],
      ['Duration', duration(v.duration)],
      ['Visibility', v.visibility],
      ['Renditions', (v.renditions || []).map((r) => `${r.name || `${r.height}p`} (${bytes(r.bitrate / 8)}/s)`).join(', ')],
      ['Size of the source', bytes(v.source_size)],
      ['Uploaded', v.created_at ? new Date(v.created_at).toLocaleString() : ''],
      ['Description', v.description],
      ['Id', v.id],
    ];
    details.replaceChildren(...rows.filter(([, value]) => value).flatMap(([k, value]) => [el('dt', { text: k }), el('dd', { text: value })]));
  }

  function play(url) {
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({ capLevelToPlayerSize: false });
      hls.on(window.Hls.Events.MANIFEST_PARSED, (_, data) => {
        quality.replaceChildren(el('option', { value: '-1', text: 'Auto' }));
        data.levels.forEach((level, i) => {
          const label = `${level.height ? `${level.height}p` : `Level ${i + 1}`}${level.bitrate ? ` · ${bytes(level.bitrate / 8)}/s` : ''}`;
          quality.append(el('option', { value: String(i), text: label }));
        });
        quality.disabled = data.levels.length < 2;
      });
      hls.on(window.Hls.Events.ERROR, (_, data) => {
        if (data.fatal) say(`The player stopped: ${data.details}.`, 'error');
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url; // native HLS: the browser picks the quality itself
      quality.disabled = true;
    } else {
      say('This browser can play neither HLS through MediaSource nor natively.', 'error');
    }
  }

  quality.addEventListener('change', () => {
    if (hls) hls.currentLevel = Number(quality.value);
  });

  function waitForReady(v) {
    say(`This video is ${v.state}; it plays once it is ready.`, 'muted');
    events = new EventSource(`/api/v1/videos/${encodeURIComponent(id)}/events`);
    events.addEventListener('state', (e) => {
      const now = JSON.parse(e.data);
      showDetails(now);
      if (now.state === 'ready') {
        events.close();
        start();
      } else if (now.state === 'failed' || now.state === 'deleted') {
        events.close();
        say(`This video ${now.state === 'failed' ? `failed: ${now.failure_reason || 'the transcoder could not read it'}` : 'was deleted'}.`, 'error');
      } else {
        say(`This video is ${now.state}; it plays once it is ready.`, 'muted');
      }
    });
    events.addEventListener('progress', (e) => {
      const p = JSON.parse(e.data);
      say(`Processing: ${Math.round(p.percent)} %`, 'muted');
    });
  }

  async function start() {
    say('');
    let v;
    try {
      v = await api(`/api/v1/videos/${encodeURIComponent(id)}`, { signIn: false });
    } catch (e) {
      if (gone) return;
      if (e.status === 404) {
        say(['No such video here. If it is a private video of yours, sign in to see it. ', signInButton('')], 'error');
      } else {
        say(`The video could not be read: ${e.message}`, 'error');
      }
      return;
    }
    if (gone) return;
    showDetails(v);
    if (v.state !== 'ready') {
      if (v.state === 'failed' || v.state === 'deleted') {
        say(`This video ${v.state === 'failed' ? `failed: ${v.failure_reason || 'the transcoder could not read it'}` : 'was deleted'}.`, 'error');
      } else {
        waitForReady(v);
      }
      return;
    }
    let url = `/videos/${encodeURIComponent(id)}/master.m3u8`;
    try {
      const p = await api(`/api/v1/videos/${encodeURIComponent(id)}/playback`, { signIn: false });
      url = p.hls || url;
      if (p.poster) video.poster = p.poster;
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        say([`This video asks you to sign in: ${e.message}. `, signInButton(e.message)], 'error');
        return;
      }
      // No auth plugin: public videos play from /videos/ID/.
    }
    if (!gone) play(url);
  }

  start();
  return () => {
    gone = true;
    if (events) events.close();
    if (hls) hls.destroy();
  };
}
