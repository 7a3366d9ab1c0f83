// A task's wall-clock time from the job's events: the task rows carry no
// start or end stamps, the timeline does ("task 3 (segment) attempt 1 of 3
// dispatched" … "task 3 (segment) completed").

import type { JobEvent } from '../../api/detail';

export interface TaskSpan {
  start: number;
  end: number | null;
}

export function taskSpans(events: JobEvent[]): Map<number, TaskSpan> {
  const spans = new Map<number, TaskSpan>();
  for (const e of events) {
    const m = /^task (\d+)\b/.exec(e.message ?? '');
    if (!m) continue;
    const idx = Number(m[1]);
    const at = Date.parse(e.created_at);
    if (Number.isNaN(at)) continue;
    if (e.type === 'task.started') spans.set(idx, { start: at, end: null });
    else if (e.type === 'task.completed' || e.type === 'task.failed') {
      const s = spans.get(idx);
      if (s) s.end = at;
    }
  }
  return spans;
}
