// The differential test of the tus protocol: the same request sequences sent to a reference
// server (@tus/server with its FileStore, tus-server.mjs) and to a candidate (StreamGate), their
// answers compared step by step: the status code, the Upload-Offset value, and whether
// Tus-Resumable, Location, Upload-Expires, Upload-Length and Upload-Defer-Length are there.
// tests/integration/tus_differential_test.cpp runs it.
//
//   node differential.mjs --reference URL --candidate URL --max-size BYTES [--self]
//
// Both servers must be started with the same maximum upload size (--max-size here) and with
// expiring uploads (the reference with --expiry-ms), so that the 413 and Upload-Expires steps mean
// the same on both. Prints one JSON object on stdout:
//   {"ok", "mismatches": [...], "differences": [...], "candidate_only": [...], "sequences": [...]}
// and exits 0 when there is no mismatch, 1 when there is one, 2 on bad arguments.
//
// Where the two are allowed to differ is written down below, each with its reason:
// - a step with `differs` (the reference breaks the tus 1.0.0 text there, and StreamGate follows
//   it): both servers must answer exactly the two statuses it names;
// - a sequence with `candidateOnly` (an extension the reference lacks: concatenation, checksum,
//   the 423 lock): the candidate must answer the statuses its steps `expect`; the reference's
//   answers are recorded for the report only;
// - NOT_SENT lists what is not sent here at all, and why.
// --self sends the compared sequences to the reference twice (--candidate is another reference
// server), skipping the exceptions: it checks the harness itself.
import http from 'node:http';
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';

const usage = 'usage: node differential.mjs --reference URL --candidate URL --max-size BYTES [--self]';
let args;
try {
  args = parseArgs({
    options: {
      reference: { type: 'string' },
      candidate: { type: 'string' },
      'max-size': { type: 'string' },
      self: { type: 'boolean', default: false },
    },
  }).values;
} catch (e) {
  console.error(`differential: ${e.message}\n${usage}`);
  process.exit(2);
}
const maxSize = Number(args['max-size']);
if (!args.reference || !args.candidate || !Number.isSafeInteger(maxSize) || maxSize < 1024) {
  console.error(`differential: --reference, --candidate and --max-size (>= 1024) are required\n${usage}`);
  process.exit(2);
}

const T = { 'Tus-Resumable': '1.0.0' };
const OCTETS = { ...T, 'Content-Type': 'application/offset+octet-stream' };
const b64 = (s) => Buffer.from(s).toString('base64');
const META = `filename ${b64('a.mp4')},filetype ${b64('video/mp4')},title ${b64('Différentiel')}`;
const bytes = (n, seed = 'x') => {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (seed.charCodeAt(0) + i * 7) & 0xff;
  return out;
};
const sha1 = (buf) => crypto.createHash('sha1').update(buf).digest('base64');
// An id no server handed out: a well-formed ULID (StreamGate's ids), and a plain word.
const UNKNOWN_ULID = '01JDZZZZZZZZZZZZZZZZZZZZZZ';

const GONE = 'StreamGate remembers a terminated upload and answers 410 Gone, @tus/server forgets it ' +
  '(404); tus 1.0.0 allows either for an upload the server removed, 410 when it keeps track';

