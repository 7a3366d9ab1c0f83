// A line chart over time, drawn by Recharts loaded on demand (dynamic
// import): the dashboard's first paint does not wait for the library.

import { lazy, Suspense } from 'react';
import type { Point } from '../ops/metrics';

export interface ChartLine {
  key: string;
  label: string;
  color: string;
}

export interface TimeSeriesProps {
  data: Point[];
  lines: ChartLine[];
  /** the y axis' top (100 for percentages); auto when absent */
  max?: number;
  /** a dashed line where the values become worrying */
  alertAt?: number;
  height: number;
  locale: string;
  /** a mini chart: no time axis, no legend */
  compact?: boolean;
}

const Impl = lazy(() => import('./TimeSeriesImpl'));

export function TimeSeriesChart(props: TimeSeriesProps) {
  return (
    <Suspense fallback={<div style={{ height: props.height }} />}>
      <Impl {...props} />
    </Suspense>
  );
}
