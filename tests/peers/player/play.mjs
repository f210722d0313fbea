#!/usr/bin/env node
// Plays an HLS or DASH stream with a real player in a real browser and says whether it played:
// hls.js or dash.js, on a page served from http://127.0.0.1 (port 0, this process), in Debian's
// headless chromium (/usr/bin/chromium) driven by playwright-core. The media URL is another origin
// (the daemon), so the page depends on the media server's CORS (Access-Control-Allow-Origin).
//
//   node tests/peers/player/play.mjs (--hls URL | --dash URL) [--seconds N] [--screenshot OUT.png]
//                                    [--timeout SECONDS]
//
//   --hls URL          a master (or media) playlist, played with hls.js (Hls.isSupported(): MSE)
//   --dash URL         an MPD, played with dash.js
//   --seconds N        played when video.currentTime >= N (default 3)
//   --screenshot OUT   a PNG of the page (the video at its own size) when done, played or not
//   --timeout SECONDS  give up after this long (default 60)
//
// The video plays muted. Waits by polling video.currentTime with a deadline; stops early at the
// end of the video or at the first fatal error (hls.js ERROR with fatal: true, dash.js error or
// playbackError, the <video> element's error, an exception in the page). Prints one JSON line on
// stdout ("reason" only when not ok):
//
//   {"ok":true,"player":"hls.js","currentTime":3.1,"duration":6,"width":640,"height":360,
//    "levels":2,"audioTracks":1,"errors":[]}
//
// levels: the video renditions the player saw (hls.js levels, dash.js video representations);
// audioTracks: its audio tracks; errors: every error event, each with "fatal" (a non-fatal one, say
// a segment's 404 that hls.js got past by switching rendition, is listed but does not fail the
// run); reason: why not ok (absent when ok). duration is null when not finite (live).
//
// Exit status: 0 played; 1 did not play (the reason in the JSON); 2 usage; 77 skipped: chromium
// or the node modules are missing (apt-get install chromium; npm ci in tests/peers/player, which
// `scripts/install-deps.sh --test` does both). SG_CHROMIUM overrides /usr/bin/chromium.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function usage(message) {
  process.stderr.write(
    `play.mjs: ${message}\n` +
      'usage: play.mjs (--hls URL | --dash URL) [--seconds N] [--screenshot OUT.png] ' +
      '[--timeout SECONDS]\n',
  );
  process.exit(2);
}

function skip(message) {
  process.stderr.write(`play.mjs: skipped: ${message}\n`);
  process.exit(77);
}

