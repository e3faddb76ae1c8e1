// A tiny backend for the todo example: it serves the page and issues Syncmesh user tokens.
//
//   npm start                          (in the repository: the local cluster on http://127.0.0.1:8080)
//   node examples/todo/server.mjs      (this backend on http://127.0.0.1:3000)
//
// Environment: SYNCMESH_URL (the gateway, default http://127.0.0.1:8080), SYNCMESH_JWT_SECRET (the
// gateway's JWT secret; default: read from SYNCMESH_DATA/secrets.json, the local cluster's, with
// SYNCMESH_DATA default ./data), PORT (default 3000; 0 picks a free one).
//
// A real backend issues a token only to a user it has signed in; this one trusts the user id it is
// given, which is fine for a demo on your own machine and nothing else.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { SignJWT } from 'jose';

const gateway = (process.env.SYNCMESH_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const dataDir = process.env.SYNCMESH_DATA ?? './data';
const secret = process.env.SYNCMESH_JWT_SECRET ?? (await readSecret());
const key = new TextEncoder().encode(secret);
const page = await readFile(new URL('./index.html', import.meta.url), 'utf8');

async function readSecret() {
  try {
    return JSON.parse(await readFile(`${dataDir}/secrets.json`, 'utf8')).jwtSecret;
  } catch (err) {
    throw new Error(`cannot read the cluster's JWT secret from ${dataDir}/secrets.json (${err.message}): start the cluster first (npm start), run this from the repository root, or set SYNCMESH_JWT_SECRET`);
  }
}

/** HS256, sub = the user id, expires in an hour: what the gateway checks (docs/client.md). */
function issueToken(userId) {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userId).setIssuedAt().setExpirationTime('1h').sign(key);
}

async function body(req) {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 4096) throw new Error('body too large');
  }
  return JSON.parse(text);
}

const server = createServer(async (req, res) => {
  const send = (status, type, text) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' });
    res.end(text);
  };
  try {
    if (req.method === 'GET' && (req.url === '/' || req.url?.startsWith('/?'))) {
      return send(200, 'text/html; charset=utf-8', page.replaceAll('%SYNCMESH_URL%', gateway));
    }
    if (req.method === 'POST' && req.url === '/api/token') {
      const { userId } = await body(req);
      if (typeof userId !== 'string' || !/^[\w.@-]{1,64}$/.test(userId)) return send(400, 'application/json', JSON.stringify({ error: 'userId: 1-64 letters, digits, . _ @ -' }));
      return send(200, 'application/json', JSON.stringify({ token: await issueToken(userId) }));
    }
    send(404, 'text/plain', 'not found');
  } catch (err) {
    send(400, 'application/json', JSON.stringify({ error: String(err.message ?? err) }));
  }
});

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`todo example on http://127.0.0.1:${server.address().port} (gateway ${gateway})`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)));
