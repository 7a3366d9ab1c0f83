// The new-job wizard (/jobs/new; job.create): source, profile, output and
// packaging, review → POST /v1/jobs with an Idempotency-Key → the job page.

import { useMutation, useQuery } from '@tanstack/react-query';
import { ArrowLeft, ArrowRight, Send } from 'lucide-react';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { ApiError } from '../api';
import {
  defaultProfile,
  errorField,
  errorText,
  submitJob,
  wizardApi,
  type JobRequest,
  type Profile,
} from '../api/wizard';
import { useCan } from '../auth/Can';
import { validateProfile, type FieldErrors } from '../components/profiles/validate';
import { QueryError } from '../components/QueryError';
import { OutputStep } from '../components/wizard/OutputStep';
import { ProfileStep } from '../components/wizard/ProfileStep';
import { ReviewStep } from '../components/wizard/ReviewStep';
import { SOURCE_RE, SourceStep, type SourceMode } from '../components/wizard/SourceStep';
import { Stepper } from '../components/wizard/Stepper';
import { useT, type MessageKey } from '../i18n';
import '../styles/wizard.css';

const STEPS = ['wizard.step.source', 'wizard.step.profile', 'wizard.step.output', 'wizard.step.review'] as const;
const SOURCE = 0;
const PROFILE = 1;
const OUTPUT = 2;
const REVIEW = 3;

/** The members step 3 sets: packaging, not encoding. */
const PACK_KEYS = ['container', 'ladder', 'hls', 'dash', 'thumbnails', 'subtitles', 'audio'] as const;
type PackKey = (typeof PACK_KEYS)[number];
type Pack = Pick<Profile, PackKey>;
/** The members the custom profile's form shows in step 2. */
const CUSTOM_FIELDS = ['video_codec', 'width', 'height', 'video_bitrate_kbps', 'crf', 'preset', 'audio_codec', 'audio_bitrate_kbps'];

function pickPack(p: Profile): Pack {
  const out = {} as Record<PackKey, unknown>;
  for (const k of PACK_KEYS) out[k] = p[k];
  return out as Pack;
}

