#!/usr/bin/env node
// StreamGate's web page end to end, as a person would use it, in Debian's headless chromium
// (/usr/bin/chromium) driven by playwright-core: the page served by a running daemon at URL.
//
//   node tests/peers/player/web.mjs --url http://127.0.0.1:PORT --small CLIP.mp4 --large BIG.mp4
//                                   --artifacts DIR [--timeout SECONDS]
//
// At 1280 px: the status page; an upload of CLIP through the upload page; its card in the library
// until it is ready (noting the states and progress seen on the way); the watch page playing it
// for 3 s (video.currentTime >= 3); then BIG (some MB) uploaded with its second PATCH held back,
// the page reloaded mid-upload, BIG picked again, and the upload resumed, not restarted: the
// first PATCH after the reload starts at or past the offset the first PATCH reached, and the
// video's source has the file's size. At 360 px: every page again, none wider than the screen.
// A PNG of every page at both widths goes to DIR (library-1280.png, upload-360.png, ...).
// Then Sign-In with Ethereum through a stand-in wallet: window.ethereum answered by ethers
// (tests/peers/chain) with a fixed key, as an extension would, and the token the daemon gives
// kept by the page ("wallet": "signed in"; "skipped" without ethers). Every console message of
// type error and every page error fails the run, as does a control without a label.
//
// Prints one JSON line: {"ok":true,"video":"ID","states":[...],"progress_seen":true,
// "currentTime":3.1,"resume":{"first_offset":N,"resumed_at":N,"size":N},"screenshots":[...],
// "console":[],"unlabelled":[]} ("reason" when not ok). Exit status: 0 ok, 1 not, 2 usage,
// 77 skipped (no chromium or no node modules: scripts/install-deps.sh --test).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function usage(message) {
  process.stderr.write(
    `web.mjs: ${message}\nusage: web.mjs --url URL --small CLIP --large BIG --artifacts DIR [--timeout S]\n`,
  );
  process.exit(2);
}

function skip(message) {
  process.stderr.write(`web.mjs: skipped: ${message}\n`);
  process.exit(77);
}

const opts = { url: null, small: null, large: null, artifacts: null, timeout: 240 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in opts) || argv[i + 1] === undefined) usage(`bad argument ${argv[i]}`);
  opts[key] = key === 'timeout' ? Number(argv[i + 1]) : argv[i + 1];
}
for (const k of ['url', 'small', 'large', 'artifacts']) if (!opts[k]) usage(`give --${k}`);
const base = opts.url.replace(/\/$/, '');

const chromiumPath = process.env.SG_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(chromiumPath)) skip(`no ${chromiumPath}: apt-get install chromium`);
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  skip(`playwright-core is missing (${e.message.split('\n')[0]}): npm ci in ${here}`);
}
fs.mkdirSync(opts.artifacts, { recursive: true });

const result = {
  ok: false,
  video: null,
  states: [],
  progress_seen: false,
  currentTime: 0,
  resume: null,
  screenshots: [],
  console: [],
  unlabelled: [],
  wallet: null,
};
const deadline = Date.now() + opts.timeout * 1000;
const left = () => Math.max(1000, deadline - Date.now());

function watchConsole(page, width) {
  page.on('console', (m) => {
    if (m.type() === 'error') result.console.push({ width, text: m.text(), url: page.url() });
  });
  page.on('pageerror', (e) => result.console.push({ width, text: `page error: ${e.message}`, url: page.url() }));
}

async function shot(page, name) {
  const file = path.join(opts.artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.screenshots.push(file);
}

// Controls without a label: inputs, selects, textareas and buttons with no name a screen reader
// could say.
async function unlabelled(page, view) {
  const found = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
      .filter((e) => !e.closest('[hidden]') && !e.closest('dialog:not([open])'))
      .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
      .map((e) => e.id || e.outerHTML.slice(0, 60)),
  );
  for (const f of found) result.unlabelled.push(`${view}: ${f}`);
}

