// Rolling time series for the resource charts: the last five minutes of
// the 1 Hz `dashboard` (and `worker:<id>`) events, kept at module level so a
// visit to another page does not start the charts afresh. A page feeds it
// while it is open; the gaps in between show as gaps on the time axis.

import { useSyncExternalStore } from 'react';
import { ws } from '../../api/ws';

export const WINDOW_MS = 5 * 60 * 1000;

/** One sample: `t` in ms since the epoch, the rest optional numbers. */
export interface Point {
  t: number;
  [series: string]: number | undefined;
}

const series = new Map<string, Point[]>();
const lastSource = new Map<string, unknown>();
const listeners = new Set<() => void>();
const EMPTY: Point[] = [];

function notify(): void {
  listeners.forEach((fn) => fn());
}

/** Adds a sample to `key`. The WebSocket client replays a topic's last event
 * to each new subscriber: the same event object (`source`) is counted once. */
export function record(key: string, source: unknown, point: Point): void {
  if (lastSource.get(key) === source) return;
  lastSource.set(key, source);
  const prev = series.get(key) ?? EMPTY;
  const cut = point.t - WINDOW_MS;
  // a new array each time: useSyncExternalStore compares by identity
  const next = prev.filter((p) => p.t >= cut && p.t < point.t);
  next.push(point);
  series.set(key, next);
  notify();
}

function subscribe(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function useSeries(key: string): Point[] {
  return useSyncExternalStore(subscribe, () => series.get(key) ?? EMPTY);
}

/** Logout: the next user starts with empty charts. */
export function clearSeries(): void {
  series.clear();
  lastSource.clear();
  notify();
}

// the socket stops on logout (and only then)
ws.onState(() => {
  if (ws.state === 'idle' && series.size) clearSeries();
});