// A step: method; `at` (the collection when absent, a number for the Location step N answered,
// or a path under the collection); headers; body (a Buffer); `concat` (Upload-Concat built from
// earlier steps' Locations). Compared sequences compare every step unless it `differs`.
const SEQUENCES = [
  { name: 'core: OPTIONS answers the versions and the maximum size', steps: [
    { method: 'OPTIONS', headers: {} },
  ] },
  { name: 'core: create, then HEAD and PATCH in two pieces', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '100', 'Upload-Metadata': META } },
    { method: 'HEAD', at: 0, headers: T },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: bytes(40) },
    { method: 'HEAD', at: 0, headers: T },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '40' }, body: bytes(60, 'y') },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: 'core: an empty upload is finished at creation', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '0' } },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: 'core: an empty PATCH leaves the offset', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '10' } },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: Buffer.alloc(0) },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: 'creation-with-upload: part of the bytes with the POST, the rest by PATCH', steps: [
    { method: 'POST', headers: { ...OCTETS, 'Upload-Length': '100' }, body: bytes(30) },
    { method: 'HEAD', at: 0, headers: T },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '30' }, body: bytes(70, 'z') },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: 'creation-with-upload: all the bytes with the POST', steps: [
    { method: 'POST', headers: { ...OCTETS, 'Upload-Length': '64' }, body: bytes(64) },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: 'creation-defer-length: the length comes with a later PATCH', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Defer-Length': '1' } },
    { method: 'HEAD', at: 0, headers: T },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: bytes(50) },
    { method: 'HEAD', at: 0, headers: T },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '50', 'Upload-Length': '80' },
      body: bytes(30, 'q') },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: 'creation-defer-length: a declared length cannot be changed', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '20' } },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0', 'Upload-Length': '30' },
      body: bytes(5) },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: 'creation-defer-length: the same length declared again', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '20' } },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0', 'Upload-Length': '20' },
      body: bytes(5), differs: { reference: 400, candidate: 204, reason:
        '@tus/server refuses any Upload-Length on a PATCH once the length is known; the tus text ' +
        '(creation-defer-length) says a set length MUST NOT be changed, and the same value is no ' +
        'change, so StreamGate takes the bytes' } },
  ] },
  { name: 'termination: DELETE, then the upload is gone', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '100' } },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: bytes(10) },
    { method: 'DELETE', at: 0, headers: T },
    { method: 'HEAD', at: 0, headers: T, differs: { reference: 404, candidate: 410, reason: GONE } },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '10' }, body: bytes(10), differs: { reference: 404, candidate: 410, reason: GONE } },
    { method: 'DELETE', at: 0, headers: T, differs: { reference: 404, candidate: 410, reason: GONE } },
  ] },
  { name: 'expiration: Upload-Expires while unfinished, not once finished', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '20' } },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: bytes(10) },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '10' }, body: bytes(10) },
  ] },
  { name: '412: no Tus-Resumable', steps: [
    { method: 'POST', headers: { 'Upload-Length': '10' } },
    { method: 'POST', headers: { ...T, 'Upload-Length': '10' } },
    { method: 'HEAD', at: 1, headers: {} },
    { method: 'PATCH', at: 1, headers: { 'Content-Type': 'application/offset+octet-stream',
                                         'Upload-Offset': '0' }, body: bytes(10) },
    { method: 'DELETE', at: 1, headers: {} },
    { method: 'HEAD', at: 1, headers: T },
  ] },
  { name: '412: a Tus-Resumable version the server does not speak', steps: [
    { method: 'POST', headers: { 'Tus-Resumable': '0.2.2', 'Upload-Length': '10' },
      differs: { reference: 400, candidate: 412, reason:
        '@tus/server checks Tus-Resumable with its header validators and answers 400; tus 1.0.0 ' +
        '(core protocol, Tus-Resumable) says an unsupported version MUST get 412 with Tus-Version' } },
  ] },
  { name: '415: a PATCH whose Content-Type is not application/offset+octet-stream', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '10' } },
    { method: 'PATCH', at: 0, headers: { ...T, 'Content-Type': 'text/plain', 'Upload-Offset': '0' },
      body: bytes(10), differs: { reference: 400, candidate: 415, reason:
        '@tus/server answers a wrong Content-Type with 400 (header validation); 415 Unsupported ' +
        'Media Type is the status for it (the tus 1.0.0 PATCH section and the issue name it)' } },
    { method: 'PATCH', at: 0, headers: { ...T, 'Upload-Offset': '0' }, body: bytes(10),
      differs: { reference: 403, candidate: 415, reason:
        '@tus/server answers a PATCH without Content-Type with 403; it is the same fault as a ' +
        'wrong one, 415' } },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: '409: a PATCH at the wrong offset changes nothing', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '100' } },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '5' }, body: bytes(10) },
    { method: 'HEAD', at: 0, headers: T },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: bytes(10) },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: bytes(10) },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: '413: an Upload-Length over the maximum size', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': String(maxSize + 1) } },
    { method: 'POST', headers: { ...T, 'Upload-Length': String(maxSize) } },
  ] },
  { name: '413: a PATCH body past Upload-Length stores nothing past it', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '100' } },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: bytes(150) },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: '413: a deferred length declared over the maximum size', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Defer-Length': '1' } },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0',
                                         'Upload-Length': String(maxSize + 1) }, body: bytes(10) },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: '400: creation headers', steps: [
    { method: 'POST', headers: T },
    { method: 'POST', headers: { ...T, 'Upload-Length': '10', 'Upload-Defer-Length': '1' } },
    { method: 'POST', headers: { ...T, 'Upload-Length': '-1' } },
    { method: 'POST', headers: { ...T, 'Upload-Length': 'ten' } },
    { method: 'POST', headers: { ...T, 'Upload-Defer-Length': '2' } },
  ] },
  { name: '400: malformed Upload-Metadata', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '10', 'Upload-Metadata': 'filename !!notbase64' } },
    { method: 'POST', headers: { ...T, 'Upload-Length': '10', 'Upload-Metadata': 'filename YQ' } },
    { method: 'POST', headers: { ...T, 'Upload-Length': '10',
                                 'Upload-Metadata': `filename ${b64('a')},filename ${b64('b')}` } },
    // An empty pair after a trailing comma: not "one or more comma-separated key-value pairs".
    // FAILS on the upload plugin as merged (1ecb97d): it answers 201; for the lead to fix.
    { method: 'POST', headers: { ...T, 'Upload-Length': '10', 'Upload-Metadata': `filename ${b64('a')},` } },
  ] },
  { name: '400: a PATCH with a malformed Upload-Offset', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '10' } },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': 'zero' }, body: bytes(10) },
    { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '-1' }, body: bytes(10) },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: '400 or 403: a PATCH without Upload-Offset', steps: [
    { method: 'POST', headers: { ...T, 'Upload-Length': '10' } },
    { method: 'PATCH', at: 0, headers: OCTETS, body: bytes(10),
      differs: { reference: 403, candidate: 400, reason:
        '@tus/server answers a missing Upload-Offset with 403; it is a malformed request, 400, ' +
        'like a malformed Upload-Offset (which @tus/server answers 400 too)' } },
    { method: 'HEAD', at: 0, headers: T },
  ] },
  { name: '404: an id no server handed out', steps: [
    { method: 'HEAD', at: UNKNOWN_ULID, headers: T },
    { method: 'PATCH', at: UNKNOWN_ULID, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: bytes(4) },
    { method: 'DELETE', at: UNKNOWN_ULID, headers: T },
  ] },

  // Extensions the reference lacks: its FileStore declares neither concatenation nor checksum
  // (PostHandler answers any Upload-Concat with 501) and its locker makes a second PATCH wait for
  // the first instead of refusing it.
  { name: 'concatenation: two partial uploads, then the final one', candidateOnly:
      '@tus/file-store has no concatenation extension: @tus/server answers Upload-Concat with 501',
    steps: [
      { method: 'POST', headers: { ...T, 'Upload-Length': '50', 'Upload-Concat': 'partial' },
        expect: 201 },
      { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: bytes(50),
        expect: 204, offset: '50' },
      { method: 'POST', headers: { ...OCTETS, 'Upload-Length': '30', 'Upload-Concat': 'partial' },
        body: bytes(30, 'p'), expect: 201, offset: '30' },
      { method: 'HEAD', at: 0, headers: T, expect: 200, offset: '50' },
      { method: 'POST', headers: { ...T, 'Upload-Metadata': META }, concat: [0, 2], expect: 201 },
      { method: 'HEAD', at: 4, headers: T, expect: 200, offset: '80' },
      // tus 1.0.0 (concatenation): a PATCH to a final upload MUST get 403 Forbidden.
      // FAILS on the upload plugin as merged (1ecb97d): it answers 409; for the lead to fix.
      { method: 'PATCH', at: 4, headers: { ...OCTETS, 'Upload-Offset': '80' }, body: bytes(1),
        expect: 403 },
    ] },
  { name: 'concatenation: a final upload of an unfinished partial one is refused', candidateOnly:
      '@tus/file-store has no concatenation extension: @tus/server answers Upload-Concat with 501',
    steps: [
      { method: 'POST', headers: { ...T, 'Upload-Length': '50', 'Upload-Concat': 'partial' },
        expect: 201 },
      { method: 'POST', headers: T, concat: [0], expect: 400 },
      { method: 'POST', headers: T, concat: ['/api/v1/uploads/' + UNKNOWN_ULID], expect: 400 },
    ] },
  { name: 'checksum: a wrong digest gets 460 and the chunk is discarded', candidateOnly:
      '@tus/server has no checksum extension: it ignores Upload-Checksum and stores the chunk',
    steps: [
      { method: 'POST', headers: { ...T, 'Upload-Length': '20' }, expect: 201 },
      { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0',
                                           'Upload-Checksum': `sha1 ${sha1(Buffer.from('other'))}` },
        body: bytes(10), expect: 460 },
      { method: 'HEAD', at: 0, headers: T, expect: 200, offset: '0' },
      { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0',
                                           'Upload-Checksum': `sha1 ${sha1(bytes(10))}` },
        body: bytes(10), expect: 204, offset: '10' },
      { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '10',
                                           'Upload-Checksum': `whirlpool ${sha1(bytes(10))}` },
        body: bytes(10), expect: 400 },
      { method: 'HEAD', at: 0, headers: T, expect: 200, offset: '10' },
    ] },
  { name: 'locking: a second PATCH while the first is still sending gets 423', candidateOnly:
      "@tus/server's MemoryLocker makes the first request give the lock up (it is cut), then " +
      'serves the second: no 423. The candidate waits upload.lock_wait for the first to end ' +
      '(it does not: it is stalled), then answers 423',
    steps: [
      { method: 'POST', headers: { ...T, 'Upload-Length': '100' }, expect: 201 },
      // Sends 10 of the 100 bytes it announces and waits: the upload's PATCH is in progress.
      { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0', 'Content-Length': '100' },
        body: bytes(10), stall: true },
      // Empty PATCHes (they store nothing) until the server has taken the first one in; then
      // one with bytes.
      { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' },
        body: Buffer.alloc(0), until: 423, expect: 423 },
      { method: 'PATCH', at: 0, headers: { ...OCTETS, 'Upload-Offset': '0' }, body: bytes(100),
        expect: 423 },
      { cancel: 1 },
    ] },
];

