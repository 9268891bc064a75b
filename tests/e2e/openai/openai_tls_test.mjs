// The OpenAI-compatible API over TLS with the official `openai` SDK: certificates made at
// test time (tests/server/security/make_test_certs.sh) into a temporary directory, API keys
// from a key file, and mutual TLS.
// Environment: STRATA_TEST_SERVER (the strata-openai-test-server binary) and
// STRATA_TINY_MODEL (a `strata-mkmodel --shape tiny` directory).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { APIConnectionError, AuthenticationError } from 'openai';

const SERVER = process.env.STRATA_TEST_SERVER;
const MODEL_DIR = process.env.STRATA_TINY_MODEL;
const MODEL = 'tiny';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
assert.ok(SERVER && MODEL_DIR, 'set STRATA_TEST_SERVER and STRATA_TINY_MODEL');

const dir = mkdtempSync(join(tmpdir(), 'strata-openai-tls-'));
execFileSync(join(ROOT, 'tests/server/security/make_test_certs.sh'), [dir]);
const pem = (name) => readFileSync(join(dir, name));
const KEYS = ['sk-strata-one', 'sk-strata-two'];
writeFileSync(join(dir, 'api-keys'), `# test keys\n\n${KEYS[0]}\n  ${KEYS[1]}\n# sk-retired\n`);
after(() => rmSync(dir, { recursive: true, force: true }));

// Starts a test server with TLS and the key file; resolves with {port, url, stop()}.
async function startServer(args = []) {
  const child = spawn(
    SERVER,
    [
      '--model', MODEL_DIR,
      '--tls-cert', join(dir, 'server.pem'),
      '--tls-key', join(dir, 'server.key'),
      '--api-key-file', join(dir, 'api-keys'),
      ...args,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (data) => {
      out += data;
      const match = out.match(/LISTENING (\d+)/);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`test server exited with ${code}`)));
  });
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.on('exit', resolve);
      child.stdin.end();
    });
  return { port, url: `https://127.0.0.1:${port}`, stop };
}

// A fetch over node:https with `agent` (its CA, client certificate), for the SDK's `fetch`
// option: the SDK streams the Response body as it would with the built-in fetch.
function agentFetch(agent) {
  return (input, init = {}) =>
    new Promise((resolve, reject) => {
      const url = new URL(typeof input === 'string' ? input : (input.url ?? String(input)));
      const headers = Object.fromEntries(new Headers(init.headers ?? {}));
      const request = https.request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of [value].flat()) if (v !== undefined) responseHeaders.append(name, v);
        }
        resolve(
          new Response(Readable.toWeb(res), {
            status: res.statusCode,
            statusText: res.statusMessage,
            headers: responseHeaders,
          }),
        );
      });
      request.on('error', reject);
      init.signal?.addEventListener('abort', () => request.destroy(new Error('aborted')), {
        once: true,
      });
      request.end(init.body ?? undefined);
    });
}

function client(server, options = {}) {
  return new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: KEYS[0],
    maxRetries: 0,
    timeout: 60_000,
    ...options,
  });
}

const chatBody = (extra = {}) => ({
  model: MODEL,
  messages: [{ role: 'user', content: 'Tell me a story.' }],
  max_tokens: 8,
  temperature: 0,
  chat_template_kwargs: { enable_thinking: false },
  ...extra,
});

// A chat completion, then the same streamed; returns both texts.
async function chatBothWays(openai) {
  const full = await openai.chat.completions.create(chatBody());
  assert.equal(full.choices[0].finish_reason, 'length');
  assert.equal(full.usage.completion_tokens, 8);
  let streamed = '';
  let finish;
  for await (const chunk of await openai.chat.completions.create({ ...chatBody(), stream: true })) {
    streamed += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'length');
  return { full: full.choices[0].message.content, streamed };
}

