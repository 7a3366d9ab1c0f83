// A WebVTT storyboard (thumbnails/storyboard.vtt): one cue per sprite tile,
// its text `sprite.jpg#xywh=x,y,w,h`, relative to the storyboard's folder.

export interface StoryboardCue {
  start: number;
  end: number;
  /** the sprite's output name (relative to the job's output prefix) */
  image: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

function seconds(ts: string): number {
  // hh:mm:ss.ttt or mm:ss.ttt
  const parts = ts.trim().split(':').map(Number);
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

function resolve(base: string, rel: string): string {
  if (rel.startsWith('/')) return rel.slice(1);
  const dir = base.includes('/') ? base.slice(0, base.lastIndexOf('/') + 1) : '';
  const out: string[] = [];
  for (const part of (dir + rel).split('/')) {
    if (part === '..') out.pop();
    else if (part !== '.' && part !== '') out.push(part);
  }
  return out.join('/');
}

/** Parses the storyboard named `name`; cues it cannot read are skipped. */
export function parseStoryboard(text: string, name: string): StoryboardCue[] {
  const cues: StoryboardCue[] = [];
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*([\d:.]+)\s+-->\s+([\d:.]+)/.exec(lines[i] ?? '');
    if (!m) continue;
    const target = (lines[i + 1] ?? '').trim();
    const hash = target.indexOf('#xywh=');
    if (hash < 0) continue;
    const nums = target.slice(hash + 6).split(',').map(Number);
    if (nums.length !== 4 || nums.some((n) => !Number.isFinite(n))) continue;
    const [x, y, w, h] = nums as [number, number, number, number];
    cues.push({ start: seconds(m[1]!), end: seconds(m[2]!), image: resolve(name, target.slice(0, hash)), x, y, w, h });
  }
  return cues;
}

/** The cue showing at time `t` (the last one past the end). */
export function cueAt(cues: StoryboardCue[], t: number): StoryboardCue | undefined {
  return cues.find((c) => t >= c.start && t < c.end) ?? (cues.length && t >= cues[cues.length - 1]!.end ? cues[cues.length - 1] : undefined);
}
