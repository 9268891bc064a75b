// End-to-end tests of the OpenAI-compatible HTTP API with the official `openai` SDK.
// Environment: STRATA_TEST_SERVER (the strata-openai-test-server binary) and
// STRATA_TINY_MODEL (a `strata-mkmodel --shape tiny` directory).
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, {
  APIError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  RateLimitError,
} from 'openai';

const SERVER = process.env.STRATA_TEST_SERVER;
const MODEL_DIR = process.env.STRATA_TINY_MODEL;
// E.g. "--backend cuda": the same suite against the GPU worker.
const EXTRA_ARGS = (process.env.STRATA_TEST_SERVER_ARGS || '').split(' ').filter(Boolean);
const MODEL = 'tiny';
assert.ok(SERVER && MODEL_DIR, 'set STRATA_TEST_SERVER and STRATA_TINY_MODEL');

// Starts a test server; resolves with {port, url, stop()}.
async function startServer(args = []) {
  const child = spawn(SERVER, ['--model', MODEL_DIR, ...EXTRA_ARGS, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (data) => {
      out += data;
      const match = out.match(/LISTENING (\d+)/);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`test server exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.on('exit', resolve);
      child.stdin.end();
    });
  return { port, url, stop };
}

function client(server, options = {}) {
  return new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: 'none',
    maxRetries: 0,
    timeout: 120_000,
    ...options,
  });
}

async function expectError(promise, ErrorClass, status, param) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${err}`);
    assert.equal(err.status, status);
    if (param !== undefined) assert.equal(err.param, param);
    return true;
  });
}

const chatBody = (extra = {}) => ({
  model: MODEL,
  messages: [{ role: 'user', content: 'Tell me a story.' }],
  max_tokens: 12,
  temperature: 0,
  chat_template_kwargs: { enable_thinking: false },
  ...extra,
});

async function collectChat(stream) {
  const texts = new Map();
  const finish = new Map();
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const choice of chunk.choices) {
      texts.set(choice.index, (texts.get(choice.index) ?? '') + (choice.delta.content ?? ''));
      if (choice.finish_reason) finish.set(choice.index, choice.finish_reason);
    }
  }
  return { texts, finish, chunks };
}

async function collectCompletion(stream) {
  const texts = new Map();
  const finish = new Map();
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const choice of chunk.choices) {
      texts.set(choice.index, (texts.get(choice.index) ?? '') + choice.text);
      if (choice.finish_reason) finish.set(choice.index, choice.finish_reason);
    }
  }
  return { texts, finish, chunks };
}

