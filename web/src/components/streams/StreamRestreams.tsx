// The studio's "Restream to…" card (spec §19.3 stream detail): the
// restreams that relay this stream, with their status, and a way to start a
// new one with this stream as its input (docs/api.md "Restreams").
import { useQuery } from '@tanstack/react-query';
import { Share2 } from 'lucide-react';
import { Link } from 'react-router-dom';
import { restreams } from '../../api/restreams';
import { useCan } from '../../auth/Can';
import { useT } from '../../i18n';
import { RestreamStatusBadge } from '../../pages/RestreamParts';

export function StreamRestreams({ streamId }: { streamId: string }) {
  const t = useT();
  const canCreate = useCan('restream.create');
  const list = useQuery({ queryKey: ['restreams'], queryFn: restreams.list, refetchInterval: 10_000 });
  const mine = (list.data?.restreams ?? []).filter((r) => r.stream_id === streamId);
  return (
    <section className="card" data-testid="stream-restreams">
      <div className="page-head">
        <h2>{t('streams.restreams.title')}</h2>
        <span className="spacer" />
        {canCreate && (
          <Link
            to={`/restreams/new?stream=${encodeURIComponent(streamId)}`}
            className="button"
            data-testid="stream-restream-to"
          >
            <Share2 size={16} aria-hidden /> {t('streams.restreams.new')}
          </Link>
        )}
      </div>
      {mine.length === 0 ? (
        <p className="muted" data-testid="stream-restreams-none">
          {t('streams.restreams.none')}
        </p>
      ) : (
        <ul className="stream-restreams" data-testid="stream-restreams-list">
          {mine.map((r) => (
            <li key={r.id} data-testid="stream-restream" data-restream-id={r.id}>
              <Link to={`/restreams/${encodeURIComponent(r.id)}`}>{r.title}</Link>{' '}
              <RestreamStatusBadge status={r.status} />{' '}
              <span className="muted">{t('streams.restreams.destinations', { n: r.output_destinations.length })}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
