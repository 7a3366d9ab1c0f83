// The live telemetry charts: 1 Hz samples of the WebSocket topic
// `stream:<id>` (events {"type": "telemetry", …}), kept in the rolling
// five-minute series of ../ops/metrics. The card appears only once samples
// arrive: until the live pipelines report, there is nothing to draw.

import { useCallback } from 'react';
import type { Telemetry } from '../../api/streams';
import { useTopicEvents } from '../../api/ws';
import { useI18n } from '../../i18n';
import { MetricChart } from '../charts/MetricChart';
import { record, useSeries } from '../ops/metrics';

const fmt = (v: number | undefined, digits = 0) => (v === undefined ? '—' : v.toFixed(digits));

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Adds one sample (an event, or the stats' latest) to the stream's series. */
export function recordTelemetry(id: string, sample: Telemetry | null | undefined): void {
  if (!sample || (sample.stream_id && sample.stream_id !== id)) return;
  const when = sample.time ? Date.parse(sample.time) : Date.now();
  record(`stream:${id}`, sample, {
    t: Number.isFinite(when) ? when : Date.now(),
    video: num(sample.video_bitrate_kbps),
    audio: num(sample.audio_bitrate_kbps),
    fps: num(sample.fps),
    keyframe: num(sample.keyframe_interval_s),
    dropped: num(sample.dropped_frames),
    avOffset: num(sample.av_offset_ms),
    rtt: num(sample.srt_rtt_ms),
    loss: num(sample.srt_loss_pct),
  });
}

export function TelemetryCharts({ id, live }: { id: string; live: boolean }) {
  const { t, locale } = useI18n();
  const onEvent = useCallback(
    (data: unknown) => {
      const d = data as Telemetry | null;
      if (d && d.type === 'telemetry') recordTelemetry(id, d);
    },
    [id],
  );
  // the hub may not know this topic yet: it refuses the subscription with
  // an error message the client only warns about. Off air there is nothing
  // to hear, so no subscription at all.
  useTopicEvents(live ? `stream:${id}` : null, onEvent);
  const data = useSeries(`stream:${id}`);
  const last = data[data.length - 1];
  if (!last) return null;
  const has = (k: string) => data.some((p) => p[k] !== undefined);
  return (
    <section className="card" data-testid="stream-telemetry">
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
