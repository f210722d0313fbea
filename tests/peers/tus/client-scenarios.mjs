// tus-js-client (the tus project's own client, its node build) against a tus endpoint: the
// scenarios a real client goes through. tests/integration/tus_clients_test.cpp runs it against a
// real streamgated and checks what landed in storage and in the catalogue.
//
//   node client-scenarios.mjs --endpoint URL --out DIR [--only NAME[,NAME...]]
//
// Each scenario uploads bytes it generates and writes them to DIR/NAME.bin first, so the caller
// can compare them with what the server stored. Prints one JSON object on stdout:
//   {"endpoint": URL, "scenarios": [{"name", "ok", "error", "url", "id", "size", "file",
//                                    "requests": [{"method", "status", "offset"}], ...}]}
// and exits 0 when every scenario ended as it should, 1 when one did not, 2 on bad arguments.
//
// Scenarios:
//   plain          one upload of 3 MiB + 17 bytes in 1 MiB chunks, with metadata.
//   abort-resume   24 MiB in 8 MiB chunks, aborted in the middle of the second PATCH, then a new
//                  Upload finds the stored URL (FileUrlStorage, findPreviousUploads) and finishes
//                  from the offset the server reports.
//   parallel       10 MiB in 3 parallel partial uploads, then the final (concatenation) upload.
//   checksum       4 MiB + 5 bytes in 1 MiB chunks, each PATCH with an Upload-Checksum computed
//                  in onBeforeRequest (tus-js-client has no checksum extension); the second chunk's
//                  first try carries a wrong digest, which must get 460, leave the offset where it
//                  was, and be retried to the end.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

let tus;
try {
  tus = await import('tus-js-client');
} catch (e) {
  console.error(`client-scenarios: tus-js-client is not installed (${e.message}); ` +
                'run scripts/install-deps.sh --test');
  process.exit(2);
}

const usage = 'usage: node client-scenarios.mjs --endpoint URL --out DIR [--only NAME[,NAME...]] ' +
              '[--file PATH]';
let args;
try {
  args = parseArgs({
    options: { endpoint: { type: 'string' }, out: { type: 'string' }, only: { type: 'string' },
               file: { type: 'string' } },
  }).values;
} catch (e) {
  console.error(`client-scenarios: ${e.message}\n${usage}`);
  process.exit(2);
}
if (!args.endpoint || !args.out) {
  console.error(`client-scenarios: --endpoint and --out are required\n${usage}`);
  process.exit(2);
}
const endpoint = args.endpoint;
fs.mkdirSync(args.out, { recursive: true });
const MiB = 1024 * 1024;
// Retries for what a real client meets: a 423 while the server still holds the lock of a PATCH
// the client cut, a 409 after it (the server kept more than the client saw acknowledged).
const retryDelays = [0, 100, 300, 1000, 2000, 4000];

// Bytes that differ from offset to offset, so that a misplaced or repeated chunk shows.
function Bytes(name, size) {
  const out = Buffer.alloc(size);
  let block = crypto.createHash('sha256').update(name).digest();
  for (let i = 0; i < size; i += block.length) {
    block.copy(out, i);
    block = crypto.createHash('sha256').update(block).digest();
  }
  fs.writeFileSync(path.join(args.out, `${name}.bin`), out);
  return out;
}

function Digest(algorithm, bytes) {
  if (algorithm === 'crc32') {
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(bytes) >>> 0);
    return crc.toString('base64');
  }
  return crypto.createHash(algorithm).update(bytes).digest('base64');
}

// HEAD on an upload URL with plain node http: the offset the server reports, or its status.
function Head(url) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode,
                                      offset: res.headers['upload-offset'] ?? null }));
      });
    req.on('error', reject);
    req.end();
  });
}

// Records every request tus-js-client makes: method, path, status, Upload-Offset answered.
function Recorder() {
  const requests = [];
  return {
    requests,
    onAfterResponse(req, res) {
      requests.push({
        method: req.getMethod(),
        path: new URL(req.getURL(), endpoint).pathname,
        status: res.getStatus(),
        offset: res.getHeader('Upload-Offset') ?? null,
        sent_offset: req.getHeader('Upload-Offset') ?? null,
      });
    },
  };
}

