'use strict';
// A localhost HTTP server for files on disk, so a browser loads them over http: speedscope refuses
// `#profileURL=` from a file:// page, and fetch() needs a same-origin URL.

const fs = require('fs');
const http = require('http');
const path = require('path');

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.wasm': 'application/wasm', '.woff2': 'font/woff2' };

/**
 * Serves `mounts` ({ '/url-prefix/': '/dir/on/disk' }) on 127.0.0.1 at a free port.
 * Resolves to { origin, close() }.
 */
function serveStatic(mounts) {
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    const prefix = Object.keys(mounts).find((p) => urlPath.startsWith(p));
    const file = prefix && path.join(mounts[prefix], urlPath.slice(prefix.length) || 'index.html');
    // Nothing outside the mounted folder, whatever `..` the URL holds.
    if (!file || !file.startsWith(path.resolve(mounts[prefix])) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${server.address().port}`;
      resolve({ origin, close: () => new Promise((done) => server.close(done)) });
    });
  });
}

module.exports = { serveStatic };
