/**
 * One conversation's live state: the conversation, its turns (committed
 * history from GET /turns, newest page first, older pages on demand) merged
 * with the live event stream (GET /events through the shared client's
 * followEvents: resumes with Last-Event-ID after a drop; `stream_reset`
 * refetches history), the mailbox, and the actions (send, steer, stop,
 * approve, fork, fire, rename, archive).
 *
 * Events for a session already committed in the loaded history are skipped;
 * a session the history does not have yet is drawn from its events (and its
 * input and persona fetched from GET /api/sessions/:id). Events are applied
 * once per animation frame, so fast token streams cost one render per frame.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { isStreamReset } from '../../../shared/client/sse.js';
import type { ConclaveEvent } from '../../../shared/protocol/events.js';
import { describeError, type Conversation, type RunAccepted, type Turn } from './api.js';
import { useApp } from './context.js';
import { participantsOf } from './persona.js';
import { applyEvent, emptyTurn, fromTurn, ROOM_EVENTS, roomNote, type RoomNote, type TurnView } from './turns.js';

const PAGE = 20;

export type Connection = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface Queued {
  sessionId: string;
  text: string;
}

interface Store {
  map: Map<string, TurnView>;
  /** Sessions older than the loaded history (their events are skipped). */
  ignored: Set<string>;
  /** Sessions whose details are being fetched. */
  fetching: Set<string>;
  /** created_at of the oldest loaded turn. */
  oldest: number;
  hasMore: boolean;
  pending: ConclaveEvent[];
  scheduled: boolean;
}

const byTime = (a: TurnView, b: TurnView) => a.createdAt - b.createdAt || (a.sessionId < b.sessionId ? -1 : 1);

