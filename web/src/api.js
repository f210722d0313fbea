// The HTTP API as the page uses it: the token kept in localStorage, JSON requests that send it,
// the sign-in dialog a 401 opens, and small formatters.
import { checksumAddress } from './keccak.js';

const TOKEN_KEY = 'streamgate.token';

export function token() {
  try {
    return localStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(value) {
  try {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage is off (a private window): the token lasts until the page closes.
  }
  updateSignInButton();
}

export function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** An API error: the status and the server's {error, hint} when it sent them. */
export class ApiError extends Error {
  constructor(status, body, fallback) {
    super((body && body.error) || fallback || `HTTP ${status}`);
    this.status = status;
    this.hint = body && body.hint;
    this.code = body && body.code;
  }
}

/** GET (or another method) a JSON answer; a 401 opens the sign-in dialog and throws. */
export async function api(path, { method = 'GET', body, signIn = true } = {}) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, null, `the daemon did not answer (${e.message})`);
  }
  let json = null;
  const text = await res.text();
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = new ApiError(res.status, json, text.slice(0, 200) || res.statusText);
    if (res.status === 401 && signIn) openSignIn(err.message);
    throw err;
  }
  return json;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return '';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

export function bytes(n) {
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Where a video's poster is, for videos that play without a capability. */
export function posterUrl(video) {
  if (!video.poster || video.state !== 'ready') return '';
  if (video.visibility === 'private' || video.visibility === 'gated') return '';
  return `/videos/${encodeURIComponent(video.id)}/poster.jpg`;
}

// ---- sign-in ------------------------------------------------------------------------------------

let signInDone = null;

function updateSignInButton() {
  const b = document.getElementById('signin-open');
  if (b) b.textContent = token() ? 'Signed in' : 'Sign in';
}

/** Opens the sign-in dialog, saying why; resolves true once a token was saved. */
export function openSignIn(why = '') {
  const dialog = document.getElementById('signin');
  document.getElementById('signin-why').textContent = why ? `The daemon said: ${why}` : '';
  document.getElementById('signin-error').hidden = true;
  document.getElementById('signin-token').value = token();
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => {
    signInDone = resolve;
  });
}

function closeSignIn(saved) {
  const dialog = document.getElementById('signin');
  if (dialog.open) dialog.close();
  if (signInDone) signInDone(saved);
  signInDone = null;
}

// Sign-In with Ethereum (EIP-4361) through an injected wallet (window.ethereum), when one is there:
// a nonce from the daemon, a message the wallet signs, and a token for the signature.
async function walletSignIn() {
  const eth = window.ethereum;
  const [account] = await eth.request({ method: 'eth_requestAccounts' });
  if (!account) throw new Error('the wallet gave no account');
  const address = checksumAddress(account); // EIP-4361 names the account in its EIP-55 form
  const chainHex = await eth.request({ method: 'eth_chainId' });
  const nonce = await api('/api/v1/auth/siwe/nonce', { signIn: false });
  const message =
    `${location.host} wants you to sign in with your Ethereum account:\n${address}\n\n` +
    'Sign in to StreamGate.\n\n' +
    `URI: ${location.origin}/\nVersion: 1\nChain ID: ${parseInt(chainHex, 16)}\n` +
    `Nonce: ${nonce.nonce}\nIssued At: ${new Date().toISOString()}`;
  const signature = await eth.request({ method: 'personal_sign', params: [message, account] });
  const answer = await api('/api/v1/auth/siwe/verify', { method: 'POST', body: { message, signature }, signIn: false });
  return answer.token;
}

export function setUpSignIn() {
  updateSignInButton();
  const error = document.getElementById('signin-error');
  const fail = (message) => {
    error.textContent = message;
    error.hidden = false;
  };
  document.getElementById('signin-open').addEventListener('click', () => openSignIn());
  document.getElementById('signin-cancel').addEventListener('click', () => closeSignIn(false));
  document.getElementById('signin-out').addEventListener('click', () => {
    setToken('');
    closeSignIn(false);
  });
  document.getElementById('signin').addEventListener('cancel', () => closeSignIn(false));
  document.getElementById('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = document.getElementById('signin-token').value.trim().replace(/^Bearer\s+/i, '');
    if (!/^[A-Za-z0-9_.-]+$/.test(value)) {
      fail('That does not look like a token: it is one line of letters, digits, dots, "-" and "_".');
      return;
    }
    setToken(value);
    closeSignIn(true);
  });
  const wallet = document.getElementById('signin-wallet');
  if (window.ethereum && typeof window.ethereum.request === 'function') {
    wallet.hidden = false;
    wallet.addEventListener('click', async () => {
      try {
        setToken(await walletSignIn());
        closeSignIn(true);
      } catch (e) {
        fail(`The wallet sign-in did not work: ${e.message}`);
      }
    });
  }
}
