// A card with one resource chart: the latest value in the heading, alert
// styling once it passes the threshold, the chart below.

import type { ReactNode } from 'react';
import type { Point } from '../ops/metrics';
import { TimeSeriesChart, type ChartLine } from './TimeSeriesChart';

export const ALERT_PCT = 80;

export function MetricChart({
  title,
  value,
  alert,
  data,
  lines,
  max,
  alertAt,
  locale,
  empty,
  testid,
  compact,
}: {
  title: string;
  value?: ReactNode;
  alert?: boolean;
  data: Point[];
  lines: ChartLine[];
  max?: number;
  alertAt?: number;
  locale: string;
  /** shown instead of the chart while no sample carries any of the lines */
  empty: string;
  testid: string;
  compact?: boolean;
}) {
  const points = data.filter((p) => lines.some((l) => p[l.key] != null)).length;
  return (
    <figure className={`metric ${alert ? 'metric-alert' : ''}`} data-testid={testid} data-points={points} data-alert={alert ? 'true' : 'false'}>
      <figcaption>
        <span>{title}</span>
        {value != null && <strong className="metric-value">{value}</strong>}
      </figcaption>
      {points === 0 ? (
        <p className="muted small metric-empty" style={{ height: compact ? 80 : 160 }}>
          {empty}
        </p>
      ) : (
        <TimeSeriesChart data={data} lines={lines} max={max} alertAt={alertAt} height={compact ? 80 : 160} locale={locale} compact={compact} />
      )}
    </figure>
  );
}