export function useConversation(id: string) {
  const { api, setActivity, presetMap } = useApp();
  const [conversation, setConversation] = useState<Conversation | null>(null);
  const [turns, setTurns] = useState<TurnView[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [connection, setConnection] = useState<Connection>('connecting');
  const [mailbox, setMailbox] = useState(0);
  const [queued, setQueued] = useState<Queued[]>([]);
  /** Lines from room runs (passes, votes, tallies, endings), drawn between the turns. */
  const [roomNotes, setRoomNotes] = useState<RoomNote[]>([]);
  /** A room run is going on (between turn_started and room_finished). */
  const [roomRun, setRoomRun] = useState<string | null>(null);
  /** Bumped when older turns are put above the current ones (the view keeps its scroll position). */
  const [prepended, setPrepended] = useState(0);
  const store = useRef<Store>({ map: new Map(), ignored: new Set(), fetching: new Set(), oldest: Infinity, hasMore: false, pending: [], scheduled: false });
  const queuedRef = useRef<Queued[]>([]);
  queuedRef.current = queued;
  const conversationRef = useRef<Conversation | null>(null);
  conversationRef.current = conversation;

  const publish = useCallback(() => setTurns([...store.current.map.values()].sort(byTime)), []);

  const refreshConversation = useCallback(async () => {
    try {
      setConversation(await api.client.getConversation(id));
    } catch {
      /* the next refresh will tell */
    }
  }, [api, id]);

  const refreshMailbox = useCallback(async () => {
    try {
      setMailbox((await api.pendingMailbox(id)).items.length);
    } catch {
      setMailbox(0);
    }
  }, [api, id]);

  /** Fills in what events do not carry: the input, the preset, the speaker, the type and creation time. */
  const fetchSession = useCallback(
    async (sessionId: string) => {
      const s = store.current;
      if (s.fetching.has(sessionId)) return;
      s.fetching.add(sessionId);
      try {
        const info = await api.session(sessionId);
        const turn = s.map.get(sessionId);
        if (!turn) return;
        const queuedText = queuedRef.current.find((q) => q.sessionId === sessionId)?.text;
        s.map.set(sessionId, {
          ...turn,
          input: turn.input === undefined ? (info.input ?? queuedText ?? null) : turn.input,
          presetId: turn.presetId ?? info.preset_id,
          speaker: turn.speaker ?? ((info.speaker as TurnView['speaker']) || null),
          type: info.type,
          createdAt: Date.parse(info.created_at) || turn.createdAt,
        });
        publish();
      } catch {
        /* keep what the events said */
      }
    },
    [api, publish],
  );

  /** In rooms, turns whose history does not name the speaker get it from their session's preset. */
  const resolveSpeakers = useCallback(
    (items: Turn[]) => {
      if (participantsOf(conversationRef.current).length < 2) return;
      for (const t of items) if (!t.speaker) void fetchSession(t.session_id);
    },
    [fetchSession],
  );

  const addPage = useCallback(
    (items: Turn[], cursor: string | null, replace: boolean) => {
      const s = store.current;
      if (replace) {
        s.map = new Map();
        s.ignored.clear();
        s.oldest = Infinity;
      }
      for (const t of items) {
        const existing = s.map.get(t.session_id);
        if (!existing || (existing.status === 'running' && t.status !== 'running')) s.map.set(t.session_id, fromTurn(t));
        s.oldest = Math.min(s.oldest, Date.parse(t.created_at));
      }
      s.hasMore = cursor !== null;
      setNextCursor(cursor);
      publish();
      resolveSpeakers(items);
    },
    [publish, resolveSpeakers],
  );

  const loadFirstPage = useCallback(
    async (signal?: AbortSignal) => {
      const page = await api.client.listTurns(id, { limit: PAGE }, { signal });
      addPage(page.items, page.next_cursor, true);
    },
    [api, id, addPage],
  );

  // Read through a ref, so new presets never restart the stream below.
  const presetMapRef = useRef(presetMap);
  presetMapRef.current = presetMap;
  const nameOfHandle = useCallback((handle: string) => {
    const p = participantsOf(conversationRef.current).find((x) => x.handle === handle);
    const persona = presetMapRef.current.get(p?.preset_id ?? '')?.persona as { display_name?: string } | undefined;
    return p?.display_name ?? persona?.display_name ?? (handle ? `@${handle}` : 'A persona');
  }, []);

  const flush = useCallback(() => {
    const s = store.current;
    s.scheduled = false;
    const events = s.pending;
    s.pending = [];
    let finished = false;
    for (const event of events) {
      const sessionId = event.sessionId;
      if (typeof sessionId !== 'string') continue;
      if (event.type === 'CUSTOM' && event.name === 'mailbox_updated') {
        const pending = (event.value as { pending?: unknown } | undefined)?.pending;
        if (typeof pending === 'number') setMailbox(pending);
        else void refreshMailbox();
      }
      if (event.type === 'CUSTOM' && ROOM_EVENTS.has(String(event.name))) {
        if (s.hasMore && event.timestamp < s.oldest) continue;
        if (event.name === 'room_finished') setRoomRun((run) => (run === sessionId ? null : run));
        else if (event.name === 'turn_started') setRoomRun(sessionId);
        const note = roomNote(event, nameOfHandle);
        if (note) setRoomNotes((notes) => (notes.some((n) => n.key === note.key) ? notes : [...notes, note]));
        if (event.name === 'room_finished') finished = true;
        continue;
      }
      let turn = s.map.get(sessionId);
      if (!turn) {
        if (s.ignored.has(sessionId)) continue;
        if (s.hasMore && event.timestamp < s.oldest) {
          s.ignored.add(sessionId); // older than the loaded history: paging will bring it
          continue;
        }
        turn = emptyTurn(sessionId, event.timestamp);
        const q = queuedRef.current.find((x) => x.sessionId === sessionId);
        if (q) {
          turn = { ...turn, input: q.text };
          setQueued((list) => list.filter((x) => x.sessionId !== sessionId));
        }
        void fetchSession(sessionId);
      } else if (turn.committed) continue;
      s.map.set(sessionId, applyEvent(turn, event as unknown as { type: string }));
      if (event.type === 'RUN_FINISHED' || event.type === 'RUN_ERROR') finished = true;
    }
    publish();
    if (finished) {
      void refreshConversation();
      void refreshMailbox();
    }
  }, [fetchSession, publish, refreshConversation, refreshMailbox, nameOfHandle]);

  const enqueue = useCallback(
    (event: ConclaveEvent) => {
      const s = store.current;
      s.pending.push(event);
      if (s.scheduled) return;
      s.scheduled = true;
      if (document.hidden) setTimeout(flush, 250);
      else requestAnimationFrame(flush);
    },
    [flush],
  );

  // Load, then follow the event stream until the conversation changes.
  useEffect(() => {
    const abort = new AbortController();
    const { signal } = abort;
    store.current = { map: new Map(), ignored: new Set(), fetching: new Set(), oldest: Infinity, hasMore: false, pending: [], scheduled: false };
    setTurns([]);
    setLoaded(false);
    setError(null);
    setQueued([]);
    setRoomNotes([]);
    setRoomRun(null);
    setConnection('connecting');
    (async () => {
      try {
        const conv = await api.client.getConversation(id, { signal });
        conversationRef.current = conv;
        setConversation(conv);
        await loadFirstPage(signal);
        setLoaded(true);
      } catch (e) {
        if (!signal.aborted) setError(describeError(e));
        return;
      }
      void refreshMailbox();
      const stream = api.client.conversationEvents(id, {
        signal,
        idleTimeoutMs: 45_000,
        onReconnect: () => setConnection('reconnecting'),
        onReset: async () => {
          // The resume cursor expired: history is the truth again.
          await loadFirstPage(signal).catch(() => undefined);
        },
      });
      setConnection('live');
      try {
        for await (const { event } of stream) {
          setConnection('live');
          if (isStreamReset(event)) continue;
          enqueue(event);
        }
      } catch (e) {
        if (!signal.aborted) {
          setConnection('closed');
          setError(`Live updates stopped: ${describeError(e)}`);
        }
      }
    })();
    return () => abort.abort();
  }, [api, id, loadFirstPage, refreshMailbox, enqueue]);

  const loadOlder = useCallback(async () => {
    if (!nextCursor || loadingOlder) return;
    setLoadingOlder(true);
    try {
      const page = await api.client.listTurns(id, { limit: PAGE, cursor: nextCursor });
      addPage(page.items, page.next_cursor, false);
      setPrepended((n) => n + 1);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setLoadingOlder(false);
    }
  }, [api, id, nextCursor, loadingOlder, addPage]);

  const agentTurns = useMemo(() => turns.filter((t) => t.type === 'agent'), [turns]);
  const runningTurn = useMemo(() => agentTurns.find((t) => t.status === 'running') ?? null, [agentTurns]);
  const lastAgent = agentTurns.at(-1) ?? null;
  const awaiting = lastAgent && lastAgent.status === 'awaiting_input' ? lastAgent : null;
  const running = runningTurn !== null || roomRun !== null;

  useEffect(() => {
    setActivity(id, running ? 'running' : awaiting ? 'waiting' : null);
  }, [id, running, awaiting, setActivity]);

  /** Adds (or completes) the turn of a run this page started. */
  const trackRun = useCallback(
    (run: RunAccepted, input: unknown, presetId: string | null) => {
      const s = store.current;
      if (run.session_id === null) return; // a room run took the message for later
      const sessionId = run.session_id;
      if (run.status === 'queued') {
        setQueued((list) => [...list, { sessionId, text: typeof input === 'string' ? input : '' }]);
        return;
      }
      if (run.status !== 'running') return;
      const turn = s.map.get(sessionId) ?? emptyTurn(sessionId, Date.now());
      s.map.set(sessionId, { ...turn, input: turn.input === undefined ? input : turn.input, presetId: turn.presetId ?? presetId });
      publish();
    },
    [publish],
  );

  const send = useCallback(
    async (text: string, presetId: string | null): Promise<RunAccepted> => {
      // While a reply runs, a message steers it; otherwise it starts a run (queued if one just began).
      const run = await api.client.sendMessage(id, { input: text, on_busy: running ? 'steer' : 'queue', ...(presetId && { preset_id: presetId }) });
      trackRun(run, text, presetId);
      if (!conversationRef.current?.title) void refreshConversation();
      return run;
    },
    [api, id, running, trackRun, refreshConversation],
  );

  const answer = useCallback(
    async (approvals: { tool_call_id: string; approved: boolean }[]) => {
      const run = await api.client.sendMessage(id, { approvals, on_busy: 'queue' });
      trackRun(run, null, null);
    },
    [api, id, trackRun],
  );

  const stop = useCallback(() => api.client.interruptConversation(id), [api, id]);
  const autopilot = useCallback(async (action: 'start' | 'stop') => {
    await api.autopilot(id, action);
    if (action === 'stop') setRoomRun(null);
  }, [api, id]);
  const fork = useCallback((sessionId: string) => api.client.forkConversation(id, { session_id: sessionId }), [api, id]);
  const fire = useCallback(async () => {
    const run = await api.fire(id);
    trackRun({ ...(run as RunAccepted), status: run.status as RunAccepted['status'] }, null, null);
    await refreshMailbox();
  }, [api, id, trackRun, refreshMailbox]);
  const patch = useCallback(
    async (body: { title?: string; status?: 'active' | 'archived'; auto_fire?: boolean }) => {
      setConversation(await api.client.patchConversation(id, body));
      window.dispatchEvent(new Event('conclave:conversations-changed'));
    },
    [api, id],
  );

  return {
    conversation,
    turns,
    loaded,
    error,
    setError,
    connection,
    nextCursor,
    loadingOlder,
    loadOlder,
    prepended,
    running,
    runningTurn,
    awaiting,
    mailbox,
    queued,
    roomNotes,
    roomRun,
    autopilot,
    presetMap,
    send,
    answer,
    stop,
    fork,
    fire,
    patch,
  };
}