// Runs one Upload to its end: resolves with the URL, rejects with tus-js-client's error.
function Run(upload) {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = () => resolve(upload.url);
    upload.options.onError = reject;
    upload.start();
  });
}

function Metadata(name, bytes) {
  return { filename: `${name}.bin`, filetype: 'video/mp4', title: `tus-js-client ${name}`,
           size: String(bytes.length) };
}

const IdOf = (url) => new URL(url, endpoint).pathname.split('/').pop();

async function Plain() {
  // --file: a real video (a pipeline test transcodes it), else bytes of our own.
  const bytes = args.file ? fs.readFileSync(args.file) : Bytes('plain', 3 * MiB + 17);
  if (args.file) fs.writeFileSync(path.join(args.out, 'plain.bin'), bytes);
  const rec = Recorder();
  const url = await Run(new tus.Upload(bytes, {
    endpoint, chunkSize: MiB, retryDelays, metadata: Metadata('plain', bytes),
    onAfterResponse: rec.onAfterResponse,
  }));
  const head = await Head(new URL(url, endpoint));
  return { ok: Number(head.offset) === bytes.length, url, size: bytes.length,
           final_head: head, requests: rec.requests };
}

async function AbortResume() {
  const bytes = Bytes('abort-resume', 24 * MiB);
  const chunkSize = 8 * MiB;
  const storage = new tus.FileUrlStorage(path.join(args.out, 'tus-url-storage.json'));
  const common = {
    endpoint, chunkSize, retryDelays, metadata: Metadata('abort-resume', bytes),
    urlStorage: storage, storeFingerprintForResuming: true, removeFingerprintOnSuccess: true,
    // The node build has no fingerprint for a Buffer: name this file for the URL storage.
    fingerprint: async () => 'client-scenarios-abort-resume',
  };
  const rec = Recorder();
  const first = new tus.Upload(bytes, { ...common, onAfterResponse: rec.onAfterResponse });
  let abortedAt = null;
  const aborted = new Promise((resolve, reject) => {
    first.options.onError = reject;
    first.options.onSuccess = () => reject(new Error('the upload finished before it was aborted'));
    // In the middle of the second PATCH: the first chunk is acknowledged; of the second, 1 MiB
    // goes out, then the client stalls and aborts once those bytes left it. (Progress events are
    // throttled to one per 100 ms, too coarse on loopback to abort at a byte count.)
    first.options.httpStack = new (class extends tus.DefaultHttpStack {
      createRequest(method, url) {
        const req = super.createRequest(method, url);
        if (method !== 'PATCH') return req;
        const send = req.send.bind(req);
        req.send = (body) => {
          if (abortedAt !== null || Number(req.getHeader('Upload-Offset')) !== chunkSize) {
            return send(body);
          }
          abortedAt = chunkSize + MiB;
          const stalled = new PassThrough();
          stalled.write(body.subarray(0, MiB));
          const sent = () => {
            const request = req.getUnderlyingObject();
            if (!request || stalled.readableLength > 0 || request.writableLength > 0) {
              return setImmediate(sent);
            }
            first.abort(false).then(resolve, reject);
          };
          setImmediate(sent);
          return send(stalled);
        };
        return req;
      }
    })();
  });
  first.start();
  await aborted;
  const afterAbort = await Head(new URL(first.url, endpoint));

  const previous = await new tus.Upload(bytes, common).findPreviousUploads();
  if (previous.length !== 1) throw new Error(`findPreviousUploads found ${previous.length} uploads`);
  const rec2 = Recorder();
  const second = new tus.Upload(bytes, { ...common, onAfterResponse: rec2.onAfterResponse });
  second.resumeFromPreviousUpload(previous[0]);
  const url = await Run(second);
  const head = await Head(new URL(url, endpoint));
  const resumedFrom = rec2.requests.find((r) => r.method === 'PATCH')?.sent_offset ?? null;
  return {
    ok: url === first.url && Number(head.offset) === bytes.length && Number(resumedFrom) > 0 &&
        Number(afterAbort.offset) < bytes.length,
    url, size: bytes.length, aborted_after_bytes: abortedAt, head_after_abort: afterAbort,
    resumed_from: resumedFrom, same_url: url === first.url, final_head: head,
    requests: [...rec.requests, ...rec2.requests],
  };
}

