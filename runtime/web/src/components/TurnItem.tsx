/**
 * One turn: the person's message, then the persona's answer — text as
 * markdown, reasoning collapsed, tool calls as collapsible cards, notes
 * (steering, warnings), questions and approvals, and the run's end state.
 */
import { memo, useState } from 'react';
import type { Persona } from '../persona.js';
import { formatCost, formatTokens, inputText, totalUsage, type Part, type PendingCall, type TurnView } from '../turns.js';
import { Avatar } from './Avatar.js';
import { IconFork, IconTool } from './icons.js';
import { Markdown } from './Markdown.js';
import { ErrorBox } from './ErrorBox.js';

const TOOL_STATUS: Record<string, string> = { running: 'running', complete: 'complete', error: 'error', cancelled: 'cancelled' };

function pretty(json: string): string {
  if (!json.trim()) return '{}';
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

function ToolCard({ part }: { part: Extract<Part, { kind: 'tool' }> }) {
  return (
    <details className="tool-card" data-status={part.status}>
      <summary>
        <IconTool />
        <span className="tool-name">{part.name}</span>
        <span className={`status-badge status-${part.status}`}>{TOOL_STATUS[part.status] ?? part.status}</span>
      </summary>
      <div className="tool-body">
        <h4>Arguments</h4>
        <pre>{pretty(part.args)}</pre>
        <h4>Result</h4>
        {part.result === null ? <p className="muted small">{part.status === 'running' ? 'Waiting for the result…' : 'No result.'}</p> : <pre>{part.result}</pre>}
      </div>
    </details>
  );
}

function Awaiting({
  part,
  active,
  onAnswer,
}: {
  part: Extract<Part, { kind: 'awaiting' }>;
  active: boolean;
  onAnswer?(approvals: { tool_call_id: string; approved: boolean }[]): Promise<void>;
}) {
  const approvals = part.calls.filter((c) => c.kind === 'approval');
  const questions = part.calls.filter((c) => c.kind === 'question');
  const client = part.calls.filter((c) => c.kind === 'client');
  const [decisions, setDecisions] = useState<Record<string, boolean>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const decide = async (call: PendingCall, approved: boolean) => {
    const next = { ...decisions, [call.tool_call_id]: approved };
    setDecisions(next);
    if (!onAnswer || approvals.some((c) => next[c.tool_call_id] === undefined)) return;
    setBusy(true);
    setError(null);
    try {
      await onAnswer(approvals.map((c) => ({ tool_call_id: c.tool_call_id, approved: next[c.tool_call_id]! })));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setDecisions({});
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className={`awaiting${active ? ' awaiting-active' : ''}`} role="group" aria-label={active ? 'Waiting for you' : 'Asked'}>
      {questions.map((q, i) => (
        <div key={q.tool_call_id} className="question">
          <strong>Question</strong>
          <p>{part.questions[i] ?? pretty(q.arguments)}</p>
          {active && <p className="muted small">Your next message answers it.</p>}
        </div>
      ))}
      {approvals.map((call) => {
        const decided = decisions[call.tool_call_id];
        return (
          <div key={call.tool_call_id} className="approval">
            <p>
              <strong>Approve </strong>
              <code>{call.tool_name}</code>?
            </p>
            <pre>{pretty(call.arguments)}</pre>
            {active ? (
              <div className="actions">
                <button type="button" className="button primary small" disabled={busy || decided !== undefined} onClick={() => void decide(call, true)} aria-pressed={decided === true}>
                  Approve
                </button>
                <button type="button" className="button ghost small" disabled={busy || decided !== undefined} onClick={() => void decide(call, false)} aria-pressed={decided === false}>
                  Deny
                </button>
              </div>
            ) : (
              <p className="muted small">Answered.</p>
            )}
          </div>
        );
      })}
      {client.map((call) => (
        <p key={call.tool_call_id} className="muted small">
          Waiting for the client to run <code>{call.tool_name}</code>.
        </p>
      ))}
      <ErrorBox error={error} />
    </div>
  );
}

function PartView({ part, turn, active, onAnswer }: { part: Part; turn: TurnView; active: boolean; onAnswer?: (a: { tool_call_id: string; approved: boolean }[]) => Promise<void> }) {
  switch (part.kind) {
    case 'text':
      return part.text ? <Markdown text={part.text} /> : null;
    case 'reasoning':
      return (
        <details className="reasoning">
          <summary>{turn.status === 'running' && turn.parts.at(-1) === part ? 'Thinking…' : 'Reasoning'}</summary>
          <div className="reasoning-text">{part.text}</div>
        </details>
      );
    case 'tool':
      return <ToolCard part={part} />;
    case 'note':
      return part.tone === 'steer' ? (
        <p className="note note-steer">
          <span className="note-label">Steering received</span> {part.text && <q>{part.text}</q>}
        </p>
      ) : (
        <p className={`note note-${part.tone}`}>{part.text}</p>
      );
    case 'awaiting':
      return <Awaiting part={part} active={active} onAnswer={onAnswer} />;
    case 'subagent':
      return (
        <details className="tool-card subagent-card" data-status={part.state}>
          <summary>
            <span className="tool-name">Background agent: {part.name}</span>
            <span className={`status-badge status-${part.state === 'finished' ? 'complete' : part.state === 'failed' ? 'error' : 'running'}`}>{part.state}</span>
          </summary>
          <div className="tool-body">
            {part.description && <p className="muted small">{part.description}</p>}
            {part.result ? <Markdown text={part.result} /> : <p className="muted small">Working…</p>}
          </div>
        </details>
      );
  }
}

const ERROR_LABEL: Record<string, string> = {
  interrupted: 'Interrupted',
  provider_error: 'The model failed',
  tool_error: 'A tool server failed',
  runtime_restarted: 'The runtime restarted',
  step_limit: 'Step limit reached',
};

export const TurnItem = memo(function TurnItem({
  turn,
  persona,
  active,
  onFork,
  onAnswer,
}: {
  turn: TurnView;
  persona: Persona;
  /** The latest turn, so its questions and approvals can be answered. */
  active: boolean;
  onFork?(sessionId: string): void;
  onAnswer?(approvals: { tool_call_id: string; approved: boolean }[]): Promise<void>;
}) {
  const text = turn.input === undefined ? '' : inputText(turn.input);
  const usage = totalUsage(turn.usage);
  const models = Object.keys(turn.usage ?? {});
  const forkable = turn.type === 'agent' && ['completed', 'interrupted', 'awaiting_input'].includes(turn.status);
  const streaming = turn.status === 'running';
  const time = new Date(turn.createdAt);

  return (
    <article className="turn" data-session={turn.sessionId} data-status={turn.status} aria-label={`Turn by ${persona.name}`}>
      {text && (
        <div className="msg msg-user">
          <div className="bubble">{text}</div>
        </div>
      )}
      <div className="msg msg-agent" style={{ ['--persona' as string]: persona.color }}>
        <Avatar persona={persona} size={34} />
        <div className="msg-body">
          <div className="msg-head">
            <span className="persona-name" data-persona-color={persona.color}>
              {persona.name}
            </span>
            {persona.handle && <span className="muted small">@{persona.handle}</span>}
            {persona.title && <span className="muted small persona-title">{persona.title}</span>}
            {turn.type === 'async_subagent' && <span className="tag">background</span>}
            <time className="muted small" dateTime={time.toISOString()} title={time.toLocaleString()}>
              {time.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}
            </time>
          </div>
          <div className="msg-content">
            {turn.parts.map((part) => (
              <PartView key={part.key} part={part} turn={turn} active={active && turn.status === 'awaiting_input'} onAnswer={onAnswer} />
            ))}
            {streaming && turn.parts.every((p) => p.kind !== 'text' || !p.text) && (
              <p className="typing" aria-hidden="true">
                <span />
                <span />
                <span />
              </p>
            )}
          </div>
          {turn.error && (
            <p className={`run-error${turn.error.code === 'interrupted' ? ' run-interrupted' : ''}`} role="note">
              <strong>{ERROR_LABEL[turn.error.code] ?? 'Failed'}</strong>
              {turn.error.code === 'interrupted' ? ' — partial output was kept.' : `: ${turn.error.message}`}
            </p>
          )}
          {(forkable || models.length > 0) && (
            <div className="msg-foot">
              {models.length > 0 && (
                <span className="muted small" title={models.join(', ')}>
                  {formatTokens(usage.input_tokens)} in · {formatTokens(usage.output_tokens)} out{usage.cost_usd > 0 ? ` · ${formatCost(usage.cost_usd)}` : ''}
                </span>
              )}
              {forkable && onFork && (
                <button type="button" className="link-button small" onClick={() => onFork(turn.sessionId)} aria-label={`Fork from this turn (${persona.name}, ${time.toLocaleTimeString()})`}>
                  <IconFork width={14} height={14} /> Fork
                </button>
              )}
            </div>
          )}
        </div>
      </div>
    </article>
  );
});