const NOT_SENT = [
  { what: '429, too many concurrent uploads from one client', reason:
    '@tus/server has no per-client limit; the candidate\'s is a StreamGate setting ' +
    '(upload.max_concurrent_per_client), tested in its own tests' },
  { what: '410 after Upload-Expires', reason:
    'needs an upload to outlive the expiry, a timing matter: the expiry tests of the upload ' +
    'plugin cover it' },
];

// One request with plain node http, exactly the headers given (a Content-Length for the body
// unless the step names one). Resolves with the status and headers; a server that answers
// before reading the whole body (413) still gives its answer.
function Send(base, step, target, extraHeaders) {
  return new Promise((resolve) => {
    const url = new URL(target, base);
    const headers = { ...step.headers, ...extraHeaders };
    if (step.body !== undefined && headers['Content-Length'] === undefined) {
      headers['Content-Length'] = String(step.body.length);
    }
    const req = http.request(url, { method: step.method, headers, agent: false });
    let settled = false;
    const done = (value) => {
      if (!settled) {
        settled = true;
        resolve(value);
      }
    };
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode, headers: res.headers,
                                 body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => done({ status: res.statusCode, headers: res.headers, body: '' }));
    });
    req.on('error', (e) => setTimeout(() => done({ status: 0, error: e.message, headers: {} }), 50));
    if (step.stall) {
      // Once the bytes left for the server. They may still reach it after the next step's
      // request (another connection): `answered` then says the server refused this one.
      req.on('response', (res) => { req.answered = res.statusCode; });
      req.write(step.body, () => done({ status: 'stalled', request: req, headers: {} }));
      return;
    }
    req.end(step.body);
  });
}

