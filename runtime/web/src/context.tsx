/** What every screen needs: the signed-in API, the presets (personas), and live notifications. */
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { Api, type Preset } from './api.js';

export interface Notification {
  type: string;
  conversation_id: string;
  session_id?: string;
  [field: string]: unknown;
}

/** Per conversation: running, or waiting for a person. */
export type Activity = 'running' | 'waiting';

interface AppState {
  api: Api;
  presets: Preset[];
  presetMap: Map<string, Preset>;
  reloadPresets(): Promise<void>;
  signOut(): void;
  activity: Map<string, Activity>;
  /** Marks a conversation's activity from what a screen saw itself. */
  setActivity(conversationId: string, activity: Activity | null): void;
  /** Subscribes to notifications; returns the unsubscribe function. */
  onNotification(listener: (n: Notification) => void): () => void;
  /** Bumped when the notification stream reconnects: state may have changed unseen. */
  reconnects: number;
}

const Context = createContext<AppState | null>(null);

export function useApp(): AppState {
  const state = useContext(Context);
  if (!state) throw new Error('useApp outside <AppProvider>');
  return state;
}

export function AppProvider({ token, signOut, children }: { token: string; signOut(): void; children: ReactNode }) {
  const api = useMemo(() => new Api(token), [token]);
  const [presets, setPresets] = useState<Preset[]>([]);
  const [activity, setActivityMap] = useState<Map<string, Activity>>(new Map());
  const [reconnects, setReconnects] = useState(0);
  const listeners = useRef(new Set<(n: Notification) => void>());

  const reloadPresets = useCallback(async () => {
    // The presets route answers with all of them in one page.
    setPresets((await api.client.listPresets()).items);
  }, [api]);

  useEffect(() => {
    reloadPresets().catch(() => undefined);
  }, [reloadPresets]);

  const setActivity = useCallback((id: string, value: Activity | null) => {
    setActivityMap((old) => {
      if ((old.get(id) ?? null) === value) return old;
      const next = new Map(old);
      if (value) next.set(id, value);
      else next.delete(id);
      return next;
    });
  }, []);

  // Account notifications over SSE. EventSource reconnects by itself; the
  // stream has no resume, so a reconnect tells screens to refetch.
  useEffect(() => {
    let source: EventSource | null = new EventSource(api.notificationsUrl());
    let opened = false;
    source.onopen = () => {
      if (opened) setReconnects((n) => n + 1);
      opened = true;
    };
    source.onmessage = (message) => {
      let n: Notification;
      try {
        n = JSON.parse(message.data) as Notification;
      } catch {
        return;
      }
      if (typeof n.conversation_id !== 'string') return;
      if (n.type === 'session_started') setActivity(n.conversation_id, 'running');
      else if (n.type === 'awaiting_user') setActivity(n.conversation_id, 'waiting');
      else if (n.type === 'session_finished' || n.type === 'session_failed') {
        setActivityMap((old) => {
          if (old.get(n.conversation_id) === 'waiting' && n.status === 'awaiting_input') return old;
          if (!old.has(n.conversation_id)) return old;
          const next = new Map(old);
          next.delete(n.conversation_id);
          return next;
        });
      }
      for (const listener of listeners.current) listener(n);
    };
    return () => {
      source?.close();
      source = null;
    };
  }, [api, setActivity]);

  const onNotification = useCallback((listener: (n: Notification) => void) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);

  const presetMap = useMemo(() => new Map(presets.map((p) => [p.id, p])), [presets]);
  const value: AppState = { api, presets, presetMap, reloadPresets, signOut, activity, setActivity, onNotification, reconnects };
  return <Context.Provider value={value}>{children}</Context.Provider>;
}
