/**
 * Runs the fake OpenAI-compatible server on its own, for trying Conclave
 * without a model (docs/api.md walkthrough):
 *
 *   npm run fake:openai -- --port 9100 --reply "Hello from the fake model."
 *
 * Every chat completion streams the reply word by word (`--rate` tokens/s).
 */
import { parseArgs } from 'node:util';
import { startFakeOpenAI } from './openai.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9100' },
    reply: { type: 'string', default: 'Hello! I am a fake model: every answer is this sentence.' },
    rate: { type: 'string', default: '50' },
  },
});

const words = values.reply.split(/(?<= )/);
const fake = await startFakeOpenAI(Number(values.port));
fake.onRequest(() => ({ text: words, tokensPerSecond: Number(values.rate) }));
console.log(`fake OpenAI-compatible server at ${fake.baseURL}`);
const stop = () => void fake.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