function rootOf(path: string): string {
  return path.split(/[.[]/)[0] ?? path;
}

function only(errors: FieldErrors, keep: (path: string) => boolean): FieldErrors {
  return Object.fromEntries(Object.entries(errors).filter(([k]) => keep(k)));
}

/** A random key for Idempotency-Key; crypto.randomUUID needs a secure
 * context, getRandomValues does not. */
function randomKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return `wizard-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

interface ServerError {
  step: number;
  message: string;
  fields: FieldErrors;
  error: unknown;
}

/** Which step a refused submit concerns (src/core/we-job-request.c's errors). */
function classify(e: unknown): ServerError {
  const message = errorText(e);
  const text = e instanceof ApiError ? `${e.message} ${e.details ?? ''}` : message;
  if (e instanceof ApiError) {
    if (e.code === 'WE-JOB-002' || (e.code === 'WE-JOB-001' && /source_url/.test(text)))
      return { step: SOURCE, message, fields: { source_url: message }, error: e };
    if (/output_url/.test(text)) return { step: OUTPUT, message, fields: { output_url: message }, error: e };
    if (/priority/.test(text)) return { step: OUTPUT, message, fields: { priority: message }, error: e };
    if (e.code === 'WE-JOB-003') {
      const field = errorField(e);
      if (field && (PACK_KEYS as readonly string[]).includes(rootOf(field)))
        return { step: OUTPUT, message, fields: { [field]: message }, error: e };
      return { step: PROFILE, message, fields: field ? { [field]: message } : {}, error: e };
    }
  }
  return { step: REVIEW, message, fields: {}, error: e };
}

export function NewJob() {
  const t = useT();
  const navigate = useNavigate();
  const canCreate = useCan('job.create');

  const [step, setStep] = useState(SOURCE);
  const [reached, setReached] = useState(SOURCE);
  const [sourceMode, setSourceMode] = useState<SourceMode>('url');
  const [url, setUrl] = useState('');
  const [picked, setPicked] = useState('');
  const [uploaded, setUploaded] = useState('');
  const [profileMode, setProfileMode] = useState<'preset' | 'custom'>('preset');
  const [profileId, setProfileId] = useState('');
  const [custom, setCustom] = useState<Profile>(() => ({ ...defaultProfile('custom') }));
  const [pack, setPack] = useState<Pack | null>(null);
  const [outputUrl, setOutputUrl] = useState('');
  const [priority, setPriority] = useState(50);
  const [checked, setChecked] = useState<Set<number>>(new Set());
  const [serverError, setServerError] = useState<ServerError | null>(null);

  const profilesQ = useQuery({ queryKey: ['profiles'], queryFn: wizardApi.profiles, enabled: canCreate });
  const profiles = useMemo(() => profilesQ.data ?? [], [profilesQ.data]);
  useEffect(() => {
    if (!profileId && profiles.length)
      setProfileId((profiles.find((p) => p.id === '720p_h264') ?? profiles[0])?.id ?? '');
  }, [profiles, profileId]);

  const preset = profiles.find((p) => p.id === profileId);
  const base = profileMode === 'custom' ? custom : preset;
  const effective: Profile | null = base ? { ...base, ...(pack ?? {}) } : null;
  const source = (sourceMode === 'url' ? url : sourceMode === 'browse' ? picked : uploaded).trim();

  // the client's checks of each step
  const sourceError = !source
    ? t(sourceMode === 'url' ? 'wizard.source.required' : sourceMode === 'browse' ? 'wizard.source.pick' : 'wizard.source.uploadFirst')
    : sourceMode === 'url' && !SOURCE_RE.test(source)
      ? t('wizard.source.badScheme')
      : null;
  const profileErrors = useMemo(() => {
    if (!effective) return {};
    return validateProfile(effective, t);
  }, [effective, t]);
  const outputErrors: FieldErrors = {};
  if (!Number.isInteger(priority) || priority < 0 || priority > 100)
    outputErrors.priority = t('profiles.v.range', { min: 0, max: 100 });
  if (outputUrl.trim() && !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(outputUrl.trim()))
    outputErrors.output_url = t('wizard.output.badUrl');

  function clientErrors(s: number): FieldErrors {
    if (s === SOURCE) return sourceError ? { source_url: sourceError } : {};
    if (s === PROFILE)
      return profileMode === 'custom' ? only(profileErrors, (k) => CUSTOM_FIELDS.includes(k)) : {};
    if (s === OUTPUT)
      return {
        ...only(profileErrors, (k) => (PACK_KEYS as readonly string[]).includes(rootOf(k))),
        ...outputErrors,
      };
    return {};
  }
  // the first step with something wrong, for the review's Submit
  const firstInvalid = [SOURCE, PROFILE, OUTPUT].find((s) => Object.keys(clientErrors(s)).length > 0) ?? null;

  const shown = (s: number): FieldErrors => ({
    ...(checked.has(s) ? clientErrors(s) : {}),
    ...(serverError?.step === s ? serverError.fields : {}),
  });

  // the request; overrides hold what step 3 changed of the stored profile
  const changed = preset && pack ? PACK_KEYS.filter((k) => JSON.stringify(pack[k]) !== JSON.stringify(preset[k])) : [];
  const body: JobRequest | null = effective
    ? {
        source_url: source,
        ...(profileMode === 'custom'
          ? { custom_profile: (({ builtin: _b, ...rest }) => ({ ...rest, id: 'custom', name: 'custom' }))(effective) }
          : {
              profile: profileId,
              ...(changed.length
                ? { profile_overrides: Object.fromEntries(changed.map((k) => [k, effective[k]])) as JobRequest['profile_overrides'] }
                : {}),
            }),
        ...(outputUrl.trim() ? { output_url: outputUrl.trim() } : {}),
        ...(priority !== 50 ? { priority } : {}),
      }
    : null;

  // one key per distinct request: a double click or a resend of the same
  // request makes one job; a changed request is a new one
  const keyRef = useRef<{ body: string; key: string }>({ body: '', key: '' });
  const submit = useMutation({
    mutationFn: (b: JobRequest) => {
      const json = JSON.stringify(b);
      if (keyRef.current.body !== json) keyRef.current = { body: json, key: randomKey() };
      return submitJob(b, keyRef.current.key);
    },
    onSuccess: (job) => navigate(`/jobs/${encodeURIComponent(job.id)}`),
    onError: (e) => {
      const c = classify(e);
      setServerError(c);
      setStep(c.step);
    },
  });

  function go(to: number) {
    // moving on checks the steps left behind
    if (to > step) {
      for (let s = step; s < to; s++) {
        setChecked((c) => new Set(c).add(s));
        if (Object.keys(clientErrors(s)).length) {
          setStep(s);
          return;
        }
      }
    }
    setStep(to);
    setReached((r) => Math.max(r, to));
  }

  function onSubmit() {
    setChecked(new Set([SOURCE, PROFILE, OUTPUT]));
    if (firstInvalid !== null) {
      setStep(firstInvalid);
      return;
    }
    if (body && !submit.isPending) submit.mutate(body);
  }

  // an edit on the step the server complained about takes the complaint away
  const clearServer = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A) => {
    setServerError(null);
    fn(...a);
  };

  if (!canCreate)
    return (
      <div className="page">
        <h1>{t('wizard.title')}</h1>
        <p className="alert" role="alert" data-testid="wizard-forbidden">
          {t('common.forbidden')}
        </p>
      </div>
    );

  const stepError = serverError && serverError.step === step && (
    <div className="alert" role="alert" data-testid="wizard-server-error" data-step={step + 1}>
      <div>{t('wizard.refused', { message: serverError.message })}</div>
      {serverError.error instanceof ApiError && (
        <div className="mono muted small">
          {serverError.error.code}
          {serverError.error.requestId ? ` · ${serverError.error.requestId}` : ''}
        </div>
      )}
    </div>
  );

  return (
    <div className="page wz-page" data-testid="wizard" data-step={step + 1}>
      <Link to="/jobs" className="back">
        <ArrowLeft size={16} aria-hidden />
        {t('wizard.backToJobs')}
      </Link>
      <div className="page-head">
        <h1>{t('wizard.title')}</h1>
      </div>
      <Stepper
        steps={STEPS as unknown as MessageKey[]}
        current={step}
        reached={reached}
        errorStep={serverError?.step ?? null}
        onGo={go}
      />
      {stepError}

      <div hidden={step !== SOURCE} data-testid="wizard-source">
        <section className="card">
          <h2>{t('wizard.source.title')}</h2>
          <SourceStep
            mode={sourceMode}
            setMode={clearServer(setSourceMode)}
            url={url}
            setUrl={clearServer(setUrl)}
            picked={picked}
            setPicked={clearServer(setPicked)}
            uploaded={uploaded}
            setUploaded={clearServer(setUploaded)}
            urlError={shown(SOURCE).source_url ?? null}
          />
        </section>
      </div>

      {step === PROFILE && (
        <div data-testid="wizard-profile">
          {profilesQ.error ? (
            <QueryError error={profilesQ.error} retry={() => void profilesQ.refetch()} />
          ) : !profilesQ.data ? (
            <p className="muted">{t('common.loading')}</p>
          ) : (
            <ProfileStep
              profiles={profiles}
              mode={profileMode}
              profileId={profileId}
              onPick={clearServer((id: string) => {
                setProfileMode('preset');
                setProfileId(id);
                setPack(null);
              })}
              onCustom={clearServer(() => {
                if (profileMode !== 'custom')
                  setCustom({ ...(preset ?? defaultProfile()), id: 'custom', name: 'custom', builtin: false });
                setProfileMode('custom');
                setPack(null);
              })}
              custom={custom}
              setCustom={clearServer(setCustom)}
              errors={shown(PROFILE)}
            />
          )}
        </div>
      )}

      {step === OUTPUT && effective && (
        <div data-testid="wizard-output" className="wz-stack">
          <OutputStep
            value={effective}
            onChange={clearServer((p: Profile) => setPack(pickPack(p)))}
            errors={shown(OUTPUT)}
            outputUrl={outputUrl}
            setOutputUrl={clearServer(setOutputUrl)}
            priority={priority}
            setPriority={clearServer(setPriority)}
          />
        </div>
      )}

      {step === REVIEW && effective && (
        <ReviewStep
          source={source}
          profile={effective}
          custom={profileMode === 'custom'}
          changed={changed}
          outputUrl={outputUrl.trim()}
          priority={priority}
        />
      )}

      <div className="wz-actions">
        {step > SOURCE && (
          <button type="button" className="button" onClick={() => setStep(step - 1)} data-testid="wizard-back">
            <ArrowLeft size={16} aria-hidden />
            {t('wizard.back')}
          </button>
        )}
        <span className="spacer" />
        {step < REVIEW ? (
          <button
            type="button"
            className="button primary"
            onClick={() => go(step + 1)}
            disabled={step === PROFILE && !effective}
            data-testid="wizard-next"
          >
            {t('wizard.next')}
            <ArrowRight size={16} aria-hidden />
          </button>
        ) : (
          <button
            type="button"
            className="button primary"
            onClick={onSubmit}
            disabled={submit.isPending || !body}
            data-testid="wizard-submit"
          >
            <Send size={16} aria-hidden />
            {submit.isPending ? t('wizard.submitting') : t('wizard.submit')}
          </button>
        )}
      </div>
    </div>
  );
}