async function show(page, view, ready) {
  await page.goto(`${base}/#/${view}`, { timeout: left() });
  await page.waitForSelector(ready, { timeout: left() });
}

let browser;
try {
  browser = await launchChromium(chromium, chromiumPath, left());
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await desktop.newPage();
  watchConsole(page, 1280);

  // Keyboard: the first Tab reaches the skip link.
  await page.goto(`${base}/`, { timeout: left() });
  await page.waitForSelector('#view h1', { timeout: left() });
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => document.activeElement && document.activeElement.className);
  if (first !== 'skip') throw new Error(`the first Tab went to "${first}", not the skip link`);

  await show(page, 'status', '#plugins tbody tr');
  await unlabelled(page, 'status');
  await shot(page, 'status-1280');

  // The small clip through the upload page.
  await show(page, 'upload', '#file');
  await page.setInputFiles('#file', opts.small);
  await page.fill('#title', 'Web page test clip');
  await unlabelled(page, 'upload');
  await page.click('#start');
  const link = await page.waitForSelector('#uploaded-link', { timeout: left() });
  result.video = (await link.getAttribute('href')).split('/').pop();
  await shot(page, 'upload-1280');

  // Its card in the library, until ready.
  await show(page, 'library', `li[data-id="${result.video}"]`);
  const card = `li[data-id="${result.video}"]`;
  while (Date.now() < deadline) {
    const seen = await page.evaluate((sel) => {
      const li = document.querySelector(sel);
      const bar = li && li.querySelector('progress');
      return { state: li && li.dataset.state, progress: bar ? bar.value : null };
    }, card);
    if (seen.state && result.states[result.states.length - 1] !== seen.state) result.states.push(seen.state);
    if (seen.progress > 0) result.progress_seen = true;
    if (seen.state === 'ready' || seen.state === 'failed') break;
    await page.waitForTimeout(100);
  }
  if (result.states[result.states.length - 1] !== 'ready') {
    throw new Error(`the video did not become ready in the library: ${result.states.join(' > ')}`);
  }
  await page.waitForSelector(`${card} .thumb .duration`, { timeout: left() });
  await unlabelled(page, 'library');
  await shot(page, 'library-1280');

  // The watch page plays it for 3 s.
  await show(page, `watch/${result.video}`, '#player');
  await page.waitForFunction(() => window.Hls && document.querySelector('#quality option'), null, { timeout: left() });
  await page.waitForFunction(() => document.querySelector('#player').readyState >= 1, null, { timeout: left() });
  await page.evaluate(() => {
    const v = document.querySelector('#player');
    v.muted = true;
    return v.play();
  });
  await page.waitForFunction(() => document.querySelector('#player').currentTime >= 3, null, {
    polling: 100,
    timeout: left(),
  });
  result.currentTime = await page.evaluate(() => document.querySelector('#player').currentTime);
  await page.evaluate(() => document.querySelector('#player').pause());
  await unlabelled(page, 'watch');
  await shot(page, 'watch-1280');

  // A reload mid-upload: the first PATCH goes through, the second is held until the page is
  // reloaded (what of it reaches the daemon then, if any, is kept there); after the reload the
  // same file resumes where the daemon's Upload-Offset says, at or past the first PATCH's end.
  const size = fs.statSync(opts.large).size;
  let patches = 0;
  let firstOffset = null;
  let resumedAt = null;
  let heldResolve;
  const held = new Promise((resolve) => {
    heldResolve = resolve;
  });
  await page.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() !== 'PATCH') return route.continue();
    patches += 1;
    if (patches === 1) {
      const response = await route.fetch();
      firstOffset = Number(response.headers()['upload-offset']);
      return route.fulfill({ response });
    }
    heldResolve();
    // Held: never answered; the reload cancels it.
    return undefined;
  });
  await show(page, 'upload', '#file');
  await page.setInputFiles('#file', opts.large);
  await page.fill('#title', 'Web page test resume');
  await page.click('#start');
  await Promise.race([
    held,
    page.waitForTimeout(left()).then(() => {
      throw new Error('the second PATCH never came');
    }),
  ]);
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  page.on('request', (req) => {
    if (req.method() === 'PATCH' && resumedAt === null) resumedAt = Number(req.headers()['upload-offset']);
  });
  await page.reload({ timeout: left() });
  await page.waitForSelector('#file', { timeout: left() });
  await page.setInputFiles('#file', opts.large);
  await page.click('#start');
  await page.waitForSelector('#upload-message.resumed', { timeout: left() });
  await page.waitForSelector('#uploaded-link', { timeout: left() });
  const resumedId = (await page.getAttribute('#uploaded-link', 'href')).split('/').pop();
  const stored = await page.evaluate(async (id) => (await fetch(`/api/v1/videos/${id}`)).json(), resumedId);
  result.resume = { first_offset: firstOffset, resumed_at: resumedAt, size, source_size: stored.source_size };
  if (!(firstOffset > 0 && resumedAt >= firstOffset && resumedAt < size && stored.source_size === size)) {
    throw new Error(`the upload did not resume: ${JSON.stringify(result.resume)}`);
  }
  await shot(page, 'upload-resumed-1280');

  // Every page at 360 px.
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const small = await phone.newPage();
  watchConsole(small, 360);
  for (const [view, ready] of [
    ['library', `li[data-id="${result.video}"] .duration`],
    ['upload', '#file'],
    [`watch/${result.video}`, '#details dd'],
    ['status', '#plugins tbody tr'],
  ]) {
    await show(small, view, ready);
    const wide = await small.evaluate(() => document.documentElement.scrollWidth);
    if (wide > 360) throw new Error(`#/${view} is ${wide} px wide at 360 px`);
    await shot(small, `${view.split('/')[0]}-360`);
  }
  await phone.close();

  // A wallet: EIP-1193 requests answered here, in node, by ethers with a throwaway key. The
  // account goes out in lower case, as wallets give it; the page must write it in EIP-55 form.
  let ethers = null;
  try {
    ethers = createRequire(path.join(here, '../chain/package.json'))('ethers');
  } catch {
    result.wallet = 'skipped';
  }
  if (ethers) {
    const wallet = new ethers.Wallet(`0x${'5a'.repeat(32)}`);
    const signer = await desktop.newPage();
    watchConsole(signer, 1280);
    await signer.exposeFunction('sgWalletRequest', async (method, params) => {
      if (method === 'eth_requestAccounts') return [wallet.address.toLowerCase()];
      if (method === 'eth_chainId') return '0x1';
      if (method === 'personal_sign') return wallet.signMessage(params[0]);
      throw new Error(`the stand-in wallet does not do ${method}`);
    });
    await signer.addInitScript(() => {
      window.ethereum = { request: ({ method, params }) => window.sgWalletRequest(method, params || []) };
    });
    await signer.goto(`${base}/#/library`, { timeout: left() });
    await signer.click('#signin-open');
    await signer.click('#signin-wallet');
    await signer.waitForFunction(() => document.querySelector('#signin-open').textContent === 'Signed in', null, {
      timeout: left(),
    });
    const token = await signer.evaluate(() => localStorage.getItem('streamgate.token'));
    if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token || '')) throw new Error(`the wallet sign-in kept no token: ${token}`);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    result.wallet = 'signed in';
    result.wallet_subject = claims.sub;
    await signer.close();
  }
  await desktop.close();

  if (result.console.length) throw new Error(`console errors: ${result.console.map((c) => c.text).join(' | ')}`);
  if (result.unlabelled.length) throw new Error(`controls without a label: ${result.unlabelled.join(', ')}`);
  result.ok = true;
} catch (e) {
  result.reason = e.message.split('\n')[0];
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(result.ok ? 0 : 1);
