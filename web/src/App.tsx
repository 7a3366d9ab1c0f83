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
        <Routes>
          <Route path="/" element={<Dashboard />} />
          <Route path="/jobs" element={<Jobs />} />
          <Route path="/jobs/:id" element={<JobDetail />} />
          <Route path="/login" element={<Navigate to="/" replace />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
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