// GET `path` over https with `options` (ca, cert, key); resolves {status, body} or rejects.
function httpsGet(server, path, options = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(`${server.url}${path}`, { agent: false, ...options }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('OpenAI SDK over TLS with API keys', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => server && (await server.stop()));

  test('the built-in fetch trusts the test CA through NODE_EXTRA_CA_CERTS', async () => {
    // NODE_EXTRA_CA_CERTS is read at start-up: run the SDK in a child process.
    const code = `
      import OpenAI from 'openai';
      const openai = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.KEY,
                                  maxRetries: 0, timeout: 60000 });
      const body = JSON.parse(process.env.BODY);
      const full = await openai.chat.completions.create(body);
      let streamed = '';
      for await (const chunk of await openai.chat.completions.create({ ...body, stream: true })) {
        streamed += chunk.choices[0]?.delta?.content ?? '';
      }
      console.log(JSON.stringify({ full: full.choices[0].message.content, streamed }));
    `;
    const out = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
        cwd: ROOT,
        env: {
          ...process.env,
          NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
          BASE_URL: `${server.url}/v1`,
          KEY: KEYS[1],
          BODY: JSON.stringify(chatBody()),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (status) =>
        status === 0 ? resolve(stdout) : reject(new Error(`child exited ${status}: ${stderr}`)),
      );
    });
    const { full, streamed } = JSON.parse(out);
    assert.ok(full.length > 0);
    assert.equal(streamed, full);
  });

  test('a custom https agent, every listed key', async () => {
    const agent = new https.Agent({ ca: pem('ca.pem'), keepAlive: true });
    const texts = [];
    for (const key of KEYS) {
      const { full, streamed } = await chatBothWays(
        client(server, { apiKey: key, fetch: agentFetch(agent) }),
      );
      assert.equal(streamed, full);
      texts.push(full);
    }
    assert.equal(texts[0], texts[1]);
    const models = await client(server, { fetch: agentFetch(agent) }).models.list();
    assert.equal(models.data[0].id, MODEL);
    agent.destroy();
  });

  test('wrong keys get 401 authentication_error; probes need none', async () => {
    const agent = new https.Agent({ ca: pem('ca.pem') });
    for (const key of ['sk-retired', 'sk-strata-on', '# test keys']) {
      await assert.rejects(
        client(server, { apiKey: key, fetch: agentFetch(agent) }).chat.completions.create(
          chatBody(),
        ),
        (err) => {
          assert.ok(err instanceof AuthenticationError, `got ${err}`);
          assert.equal(err.status, 401);
          assert.equal(err.type, 'authentication_error');
          assert.equal(err.code, 'invalid_api_key');
          return true;
        },
      );
    }
    const missing = await httpsGet(server, '/v1/models', { ca: pem('ca.pem') });
    assert.equal(missing.status, 401);
    assert.equal(JSON.parse(missing.body).error.type, 'authentication_error');
    for (const path of ['/health', '/ready', '/metrics']) {
      assert.equal((await httpsGet(server, path, { ca: pem('ca.pem') })).status, 200, path);
    }
    agent.destroy();
  });

  test('plain HTTP and clients that do not trust the CA fail', async () => {
    const plain = client({ url: `http://127.0.0.1:${server.port}` });
    await assert.rejects(plain.models.list(), APIConnectionError);
    await assert.rejects(fetch(`http://127.0.0.1:${server.port}/health`));
    await assert.rejects(httpsGet(server, '/health'), /certificate/);
    await assert.rejects(httpsGet(server, '/health', { ca: pem('rogue-ca.pem') }), /certificate/);
    // The server is unharmed.
    assert.equal((await httpsGet(server, '/health', { ca: pem('ca.pem') })).status, 200);
  });
});

describe('OpenAI SDK over mutual TLS', () => {
  let server;
  before(async () => {
    server = await startServer(['--tls-client-ca', join(dir, 'ca.pem')]);
  });
  after(async () => server && (await server.stop()));

  test('a client certificate from the configured CA is required', async () => {
    const withCert = new https.Agent({
      ca: pem('ca.pem'),
      cert: pem('client.pem'),
      key: pem('client.key'),
    });
    const { full, streamed } = await chatBothWays(client(server, { fetch: agentFetch(withCert) }));
    assert.equal(streamed, full);
    withCert.destroy();

    const anonymous = new https.Agent({ ca: pem('ca.pem') });
    await assert.rejects(
      client(server, { fetch: agentFetch(anonymous) }).chat.completions.create(chatBody()),
      APIConnectionError,
    );
    const rogue = new https.Agent({
      ca: pem('ca.pem'),
      cert: pem('rogue-client.pem'),
      key: pem('rogue-client.key'),
    });
    await assert.rejects(
      client(server, { fetch: agentFetch(rogue) }).models.list(),
      APIConnectionError,
    );
    await assert.rejects(httpsGet(server, '/health', { ca: pem('ca.pem') }));
    anonymous.destroy();
    rogue.destroy();
  });
});
