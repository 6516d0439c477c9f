/**
 * One persona turn in a room: the tools the persona gets (`mention` to hand
 * over, `opt_out` to stay silent, `vote` during ballots, `end_conversation`
 * in autopilot), the framing added to its system prompt, and what the turn
 * produced for the orchestrator (mentions, opt-out, ballot, stop request).
 */
import type { RoomTurnHooks } from '../engine/runs.js';
import { ToolFailure, type Tool } from '../engine/tools.js';
import type { Participant } from '../store/schema.js';

export interface TurnOutcome {
  mentions: string[];
  /** The persona addressed a human: the chain waits for them. */
  addressedHuman: boolean;
  optedOut: boolean;
  optOutReason?: string;
  ballot: string[] | null;
  endRequested: boolean;
}

export interface TurnOptions {
  self: Participant & { name: string };
  others: (Participant & { name: string })[];
  /** Offer the vote tool over these options (proposal handles or poll options). */
  ballot?: { options: string[]; method: 'approval' | 'ranked'; question: string };
  /** Offer end_conversation (autopilot). */
  canEnd?: boolean;
}

export function newOutcome(): TurnOutcome {
  return { mentions: [], addressedHuman: false, optedOut: false, ballot: null, endRequested: false };
}

const HUMAN_HANDLES = ['human', 'user', 'humans', 'everyone'];

export function turnHooks(options: TurnOptions, outcome: TurnOutcome): RoomTurnHooks {
  const { self, others } = options;
  const handles = others.map((o) => o.handle);
  const tools: Tool[] = [
    {
      name: 'mention',
      description: `Hand the conversation to another participant (${handles.map((h) => `@${h}`).join(', ') || 'nobody else is here'}), or address the humans with "human". They speak after you.`,
      parameters: {
        type: 'object',
        properties: { handle: { type: 'string', description: 'A participant handle, "all", or "human".' } },
        required: ['handle'],
        additionalProperties: false,
      },
      async execute(args) {
        const handle = String(args.handle ?? '').replace(/^@/, '').toLowerCase();
        if (HUMAN_HANDLES.includes(handle)) {
          outcome.addressedHuman = true;
          return 'The humans will answer when they want to.';
        }
        if (handle === 'all') {
          outcome.mentions.push(...handles);
          return `Everyone (${handles.join(', ')}) speaks next.`;
        }
        if (handle === self.handle) throw new ToolFailure('you cannot mention yourself');
        if (!handles.includes(handle)) throw new ToolFailure(`nobody here is called @${handle}; participants: ${handles.join(', ')}`);
        outcome.mentions.push(handle);
        return `@${handle} speaks next.`;
      },
    },
    {
      name: 'opt_out',
      description: 'Stay silent this turn: call this instead of writing anything when you have nothing useful to add.',
      parameters: { type: 'object', properties: { reason: { type: 'string' } }, additionalProperties: false },
      async execute(args) {
        outcome.optedOut = true;
        outcome.optOutReason = typeof args.reason === 'string' ? args.reason : undefined;
        return 'You stay silent this turn.';
      },
    },
  ];
  if (options.ballot) {
    const { options: choices, method, question } = options.ballot;
    tools.push({
      name: 'vote',
      description:
        method === 'approval'
          ? `Cast your ballot on "${question}": list every option you approve of. Options: ${choices.join(', ')}.`
          : `Cast your ballot on "${question}": rank the options, best first. Options: ${choices.join(', ')}.`,
      parameters: {
        type: 'object',
        properties: { choices: { type: 'array', items: { type: 'string', enum: choices }, minItems: 1 } },
        required: ['choices'],
        additionalProperties: false,
      },
      async execute(args) {
        const picked = Array.isArray(args.choices) ? args.choices.map((c) => String(c).replace(/^@/, '')) : [];
        const unknown = picked.filter((c) => !choices.includes(c));
        if (picked.length === 0 || unknown.length > 0) throw new ToolFailure(`choose among: ${choices.join(', ')}`);
        outcome.ballot = [...new Set(picked)];
        return 'Your ballot is recorded.';
      },
    });
  }
  if (options.canEnd) {
    tools.push({
      name: 'end_conversation',
      description: 'End this autonomous conversation when it has reached its goal or run its course.',
      parameters: { type: 'object', properties: { reason: { type: 'string' } }, additionalProperties: false },
      async execute() {
        outcome.endRequested = true;
        return 'The conversation ends after your turn.';
      },
    });
  }

  const describe = (p: Participant & { name: string }) => `@${p.handle} (${p.name}${p.title ? `, ${p.title}` : ''})`;
  const systemSuffix = [
    `You are ${self.name}${self.title ? `, ${self.title}` : ''}, in a group conversation with ${others.map(describe).join(', ') || 'the humans only'} and the humans.`,
    'Other participants’ lines appear as user turns starting with [Name]; your own earlier lines are yours.',
    `Speak only as ${self.name}: never write lines for anyone else, and do not start your reply with your name.`,
    'Use the mention tool to hand over to someone; call opt_out instead of writing when you have nothing to add.',
  ].join('\n');

  return {
    tools,
    systemSuffix,
    shouldStop: () => outcome.optedOut || (options.ballot !== undefined && outcome.ballot !== null),
  };
}
