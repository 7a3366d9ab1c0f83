// The profile editor (/settings/profiles/new, /settings/profiles/:id): every
// member of a profile; built-ins and roles below admin see it read-only.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ArrowLeft, Copy, Lock, Save } from 'lucide-react';
import { useEffect, useMemo, useState } from 'react';
import { Link, useLocation, useNavigate, useParams } from 'react-router-dom';
import { ApiError } from '../api';
import { defaultProfile, errorField, errorText, normalizeProfile, wizardApi, type Profile } from '../api/wizard';
import { useCan } from '../auth/Can';
import { ProfileForm } from '../components/profiles/ProfileForm';
import { getIn, validateProfile, type FieldErrors } from '../components/profiles/validate';
import { QueryError } from '../components/QueryError';
import { useT } from '../i18n';
import '../styles/wizard.css';

export function ProfileEditor() {
  const { id } = useParams();
  const isNew = id === undefined;
  const t = useT();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const canCreate = useCan('profile.create');
  const canUpdate = useCan('profile.update');

  // fetched once: a refetch (window focus) must not overwrite unsaved edits;
  // a save puts what the server stored into the cache itself
  const q = useQuery({
    queryKey: ['profile', id],
    queryFn: () => wizardApi.profile(id ?? ''),
    enabled: !isNew,
    staleTime: Infinity,
    refetchOnWindowFocus: false,
    refetchOnReconnect: false,
  });
  const [draft, setDraft] = useState<Profile | null>(isNew ? defaultProfile('') : null);
  const [touched, setTouched] = useState(false);
  const [serverErrors, setServerErrors] = useState<FieldErrors>({});
  const [serverError, setServerError] = useState<unknown>(null);
  const location = useLocation();
  const [saved, setSaved] = useState(!!(location.state as { saved?: boolean } | null)?.saved);

  // a fetched (or re-fetched after a save) profile replaces the draft
  useEffect(() => {
    if (q.data) {
      setDraft(q.data);
      setTouched(false);
    }
  }, [q.data]);

  const readOnly = isNew ? !canCreate : !canUpdate || !!draft?.builtin;
  const clientErrors = useMemo(
    () => (draft && touched ? validateProfile(draft, t, { checkId: isNew }) : {}),
    [draft, touched, t, isNew],
  );
  const errors = { ...serverErrors, ...clientErrors };

  const save = useMutation({
    mutationFn: (p: Profile) => (isNew ? wizardApi.createProfile(p) : wizardApi.updateProfile(p)),
    onSuccess: (p) => {
      setSaved(true);
      setServerErrors({});
      setServerError(null);
      void qc.invalidateQueries({ queryKey: ['profiles'] });
      // what the server stored is what the form shows now
      qc.setQueryData(['profile', p.id], normalizeProfile(p));
      if (isNew) navigate(`/settings/profiles/${encodeURIComponent(p.id)}`, { replace: true, state: { saved: true } });
    },
    onError: (e) => {
      // the member the details name, when the form has it; an id taken is the id's
      let field = errorField(e);
      if (e instanceof ApiError && e.status === 409) field = 'id';
      if (field && draft && getIn(draft, field.replace(/\.[a-z_]+$/, '')) === undefined && getIn(draft, field) === undefined)
        field = null;
      if (field && e instanceof ApiError && (e.status === 400 || e.status === 409)) {
        setServerErrors({ [field]: errorText(e) });
        setServerError(null);
      } else {
        setServerErrors({});
        setServerError(e);
      }
    },
  });

  const duplicate = useMutation({
    mutationFn: () => wizardApi.duplicateProfile(id ?? ''),
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: ['profiles'] });
      navigate(`/settings/profiles/${encodeURIComponent(p.id)}`);
    },
  });

  function onChange(p: Profile) {
    setDraft(p);
    setTouched(true);
    setSaved(false);
    // an edit of the field the server named takes its message away
    setServerErrors({});
  }

  function onSubmit(e: React.FormEvent) {
    e.preventDefault();
    if (!draft || readOnly) return;
    setTouched(true);
    const errs = validateProfile(draft, t, { checkId: isNew });
    if (Object.keys(errs).length) return;
    save.mutate(draft);
  }

  if (isNew && !canCreate)
    return (
      <p className="alert" role="alert" data-testid="profile-forbidden">
        {t('common.forbidden')}
      </p>
    );
  if (!isNew && q.error) return <QueryError error={q.error} retry={() => void q.refetch()} />;
  if (!draft) return <p className="muted">{t('common.loading')}</p>;
  const invalid = Object.keys(clientErrors).length > 0;

  return (
    <form
      className="page wz-page"
      onSubmit={onSubmit}
      noValidate
      data-testid="profile-editor"
      data-profile-id={draft.id}
      data-readonly={readOnly}
    >
      <Link to="/settings/profiles" className="back">
        <ArrowLeft size={16} aria-hidden />
        {t('profiles.back')}
      </Link>
      <div className="page-head">
        <h1>{isNew ? t('profiles.newTitle') : draft.name || draft.id}</h1>
        {draft.builtin && (
          <span className="badge" data-testid="profile-builtin">
            <Lock size={12} aria-hidden /> {t('profiles.builtin')}
          </span>
        )}
        <span className="spacer" />
        {!isNew && canCreate && (
          <button
            type="button"
            className={`button${draft.builtin ? ' primary' : ''}`}
            onClick={() => duplicate.mutate()}
            disabled={duplicate.isPending}
            data-testid="profile-duplicate"
          >
            <Copy size={16} aria-hidden />
            {draft.builtin ? t('profiles.duplicateToEdit') : t('profiles.duplicate')}
          </button>
        )}
        {!readOnly && (
          <button type="submit" className="button primary" disabled={save.isPending} data-testid="profile-save">
            <Save size={16} aria-hidden />
            {t('profiles.save')}
          </button>
        )}
      </div>
      {readOnly && (
        <p className="muted" data-testid="profile-readonly">
          {draft.builtin ? t('profiles.builtinReadOnly') : t('profiles.roleReadOnly')}
        </p>
      )}
      {saved && !touched && (
        <div className="notice" role="status" data-testid="profile-saved">
          {t('profiles.saved')}
        </div>
      )}
      {invalid && (
        <div className="alert" role="alert" data-testid="profile-invalid">
          {t('profiles.fixFields')}
        </div>
      )}
      {Object.keys(serverErrors).length > 0 && (
        <div className="alert" role="alert" data-testid="profile-server-error">
          {t('profiles.serverRefused')}
        </div>
      )}
      {(serverError || duplicate.error) && <QueryError error={serverError ?? duplicate.error} />}
      <ProfileForm value={draft} onChange={onChange} errors={errors} readOnly={readOnly} isNew={isNew} />
      {!readOnly && (
        <div className="wz-actions">
          <button type="submit" className="button primary" disabled={save.isPending}>
            <Save size={16} aria-hidden />
            {t('profiles.save')}
          </button>
        </div>
      )}
    </form>
  );
}
