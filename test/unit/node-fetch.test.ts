/**
 * The providers' fetch (runtime/providers/node-fetch.ts) against local
 * servers whose answers each test writes: what it sends, the Response it gives (status,
 * headers, text/json, a body that is a Node stream), decompression, and how
 * refused connections, aborts and cut connections surface. The SDK flows over
 * it are in test/integration/providers.contract.test.ts.
 */
import type { ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeFetch, nodeFetch } from '../../runtime/providers/node-fetch.js';
import { startFakeHttp, type RecordedRequest } from '../fakes/openai.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A local server answering with `handler` (test/fakes' HTTP plumbing); its base URL. */
async function serve(handler: (request: RecordedRequest, res: ServerResponse) => void): Promise<string> {
  const fake = await startFakeHttp(async (request, res) => handler(request, res));
  closers.push(fake.close);
  return `http://127.0.0.1:${fake.port}`;
}

async function readAll(body: unknown): Promise<string> {
  let text = '';
  for await (const chunk of body as AsyncIterable<Buffer>) text += chunk.toString('utf8');
  return text;
}

describe('nodeFetch', () => {
  it('sends method, headers and body; answers status, headers and text', async () => {
    let seen: RecordedRequest | undefined;
    const base = await serve((request, res) => {
      seen = request;
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '2' });
      res.end('{"error":{"message":"slow down"}}');
    });
    const response = await nodeFetch(`${base}/v1/chat/completions?x=1`, {
      method: 'POST',
      headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
      body: '{"ü":1}',
    });
    expect(seen).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: { ü: 1 }, headers: { authorization: 'Bearer k', 'content-length': '8' } });
    expect(response).toBeInstanceOf(Response);
    expect(response.status).toBe(429);
    expect(response.ok).toBe(false);
    expect(response.headers.get('retry-after')).toBe('2');
    expect(response.url).toBe(`${base}/v1/chat/completions?x=1`);
    expect(await response.json()).toEqual({ error: { message: 'slow down' } });
  });

  it('gives the body as a Node stream the SDKs iterate, and decompresses gzip', async () => {
    const base = await serve((_request, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
      res.end(gzipSync('data: one\n\ndata: two\n\n'));
    });
    const response = await nodeFetch(`${base}/stream`, {});
    expect(response.ok).toBe(true);
    expect(typeof (response.body as unknown as AsyncIterable<Buffer>)[Symbol.asyncIterator]).toBe('function');
    expect(await readAll(response.body)).toBe('data: one\n\ndata: two\n\n');
  });

  it('rejects a refused connection as fetch does: TypeError "fetch failed" with the cause', async () => {
    const base = await serve(() => undefined);
    const port = new URL(base).port;
    await Promise.all(closers.splice(0).map((close) => close()));
    const error = await nodeFetch(`http://127.0.0.1:${port}/`, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).message).toBe('fetch failed');
    expect(((error as TypeError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('rejects with an AbortError when aborted before the answer begins', async () => {
    const base = await serve(() => undefined); // never answers
    const controller = new AbortController();
    const pending = nodeFetch(`${base}/slow`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('ends the body with an AbortError when aborted mid-answer', async () => {
    const base = await serve((_request, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n'); // then nothing
    });
    const controller = new AbortController();
    const response = await nodeFetch(`${base}/stream`, { signal: controller.signal });
    const reading = readAll(response.body);
    setTimeout(() => controller.abort(), 20);
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('ends a body that stays silent with an error, and keeps one that trickles', async () => {
    const base = await serve((request, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      if (request.path === '/trickle') {
        // A ping every 40 ms for 480 ms: longer than the 300 ms allowed, never silent that long.
        let n = 0;
        const timer = setInterval(() => {
          res.write(': ping\n\n');
          if (++n === 12) {
            clearInterval(timer);
            res.end('data: last\n\n');
          }
        }, 40);
      } // else: nothing more, ever
    });
    const idleFetch = createNodeFetch({ bodyIdleTimeoutMs: 300 });
    const started = Date.now();
    await expect(readAll((await idleFetch(`${base}/silent`, {})).body)).rejects.toThrow('the server sent nothing for 300 ms');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await readAll((await idleFetch(`${base}/trickle`, {})).body)).toMatch(/data: last/);
  });

  it('says a connection cut mid-answer closed before the answer ended', async () => {
    const base = await serve((_request, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const response = await nodeFetch(`${base}/stream`, {});
    await expect(readAll(response.body)).rejects.toThrow('the connection closed before the answer ended');
  });
});