describe('OpenAI API with the openai SDK', () => {
  let server;
  let openai;
  before(async () => {
    server = await startServer();
    openai = client(server);
  });
  after(async () => server && (await server.stop()));

  test('models.list', async () => {
    const page = await openai.models.list();
    assert.equal(page.data.length, 1);
    assert.equal(page.data[0].id, MODEL);
    assert.equal(page.data[0].object, 'model');
    const model = await openai.models.retrieve(MODEL);
    assert.equal(model.id, MODEL);
  });

  test('chat completion, non-streaming and streaming agree', async () => {
    const full = await openai.chat.completions.create(chatBody());
    assert.match(full.id, /^chatcmpl-/);
    assert.equal(full.object, 'chat.completion');
    assert.equal(full.model, MODEL);
    assert.equal(typeof full.created, 'number');
    assert.equal(full.choices.length, 1);
    assert.equal(full.choices[0].message.role, 'assistant');
    assert.equal(full.choices[0].finish_reason, 'length');
    assert.equal(full.usage.completion_tokens, 12);
    assert.ok(full.usage.prompt_tokens > 5);
    assert.equal(full.usage.total_tokens, full.usage.prompt_tokens + 12);

    const stream = await openai.chat.completions.create({ ...chatBody(), stream: true });
    const { texts, finish, chunks } = await collectChat(stream);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks[0].object, 'chat.completion.chunk');
    assert.ok(chunks.every((c) => c.id === chunks[0].id));
    assert.equal(texts.get(0), full.choices[0].message.content);
    assert.equal(finish.get(0), 'length');
  });

  test('completion, non-streaming and streaming agree', async () => {
    const body = { model: MODEL, prompt: 'Once upon a time', max_tokens: 10, temperature: 0 };
    const full = await openai.completions.create(body);
    assert.match(full.id, /^cmpl-/);
    assert.equal(full.object, 'text_completion');
    assert.equal(full.usage.completion_tokens, 10);
    assert.equal(full.usage.prompt_tokens, 4);
    const { texts, finish } = await collectCompletion(
      await openai.completions.create({ ...body, stream: true }),
    );
    assert.equal(texts.get(0), full.choices[0].text);
    assert.equal(finish.get(0), 'length');
    const echoed = await openai.completions.create({ ...body, echo: true });
    assert.equal(echoed.choices[0].text, 'Once upon a time' + full.choices[0].text);
  });

  test('completion prompts as arrays and token ids', async () => {
    const r = await openai.completions.create({
      model: MODEL,
      prompt: ['A', 'B'],
      n: 2,
      max_tokens: 3,
      temperature: 0,
    });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3]);
    assert.equal(r.choices[0].text, r.choices[1].text);
    assert.equal(r.usage.completion_tokens, 12);
    assert.equal(r.usage.prompt_tokens, 2);
    const ids = await openai.completions.create({
      model: MODEL, prompt: [[9707, 1879]], max_tokens: 2, temperature: 0,
    });
    assert.equal(ids.usage.prompt_tokens, 2);
  });

  test('n=2, streaming and not', async () => {
    const body = chatBody({ n: 2, temperature: 1, seed: 3, max_tokens: 8 });
    const full = await openai.chat.completions.create(body);
    assert.deepEqual(full.choices.map((c) => c.index), [0, 1]);
    assert.equal(full.usage.completion_tokens, 16);
    assert.notEqual(full.choices[0].message.content, full.choices[1].message.content);
    const { texts, finish } = await collectChat(
      await openai.chat.completions.create({ ...body, stream: true }),
    );
    assert.equal(texts.get(0), full.choices[0].message.content);
    assert.equal(texts.get(1), full.choices[1].message.content);
    assert.equal(finish.size, 2);
  });

  test('stop sequences end the output and are not included', async () => {
    const body = { model: MODEL, prompt: 'The', max_tokens: 24, temperature: 0, ignore_eos: true };
    const base = (await openai.completions.create(body)).choices[0].text;
    const chars = [...base];
    assert.ok(chars.length >= 8, `output too short to pick a stop string: ${base}`);
    const start = Math.floor(chars.length / 2);
    const stop = chars.slice(start, start + 2).join('');
    const expected = base.slice(0, base.indexOf(stop));
    const stopped = await openai.completions.create({ ...body, stop: [stop, 'never-appears'] });
    assert.equal(stopped.choices[0].text, expected);
    assert.equal(stopped.choices[0].finish_reason, 'stop');
    const { texts, finish } = await collectCompletion(
      await openai.completions.create({ ...body, stop, stream: true }),
    );
    assert.equal(texts.get(0), expected);
    assert.equal(finish.get(0), 'stop');
  });

  test('a seed makes sampling reproducible', async () => {
    const body = chatBody({ temperature: 1.0, seed: 1234, max_tokens: 16 });
    const a = await openai.chat.completions.create(body);
    const b = await openai.chat.completions.create(body);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    const c = await openai.chat.completions.create({ ...body, seed: 4321 });
    assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
  });

  test('chat logprobs', async () => {
    const r = await openai.chat.completions.create(
      chatBody({ logprobs: true, top_logprobs: 3, max_tokens: 5 }),
    );
    const content = r.choices[0].logprobs.content;
    assert.equal(content.length, 5);
    for (const t of content) {
      assert.equal(typeof t.token, 'string');
      assert.ok(t.logprob <= 0);
      assert.ok(Array.isArray(t.bytes));
      assert.equal(t.top_logprobs.length, 3);
      assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob);
      // Greedy: the chosen token is the most likely one.
      assert.equal(t.top_logprobs[0].token, t.token);
    }
    const { chunks } = await collectChat(
      await openai.chat.completions.create({
        ...chatBody({ logprobs: true, top_logprobs: 2, max_tokens: 5 }),
        stream: true,
      }),
    );
    const streamed = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.logprobs?.content ?? []));
    assert.equal(streamed.length, 5);
    assert.deepEqual(streamed.map((t) => t.token), content.map((t) => t.token));
  });

  test('completion logprobs', async () => {
    const r = await openai.completions.create({
      model: MODEL, prompt: 'Hello', max_tokens: 4, temperature: 0, logprobs: 2,
    });
    const lp = r.choices[0].logprobs;
    assert.equal(lp.tokens.length, 4);
    assert.equal(lp.token_logprobs.length, 4);
    assert.equal(lp.top_logprobs.length, 4);
    assert.equal(lp.text_offset.length, 4);
    assert.equal(lp.text_offset[0], 0);
    assert.ok(Object.keys(lp.top_logprobs[0]).length >= 2);
  });

  test('stream_options.include_usage', async () => {
    const { chunks, texts } = await collectChat(
      await openai.chat.completions.create({
        ...chatBody({ max_tokens: 7 }),
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.completion_tokens, 7);
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
    assert.ok(texts.get(0).length > 0);
    const completion = await collectCompletion(
      await openai.completions.create({
        model: MODEL, prompt: 'Hi', max_tokens: 3, temperature: 0, stream: true,
        stream_options: { include_usage: true },
      }),
    );
    assert.equal(completion.chunks.at(-1).usage.total_tokens, 4);
  });

  test('invalid requests are BadRequestError naming the parameter', async () => {
    await expectError(openai.chat.completions.create(chatBody({ temperature: 5 })),
      BadRequestError, 400, 'temperature');
    await expectError(openai.chat.completions.create(chatBody({ top_p: 0 })),
      BadRequestError, 400, 'top_p');
    await expectError(openai.chat.completions.create(chatBody({ n: 0 })),
      BadRequestError, 400, 'n');
    await expectError(openai.chat.completions.create(chatBody({ stop: ['a', 'b', 'c', 'd', 'e'] })),
      BadRequestError, 400, 'stop');
    await expectError(openai.chat.completions.create(
      chatBody({ messages: [{ role: 'wizard', content: 'x' }] })),
    BadRequestError, 400, 'messages[0].role');
    await expectError(openai.chat.completions.create(chatBody({ max_tokens: 100000 })),
      BadRequestError, 400, 'max_tokens');
    await expectError(openai.completions.create({ model: MODEL, prompt: 'x', logprobs: 9 }),
      BadRequestError, 400, 'logprobs');
    await expectError(openai.chat.completions.create(chatBody({ kv_budget_tokens: -1 })),
      BadRequestError, 400, 'kv_budget_tokens');
    const ok = await openai.chat.completions.create(
      chatBody({ kv_budget_tokens: 64, priority: 1, top_k: 5, min_p: 0.05,
                 repetition_penalty: 1.1, presence_penalty: 0.5, frequency_penalty: 0.5,
                 user: 'u', max_completion_tokens: 3 }));
    assert.equal(ok.usage.completion_tokens, 3);
  });

  test('unknown model and route are NotFoundError; wrong method is 405', async () => {
    await expectError(openai.chat.completions.create(chatBody({ model: 'nope' })),
      NotFoundError, 404, 'model');
    await expectError(openai.get('/nowhere'), NotFoundError, 404);
    const res = await fetch(`${server.url}/v1/chat/completions`);
    assert.equal(res.status, 405);
    const body = await res.json();
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    assert.equal((await fetch(`${server.url}/ready`)).status, 200);
    const metrics = await fetch(`${server.url}/metrics`);
    assert.match(metrics.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  });

  test('64 concurrent streaming clients match the same requests run alone', async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => `Prompt number ${i}:`);
    const body = (p) => ({
      model: MODEL, prompt: p, max_tokens: 24, temperature: 0, ignore_eos: true, stream: true,
    });
    const alone = [];
    for (const p of prompts) {
      alone.push((await collectCompletion(await openai.completions.create(body(p)))).texts.get(0));
    }
    const results = await Promise.all(
      Array.from({ length: 64 }, async (_, i) => {
        const c = client(server);
        const r = await collectCompletion(await c.completions.create(body(prompts[i % 8])));
        return { i, text: r.texts.get(0), finish: r.finish.get(0) };
      }),
    );
    assert.equal(results.length, 64);
    for (const r of results) {
      assert.equal(r.finish, 'length');
      assert.equal(r.text, alone[r.i % 8], `client ${r.i}`);
    }
  });
});

