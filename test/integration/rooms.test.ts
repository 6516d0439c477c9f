/**
 * Rooms end to end through the HTTP API with a fake provider scripted per
 * persona (each persona has its own model): the speaker sequence of every
 * mode, limits ending an endless mention loop, consensus ballots and
 * tallies, autopilot with a human message, ask_user pausing the room,
 * templates, polls, and stop.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI, type OpenAITurn, type RecordedRequest } from '../fakes/openai.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { openSse, readSse, type SseItem } from '../support/sse.js';

let rt: TestRuntime;
let fake: FakeOpenAI;

type Script = (req: RecordedRequest, persona: string) => OpenAITurn;

const lastUser = (req: RecordedRequest) => String(req.body.messages.filter((m: any) => m.role === 'user').at(-1)?.content ?? '');
const hasTool = (req: RecordedRequest, name: string) => (req.body.tools ?? []).some((t: any) => t.function.name === name);
const afterTool = (req: RecordedRequest) => req.body.messages.at(-1)?.role === 'tool';

/** Every persona answers with its name unless the script says otherwise. */
function script(custom: Script = () => ({}) as OpenAITurn) {
  fake.onRequest((req) => {
    const persona = String(req.body.model);
    const turn = custom(req, persona);
    if (Object.keys(turn).length > 0) return turn;
    return { text: `${persona} speaking`, usage: { promptTokens: 10, completionTokens: 5 } };
  });
}

