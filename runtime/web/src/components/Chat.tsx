/**
 * The chat screen: header (title, mode, mailbox, details, archive), the
 * thread (older turns load when scrolled to the top), the composer (Send;
 * while a reply runs Send steers it and Stop interrupts it), and the side
 * panel with the participants (who is speaking) and usage and cost.
 */
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { describeError, type MailboxMessage } from '../api.js';
import { useApp } from '../context.js';
import { participantsOf, personaOfParticipant, personaOfPreset, resolvePersona, type Persona } from '../persona.js';
import { navigate } from '../router.js';
import { formatCost, formatTokens, totalUsage, type UsageEntry } from '../turns.js';
import { useConversation } from '../useConversation.js';
import { Avatar } from './Avatar.js';
import { Dialog } from './Dialog.js';
import { IconChart, IconMail, IconSend, IconStop } from './icons.js';
import { Markdown } from './Markdown.js';
import { TurnItem } from './TurnItem.js';
import { ErrorBox } from './ErrorBox.js';

const wide = () => window.matchMedia('(min-width: 1100px)').matches;

export function Chat({ id, menuButton }: { id: string; menuButton: ReactNode }) {
  const { api, presetMap } = useApp();
  const c = useConversation(id);
  const { conversation, turns } = c;
  const [panelOpen, setPanelOpen] = useState(wide);
  const [mailOpen, setMailOpen] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(() => {
    if (!c.running) setNotice(null);
  }, [c.running]);
  // The details panel is a column on wide screens (open by default) and a drawer on narrow ones (closed by default).
  const [narrowPanel, setNarrowPanel] = useState(() => !wide());
  useEffect(() => {
    const media = window.matchMedia('(min-width: 1100px)');
    const change = () => {
      setNarrowPanel(!media.matches);
      setPanelOpen(media.matches);
    };
    media.addEventListener('change', change);
    return () => media.removeEventListener('change', change);
  }, []);
  useEffect(() => {
    if (!panelOpen || !narrowPanel) return;
    const onKey = (e: globalThis.KeyboardEvent) => e.key === 'Escape' && setPanelOpen(false);
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [panelOpen, narrowPanel]);
  const threadRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const heightBefore = useRef(0);

  const participants = participantsOf(conversation);
  const room = participants.length > 1;
  const personaOf = useCallback(
    (speaker: Parameters<typeof resolvePersona>[2], presetId: string | null) => resolvePersona(conversation, presetMap, speaker, presetId),
    [conversation, presetMap],
  );
  const speaking = c.runningTurn ? personaOf(c.runningTurn.speaker, c.runningTurn.presetId) : null;
  // Turns and room lines (passes, votes, tallies), in time order.
  const items = useMemo(() => [...turns, ...c.roomNotes].sort((a, b) => ('createdAt' in a ? a.createdAt : a.at) - ('createdAt' in b ? b.createdAt : b.at)), [turns, c.roomNotes]);

  // Scrolling: stay at the bottom while content arrives (unless the reader
  // scrolled up); keep the position when older turns are put on top.
  const onScroll = () => {
    const el = threadRef.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (el.scrollTop < 120 && c.nextCursor && !c.loadingOlder) {
      heightBefore.current = el.scrollHeight;
      void c.loadOlder();
    }
  };
  useLayoutEffect(() => {
    const el = threadRef.current;
    if (el && heightBefore.current) {
      el.scrollTop += el.scrollHeight - heightBefore.current;
      heightBefore.current = 0;
    }
  }, [c.prepended]);
  useLayoutEffect(() => {
    const el = threadRef.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [turns]);
  const loadOlderByButton = () => {
    heightBefore.current = threadRef.current?.scrollHeight ?? 0;
    void c.loadOlder();
  };

  const fork = async (sessionId: string) => {
    try {
      const result = await c.fork(sessionId);
      window.dispatchEvent(new Event('conclave:conversations-changed'));
      navigate(`/c/${encodeURIComponent(result.conversation.id)}`);
    } catch (e) {
      c.setError(describeError(e));
    }
  };

  const status = c.running
    ? `${speaking?.name ?? 'The agent'} is replying…`
    : c.awaiting
      ? 'Waiting for your answer.'
      : turns.at(-1)?.status === 'interrupted'
        ? 'Interrupted.'
        : turns.length > 0
          ? 'Reply finished.'
          : '';

  const subtitle = room
    ? `Room · ${(conversation?.mode ?? 'manual').replace('_', ' ')} · ${participants.length} personas`
    : conversation
      ? personaOf(null, conversation.preset_id).name
      : '';

  if (c.error && !conversation) {
    return (
      <div className="chat">
        <header className="chat-head">{menuButton}</header>
        <div className="empty-state">
          <h1>Conversation unavailable</h1>
          <ErrorBox error={c.error} />
        </div>
      </div>
    );
  }

  return (
    <div className="chat" data-panel-open={panelOpen || undefined}>
      <header className="chat-head">
        {menuButton}
        <div className="chat-title">
          <h1 title={conversation?.title || undefined}>{conversation ? conversation.title || 'New conversation' : 'Loading…'}</h1>
          <p className="muted small">
            {subtitle}
            {conversation?.status === 'archived' && ' · archived'}
            {c.connection === 'reconnecting' && <span className="connection"> · reconnecting…</span>}
          </p>
        </div>
        <div className="chat-actions">
          {c.mailbox > 0 && (
            <button type="button" className="button small mailbox-button" onClick={() => setMailOpen(true)} aria-label={`Mailbox: ${c.mailbox} pending`}>
              <IconMail />
              <span className="badge">{c.mailbox}</span>
            </button>
          )}
          {room && conversation?.mode === 'autopilot' && (
            <button type="button" className="button small" onClick={() => void c.autopilot(c.roomRun ? 'stop' : 'start').catch((e: unknown) => c.setError(describeError(e)))}>
              {c.roomRun ? 'Stop autopilot' : 'Start autopilot'}
            </button>
          )}
          <RenameButton title={conversation?.title ?? ''} onRename={(title) => c.patch({ title })} />
          {conversation && (
            <button type="button" className="button ghost small hide-narrow" onClick={() => void c.patch({ status: conversation.status === 'archived' ? 'active' : 'archived' })}>
              {conversation.status === 'archived' ? 'Unarchive' : 'Archive'}
            </button>
          )}
          <button
            type="button"
            className="icon-button"
            onClick={() => setPanelOpen((o) => !o)}
            aria-pressed={panelOpen}
            aria-controls="chat-panel"
            aria-label="Participants and usage"
            title="Participants and usage"
          >
            <IconChart />
          </button>
        </div>
      </header>

      <div className="chat-body">
        <section className="thread-column" aria-label="Conversation">
          <div ref={threadRef} className="thread" role="log" aria-live="off" aria-busy={c.running} aria-label="Messages" onScroll={onScroll} tabIndex={0}>
            <div className="thread-inner">
              {c.nextCursor ? (
                <button type="button" className="button ghost small load-older" onClick={loadOlderByButton} disabled={c.loadingOlder}>
                  {c.loadingOlder ? 'Loading…' : 'Load earlier messages'}
                </button>
              ) : (
                c.loaded && turns.length > 0 && <p className="muted small thread-start">Beginning of the conversation</p>
              )}
              {c.loaded && turns.length === 0 && (
                <div className="empty-state small-empty">
                  <p>{room ? 'Say something to the room. Mention a persona with @handle.' : 'Send a message to start.'}</p>
                </div>
              )}
              {items.map((item) =>
                'sessionId' in item ? (
                  <TurnItem
                    key={item.sessionId}
                    turn={item}
                    persona={personaOf(item.speaker, item.presetId)}
                    active={item === c.awaiting}
                    onFork={fork}
                    onAnswer={room ? undefined : c.answer}
                  />
                ) : (
                  <p key={item.key} className={`room-note room-note-${item.tone}`}>
                    {item.text}
                  </p>
                ),
              )}
            </div>
          </div>
          {c.error && conversation && (
            <p className="alert alert-error thread-alert" role="alert">
              {c.error}{' '}
              <button type="button" className="link-button" onClick={() => c.setError(null)}>
                Dismiss
              </button>
            </p>
          )}
          <p className="visually-hidden" role="status" aria-live="polite">
            {status}
          </p>
          <Composer
            key={id}
            running={c.running}
            question={c.awaiting?.parts.some((p) => p.kind === 'awaiting' && p.calls.some((x) => x.kind === 'question')) ?? false}
            participants={room ? participants.map((p) => personaOfParticipant(p, presetMap.get(p.preset_id))) : []}
            room={room}
            queued={c.queued.map((q) => q.text)}
            notice={notice}
            onSend={async (text) => {
              const run = await c.send(text, null);
              setNotice(run.status === 'steered' ? 'Sent as steering for the running reply.' : run.status === 'queued' ? 'Queued: it runs after the current reply.' : null);
            }}
            onStop={async () => {
              await c.stop();
            }}
          />
        </section>

        {panelOpen && narrowPanel && <div className="panel-backdrop" onClick={() => setPanelOpen(false)} aria-hidden="true" />}
        <aside id="chat-panel" className="chat-panel" aria-label="Participants and usage" hidden={!panelOpen}>
          <div className="panel-head only-narrow">
            <h2>Details</h2>
            <button type="button" className="button ghost small" onClick={() => setPanelOpen(false)}>
              Close
            </button>
          </div>
          <Participants
            personas={
              room
                ? participants.map((p) => personaOfParticipant(p, presetMap.get(p.preset_id)))
                : conversation
                  ? [personaOfPreset(conversation.preset_id ? presetMap.get(conversation.preset_id) : undefined, conversation.preset_id)]
                  : []
            }
            speaking={speaking}
            room={room}
          />
          <Usage usage={(conversation?.usage ?? {}) as Record<string, UsageEntry>} />
        </aside>
      </div>

      <MailboxDialog
        open={mailOpen}
        onClose={() => setMailOpen(false)}
        load={() => api.pendingMailbox(id)}
        onFire={c.fire}
        autoFire={conversation?.auto_fire ?? false}
        onAutoFire={(value) => c.patch({ auto_fire: value })}
      />
    </div>
  );
}

function RenameButton({ title, onRename }: { title: string; onRename(title: string): Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState(title);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setValue(title), [title, open]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await onRename(value.trim());
      setOpen(false);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <>
      <button type="button" className="button ghost small hide-narrow" onClick={() => setOpen(true)}>
        Rename
      </button>
      <Dialog open={open} title="Rename conversation" onClose={() => setOpen(false)}>
        <form onSubmit={submit} className="stack">
          <label className="field">
            <span>Title</span>
            <input value={value} onChange={(e) => setValue(e.target.value)} maxLength={500} autoFocus />
          </label>
          <ErrorBox error={error} />
          <div className="actions">
            <button type="button" className="button ghost" onClick={() => setOpen(false)}>
              Cancel
            </button>
            <button type="submit" className="button primary">
              Save
            </button>
          </div>
        </form>
      </Dialog>
    </>
  );
}

function Composer({
  running,
  question,
  participants,
  room,
  queued,
  notice,
  onSend,
  onStop,
}: {
  running: boolean;
  question: boolean;
  participants: Persona[];
  room: boolean;
  queued: string[];
  notice: string | null;
  onSend(text: string): Promise<void>;
  onStop(): Promise<void>;
}) {
  const [text, setText] = useState('');
  const [address, setAddress] = useState('');
  const [busy, setBusy] = useState(false);
  const [stopping, setStopping] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ref = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (!running) setStopping(false);
  }, [running]);

  // Grow with the text, up to a limit.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 220)}px`;
  }, [text]);

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    const message = text.trim();
    if (!message || busy) return;
    setBusy(true);
    setError(null);
    try {
      // In a room, "Address" puts the @mention in front unless the text has it.
      const mention = address ? `@${address}` : '';
      await onSend(mention && !new RegExp(`(^|\\s)${mention}\\b`, 'i').test(message) ? `${mention} ${message}` : message);
      setText('');
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
      ref.current?.focus();
    }
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void submit();
    }
  };
  const stop = async () => {
    setStopping(true);
    try {
      await onStop();
    } catch (err) {
      setError(describeError(err));
      setStopping(false);
    }
  };

  return (
    <form className="composer" onSubmit={submit} aria-label="Write a message">
      {(queued.length > 0 || notice || error) && (
        <div className="composer-notes">
          {queued.map((q, i) => (
            <span key={i} className="chip" title={q}>
              Queued: {q.length > 60 ? `${q.slice(0, 57)}…` : q}
            </span>
          ))}
          {notice && <span className="muted small">{notice}</span>}
          {error && (
            <span className="field-error" role="alert">
              {error}
            </span>
          )}
        </div>
      )}
      {room && participants.length > 0 && (
        <label className="reply-as">
          <span>Address</span>
          <select value={address} onChange={(e) => setAddress(e.target.value)}>
            <option value="">the room (its mode decides who answers)</option>
            <option value="all">everyone (@all)</option>
            {participants
              .filter((p) => p.handle)
              .map((p) => (
                <option key={p.key} value={p.handle!}>
                  {p.name} (@{p.handle})
                </option>
              ))}
          </select>
        </label>
      )}
      <div className="composer-row">
        <label htmlFor="message" className="visually-hidden">
          Message
        </label>
        <textarea
          id="message"
          ref={ref}
          rows={1}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
          placeholder={question ? 'Type your answer…' : running ? 'Steer the reply…' : 'Message'}
          aria-describedby="composer-hint"
        />
        {running && (
          <button type="button" className="button danger" onClick={() => void stop()} disabled={stopping} aria-label={stopping ? 'Stopping' : 'Stop'}>
            <IconStop /> <span>{stopping ? 'Stopping…' : 'Stop'}</span>
          </button>
        )}
        <button type="submit" className="button primary" disabled={busy || !text.trim()} aria-label={running ? 'Steer' : 'Send'}>
          <IconSend /> <span>{running ? 'Steer' : 'Send'}</span>
        </button>
      </div>
      <p id="composer-hint" className="muted small composer-hint">
        Enter sends, Shift+Enter adds a line{running ? '; sending now steers the running reply' : ''}.
      </p>
    </form>
  );
}

