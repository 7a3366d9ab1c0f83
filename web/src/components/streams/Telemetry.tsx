// The live telemetry: 1 Hz samples of the WebSocket topic `stream:<id>`
// (events {"type": "telemetry", …}, which the studio follows) and of the
// stats' history, kept in the rolling five-minute series of ../ops/metrics;
// the charts, and what the studio derives from the series: the network
// health and the bitrate colours. The card appears only once samples
// arrive: until the live pipelines report, there is nothing to draw.

import type { Telemetry } from '../../api/streams';
import { ws } from '../../api/ws';
import { useI18n } from '../../i18n';
import { MetricChart } from '../charts/MetricChart';
import type { Point } from '../ops/metrics';
import { record, useSeries } from '../ops/metrics';

const fmt = (v: number | undefined, digits = 0) => (v === undefined ? '—' : v.toFixed(digits));

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

// the newest sample time recorded per stream: the series only grows
// forward, so the stats' history (polled) never cuts the socket's samples
const newest = new Map<string, number>();
// logout empties the series (../ops/metrics): the history may seed them again
ws.onState(() => {
  if (ws.state === 'idle') newest.clear();
});

/** Adds one sample (an event, or one of the stats') to the stream's series. */
export function recordTelemetry(id: string, sample: Telemetry | null | undefined): void {
  if (!sample || (sample.stream_id && sample.stream_id !== id)) return;
  const when = sample.time ? Date.parse(sample.time) : (sample.time_ms ?? Date.now());
  const t = Number.isFinite(when) ? when : Date.now();
  if (t <= (newest.get(id) ?? 0)) return;
  newest.set(id, t);
  record(`stream:${id}`, sample, {
    t,
    video: num(sample.video_bitrate_kbps),
    audio: num(sample.audio_bitrate_kbps),
    fps: num(sample.fps),
    keyframe: num(sample.keyframe_interval_s),
    dropped: num(sample.dropped_frames),
    late: num(sample.late_frames),
    bytes: num(sample.bytes_in),
    viewers: num(sample.viewers),
    avOffset: num(sample.av_offset_ms),
    rtt: num(sample.srt_rtt_ms),
    loss: num(sample.srt_loss_pct),
    lost: num(sample.srt_packets_lost),
  });
}

/** The samples of one stream, oldest first. */
export function useTelemetry(id: string): Point[] {
  return useSeries(`stream:${id}`);
}

export type Health = 'excellent' | 'degraded' | 'poor';

const HEALTH_WINDOW_MS = 5000;

/** The network health of the last 5 s: SRT round trip and loss where the
 * publisher uses SRT, and for any protocol the frames that came late or
 * were dropped against those expected (fps × seconds). A stalled feed (no
 * frames at all) is poor. Null without samples. */
export function networkHealth(data: Point[]): Health | null {
  const last = data[data.length - 1];
  if (!last) return null;
  const first = data.find((p) => p.t >= last.t - HEALTH_WINDOW_MS) ?? last;
  const delta = (k: string) => {
    const a = first[k];
    const b = last[k];
    return a === undefined || b === undefined ? 0 : Math.max(0, b - a);
  };
  let h: Health = 'excellent';
  const worse = (x: Health) => {
    if (x === 'poor' || (x === 'degraded' && h === 'excellent')) h = x;
  };
  if (last.fps !== undefined && last.fps <= 0) worse('poor');
  if (last.rtt !== undefined) {
    if (last.rtt > 300) worse('poor');
    else if (last.rtt > 120) worse('degraded');
  }
  if (last.loss !== undefined) {
    if (last.loss > 5) worse('poor');
    else if (last.loss > 1) worse('degraded');
  }
  const lost = delta('lost');
  if (lost > 50) worse('poor');
  else if (lost > 0) worse('degraded');
  const bad = delta('late') + delta('dropped');
  const expected = Math.max(1, (last.fps ?? 25) * Math.max(1, (last.t - first.t) / 1000));
  if (bad / expected > 0.05) worse('poor');
  else if (bad > 0) worse('degraded');
  return h;
}

export type Level = 'ok' | 'warn' | 'bad';

/** A bitrate against its target, the session's own median of the series
 * (a publisher sets its rate, the platform does not): from 80 % of it on
 * ok, from 50 % warn, below bad. Null until 5 samples make a median. */
