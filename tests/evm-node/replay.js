#!/usr/bin/env node
'use strict';
// Tiny JSON-RPC replay server for a recording made by run.js:
//
//   node replay.js DIR [--port 8546]      (--port 0: any free port)
//
// Listens on 127.0.0.1 only. A request (or a batch) is answered with the
// recorded response whose method and params are identical (JSON equality,
// so use the same spelling run.js used: hex block numbers, "true" for full
// transactions, {"tracer":"callTracer"}); the request's id is echoed. Anything
// not recorded gets error -32601. Prints "listening http://127.0.0.1:PORT"
// and runs until SIGINT/SIGTERM.

const fs = require('fs');
const http = require('http');
const path = require('path');

const argv = process.argv.slice(2);
const dir = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--port');
const pi = argv.indexOf('--port');
const port = pi >= 0 ? Number(argv[pi + 1]) : 8546;
if (!dir || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('usage: node replay.js DIR [--port 8546]');
  process.exit(2);
}
const rpcDir = path.join(dir, 'rpc');
const index = JSON.parse(fs.readFileSync(path.join(rpcDir, 'index.json'), 'utf8'));
const table = new Map();
for (const e of index) table.set(e.method + JSON.stringify(e.params), JSON.parse(fs.readFileSync(path.join(rpcDir, e.file), 'utf8')));

function answer(req) {
  const id = req && req.id !== undefined ? req.id : null;
  if (!req || typeof req.method !== 'string') return { jsonrpc: '2.0', id, error: { code: -32600, message: 'invalid request' } };
  const rec = table.get(req.method + JSON.stringify(req.params || []));
  if (!rec) return { jsonrpc: '2.0', id, error: { code: -32601, message: `not recorded: ${req.method} ${JSON.stringify(req.params || [])}` } };
  return rec.error ? { jsonrpc: '2.0', id, error: rec.error } : { jsonrpc: '2.0', id, result: rec.result };
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(405).end();
    return;
  }
  let body = '';
  req.on('data', (d) => {
    body += d;
    if (body.length > 1 << 20) req.destroy();
  });
  req.on('end', () => {
    let out;
    try {
      const j = JSON.parse(body);
      out = Array.isArray(j) ? j.map(answer) : answer(j);
    } catch (e) {
      out = { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } };
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  });
});
server.listen(port, '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port} (${table.size} recorded calls)`));
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => server.close(() => process.exit(0)));
