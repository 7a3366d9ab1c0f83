// The non-secret half of a stream's ingest settings (RTMP server, SRT host,
// stream id, latency). GET /v1/streams/{id} carries it; the last create,
// rotate or reveal answer is remembered per tab as well, for a stream object
// read before that (a list entry). Never the key or the passphrase.

import type { Ingest } from '../../api/streams';

export interface PublicIngest {
  rtmp_server: string;
  /** the SRT URL up to the passphrase: `srt://HOST:PORT?streamid=…` */
  srt_base: string;
  latency_ms: number;
}

const KEY = (id: string) => `we.ingest.${id}`;

export function rememberIngest(id: string, ingest: Ingest): PublicIngest {
  const p: PublicIngest = {
    rtmp_server: ingest.rtmp.server,
    srt_base: ingest.srt.url.replace(/&passphrase=[^&]*/, ''),
    latency_ms: ingest.srt.latency_ms,
  };
  try {
    sessionStorage.setItem(KEY(id), JSON.stringify(p));
  } catch {
    // storage full or refused: the studio asks for a reveal instead
  }
  return p;
}

export function recalledIngest(id: string): PublicIngest | null {
  try {
    const raw = sessionStorage.getItem(KEY(id));
    return raw ? (JSON.parse(raw) as PublicIngest) : null;
  } catch {
    return null;
  }
}

export function forgetIngest(id: string): void {
  sessionStorage.removeItem(KEY(id));
}

/** The copy-able value of one setting, or a reason to select it by hand. */
export async function copyText(text: string): Promise<boolean> {
  // the Clipboard API needs a secure context and permission; refused, the
  // field stays selectable
  if (!navigator.clipboard) return false;
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}
