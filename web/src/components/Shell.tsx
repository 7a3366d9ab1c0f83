// The app shell: sidebar navigation (a drawer on narrow screens), top bar
// with the user, role, connection state, locale switcher and logout.

import { Bug, KeyRound, LayoutDashboard, ListVideo, LogOut, Menu, Plug, Radio, Repeat, ScrollText, Server, SlidersHorizontal, Webhook, Wifi, WifiOff } from 'lucide-react';
import { useEffect, useState, type ReactNode } from 'react';
import { NavLink, useLocation } from 'react-router-dom';
import { useAuth } from '../auth/AuthContext';
import { Can } from '../auth/Can';
import { useWsState } from '../api/ws';
import { LOCALES, useI18n, type Locale } from '../i18n';

export function LocaleSelect() {
  const { locale, setLocale, t } = useI18n();
  return (
    <label className="locale">
      <span className="sr-only">{t('top.language')}</span>
      <select
        aria-label={t('top.language')}
        value={locale}
        onChange={(e) => setLocale(e.target.value as Locale)}
        data-testid="locale"
      >
        {(Object.keys(LOCALES) as Locale[]).map((l) => (
          <option key={l} value={l}>
            {LOCALES[l]}
          </option>
        ))}
      </select>
    </label>
  );
}

export function Shell({ children }: { children: ReactNode }) {
  const { t } = useI18n();
  const { me, logout } = useAuth();
  const wsState = useWsState();
  const [navOpen, setNavOpen] = useState(false);
  const location = useLocation();

  // the drawer closes when a link was followed
  useEffect(() => setNavOpen(false), [location.pathname]);

  const live = wsState === 'open';
  return (
    <div className={`shell ${navOpen ? 'nav-open' : ''}`}>
      <aside className="sidebar" aria-label={t('app.name')}>
        <div className="brand">{t('app.name')}</div>
        <nav>
          <NavLink to="/" end>
            <LayoutDashboard size={18} aria-hidden /> {t('nav.dashboard')}
          </NavLink>
          <NavLink to="/jobs">
            <ListVideo size={18} aria-hidden /> {t('nav.jobs')}
          </NavLink>
          <Can action="worker.read">
            <NavLink to="/workers">
              <Server size={18} aria-hidden /> {t('nav.workers')}
            </NavLink>
          </Can>
          <Can action="stream.read">
            <NavLink to="/streams">
              <Radio size={18} aria-hidden /> {t('nav.streams')}
            </NavLink>
          </Can>
          <Can action="restream.read">
            <NavLink to="/restreams">
              <Repeat size={18} aria-hidden /> {t('nav.restreams')}
            </NavLink>
          </Can>
          <div className="nav-section">{t('nav.settings')}</div>
          <Can action="profile.read">
            <NavLink to="/settings/profiles">
              <SlidersHorizontal size={18} aria-hidden /> {t('nav.profiles')}
            </NavLink>
          </Can>
          <Can action="plugin.read">
            <NavLink to="/settings/plugins">
              <Plug size={18} aria-hidden /> {t('nav.plugins')}
            </NavLink>
          </Can>
          <Can action="audit.read">
            <NavLink to="/settings/audit">
              <ScrollText size={18} aria-hidden /> {t('nav.audit')}
            </NavLink>
          </Can>
          <Can action="error.read">
            <NavLink to="/settings/errors">
              <Bug size={18} aria-hidden /> {t('nav.errors')}
            </NavLink>
          </Can>
          <Can action="webhook.read">
            <NavLink to="/settings/webhooks">
              <Webhook size={18} aria-hidden /> {t('settings.nav.webhooks')}
            </NavLink>
          </Can>
          <Can action="token.read">
            <NavLink to="/settings/tokens">
              <KeyRound size={18} aria-hidden /> {t('settings.nav.tokens')}
            </NavLink>
          </Can>
        </nav>
      </aside>
      {navOpen && <div className="scrim" onClick={() => setNavOpen(false)} />}
      <div className="main">
        <header className="topbar">
          <button
            className="icon-button nav-toggle"
            aria-label={t('nav.toggle')}
            aria-expanded={navOpen}
            onClick={() => setNavOpen((o) => !o)}
            data-testid="nav-toggle"
          >
            <Menu size={20} aria-hidden />
          </button>
          <span className={`live ${live ? 'on' : 'off'}`} data-testid="ws-state" data-state={wsState}>
            {live ? <Wifi size={16} aria-hidden /> : <WifiOff size={16} aria-hidden />}
            <span className="live-text">{live ? t('top.live') : t('top.offline')}</span>
          </span>
          <span className="spacer" />
          <LocaleSelect />
          {me && (
            <span className="user" data-testid="user" data-role={me.role}>
              <strong>{me.display_name ?? me.username}</strong>
              <span className="role">{t(`role.${me.role}`)}</span>
            </span>
          )}
          <button className="icon-button" onClick={() => void logout()} title={t('top.logout')} data-testid="logout">
            <LogOut size={18} aria-hidden />
            <span className="sr-only">{t('top.logout')}</span>
          </button>
        </header>
        <main className="content">{children}</main>
      </div>
    </div>
  );
}
