// StreamGate's page: hash routes (#/library, #/upload, #/watch/ID, #/status), each a view module
// whose render(root, params) fills the main element and returns what undoes it.
import { setUpSignIn } from './api.js';
import * as library from './library.js';
import * as status from './status.js';
import * as upload from './upload.js';
import * as watch from './watch.js';

const views = { library, upload, watch, status };
const titles = { library: 'Library', upload: 'Upload', watch: 'Watch', status: 'Status' };
let cleanup = null;

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const name = views[parts[0]] ? parts[0] : 'library';
  if (cleanup) cleanup();
  cleanup = null;
  const root = document.getElementById('view');
  root.replaceChildren();
  document.title = `${titles[name]} · StreamGate`;
  for (const a of document.querySelectorAll('nav a[data-view]')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.dataset.view = name;
  cleanup = views[name].render(root, parts.slice(1)) || null;
  const main = document.getElementById('main');
  if (document.activeElement && document.activeElement !== document.body && !main.contains(document.activeElement)) {
    main.focus({ preventScroll: true });
  }
}

setUpSignIn();
window.addEventListener('hashchange', route);
route();