export function bitrateLevel(data: Point[], key: 'video' | 'audio'): { level: Level; target: number } | null {
  const values = data.map((p) => p[key]).filter((v): v is number => v !== undefined);
  const last = values[values.length - 1];
  if (values.length < 5 || last === undefined) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const target = sorted[Math.floor(sorted.length / 2)] ?? 0;
  if (target <= 0) return null;
  const r = last / target;
  return { level: r >= 0.8 ? 'ok' : r >= 0.5 ? 'warn' : 'bad', target };
}

export function TelemetryCharts({ id }: { id: string }) {
  const { t, locale } = useI18n();
  const data = useTelemetry(id);
  const last = data[data.length - 1];
  if (!last) return null;
  const has = (k: string) => data.some((p) => p[k] !== undefined);
  return (
    <section className="card" data-testid="stream-telemetry" data-samples={data.length}>
      <h2>{t('streams.telemetry')}</h2>
      <div className="stream-charts">
        <MetricChart
          title={t('streams.tel.bitrate')}
          value={`${fmt(last.video)} / ${fmt(last.audio)}`}
          data={data}
          lines={[
            { key: 'video', label: t('streams.tel.video'), color: '#2f6fed' },
            { key: 'audio', label: t('streams.tel.audio'), color: '#1e8e4f' },
          ]}
          locale={locale}
          empty={t('charts.noData')}
          testid="tel-bitrate"
        />
        <MetricChart
          title={t('streams.tel.fps')}
          value={fmt(last.fps, 1)}
          data={data}
          lines={[{ key: 'fps', label: t('streams.tel.fps'), color: '#2f6fed' }]}
          locale={locale}
          empty={t('charts.noData')}
          testid="tel-fps"
        />
        <MetricChart
          title={t('streams.tel.keyframe')}
          value={fmt(last.keyframe, 1)}
          data={data}
          lines={[{ key: 'keyframe', label: t('streams.tel.keyframe'), color: '#2f6fed' }]}
          locale={locale}
          empty={t('charts.noData')}
          testid="tel-keyframe"
        />
        <MetricChart
          title={t('streams.tel.dropped')}
          value={fmt(last.dropped)}
          data={data}
          lines={[{ key: 'dropped', label: t('streams.tel.dropped'), color: '#dc2626' }]}
          locale={locale}
          empty={t('charts.noData')}
          testid="tel-dropped"
        />
        {has('late') && (
          <MetricChart
            title={t('streams.tel.late')}
            value={fmt(last.late)}
            data={data}
            lines={[{ key: 'late', label: t('streams.tel.late'), color: '#d97706' }]}
            locale={locale}
            empty={t('charts.noData')}
            testid="tel-late"
          />
        )}
        {has('viewers') && (
          <MetricChart
            title={t('streams.tel.viewers')}
            value={fmt(last.viewers)}
            data={data}
            lines={[{ key: 'viewers', label: t('streams.tel.viewers'), color: '#7c3aed' }]}
            locale={locale}
            empty={t('charts.noData')}
            testid="tel-viewers"
          />
        )}
        <MetricChart
          title={t('streams.tel.avOffset')}
          value={fmt(last.avOffset)}
          data={data}
          lines={[{ key: 'avOffset', label: t('streams.tel.avOffset'), color: '#d97706' }]}
          locale={locale}
          empty={t('charts.noData')}
          testid="tel-av-offset"
        />
        {has('rtt') && (
          <MetricChart
            title={t('streams.tel.srtRtt')}
            value={fmt(last.rtt)}
            data={data}
            lines={[{ key: 'rtt', label: t('streams.tel.srtRtt'), color: '#2f6fed' }]}
            locale={locale}
            empty={t('charts.noData')}
            testid="tel-srt-rtt"
          />
        )}
        {has('loss') && (
          <MetricChart
            title={t('streams.tel.srtLoss')}
            value={fmt(last.loss, 2)}
            data={data}
            lines={[{ key: 'loss', label: t('streams.tel.srtLoss'), color: '#dc2626' }]}
            locale={locale}
            empty={t('charts.noData')}
            testid="tel-srt-loss"
          />
        )}
      </div>
    </section>
  );
}
