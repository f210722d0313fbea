// The reference tus server: the tus project's own @tus/server with its FileStore, on loopback.
// The differential test and the upload benchmark start it and read the URL it prints.
//
//   node tus-server.mjs --dir DIR [--max-size BYTES] [--expiry-ms MS] [--port N]
//
// Prints one line, `listening on http://127.0.0.1:PORT/api/v1/uploads`, once it accepts
// connections (port 0, the default, lets the kernel pick one). Ends on SIGTERM or SIGINT.
import { parseArgs } from 'node:util';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`tus-server: node ${process.versions.node} is too old for @tus/server 2 ` +
                '(it needs >= 20.19); install a newer nodejs and run scripts/install-deps.sh --test');
  process.exit(2);
}

let Server, FileStore;
try {
  ({ Server } = await import('@tus/server'));
  ({ FileStore } = await import('@tus/file-store'));
} catch (e) {
  console.error(`tus-server: @tus/server is not installed (${e.message}); ` +
                'run scripts/install-deps.sh --test');
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      dir: { type: 'string' },
      'max-size': { type: 'string', default: '0' },
      'expiry-ms': { type: 'string', default: '0' },
      port: { type: 'string', default: '0' },
    },
  }).values;
} catch (e) {
  console.error(`tus-server: ${e.message}\n` +
                'usage: node tus-server.mjs --dir DIR [--max-size BYTES] [--expiry-ms MS] [--port N]');
  process.exit(2);
}
const number = (name) => {
  const n = Number(args[name]);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`tus-server: --${name} '${args[name]}' is not a non-negative integer`);
    process.exit(2);
  }
  return n;
};
if (!args.dir) {
  console.error('tus-server: --dir is required: the folder the FileStore keeps uploads in');
  process.exit(2);
}

const path = '/api/v1/uploads';
const server = new Server({
  path,
  datastore: new FileStore({
    directory: args.dir,
    expirationPeriodInMilliseconds: number('expiry-ms'),
  }),
  maxSize: number('max-size'),
  // Location as a path, as StreamGate answers; clients resolve it against the endpoint.
  relativeLocation: true,
});

const listener = server.listen(number('port'), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${listener.address().port}${path}`);
});
listener.on('error', (e) => {
  console.error(`tus-server: cannot listen: ${e.message}`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => listener.close(() => process.exit(0)));
}