function parseArgs(argv) {
  const opts = { kind: null, url: null, seconds: 3, screenshot: null, timeout: 60 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!['--hls', '--dash', '--seconds', '--screenshot', '--timeout'].includes(flag)) {
      usage(`unknown argument ${flag}`);
    }
    if (value === undefined) usage(`${flag} needs a value`);
    i++;
    if (flag === '--hls' || flag === '--dash') {
      if (opts.kind) usage('give one of --hls and --dash');
      opts.kind = flag.slice(2);
      opts.url = value;
    } else if (flag === '--screenshot') {
      opts.screenshot = value;
    } else {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) usage(`${flag} needs a number, not ${value}`);
      opts[flag.slice(2)] = n;
    }
  }
  if (!opts.kind) usage('give --hls URL or --dash URL');
  try {
    new URL(opts.url);
  } catch {
    usage(`not a URL: ${opts.url}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

const chromiumPath = process.env.SG_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(chromiumPath)) {
  skip(`no ${chromiumPath}: apt-get install chromium (scripts/install-deps.sh --test)`);
}
const scripts = {
  '/hls.js': path.join(here, 'node_modules/hls.js/dist/hls.min.js'),
  '/dash.js': path.join(here, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js'),
};
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
  for (const file of Object.values(scripts)) fs.accessSync(file);
} catch (e) {
  skip(
    `the node modules are missing (${e.message.split('\n')[0]}): run npm ci in ${here} ` +
      '(scripts/install-deps.sh --test)',
  );
}

// The test page: plays ?src= with ?kind=hls|dash, muted, and keeps its findings in window.sg.
const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>StreamGate player</title>
<style>html,body{margin:0;background:#000}video{display:block;max-width:100%}</style>
<script src="/hls.js"></script><script src="/dash.js"></script></head>
<body><video id="v" muted playsinline></video>
<script>
const q = new URLSearchParams(location.search);
const src = q.get('src');
const kind = q.get('kind');
const video = document.getElementById('v');
video.muted = true;
const sg = (window.sg = { player: kind === 'hls' ? 'hls.js' : 'dash.js', errors: [], fatal: false,
                          levels: 0, audioTracks: 0 });
function error(e) {
  sg.errors.push(e);
  if (e.fatal) sg.fatal = true;
}
video.addEventListener('error', () => error({ source: 'video', fatal: true,
  code: video.error && video.error.code, message: video.error && video.error.message }));
window.addEventListener('error', (e) => error({ source: 'page', fatal: true, message: e.message }));
function play() {
  video.play().catch((e) => error({ source: 'play()', fatal: false, message: String(e) }));
}
if (kind === 'hls') {
  if (!Hls.isSupported()) {
    error({ source: 'hls.js', fatal: true, message: 'Hls.isSupported() is false: no MSE' });
  } else {
    const hls = (window.hls = new Hls());
    hls.on(Hls.Events.ERROR, (_, d) => error({ source: 'hls.js', fatal: !!d.fatal, type: d.type,
      details: d.details, message: d.error ? String(d.error.message || d.error) : undefined,
      url: d.url || (d.frag && d.frag.url) || (d.context && d.context.url) || undefined,
      status: d.response ? d.response.code : undefined }));
    hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => { sg.levels = d.levels.length; play(); });
    hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_, d) => { sg.audioTracks = d.audioTracks.length; });
    hls.loadSource(src);
    hls.attachMedia(video);
  }
} else {
  const player = (window.dashPlayer = dashjs.MediaPlayer().create());
  const ev = dashjs.MediaPlayer.events;
  const describe = (e) => {
    const x = e.error || e;
    return { code: x.code, message: x.message ? String(x.message) : String(x) };
  };
  player.on(ev.ERROR, (e) => error({ source: 'dash.js', fatal: true, ...describe(e) }));
  player.on(ev.PLAYBACK_ERROR, (e) => error({ source: 'dash.js playback', fatal: true,
                                              ...describe(e) }));
  player.on(ev.STREAM_INITIALIZED, () => {
    sg.levels = player.getRepresentationsByType('video').length;
    sg.audioTracks = player.getTracksFor('audio').length;
  });
  player.initialize(video, src, true);
}
</script></body></html>
`;

const server = http.createServer((req, res) => {
  const route = new URL(req.url, 'http://x').pathname;
  if (route === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  } else if (scripts[route]) {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    fs.createReadStream(scripts[route]).pipe(res);
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const pageUrl =
  `http://127.0.0.1:${server.address().port}/?kind=${opts.kind}` +
  `&src=${encodeURIComponent(opts.url)}`;

const result = {
  ok: false,
  player: opts.kind === 'hls' ? 'hls.js' : 'dash.js',
  currentTime: 0,
  duration: null,
  width: 0,
  height: 0,
  levels: 0,
  audioTracks: 0,
  errors: [],
};
let browser;
try {
  browser = await launchChromium(chromium, chromiumPath, opts.timeout * 1000);
  const tab = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  tab.on('pageerror', (e) => result.errors.push({ source: 'page', fatal: true, message: e.message }));
  const deadline = Date.now() + opts.timeout * 1000;
  await tab.goto(pageUrl, { timeout: opts.timeout * 1000 });
  let reason = null;
  try {
    await tab.waitForFunction(
      (seconds) => {
        const v = document.getElementById('v');
        return window.sg.fatal || v.ended || v.currentTime >= seconds;
      },
      opts.seconds,
      { polling: 100, timeout: Math.max(1, deadline - Date.now()) },
    );
  } catch (e) {
    if (e.name !== 'TimeoutError') throw e;
    reason = `timed out after ${opts.timeout} s`;
  }
  const seen = await tab.evaluate(() => {
    const v = document.getElementById('v');
    return {
      currentTime: v.currentTime,
      duration: Number.isFinite(v.duration) ? v.duration : null,
      width: v.videoWidth,
      height: v.videoHeight,
      levels: window.sg.levels,
      audioTracks: window.sg.audioTracks,
      errors: window.sg.errors,
      ended: v.ended,
    };
  });
  Object.assign(result, {
    currentTime: seen.currentTime,
    duration: seen.duration,
    width: seen.width,
    height: seen.height,
    levels: seen.levels,
    audioTracks: seen.audioTracks,
    errors: [...seen.errors, ...result.errors],
  });
  if (opts.screenshot) await tab.screenshot({ path: opts.screenshot });
  const fatal = result.errors.find((e) => e.fatal);
  if (fatal) {
    reason = `fatal error from ${fatal.source}: ${fatal.details || fatal.message || fatal.code}`;
  } else if (!reason && result.currentTime < opts.seconds) {
    reason = seen.ended ? 'the video ended' : 'stopped';
  }
  if (reason) {
    result.reason = `${reason}; currentTime ${result.currentTime} s, wanted ${opts.seconds} s`;
  } else {
    result.ok = true;
  }
} catch (e) {
  result.reason = `harness: ${e.message.split('\n')[0]}`;
} finally {
  if (browser) await browser.close().catch(() => {});
  server.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(result.ok ? 0 : 1);
