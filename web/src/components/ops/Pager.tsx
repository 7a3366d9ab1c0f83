import { ChevronLeft, ChevronRight } from 'lucide-react';
import { useT } from '../../i18n';

/** Previous/next over `total` rows, `size` a page; `page` counts from 0. */
export function Pager({ page, size, total, onPage, testid }: { page: number; size: number; total: number; onPage: (p: number) => void; testid: string }) {
  const t = useT();
  const from = total ? page * size + 1 : 0;
  const to = Math.min(total, (page + 1) * size);
  return (
    <div className="pager" data-testid={testid}>
      <span className="muted small">{t('jobs.page', { from, to, total })}</span>
      <button className="icon-button" onClick={() => onPage(page - 1)} disabled={page === 0} aria-label={t('jobs.prev')} data-testid={`${testid}-prev`}>
        <ChevronLeft size={18} aria-hidden />
      </button>
      <button className="icon-button" onClick={() => onPage(page + 1)} disabled={to >= total} aria-label={t('jobs.next')} data-testid={`${testid}-next`}>
        <ChevronRight size={18} aria-hidden />
      </button>
    </div>
  );
}
