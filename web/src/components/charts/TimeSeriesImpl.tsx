// Recharts itself: only this module imports it, and only through the lazy
// TimeSeriesChart, so the library (~100 KB gzipped) stays out of the initial
// bundle and loads with the first chart.

import { CartesianGrid, Legend, Line, LineChart, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { TimeSeriesProps } from './TimeSeriesChart';

export default function TimeSeriesImpl({ data, lines, max, alertAt, height, locale, compact }: TimeSeriesProps) {
  const fmt = (t: number) => new Date(t).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return (
    <ResponsiveContainer width="100%" height={height}>
      <LineChart data={data} margin={{ top: 6, right: 8, bottom: 0, left: compact ? -12 : -16 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#8884" />
        <XAxis
          dataKey="t"
          type="number"
          scale="time"
          domain={['dataMin', 'dataMax']}
          tickFormatter={fmt}
          tick={{ fontSize: 11, fill: "#667085" }}
          minTickGap={40}
          hide={compact}
        />
        <YAxis
          domain={[0, max ?? 'auto']}
          allowDecimals={false}
          ticks={compact && max != null ? [0, max / 2, max] : undefined}
          tick={{ fontSize: 11, fill: "#667085" }}
          width={44}
        />
        <Tooltip
          labelFormatter={(t) => fmt(Number(t))}
          contentStyle={{ background: 'var(--panel)', border: '1px solid var(--border)', fontSize: 12 }}
        />
        {lines.length > 1 && !compact && <Legend wrapperStyle={{ fontSize: 12 }} />}
        {alertAt != null && <ReferenceLine y={alertAt} stroke="#c9342b" strokeDasharray="4 4" />}
        {lines.map((l) => (
          <Line
            key={l.key}
            dataKey={l.key}
            name={l.label}
            stroke={l.color}
            dot={false}
            strokeWidth={2}
            isAnimationActive={false}
            connectNulls={false}
            type="monotone"
          />
        ))}
      </LineChart>
    </ResponsiveContainer>
  );
}