describe('error statuses of specially configured servers', () => {
  test('401 with a wrong or missing API key', async () => {
    const server = await startServer(['--api-key', 'sekret']);
    try {
      await expectError(client(server, { apiKey: 'wrong' }).models.list(), AuthenticationError, 401);
      const ok = await client(server, { apiKey: 'sekret' }).models.list();
      assert.equal(ok.data[0].id, MODEL);
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
    } finally {
      await server.stop();
    }
  });

  test('429 when the queue is full', async () => {
    const server = await startServer(['--max-queued', '1']);
    try {
      await expectError(
        client(server).completions.create({ model: MODEL, prompt: 'x', n: 2, max_tokens: 64 }),
        RateLimitError, 429);
    } finally {
      await server.stop();
    }
  });

  test('413 when the body is too large', async () => {
    const server = await startServer(['--max-body-bytes', '2048']);
    try {
      await expectError(
        client(server).completions.create({ model: MODEL, prompt: 'x'.repeat(8192) }),
        APIError, 413);
    } finally {
      await server.stop();
    }
  });

  test('503 while draining', async () => {
    const server = await startServer(['--drain']);
    try {
      await expectError(
        client(server).completions.create({ model: MODEL, prompt: 'x', max_tokens: 2 }),
        InternalServerError, 503);
      assert.equal((await fetch(`${server.url}/ready`)).status, 503);
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
    } finally {
      await server.stop();
    }
  });
});
