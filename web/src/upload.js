// The upload page: a file picked or dropped, a title and a visibility, sent with tus-js-client to
// /api/v1/uploads in chunks. tus-js-client keeps each upload's URL in localStorage under the file's
// fingerprint (name, type, size, date), so picking the same file again after a reload or a dropped
// connection resumes where the daemon's Upload-Offset says.
import { authHeaders, bytes, duration, el, openSignIn } from './api.js';

const CHUNK = 8 * 1024 * 1024;
let current = null; // the upload in flight: it goes on when the user looks at another page

export function render(root) {
  const input = el('input', { type: 'file', id: 'file', accept: 'video/*', class: 'visually-file' });
  const drop = el(
    'div',
    { class: 'drop', id: 'drop' },
    el('p', {}, el('strong', { text: 'Drop a video here' }), ' or choose one:'),
    el('label', { for: 'file', text: 'Video file' }),
    input,
    el('p', { class: 'muted', id: 'picked', role: 'status' }),
  );
  const title = el('input', { type: 'text', id: 'title', maxlength: '200', autocomplete: 'off' });
  const visibility = el(
    'select',
    { id: 'visibility' },
    el('option', { value: 'public', text: 'Public: listed, anyone can watch' }),
    el('option', { value: 'unlisted', text: 'Unlisted: anyone with the link' }),
    el('option', { value: 'private', text: 'Private: only you' }),
  );
  const start = el('button', { type: 'submit', id: 'start', text: 'Upload' });
  const pause = el('button', { type: 'button', id: 'pause', class: 'ghost', text: 'Pause', hidden: true });
  const bar = el('progress', { id: 'upload-progress', max: '100', value: '0', 'aria-label': 'Upload progress', hidden: true });
  const stats = el('p', { class: 'stats', id: 'upload-stats', 'aria-live': 'polite' });
  const message = el('p', { id: 'upload-message', role: 'alert' });
  const form = el(
    'form',
    { class: 'upload-form', id: 'upload-form', novalidate: true },
    drop,
    el('label', { for: 'title', text: 'Title' }),
    title,
    el('label', { for: 'visibility', text: 'Visibility' }),
    visibility,
    el('p', { class: 'row' }, start, pause),
    bar,
    stats,
    message,
  );
  root.append(el('h1', { text: 'Upload' }), form);

  let file = null;
  const say = (text, kind = '') => {
    message.className = kind;
    message.replaceChildren(...(Array.isArray(text) ? text : [text]));
  };
  const choose = (f) => {
    file = f || null;
    say('');
    if (!file) return;
    document.getElementById('picked').textContent = `${file.name}, ${bytes(file.size)}`;
    if (!title.value) title.value = file.name.replace(/\.[^.]+$/, '');
    if (file.type && !file.type.startsWith('video/')) {
      say(`${file.name} is not a video (${file.type}). Pick a video file: MP4, WebM, MOV, MKV…`, 'error');
    }
  };
  input.addEventListener('change', () => choose(input.files[0]));
  for (const name of ['dragenter', 'dragover']) {
    drop.addEventListener(name, (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
  }
  for (const name of ['dragleave', 'drop']) drop.addEventListener(name, () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) choose(e.dataTransfer.files[0]);
  });

  const show = (u) => {
    bar.hidden = false;
    pause.hidden = !u.running;
    pause.textContent = u.running ? 'Pause' : 'Resume';
    start.disabled = u.running;
    const pct = u.total ? (100 * u.sent) / u.total : 0;
    bar.value = pct;
    const parts = [el('span', { text: `${pct.toFixed(1)} %` }), el('span', { text: `${bytes(u.sent)} of ${bytes(u.total)}` })];
    if (u.rate > 0) {
      parts.push(el('span', { text: `${bytes(u.rate)}/s` }));
      parts.push(el('span', { text: `${duration((u.total - u.sent) / u.rate) || '0:00'} left` }));
    }
    stats.replaceChildren(...parts);
  };

  const run = async () => {
    if (!file) {
      say('Pick a video file first.', 'error');
      input.focus();
      return;
    }
    if (file.type && !file.type.startsWith('video/')) {
      say(`${file.name} is not a video: the daemon would refuse it. Pick a video file.`, 'error');
      return;
    }
    if (!window.tus || !window.tus.isSupported) {
      say('This browser cannot upload here (no tus support). Try a current browser.', 'error');
      return;
    }
    const u = { sent: 0, total: file.size, rate: 0, running: true, samples: [], upload: null, onChange: null };
    const upload = new window.tus.Upload(file, {
      endpoint: '/api/v1/uploads',
      chunkSize: CHUNK,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      removeFingerprintOnSuccess: true,
      metadata: {
        filename: file.name,
        filetype: file.type || 'application/octet-stream',
        title: title.value.trim() || file.name,
        visibility: visibility.value,
      },
      onBeforeRequest(req) {
        for (const [k, v] of Object.entries(authHeaders())) req.setHeader(k, v);
      },
      onShouldRetry(err) {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        return status === 0 || status === 409 || status === 423 || status >= 500;
      },
      onProgress(sent, total) {
        const now = performance.now();
        u.samples.push([now, sent]);
        while (u.samples.length > 2 && now - u.samples[0][0] > 5000) u.samples.shift();
        const [t0, s0] = u.samples[0];
        u.rate = now > t0 ? ((sent - s0) * 1000) / (now - t0) : 0;
        u.sent = sent;
        u.total = total;
        if (u.onChange) u.onChange(u);
      },
      onError(err) {
        u.running = false;
        if (u.onChange) u.onChange(u);
        const res = err.originalResponse;
        const status = res ? res.getStatus() : 0;
        let body = null;
        try {
          body = res ? JSON.parse(res.getBody()) : null;
        } catch {
          body = null;
        }
        if (status === 413) {
          const max = res.getHeader('Tus-Max-Size');
          say(`${file.name} (${bytes(file.size)}) is too large: the daemon takes files up to ${max ? bytes(Number(max)) : 'its upload.max_size'}.`, 'error');
        } else if (status === 401 || status === 403) {
          say([status === 401 ? 'Uploads need you to sign in. ' : 'Your token may not upload. ', el('button', { type: 'button', class: 'ghost', text: 'Sign in', onclick: () => openSignIn(body && body.error).then((ok) => ok && run()) })], 'error');
        } else if (status === 415) {
          say(`${file.name} is not a file the daemon takes: ${(body && body.error) || 'unsupported type'}.`, 'error');
        } else {
          say(`The upload stopped: ${(body && body.error) || err.message.split('\n')[0]}. Press Resume, or pick the same file again later: it goes on where it stopped.`, 'error');
        }
      },
      onSuccess() {
        u.running = false;
        const id = upload.url.split('/').pop();
        u.done = id;
        if (u.onChange) u.onChange(u);
      },
    });
    u.upload = upload;
    current = u;
    bind(u);
    say('Starting…');
    const previous = await upload.findPreviousUploads();
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      say(`Resuming an earlier upload of ${file.name}.`, 'resumed');
    } else {
      say('');
    }
    upload.start();
  };

  const bind = (u) => {
    u.onChange = (x) => {
      show(x);
      if (x.done) {
        say(['Uploaded. ', el('a', { href: `#/watch/${x.done}`, id: 'uploaded-link', text: 'Watch it' }), ' when it is ready, or follow it in the ', el('a', { href: '#/library', text: 'library' }), '.'], 'ok');
        current = null;
      }
    };
    show(u);
  };
  if (current) bind(current);

  pause.addEventListener('click', () => {
    if (!current) return;
    if (current.running) {
      current.upload.abort();
      current.running = false;
    } else {
      current.running = true;
      current.upload.start();
    }
    show(current);
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    run().catch((err) => say(`The upload could not start: ${err.message}`, 'error'));
  });
  return () => {
    if (current) current.onChange = null;
  };
}