async function room(mode: string, extra: Record<string, unknown> = {}, handles = ['alex', 'sam', 'jordan']): Promise<string> {
  const res = await rt.api('POST', '/api/conversations', {
    body: {
      title: `${mode} room`,
      mode,
      participants: handles.map((h) => ({ preset_id: h, handle: h, color: '#336699' })),
      context: 'A planning meeting.',
      ...extra,
    },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

/**
 * Sends a message (or another trigger) and collects the conversation's events
 * until that run's room_finished. The stream replays earlier runs first; only
 * the events after the previous run's end are returned.
 */
async function runRoom(id: string, trigger: () => Promise<{ status: number; body: any }>): Promise<{ events: SseItem[]; accepted: any }> {
  const stream = await openSse(`${rt.url}/api/conversations/${id}/events`, rt.token);
  let runId: string | null = null;
  let settle!: () => void;
  const done = new Promise<void>((resolve) => (settle = resolve));
  const isEnd = (item: SseItem) => item.event.name === 'room_finished' && item.event.value.run_id === runId;
  const collected: SseItem[] = [];
  const reading = readSse(stream, (item) => {
    collected.push(item);
    if (runId && isEnd(item)) settle();
    return runId !== null && isEnd(item);
  });
  const accepted = await trigger();
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  runId = accepted.body.run_id;
  if (collected.some(isEnd)) settle();
  await Promise.race([done, reading]);
  const end = collected.findIndex(isEnd);
  const previousEnd = collected.slice(0, end).map((e) => e.event.name).lastIndexOf('room_finished');
  return { events: collected.slice(previousEnd + 1, end + 1), accepted: accepted.body };
}

const say = (id: string, input: string, onBusy = 'reject') => () => rt.api('POST', `/api/conversations/${id}/messages`, { body: { input, on_busy: onBusy } });

/** The handles that spoke, in order, from the turn_started events. */
const speakers = (events: SseItem[]) => events.filter((e) => e.event.name === 'turn_started').map((e) => e.event.value.handle);
const finished = (events: SseItem[]) => events.find((e) => e.event.name === 'room_finished')!.event.value;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  rt = await startTestRuntime({ env: { OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: 'x', CONCLAVE_PROVIDER_RETRIES: '0' } });
  for (const [handle, name] of [
    ['alex', 'Alex'],
    ['sam', 'Sam'],
    ['jordan', 'Jordan'],
  ]) {
    await rt.api('POST', '/api/presets', {
      body: { id: handle, name, model: `openai:${handle}`, system_prompt: `You are ${name}.`, tools: ['ask_user'], persona: { display_name: name } },
    });
  }
});

afterAll(async () => {
  await rt?.close();
  await fake?.close();
});

beforeEach(() => fake.reset());

describe('routing and modes', () => {
  it('round_robin: everyone speaks once, in order, each seeing the others as named user turns', async () => {
    script();
    const id = await room('round_robin');
    const { events } = await runRoom(id, say(id, 'Kick-off: what should we build?'));
    expect(speakers(events)).toEqual(['alex', 'sam', 'jordan']);
    expect(finished(events)).toMatchObject({ reason: 'done', turns: 3 });
    // Each persona's events carry its speaker.
    const texts = events.filter((e) => e.event.type === 'TEXT_MESSAGE_CONTENT');
    expect(texts.map((e) => e.event.speaker.handle)).toEqual(['alex', 'sam', 'jordan']);
    expect(texts[0]!.event.speaker).toMatchObject({ name: 'Alex', color: '#336699' });
    // Jordan's view: the human message, then Alex and Sam as named user turns; the room context in the prompt.
    const jordan = fake.chatRequests().find((r) => r.body.model === 'jordan')!.body.messages;
    expect(jordan[0].content).toContain('A planning meeting.');
    expect(jordan[0].content).toContain('You are Jordan');
    expect(jordan.slice(1)).toEqual([
      { role: 'user', content: 'Kick-off: what should we build?' },
      { role: 'user', content: '[Alex]: alex speaking' },
      { role: 'user', content: '[Sam]: sam speaking' },
    ]);
    // Later, Alex sees its own line as an assistant turn.
    const again = await runRoom(id, say(id, '@alex and now?'));
    expect(speakers(again.events)).toEqual(['alex']);
    const alexView = fake.chatRequests().at(-1)!.body.messages.slice(1);
    expect(alexView).toContainEqual({ role: 'assistant', content: 'alex speaking' });
    expect(alexView).toContainEqual({ role: 'user', content: '[Sam]: sam speaking' });
  });

  it('manual: only mentioned personas speak; without a mention the message is refused', async () => {
    script();
    const id = await room('manual');
    const none = await rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: 'anyone?' } });
    expect(none.status).toBe(422);
    expect(none.body.error.code).toBe('no_speaker');
    expect(speakers((await runRoom(id, say(id, '@jordan then @sam, please'))).events)).toEqual(['jordan', 'sam']);
    expect(speakers((await runRoom(id, say(id, '@all status?'))).events)).toEqual(['alex', 'sam', 'jordan']);
  });

  it('follows a mention hand-over and ends an endless mention loop at the hop limit', async () => {
    script((req, persona) => {
      if (afterTool(req)) return { text: `${persona} handed over` };
      return { toolCalls: [{ name: 'mention', arguments: JSON.stringify({ handle: persona === 'alex' ? 'sam' : 'alex' }) }] };
    });
    const id = await room('manual', { mode_settings: { max_mention_hops: 3 } });
    const { events } = await runRoom(id, say(id, '@alex start the ping-pong'));
    expect(speakers(events)).toEqual(['alex', 'sam', 'alex', 'sam']);
    expect(finished(events)).toMatchObject({ reason: 'hop_limit', turns: 4 });
  });

  it('ends a long chain at the turn limit too', async () => {
    script((req, persona) => (afterTool(req) ? { text: 'ok' } : { toolCalls: [{ name: 'mention', arguments: JSON.stringify({ handle: persona === 'alex' ? 'sam' : 'alex' }) }] }));
    const id = await room('manual', { mode_settings: { max_mention_hops: 100, max_turns: 5 } });
    const { events } = await runRoom(id, say(id, '@alex go'));
    expect(speakers(events)).toHaveLength(5);
    expect(finished(events).reason).toBe('turn_limit');
  });

  it('relay: each persona builds on the previous one', async () => {
    script();
    const id = await room('relay');
    const { events } = await runRoom(id, say(id, 'Write a story together'));
    expect(speakers(events)).toEqual(['alex', 'sam', 'jordan']);
    const sam = fake.chatRequests().find((r) => r.body.model === 'sam')!;
    expect(lastUser(sam)).toBe("Build on @alex's contribution, then pass it on.");
  });

  it('debate: rounds between the sides, then the judge', async () => {
    script();
    const id = await room('debate', {
      participants: [
        { preset_id: 'alex', handle: 'alex', side: 'for' },
        { preset_id: 'sam', handle: 'sam', side: 'against' },
        { preset_id: 'jordan', handle: 'jordan', side: 'judge' },
      ],
      mode_settings: { rounds: 2 },
    });
    const { events } = await runRoom(id, say(id, 'Tabs or spaces?'));
    expect(speakers(events)).toEqual(['alex', 'sam', 'alex', 'sam', 'jordan']);
    expect(lastUser(fake.chatRequests().at(-1)!)).toMatch(/verdict/);
  });

  it('lets a persona opt out silently', async () => {
    script((req, persona) => (persona === 'sam' && !afterTool(req) ? { toolCalls: [{ name: 'opt_out', arguments: '{"reason":"nothing to add"}' }] } : ({} as OpenAITurn)));
    const id = await room('round_robin');
    const { events } = await runRoom(id, say(id, 'thoughts?'));
    expect(speakers(events)).toEqual(['alex', 'sam', 'jordan']);
    expect(events.find((e) => e.event.name === 'turn_skipped')!.event.value).toMatchObject({ handle: 'sam', reason: 'nothing to add' });
    const samText = events.filter((e) => e.event.type === 'TEXT_MESSAGE_CONTENT' && e.event.speaker?.handle === 'sam');
    expect(samText).toEqual([]);
    // Sam made exactly one model call: the opt_out ended the turn.
    expect(fake.chatRequests().filter((r) => r.body.model === 'sam')).toHaveLength(1);
  });
});

