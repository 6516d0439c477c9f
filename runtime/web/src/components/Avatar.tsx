import { useState } from 'react';
import { initials, type Persona } from '../persona.js';

/** Dark or white text, whichever reads better on `hex`. */
function textOn(hex: string): string {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return '#fff';
  const n = parseInt(m[1]!, 16);
  const channel = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const l = 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
  // Contrast with white vs with near-black (#111).
  return (1.05 / (l + 0.05)) >= ((l + 0.05) / 0.0555) ? '#fff' : '#111';
}

/** A persona's picture, or its initials on its colour. */
export function Avatar({ persona, size = 32 }: { persona: Pick<Persona, 'name' | 'avatarUrl' | 'color'>; size?: number }) {
  const [broken, setBroken] = useState(false);
  const style = {
    width: size,
    height: size,
    fontSize: Math.round(size * 0.38),
    ['--persona' as string]: persona.color,
    ['--avatar-text' as string]: textOn(persona.color),
  };
  if (persona.avatarUrl && !broken) {
    return <img className="avatar" src={persona.avatarUrl} alt="" width={size} height={size} style={style} onError={() => setBroken(true)} />;
  }
  return (
    <span className="avatar avatar-initials" style={style} aria-hidden="true" data-color={persona.color}>
      {initials(persona.name)}
    </span>
  );
}