// What of an answer is compared.
function Shape(method, res) {
  const h = res.headers;
  return {
    status: res.status,
    offset: h['upload-offset'] ?? null,
    tus_resumable: method === 'OPTIONS' ? undefined : 'tus-resumable' in h,
    location: res.status === 201 ? 'location' in h : undefined,
    // The expiration extension names POST and PATCH answers; a HEAD MAY carry it.
    expires: method === 'POST' || method === 'PATCH' ? 'upload-expires' in h : undefined,
    length: method === 'HEAD' ? h['upload-length'] ?? null : undefined,
    defer_length: method === 'HEAD' ? h['upload-defer-length'] ?? null : undefined,
    max_size: method === 'OPTIONS' ? h['tus-max-size'] ?? null : undefined,
    version: method === 'OPTIONS' || res.status === 412 ? h['tus-version'] ?? null : undefined,
  };
}

// Runs one sequence against one server: the shape of each answer.
async function Play(base, sequence) {
  const locations = [];
  const stalled = [];
  const stalledSteps = [];  // how to send a stalled request again
  const answers = [];
  for (const [i, step] of sequence.steps.entries()) {
    if (step.cancel !== undefined) {
      stalled[step.cancel]?.destroy();
      answers.push({ cancel: step.cancel });
      continue;
    }
    let target = base;
    if (typeof step.at === 'number') target = locations[step.at];
    else if (typeof step.at === 'string') target = `${base}/${step.at}`;
    if (target === undefined) {
      answers.push({ status: 'not sent: step ' + step.at + ' gave no Location' });
      continue;
    }
    const extra = {};
    if (step.concat) {
      const parts = step.concat.map((c) => (typeof c === 'number' ? locations[c] : c));
      if (parts.some((p) => p === undefined)) {
        answers.push({ status: 'not sent: a partial upload gave no Location' });
        continue;
      }
      // Paths, as the tus text shows them (clients such as tus-js-client send whole URLs).
      extra['Upload-Concat'] = `final;${parts.map((p) => new URL(p, base).pathname).join(' ')}`;
    }
    let res = await Send(base, step, target, extra);
    // A step with `until` is sent again, for up to 3 s, until it gets that status. A stalled
    // request that reached the server only after one of these, and was refused for it (423),
    // is sent again: the step is about a request that is still sending.
    for (const deadline = Date.now() + 3000; step.until !== undefined &&
         res.status !== step.until && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (const [j, r] of stalled.entries()) {
        if (r?.answered === undefined) continue;
        r.destroy();
        const again = await Send(base, stalledSteps[j].step, stalledSteps[j].target,
                                 stalledSteps[j].extra);
        stalled[j] = again.request;
      }
      res = await Send(base, step, target, extra);
    }
    if (res.status === 'stalled') {
      stalled[i] = res.request;
      stalledSteps[i] = { step, target, extra };
      answers.push({ status: 'stalled' });
      continue;
    }
    if (res.headers.location) locations[i] = new URL(res.headers.location, base).href;
    answers.push({ method: step.method, ...Shape(step.method, res),
                   ...(res.status >= 400 || res.status === 0 ? { body: res.body ?? res.error } : {}) });
  }
  for (const r of stalled) r?.destroy();
  return answers;
}

