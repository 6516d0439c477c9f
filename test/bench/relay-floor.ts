/**
 * The floor under the runtime benchmark: what the socket hops alone cost on
 * this machine, with no HTTP, SDK, JSON, database or event log.
 *
 *   npm run bench:floor -- --sessions 500 --rate 20 --seconds 15
 *
 * Two processes, as in `bench:runtime`: this one plays the model (one TCP
 * connection per session, writing one ~150-byte chunk per token at --rate)
 * and the SSE client (one connection per session, reading); a child process
 * is a relay that writes every chunk it reads from session i's model
 * connection to session i's client connection, unchanged. Every token thus
 * crosses the same four socket operations it crosses in the runtime (model
 * write, relay read, relay write, client read), and nothing else.
 *
 * Prints the added latency (write → read) p50/p99 and the CPU each process
 * spent per token. Whatever the runtime does beyond forwarding comes on top.
 */
import { fork } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const RELAY_FLAG = '--relay';

if (process.argv.includes(RELAY_FLAG)) runRelay();
else await runBench();

/** Child: pairs model and client connections by session number and forwards bytes. */
function runRelay(): void {
  const models = new Map<number, Socket>();
  const clients = new Map<number, Socket>();
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.once('data', (hello: Buffer) => {
      // Hello line: "model <n>\n" or "client <n>\n".
      const [role, n] = hello.toString().trim().split(' ');
      const session = Number(n);
      if (role === 'client') {
        clients.set(session, socket);
        return;
      }
      models.set(session, socket);
      socket.on('data', (chunk: Buffer) => clients.get(session)?.write(chunk));
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('message', (message: { type: string }) => {
    if (message.type !== 'usage') return;
    process.send?.({ cpu: process.cpuUsage() });
  });
}

async function runBench(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string', default: '500' },
      rate: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '15' },
    },
  });
  const sessions = Number(values.sessions);
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);

  const relay = fork(fileURLToPath(import.meta.url), [RELAY_FLAG], { execArgv: process.execArgv });
  const port = await new Promise<number>((resolve) => relay.once('message', (m: { port: number }) => resolve(m.port)));
  const relayCpu = () =>
    new Promise<NodeJS.CpuUsage>((resolve) => {
      relay.once('message', (m: { cpu: NodeJS.CpuUsage }) => resolve(m.cpu));
      relay.send({ type: 'usage' });
    });

  const latencies: number[] = [];
  let received = 0;
  const open = (role: string, n: number) =>
    new Promise<Socket>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.setNoDelay(true);
        socket.write(`${role} ${n}\n`);
        resolve(socket);
      });
    });

  const models: Socket[] = [];
  for (let n = 0; n < sessions; n += 1) {
    const client = await open('client', n);
    client.on('data', (chunk: Buffer) => {
      const now = performance.now();
      // Each chunk carries "⟨ms⟩" markers: one per token written.
      for (const match of chunk.toString().matchAll(/⟨([\d.]+)⟩/g)) {
        latencies.push(now - Number(match[1]));
        received += 1;
      }
    });
    models.push(await open('model', n));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));

  const padding = 'x'.repeat(110); // an OpenAI chunk is ~150 bytes on the wire
  const cpuBefore = process.cpuUsage();
  const relayBefore = await relayCpu();
  const started = performance.now();
  let sent = 0;
  const timers = models.map((socket, n) =>
    setTimeout(() => {
      const timer = setInterval(() => {
        socket.write(`data: {"p":"${padding}","t":"⟨${performance.now().toFixed(3)}⟩"}\n\n`);
        sent += 1;
      }, 1000 / rate);
      timers[n] = timer;
    }, (n / sessions) * (1000 / rate)),
  );
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  for (const timer of timers) clearInterval(timer);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const relayAfter = await relayCpu();
  const relayUs = relayAfter.user + relayAfter.system - relayBefore.user - relayBefore.system;

  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]?.toFixed(2);
  const perToken = (us: number) => (us / Math.max(1, received)).toFixed(1);
  console.log(`relay floor: ${sessions} sessions × ${rate} tokens/s for ${seconds} s`);
  console.log(`tokens sent / received: ${sent} / ${received} (${Math.round(received / elapsed)} tokens/s)`);
  console.log(`added latency p50 / p99 / max: ${at(0.5)} / ${at(0.99)} / ${latencies.at(-1)?.toFixed(2)} ms`);
  console.log(`relay CPU: ${perToken(relayUs)} µs per token (${Math.round(relayUs / 1e4 / elapsed)} % of a core)`);
  console.log(`bench CPU (model + client): ${perToken(cpu.user + cpu.system)} µs per token (${Math.round((cpu.user + cpu.system) / 1e4 / elapsed)} % of a core)`);
  for (const socket of models) socket.destroy();
  relay.kill();
  process.exit(0);
}
