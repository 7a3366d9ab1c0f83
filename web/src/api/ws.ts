// The dashboard's WebSocket (contract: ws-protocol, GET /v1/ws): one socket
// per tab, opened with a single-use ticket, topics multiplexed over it,
// reconnected with backoff (1 s, 2 s, 4 s … 10 s) and re-subscribed.

import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { ApiError } from './client';
import { api } from './index';

export type WsState = 'idle' | 'connecting' | 'open' | 'closed';
type Listener = (data: unknown) => void;

interface ServerMessage {
  type: string;
  topic?: string;
  id?: string;
  data?: unknown;
  error?: { code: string; message: string };
}

const MAX_BACKOFF_MS = 10_000;

export class WsClient {
  private socket: WebSocket | null = null;
  private listeners = new Map<string, Set<Listener>>();
  // the last event of each topic, so a late subscriber renders at once
  private last = new Map<string, unknown>();
  private nextId = 1;
  private backoff = 1000;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private stateValue: WsState = 'idle';
  private stateListeners = new Set<() => void>();

  get state(): WsState {
    return this.stateValue;
  }

  onState = (fn: () => void): (() => void) => {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  };

  private setState(s: WsState): void {
    this.stateValue = s;
    this.stateListeners.forEach((fn) => fn());
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  /** Logout: close and forget everything. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.close(1000);
    this.socket = null;
    this.last.clear();
    this.setState('idle');
  }

  subscribe(topic: string, fn: Listener): () => void {
    let set = this.listeners.get(topic);
    if (!set) {
      set = new Set();
      this.listeners.set(topic, set);
      this.send({ type: 'subscribe', topic });
    }
    set.add(fn);
    if (this.last.has(topic)) fn(this.last.get(topic));
    return () => {
      const s = this.listeners.get(topic);
      if (!s) return;
      s.delete(fn);
      if (s.size === 0) {
        this.listeners.delete(topic);
        this.last.delete(topic);
        this.send({ type: 'unsubscribe', topic });
      }
    };
  }

  private send(msg: { type: string; topic?: string }): void {
    if (this.socket?.readyState === WebSocket.OPEN)
      this.socket.send(JSON.stringify({ ...msg, id: `c${this.nextId++}` }));
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setState('connecting');
    let ticket: string;
    try {
      ticket = (await api.wsTicket()).ticket;
    } catch (e) {
      // refused credentials end the session (the client logs out); anything
      // else (server restarting) is retried
      if (e instanceof ApiError && e.isAuth) {
        this.stop();
        return;
      }
      this.retry();
      return;
    }
    if (this.stopped) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/v1/ws?ticket=${encodeURIComponent(ticket)}`);
    this.socket = ws;
    ws.onopen = () => {
      this.backoff = 1000;
      this.setState('open');
      for (const topic of this.listeners.keys()) this.send({ type: 'subscribe', topic });
    };
    ws.onmessage = (ev) => this.dispatch(ev.data);
    ws.onclose = () => {
      if (this.socket !== ws) return;
      this.socket = null;
      this.retry();
    };
  }

  private retry(): void {
    if (this.stopped) return;
    this.setState('closed');
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }

  private dispatch(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let msg: ServerMessage;
    try {
      msg = JSON.parse(raw) as ServerMessage;
    } catch {
      return;
    }
    if (msg.type === 'event' && msg.topic) {
      this.last.set(msg.topic, msg.data);
      this.listeners.get(msg.topic)?.forEach((fn) => fn(msg.data));
    } else if (msg.type === 'error' && msg.error) {
      // a refused subscribe (role too low): not fatal, the page shows REST data
      console.warn('websocket:', msg.error.code, msg.error.message);
    }
  }
}

export const ws = new WsClient();

/** The latest event of `topic` (null topic: nothing), live. */
export function useTopic<T>(topic: string | null): T | undefined {
  const [data, setData] = useState<T | undefined>(undefined);
  useEffect(() => {
    setData(undefined);
    if (!topic) return;
    return ws.subscribe(topic, (d) => setData(d as T));
  }, [topic]);
  return data;
}

/** Calls `fn` on every event of `topic`. The subscription follows the
 * topic only: a new `fn` each render must not unsubscribe and resubscribe
 * (the server would send its snapshot again every time). */
export function useTopicEvents(topic: string | null, fn: (data: unknown) => void): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!topic) return;
    return ws.subscribe(topic, (d) => ref.current(d));
  }, [topic]);
}

export function useWsState(): WsState {
  return useSyncExternalStore(ws.onState, () => ws.state);
}