describe('consensus', () => {
  it('records every ballot, tallies approvals, and ends with the facilitator’s summary', async () => {
    script((req, persona) => {
      if (hasTool(req, 'vote') && !afterTool(req)) {
        const approve = persona === 'jordan' ? ['jordan', 'alex'] : ['alex'];
        return { toolCalls: [{ name: 'vote', arguments: JSON.stringify({ choices: approve }) }] };
      }
      if (afterTool(req)) return { text: 'voted' };
      if (lastUser(req).startsWith('The group agreed')) return { text: 'We go with Alex’s plan.' };
      return { text: `${persona} proposes plan ${persona}` };
    });
    const id = await room('consensus', { mode_settings: { method: 'approval', facilitator: 'sam' } });
    const { events } = await runRoom(id, say(id, 'Which plan?'));
    expect(speakers(events)).toEqual(['alex', 'sam', 'jordan', 'alex', 'sam', 'jordan', 'sam']);
    const ballots = events.filter((e) => e.event.name === 'vote_cast').map((e) => e.event.value);
    expect(ballots).toEqual([
      expect.objectContaining({ voter: 'alex', choices: ['alex'] }),
      expect.objectContaining({ voter: 'sam', choices: ['alex'] }),
      expect.objectContaining({ voter: 'jordan', choices: ['jordan', 'alex'] }),
    ]);
    const tally = events.find((e) => e.event.name === 'tally')!.event.value;
    expect(tally).toMatchObject({ method: 'approval', counts: { alex: 3, sam: 0, jordan: 1 }, winner: 'alex', reached: true });
    expect(finished(events)).toMatchObject({ reason: 'consensus', result: { winner: 'alex', method: 'approval' } });
    expect(lastUser(fake.chatRequests().at(-1)!)).toMatch(/agreed on @alex's proposal \(100% of ballots\)/);
  });

  it('runs rounds until the threshold or the limit with ranked ballots, then summarises the disagreement', async () => {
    script((req, persona) => {
      if (hasTool(req, 'vote') && !afterTool(req)) {
        // Everyone ranks themselves first: no majority in any round.
        const others = ['alex', 'sam', 'jordan'].filter((h) => h !== persona);
        return { toolCalls: [{ name: 'vote', arguments: JSON.stringify({ choices: [persona, ...others] }) }] };
      }
      return afterTool(req) ? { text: 'voted' } : { text: `${persona} proposal` };
    });
    const id = await room('consensus', { mode_settings: { method: 'ranked', max_rounds: 2, threshold: 0.7 } });
    const { events } = await runRoom(id, say(id, 'Pick a name'));
    const tallies = events.filter((e) => e.event.name === 'tally').map((e) => e.event.value);
    expect(tallies).toHaveLength(2);
    // Instant runoff: sam (alphabetically last of the tied) goes first; sam's ballot moves to alex,
    // who then has 2 of 3 ballots: a majority of the runoff, but under the 0.7 threshold.
    expect(tallies[0].rounds).toEqual([{ alex: 1, sam: 1, jordan: 1 }, { alex: 2, jordan: 1 }]);
    expect(tallies[0]).toMatchObject({ winner: 'alex', share: 2 / 3, reached: false });
    expect(speakers(events)).toHaveLength(3 + 3 + 3 + 3 + 1);
    expect(finished(events)).toMatchObject({ reason: 'no_consensus', result: { winner: null, method: 'ranked', threshold: 0.7 } });
    expect(lastUser(fake.chatRequests().at(-1)!)).toMatch(/did not reach the threshold/);
  });

  it('polls every persona on a human question', async () => {
    script((req, persona) =>
      hasTool(req, 'vote') && !afterTool(req)
        ? { toolCalls: [{ name: 'vote', arguments: JSON.stringify({ choices: persona === 'sam' ? ['Friday'] : ['Monday'] }) }] }
        : { text: 'voted' },
    );
    const id = await room('round_robin');
    const { events } = await runRoom(id, () =>
      rt.api('POST', `/api/conversations/${id}/polls`, { body: { question: 'Release day?', options: ['Monday', 'Friday'] } }),
    );
    expect(finished(events)).toMatchObject({ result: { poll: 'Release day?', winner: 'Monday', counts: { Monday: 2, Friday: 1 } } });
  });
});

describe('autopilot', () => {
  it('rotates speakers with no immediate repeat and stops at the turn limit', async () => {
    script();
    const id = await room('autopilot', { mode_settings: { max_turns: 5 } });
    const { events } = await runRoom(id, () => rt.api('POST', `/api/conversations/${id}/autopilot`, { body: { action: 'start', topic: 'the roadmap' } }));
    expect(speakers(events)).toEqual(['alex', 'sam', 'jordan', 'alex', 'sam']);
    expect(finished(events)).toMatchObject({ reason: 'turn_limit', turns: 5 });
  });

  it('stops on the stop phrase or the end tool', async () => {
    script((req, persona) => (persona === 'sam' ? { text: 'I think we are DONE here.' } : ({} as OpenAITurn)));
    const id = await room('autopilot', { mode_settings: { max_turns: 10, stop_phrase: 'done here' } });
    const { events } = await runRoom(id, () => rt.api('POST', `/api/conversations/${id}/autopilot`, { body: { action: 'start' } }));
    expect(speakers(events)).toEqual(['alex', 'sam']);
    expect(finished(events).reason).toBe('stop_phrase');
  });

  it('answers a human message next and then stops', async () => {
    script((req, persona) => ({ text: `${persona} muses`, chunkDelayMs: 80 }) as OpenAITurn);
    const id = await room('autopilot', { mode_settings: { max_turns: 20, on_human: 'stop' } });
    const stream = await openSse(`${rt.url}/api/conversations/${id}/events`, rt.token);
    let interjected = false;
    const reading = readSse(stream, (item) => {
      if (!interjected && item.event.name === 'turn_started' && item.event.value.turn === 2) {
        interjected = true;
        void rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: '@jordan what do you think?', on_busy: 'queue' } }).then((r) => {
          expect(r.status).toBe(202);
          expect(r.body.status).toBe('queued');
        });
      }
      return item.event.name === 'room_finished';
    });
    const started = await rt.api('POST', `/api/conversations/${id}/autopilot`, { body: { action: 'start', topic: 'anything' } });
    expect(started.status).toBe(202);
    const events = await reading;
    expect(speakers(events)).toEqual(['alex', 'sam', 'jordan']);
    expect(finished(events).reason).toBe('human_message');
    expect(lastUser(fake.chatRequests().at(-1)!)).toBe('@jordan what do you think?');
  });

  it('takes a human message as the new direction when configured to redirect', async () => {
    script((req, persona) => ({ text: `${persona} muses`, chunkDelayMs: 60 }) as OpenAITurn);
    const id = await room('autopilot', { mode_settings: { max_turns: 4, on_human: 'redirect' } });
    const stream = await openSse(`${rt.url}/api/conversations/${id}/events`, rt.token);
    let interjected = false;
    const reading = readSse(stream, (item) => {
      if (!interjected && item.event.name === 'turn_started') {
        interjected = true;
        void rt.api('POST', `/api/conversations/${id}/messages`, { body: { input: '@sam new topic: lunch', on_busy: 'queue' } });
      }
      return item.event.name === 'room_finished';
    });
    await rt.api('POST', `/api/conversations/${id}/autopilot`, { body: { action: 'start' } });
    const events = await reading;
    expect(speakers(events)).toEqual(['alex', 'sam', 'jordan', 'alex']);
    expect(finished(events).reason).toBe('turn_limit');
  });

  it('stops when asked, whoever asks', async () => {
    script(() => ({ text: 'talking slowly', chunkDelayMs: 100 }) as OpenAITurn);
    const id = await room('autopilot', { mode_settings: { max_turns: 50 } });
    const stream = await openSse(`${rt.url}/api/conversations/${id}/events`, rt.token);
    const reading = readSse(stream, (item) => item.event.name === 'room_finished');
    await rt.api('POST', `/api/conversations/${id}/autopilot`, { body: { action: 'start' } });
    await new Promise((r) => setTimeout(r, 300));
    const stopped = await rt.api('POST', `/api/conversations/${id}/interrupt`);
    expect(stopped.status).toBe(200);
    const events = await reading;
    expect(['stopped', 'interrupted']).toContain(finished(events).reason);
    expect(speakers(events).length).toBeLessThan(5);
  });
});