function Participants({ personas, speaking, room }: { personas: Persona[]; speaking: Persona | null; room: boolean }) {
  return (
    <section className="panel-section" aria-labelledby="participants-title">
      <h2 id="participants-title">{room ? 'Participants' : 'Agent'}</h2>
      <ul className="participants">
        {personas.map((p) => {
          const isSpeaking = speaking !== null && (speaking.key === p.key || (speaking.presetId !== null && speaking.presetId === p.presetId));
          return (
            <li key={p.key} className="participant" data-speaking={isSpeaking || undefined} style={{ ['--persona' as string]: p.color }}>
              <Avatar persona={p} size={36} />
              <span className="participant-text">
                <strong>{p.name}</strong>
                <span className="muted small">{[p.handle && `@${p.handle}`, p.title].filter(Boolean).join(' · ') || '\u00a0'}</span>
              </span>
              {isSpeaking && <span className="speaking">speaking</span>}
            </li>
          );
        })}
      </ul>
      <p className="visually-hidden" aria-live="polite">
        {speaking ? `${speaking.name} is speaking` : ''}
      </p>
    </section>
  );
}

function Usage({ usage }: { usage: Record<string, UsageEntry> }) {
  const models = Object.entries(usage).filter(([, v]) => v && typeof v === 'object');
  const total = totalUsage(usage);
  return (
    <section className="panel-section" aria-labelledby="usage-title">
      <h2 id="usage-title">Usage</h2>
      {models.length === 0 ? (
        <p className="muted small">No model calls yet.</p>
      ) : (
        <>
          <p className="usage-total">
            <strong>{formatCost(total.cost_usd)}</strong>
            <span className="muted small">
              {' '}
              · {formatTokens(total.input_tokens + total.output_tokens)} tokens · {total.requests} requests
            </span>
          </p>
          <div className="table-scroll">
            <table className="usage-table">
              <caption className="visually-hidden">Usage per model</caption>
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col">In</th>
                  <th scope="col">Out</th>
                  <th scope="col">Cost</th>
                </tr>
              </thead>
              <tbody>
                {models.map(([model, u]) => (
                  <tr key={model}>
                    <th scope="row" title={`cached ${u.cached_tokens ?? 0}, reasoning ${u.reasoning_tokens ?? 0}, requests ${u.requests ?? 0}`}>
                      {model}
                    </th>
                    <td>{formatTokens(u.input_tokens ?? 0)}</td>
                    <td>{formatTokens(u.output_tokens ?? 0)}</td>
                    <td>{formatCost(u.cost_usd ?? 0)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {(total.cached_tokens > 0 || total.reasoning_tokens > 0) && (
            <p className="muted small">
              {formatTokens(total.cached_tokens)} cached · {formatTokens(total.reasoning_tokens)} reasoning
            </p>
          )}
        </>
      )}
    </section>
  );
}

function MailboxDialog({
  open,
  onClose,
  load,
  onFire,
  autoFire,
  onAutoFire,
}: {
  open: boolean;
  onClose(): void;
  load(): Promise<{ items: MailboxMessage[] }>;
  onFire(): Promise<void>;
  autoFire: boolean;
  onAutoFire(value: boolean): Promise<void>;
}) {
  const [items, setItems] = useState<MailboxMessage[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    if (!open) return;
    setItems(null);
    setError(null);
    loadRef.current().then((r) => setItems(r.items), (e: unknown) => setError(describeError(e)));
  }, [open]);
  const fire = async () => {
    setBusy(true);
    try {
      await onFire();
      onClose();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const count = useMemo(() => items?.length ?? 0, [items]);
  return (
    <Dialog open={open} title="Mailbox" onClose={onClose} wide>
      <p className="muted">Results background agents left for this conversation. Fire delivers them all to the agent in one continuation.</p>
      {items === null && !error && <p className="muted">Loading…</p>}
      {items?.length === 0 && <p className="muted">Nothing pending.</p>}
      <ul className="mailbox-list">
        {items?.map((m) => (
          <li key={m.id} className={`mail mail-${m.kind}`}>
            <strong>{m.subagent_name}</strong> <span className="muted small">{m.kind === 'subagent_failed' ? 'failed' : 'finished'}</span>
            <Markdown text={m.content} />
          </li>
        ))}
      </ul>
      <ErrorBox error={error} />
      <label className="check">
        <input type="checkbox" checked={autoFire} onChange={(e) => void onAutoFire(e.target.checked).catch((err: unknown) => setError(describeError(err)))} />
        <span>Auto-fire: deliver results as soon as the agents finish</span>
      </label>
      <div className="actions">
        <button type="button" className="button ghost" onClick={onClose}>
          Close
        </button>
        <button type="button" className="button primary" onClick={() => void fire()} disabled={busy || count === 0}>
          {busy ? 'Firing…' : `Fire (${count})`}
        </button>
      </div>
    </Dialog>
  );
}