async function Parallel() {
  const bytes = Bytes('parallel', 10 * MiB);
  const rec = Recorder();
  const url = await Run(new tus.Upload(bytes, {
    endpoint, parallelUploads: 3, chunkSize: 2 * MiB, retryDelays,
    metadata: Metadata('parallel', bytes), onAfterResponse: rec.onAfterResponse,
  }));
  const head = await Head(new URL(url, endpoint));
  const partials = rec.requests.filter((r) => r.method === 'POST').length - 1;
  return { ok: partials === 3 && Number(head.offset) === bytes.length, url, size: bytes.length,
           partial_uploads: partials, final_head: head, requests: rec.requests };
}

async function Checksum() {
  const bytes = Bytes('checksum', 4 * MiB + 5);
  const chunkSize = MiB;
  const algorithms = ['sha1', 'sha1', 'md5', 'crc32', 'sha256'];
  const rec = Recorder();
  let corrupted = false;
  const url = await Run(new tus.Upload(bytes, {
    endpoint, chunkSize, retryDelays, metadata: Metadata('checksum', bytes),
    // tus-js-client sets Upload-Offset before this hook and sends the chunk that starts there.
    onBeforeRequest(req) {
      if (req.getMethod() !== 'PATCH') return;
      const offset = Number(req.getHeader('Upload-Offset'));
      const chunk = bytes.subarray(offset, Math.min(offset + chunkSize, bytes.length));
      const algorithm = algorithms[Math.floor(offset / chunkSize) % algorithms.length];
      let digest = Digest(algorithm, chunk);
      if (offset === chunkSize && !corrupted) {
        corrupted = true;
        digest = Digest(algorithm, Buffer.from('not this chunk'));
      }
      req.setHeader('Upload-Checksum', `${algorithm} ${digest}`);
    },
    onAfterResponse: rec.onAfterResponse,
    // A 460 is a 4xx, which tus-js-client does not retry by itself: the chunk is sent again.
    onShouldRetry(err) {
      const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
      return status === 460 || status === 409 || status === 423 || status === 0 || status >= 500;
    },
  }));
  const head = await Head(new URL(url, endpoint));
  const refused = rec.requests.filter((r) => r.method === 'PATCH' && r.status === 460);
  // After the 460, tus-js-client asks the offset again: it must still be where the bad chunk began.
  const i = rec.requests.findIndex((r) => r.status === 460);
  const nextHead = rec.requests.slice(i + 1).find((r) => r.method === 'HEAD');
  return {
    ok: refused.length === 1 && refused[0].sent_offset === String(chunkSize) &&
        nextHead?.offset === String(chunkSize) && Number(head.offset) === bytes.length,
    url, size: bytes.length, refused_with_460: refused.length,
    offset_after_460: nextHead?.offset ?? null, final_head: head, requests: rec.requests,
  };
}

const scenarios = { plain: Plain, 'abort-resume': AbortResume, parallel: Parallel,
                    checksum: Checksum };
const only = args.only ? args.only.split(',') : Object.keys(scenarios);
for (const name of only) {
  if (!scenarios[name]) {
    console.error(`client-scenarios: no scenario '${name}'; there are ` +
                  `${Object.keys(scenarios).join(', ')}`);
    process.exit(2);
  }
}

const results = [];
for (const name of only) {
  const result = { name, file: path.join(args.out, `${name}.bin`) };
  try {
    Object.assign(result, await scenarios[name]());
    result.id = IdOf(result.url);
  } catch (e) {
    result.ok = false;
    result.error = String(e.message ?? e);
  }
  results.push(result);
}
process.stdout.write(`${JSON.stringify({ endpoint, scenarios: results }, null, 1)}\n`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
