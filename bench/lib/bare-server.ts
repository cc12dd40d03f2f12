/**
 * The bare baseline server: node:http reading each request's body and answering 200 with an
 * empty body, as Bolt's ack() does (GET answers "ok", for readiness). No routing, no signature
 * check, no parsing: the least any server must do to answer the same requests. Run as plain
 * `node -e` (no TypeScript loader), exactly like the signoff it is compared with.
 */
export const BARE_SERVER_JS = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  if (req.method === 'GET') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); return; }
  req.on('data', () => undefined);
  req.on('end', () => { res.writeHead(200, { 'content-length': '0' }); res.end(); });
});
server.keepAliveTimeout = 72000;
server.listen(Number(process.env.SIGNOFF_PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;