// Whether field `k` of two answers to `step` agree. Two tolerances, each with its reason:
// - Upload-Offset on a creation without a body: @tus/server sends none, StreamGate sends 0; both
//   say no byte is stored (the tus text asks for it only when the POST carries bytes);
// - Tus-Version on a 412: @tus/server sends it only for OPTIONS, StreamGate on every 412 as the
//   tus text asks (checked of the candidate on its own below).
function Same(k, step, ref, got) {
  if (k === 'body' || k === 'method' || ref[k] === undefined) return true;
  if (JSON.stringify(ref[k]) === JSON.stringify(got[k])) return true;
  if (k === 'offset' && step.method === 'POST' && !step.body && ref.offset === null &&
      got.offset === '0') return true;
  if (k === 'version' && ref.status === 412) return true;
  return false;
}

const Describe = (step, extra = {}) => ({
  method: step.method,
  at: typeof step.at === 'string' ? step.at : step.at === undefined ? 'collection' : `Location of step ${step.at}`,
  headers: step.headers,
  body_bytes: step.body?.length ?? 0,
  ...(step.concat ? { concat: step.concat } : {}),
  ...extra,
});

const report = { ok: true, reference: args.reference, candidate: args.candidate,
                 mismatches: [], differences: [], candidate_only: [], not_sent: NOT_SENT,
                 sequences: [] };
for (const sequence of SEQUENCES) {
  if (sequence.candidateOnly && args.self) continue;
  const reference = await Play(args.reference, sequence);
  const candidate = await Play(args.candidate, sequence);
  report.sequences.push({ name: sequence.name, reference, candidate });
  for (const [i, step] of sequence.steps.entries()) {
    if (step.cancel !== undefined || step.stall) continue;
    const ref = reference[i];
    const got = candidate[i];
    const where = { sequence: sequence.name, step: i, request: Describe(step) };
    if (sequence.candidateOnly) {
      const wrong = got.status !== step.expect ||
                    (step.offset !== undefined && got.offset !== step.offset);
      const entry = { ...where, reason: sequence.candidateOnly,
                      expected: { status: step.expect, offset: step.offset ?? '(any)' },
                      got, reference_got: ref };
      report.candidate_only.push(entry);
      if (wrong) report.mismatches.push({ ...entry, kind: 'an extension the reference lacks' });
      continue;
    }
    if (step.differs && !args.self) {
      const entry = { ...where, reason: step.differs.reason,
                      expected: { reference: step.differs.reference, candidate: step.differs.candidate },
                      got: { reference: ref.status, candidate: got.status } };
      report.differences.push(entry);
      if (ref.status !== step.differs.reference || got.status !== step.differs.candidate) {
        report.mismatches.push({ ...entry, kind: 'a declared difference did not hold',
                                 reference_answer: ref, candidate_answer: got });
      }
      continue;
    }
    const fields = Object.keys(ref).filter((k) => !Same(k, step, ref, got));
    if (fields.length > 0) {
      report.mismatches.push({ ...where, kind: 'the two servers answered differently',
                               fields, expected: ref, got });
    }
    // What the tus text asks of every server, which the reference does not always do.
    if (got.status === 412 && !args.self && got.version === null) {
      report.mismatches.push({ ...where, kind: 'a 412 without Tus-Version (tus 1.0.0: MUST)', got });
    }
  }
}
report.ok = report.mismatches.length === 0;
process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
process.exit(report.ok ? 0 : 1);
