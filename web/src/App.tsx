import { lazy, Suspense } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { useAuth } from './auth/AuthContext';
import { Shell } from './components/Shell';
import { QueryError } from './components/QueryError';
import { ErrorBoundary } from './errors/ErrorBoundary';
import { useT } from './i18n';
import { Dashboard } from './pages/Dashboard';
import { JobDetail } from './pages/JobDetail';
import { Jobs } from './pages/Jobs';
import { Login } from './pages/Login';

// Pages beyond the first screen load on demand, so the initial bundle stays
// small (budget: 300 KB gzipped, tests/browser web-bundle).
const NewJob = lazy(() => import('./pages/NewJob').then((m) => ({ default: m.NewJob })));
const Profiles = lazy(() => import('./pages/Profiles').then((m) => ({ default: m.Profiles })));
const ProfileEditor = lazy(() => import('./pages/ProfileEditor').then((m) => ({ default: m.ProfileEditor })));
const Workers = lazy(() => import('./pages/Workers').then((m) => ({ default: m.Workers })));
const WorkerDetail = lazy(() => import('./pages/WorkerDetail').then((m) => ({ default: m.WorkerDetail })));
const Plugins = lazy(() => import('./pages/Plugins').then((m) => ({ default: m.Plugins })));
const Audit = lazy(() => import('./pages/Audit').then((m) => ({ default: m.Audit })));
const ErrorEvents = lazy(() => import('./pages/ErrorEvents').then((m) => ({ default: m.ErrorEvents })));
const Webhooks = lazy(() => import('./pages/Webhooks').then((m) => ({ default: m.Webhooks })));
const WebhookDetail = lazy(() => import('./pages/WebhookDetail').then((m) => ({ default: m.WebhookDetail })));
const Tokens = lazy(() => import('./pages/Tokens').then((m) => ({ default: m.Tokens })));
const Streams = lazy(() => import('./pages/Streams').then((m) => ({ default: m.Streams })));
const StreamNew = lazy(() => import('./pages/StreamNew').then((m) => ({ default: m.StreamNew })));
const Restreams = lazy(() => import('./pages/Restreams').then((m) => ({ default: m.Restreams })));
const RestreamNew = lazy(() => import('./pages/RestreamNew').then((m) => ({ default: m.RestreamNew })));
const RestreamDetail = lazy(() => import('./pages/RestreamDetail').then((m) => ({ default: m.RestreamDetail })));
const StreamStudio = lazy(() => import('./pages/StreamStudio').then((m) => ({ default: m.StreamStudio })));

function NotFound() {
  const t = useT();
  return <p className="muted">{t('common.notFound')}</p>;
}

function Routed() {
  const { me, loading } = useAuth();
  const t = useT();
  const location = useLocation();
  if (loading) return <p className="muted center">{t('common.loading')}</p>;
  if (!me) return <Login />;
  return (
    <Shell>
      {/* a page that throws leaves the shell (and the way out) standing;
          going to another page starts it afresh */}
      <ErrorBoundary key={location.pathname} fallback={(e, reset) => <QueryError error={e} retry={reset} />}>
        <Suspense fallback={<p className="muted">{t('common.loading')}</p>}>
          <Routes>
            <Route path="/" element={<Dashboard />} />
            <Route path="/jobs" element={<Jobs />} />
            <Route path="/jobs/new" element={<NewJob />} />
            <Route path="/jobs/:id" element={<JobDetail />} />
            <Route path="/workers" element={<Workers />} />
            <Route path="/workers/:id" element={<WorkerDetail />} />
            <Route path="/streams" element={<Streams />} />
            <Route path="/streams/new" element={<StreamNew />} />
            <Route path="/streams/:id" element={<StreamStudio />} />
            <Route path="/restreams" element={<Restreams />} />
            <Route path="/restreams/new" element={<RestreamNew />} />
            <Route path="/restreams/:id" element={<RestreamDetail />} />
            <Route path="/settings/profiles" element={<Profiles />} />
            <Route path="/settings/profiles/new" element={<ProfileEditor />} />
            <Route path="/settings/profiles/:id" element={<ProfileEditor />} />
            <Route path="/settings/plugins" element={<Plugins />} />
            <Route path="/settings/audit" element={<Audit />} />
            <Route path="/settings/errors" element={<ErrorEvents />} />
            <Route path="/settings/webhooks" element={<Webhooks />} />
            <Route path="/settings/webhooks/:id" element={<WebhookDetail />} />
            <Route path="/settings/tokens" element={<Tokens />} />
            <Route path="/login" element={<Navigate to="/" replace />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </ErrorBoundary>
    </Shell>
  );
}

export function App() {
  return (
    <BrowserRouter>
      <Routed />
    </BrowserRouter>
  );
}
