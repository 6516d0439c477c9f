/** Light and dark themes: the system setting unless the user picked one (stored; applied early by public/theme.js). */
import { useEffect, useState } from 'react';

export type Theme = 'light' | 'dark';
const KEY = 'conclave.theme';
const media = () => window.matchMedia('(prefers-color-scheme: dark)');

function current(): Theme {
  const set = document.documentElement.dataset.theme;
  if (set === 'light' || set === 'dark') return set;
  return media().matches ? 'dark' : 'light';
}

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(current);
  useEffect(() => {
    const m = media();
    const follow = () => {
      if (!document.documentElement.dataset.theme) setTheme(current());
    };
    m.addEventListener('change', follow);
    return () => m.removeEventListener('change', follow);
  }, []);
  const toggle = () => {
    const next: Theme = current() === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem(KEY, next);
    } catch {
      /* not stored: this page only */
    }
    setTheme(next);
  };
  return [theme, toggle];
}
