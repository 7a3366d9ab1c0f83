// The encoding profiles (/settings/profiles): built-ins (read-only) and the
// custom ones; admins duplicate, create and delete.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Copy, Lock, Plus, Trash2 } from 'lucide-react';
import { useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { wizardApi } from '../api/wizard';
import { Can, useCan } from '../auth/Can';
import { bitrateText, ladderText } from '../components/profiles/summary';
import { QueryError } from '../components/QueryError';
import { useT } from '../i18n';
import '../styles/wizard.css';

export function Profiles() {
  const t = useT();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const canCreate = useCan('profile.create');
  const canDelete = useCan('profile.delete');
  const [confirm, setConfirm] = useState<string | null>(null);
  const actions = canCreate || canDelete;

  const q = useQuery({ queryKey: ['profiles'], queryFn: wizardApi.profiles });
  const duplicate = useMutation({
    mutationFn: (id: string) => wizardApi.duplicateProfile(id),
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: ['profiles'] });
      navigate(`/settings/profiles/${encodeURIComponent(p.id)}`);
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) => wizardApi.deleteProfile(id),
    onSuccess: () => {
      setConfirm(null);
      void qc.invalidateQueries({ queryKey: ['profiles'] });
    },
  });

  return (
    <div className="page wz-page">
      <div className="page-head">
        <h1>{t('profiles.title')}</h1>
        <span className="spacer" />
        <Can action="profile.create">
          <Link to="/settings/profiles/new" className="button primary" data-testid="profiles-new">
            <Plus size={16} aria-hidden />
            {t('profiles.new')}
          </Link>
        </Can>
      </div>
      {(duplicate.error || remove.error) && <QueryError error={duplicate.error ?? remove.error} />}
      {q.error ? (
        <QueryError error={q.error} retry={() => void q.refetch()} />
      ) : !q.data ? (
        <p className="muted">{t('common.loading')}</p>
      ) : (
        <section className="card">
          <div className="table-wrap">
            <table data-testid="profiles-table">
              <thead>
                <tr>
                  <th>{t('profiles.col.name')}</th>
                  <th>{t('profiles.col.codec')}</th>
                  <th>{t('profiles.col.resolution')}</th>
                  <th>{t('profiles.col.bitrate')}</th>
                  <th className="hide-narrow">{t('profiles.col.ladder')}</th>
                  <th className="hide-narrow">{t('profiles.col.container')}</th>
                  {actions && <th>{t('profiles.col.actions')}</th>}
                </tr>
              </thead>
              <tbody>
                {q.data.map((p) => (
                  <tr key={p.id} data-profile-id={p.id} data-builtin={p.builtin}>
                    <td>
                      <Link to={`/settings/profiles/${encodeURIComponent(p.id)}`} data-testid="profile-link">
                        {p.name}
                      </Link>
                      {p.builtin && (
                        <span className="wz-lock" title={t('profiles.builtin')} aria-label={t('profiles.builtin')}>
                          <Lock size={12} aria-hidden />
                        </span>
                      )}
                      {p.name !== p.id && <div className="mono muted small">{p.id}</div>}
                    </td>
                    <td className="mono">{p.video_codec}</td>
                    <td>
                      {p.width}×{p.height}
                    </td>
                    <td>{bitrateText(p, t)}</td>
                    <td className="hide-narrow">{ladderText(p) || '—'}</td>
                    <td className="hide-narrow mono">
                      {p.container}
                      {p.hls.enabled ? ' · HLS' : ''}
                      {p.dash.enabled ? ' · DASH' : ''}
                    </td>
                    {actions && (
                      <td>
                        <div className="wz-row-actions">
                          {canCreate && (
                            <button
                              className="icon-button"
                              onClick={() => duplicate.mutate(p.id)}
                              disabled={duplicate.isPending}
                              title={t('profiles.duplicate')}
                              aria-label={t('profiles.duplicate')}
                              data-testid="profile-duplicate"
                            >
                              <Copy size={16} aria-hidden />
                            </button>
                          )}
                          {canDelete &&
                            !p.builtin &&
                            (confirm === p.id ? (
                              <>
                                <button
                                  className="button danger"
                                  onClick={() => remove.mutate(p.id)}
                                  disabled={remove.isPending}
                                  data-testid="profile-delete-confirm"
                                >
                                  {t('profiles.confirmDelete')}
                                </button>
                                <button className="button" onClick={() => setConfirm(null)}>
                                  {t('profiles.cancel')}
                                </button>
                              </>
                            ) : (
                              <button
                                className="icon-button"
                                onClick={() => setConfirm(p.id)}
                                title={t('profiles.delete')}
                                aria-label={t('profiles.delete')}
                                data-testid="profile-delete"
                              >
                                <Trash2 size={16} aria-hidden />
                              </button>
                            ))}
                        </div>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </div>
  );
}
