#!/usr/bin/env bash
# The player harness's self-test: makes a short clip with ffmpeg (lavfi testsrc2 + sine, 640x360),
# packages it as the transcoder does (CMAF, DASH with HLS playlists, two video renditions and one
# audio), serves it from a small CORS-enabled node server on another origin, and plays
# master.m3u8 with hls.js and manifest.mpd with dash.js through play.mjs in headless chromium.
# Exit status: 0 both played, 1 one did not, 77 skipped (no ffmpeg, chromium or node modules).
#
#   tests/peers/player/selftest.sh [OUT_DIR]     (OUT_DIR keeps the media and the screenshots)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
for tool in ffmpeg node; do
  command -v "$tool" >/dev/null || { echo "selftest: skipped: no $tool" >&2; exit 77; }
done
keep=false
if [[ $# -ge 1 ]]; then
  work="$1"
  keep=true
  mkdir -p "$work"
else
  work="$(mktemp -d)"
fi
server_pid=
# shellcheck disable=SC2317  # the EXIT trap calls it
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
  if ! $keep; then rm -rf "$work"; fi
}
trap cleanup EXIT

mkdir -p "$work/out"
ffmpeg -hide_banner -nostdin -y -v error -f lavfi -i testsrc2=size=640x360:rate=30:duration=6 \
  -f lavfi -i sine=frequency=440:duration=6 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest \
  "$work/src.mp4"
# As daemon/plugins/transcoder/ladder.cpp does it: one decode scaled in a cascade into the
# renditions, keyframes at every segment boundary, DASH with HLS playlists (master.m3u8, media_N.m3u8).
# shellcheck disable=SC2016  # ffmpeg's own $RepresentationID$ templates
ffmpeg -hide_banner -nostdin -y -v error -i "$work/src.mp4" \
  -filter_complex '[0:v:0]scale=w=640:h=360,format=yuv420p,split=2[v0][c0];[c0]scale=w=320:h=180,format=yuv420p[v1]' \
  -map '[v0]' -map '[v1]' -map 0:a:0 -c:v libx264 -preset veryfast \
  -b:v:0 800000 -maxrate:v:0 880000 -bufsize:v:0 1600000 \
  -b:v:1 300000 -maxrate:v:1 330000 -bufsize:v:1 600000 \
  -g 60 -keyint_min 60 -sc_threshold 0 -force_key_frames 'expr:gte(t,n_forced*2)' \
  -c:a aac -b:a 128000 -ac 2 \
  -f dash -seg_duration 2 -use_template 1 -use_timeline 1 -hls_playlist 1 \
  -adaptation_sets 'id=0,streams=v id=1,streams=a' \
  -init_seg_name 'init-$RepresentationID$.$ext$' -media_seg_name 'seg-$RepresentationID$-$Number%05d$.$ext$' \
  "$work/out/manifest.mpd"

# A static server with CORS, as StreamGate will answer: prints its port, serves $work/out.
node --input-type=module - "$work/out" >"$work/port" <<'EOF' &
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
const root = path.resolve(process.argv[2]);
const types = { '.mpd': 'application/dash+xml', '.m3u8': 'application/vnd.apple.mpegurl',
                '.m4s': 'video/iso.segment', '.mp4': 'video/mp4' };
const server = http.createServer((req, res) => {
  const file = path.join(root, path.normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)));
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*' };
  if (req.method === 'OPTIONS') return res.writeHead(204, cors).end();
  fs.readFile(file, (err, body) => {
    if (err || !file.startsWith(root + path.sep)) return res.writeHead(404, cors).end();
    res.writeHead(200, { ...cors, 'content-type': types[path.extname(file)] || 'application/octet-stream' });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
EOF
server_pid=$!
deadline=$((SECONDS + 10))
until [[ -s $work/port ]]; do
  if ((SECONDS > deadline)) || ! kill -0 "$server_pid" 2>/dev/null; then
    echo "selftest: the media server did not start" >&2
    exit 1
  fi
  sleep 0.05
done
base="http://127.0.0.1:$(head -1 "$work/port")"

status=0
for run in "hls master.m3u8" "dash manifest.mpd"; do
  read -r kind file <<<"$run"
  echo "selftest: node play.mjs --$kind $base/$file --seconds 3 --screenshot $work/$kind.png" >&2
  rc=0
  node "$here/play.mjs" --"$kind" "$base/$file" --seconds 3 --screenshot "$work/$kind.png" \
    --timeout 60 || rc=$?
  if ((rc == 77)); then exit 77; fi
  if ((rc != 0)); then status=1; fi
done
exit $status
