// A small own i18n module (i18next would cost ~40 KB gzipped for what is a
// dictionary lookup and {name} interpolation). English is bundled as the
// fallback; the other locales are split into their own chunks and loaded
// on demand, so the initial bundle carries one dictionary.

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import en, { type MessageKey, type Messages } from './en';

export type Locale = 'en' | 'de' | 'ja' | 'es' | 'fr';
export const LOCALES: Record<Locale, string> = {
  en: 'English',
  de: 'Deutsch',
  ja: '日本語',
  es: 'Español',
  fr: 'Français',
};

const loaders: Record<Exclude<Locale, 'en'>, () => Promise<{ default: Messages }>> = {
  de: () => import('./de'),
  ja: () => import('./ja'),
  es: () => import('./es'),
  fr: () => import('./fr'),
};

const STORAGE_KEY = 'we.locale';

function isLocale(s: string): s is Locale {
  return Object.prototype.hasOwnProperty.call(LOCALES, s);
}

/** The stored choice, else the first of navigator.languages we have. */
export function initialLocale(): Locale {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored && isLocale(stored)) return stored;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = tag.toLowerCase().split('-')[0] ?? '';
    if (isLocale(base)) return base;
  }
  return 'en';
}

export type TFunction = (key: MessageKey, vars?: Record<string, string | number>) => string;

interface I18n {
  locale: Locale;
  setLocale: (l: Locale) => void;
  t: TFunction;
}

const Ctx = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [locale, setLocaleState] = useState<Locale>(initialLocale);
  const [messages, setMessages] = useState<Messages>(en);

  useEffect(() => {
    let live = true;
    document.documentElement.lang = locale;
    if (locale === 'en') setMessages(en);
    else
      loaders[locale]().then(
        (m) => live && setMessages(m.default),
        () => live && setMessages(en),
      );
    return () => {
      live = false;
    };
  }, [locale]);

  const setLocale = useCallback((l: Locale) => {
    localStorage.setItem(STORAGE_KEY, l);
    setLocaleState(l);
  }, []);

  const t = useCallback<TFunction>(
    (key, vars) => {
      const s = messages[key] ?? en[key] ?? key;
      return vars ? s.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m)) : s;
    },
    [messages],
  );

  const value = useMemo(() => ({ locale, setLocale, t }), [locale, setLocale, t]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useI18n(): I18n {
  const c = useContext(Ctx);
  if (!c) throw new Error('useI18n outside I18nProvider');
  return c;
}

export function useT(): TFunction {
  return useI18n().t;
}

export type { MessageKey };