describe('ask_user in a room', () => {
  it('pauses the room on a persona’s question, and the human’s reply resumes it', async () => {
    script((req, persona) => {
      if (persona === 'sam' && !afterTool(req) && !lastUser(req).includes('Tuesday')) {
        return { toolCalls: [{ id: 'ask_1', name: 'ask_user', arguments: JSON.stringify({ question: 'Which day works?' }) }] };
      }
      if (persona === 'sam' && afterTool(req)) return { text: `sam heard ${req.body.messages.at(-1).content}` };
      return {} as OpenAITurn;
    });
    const id = await room('round_robin');
    const first = await runRoom(id, say(id, 'Plan the meeting'));
    expect(speakers(first.events)).toEqual(['alex', 'sam']);
    expect(finished(first.events).reason).toBe('awaiting_user');
    expect(first.events.find((e) => e.event.name === 'awaiting_user')!.event.value.questions).toEqual(['Which day works?']);

    const second = await runRoom(id, say(id, 'Tuesday'));
    expect(speakers(second.events)).toEqual(['sam', 'jordan']);
    const samText = second.events.filter((e) => e.event.type === 'TEXT_MESSAGE_CONTENT' && e.event.speaker.handle === 'sam').map((e) => e.event.delta).join('');
    expect(samText).toBe('sam heard Tuesday');
  });
});

describe('templates', () => {
  it('lists the shipped templates and creates a room from one in a single call', async () => {
    const list = await rt.api('GET', '/api/room-templates');
    expect(list.body.items.map((t: { id: string }) => t.id)).toEqual(['project-council', 'debate-club', 'system-design-review']);
    expect(list.body.items[0].participants.map((p: { title: string }) => p.title)).toEqual([
      'Project Manager',
      'Technical Architect',
      'Creative Strategist',
      'Quality Assurance',
      'Resource Coordinator',
    ]);
    const created = await rt.api('POST', '/api/room-templates/debate-club/rooms', { body: { models: { sophia: 'openai:deep-thinker' } } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ mode: 'debate', title: 'Debate club' });
    expect(created.body.participants.map((p: { handle: string }) => p.handle)).toEqual(['sophia', 'jester', 'curie']);
    const sophia = await rt.api('GET', '/api/presets/debate-club-sophia');
    expect(sophia.body.model.name).toBe('openai:deep-thinker');
    expect((await rt.api('GET', '/api/presets/debate-club-jester')).body.model.name).toBe('openai:gpt-4.1-mini');
    expect((await rt.api('POST', '/api/room-templates/nope/rooms', { body: {} })).status).toBe(404);
  });
});
