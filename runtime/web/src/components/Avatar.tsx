import { useState } from 'react';
import { initials, type Persona } from '../persona.js';

/** A persona's picture, or its initials on its colour. */
export function Avatar({ persona, size = 32 }: { persona: Pick<Persona, 'name' | 'avatarUrl' | 'color'>; size?: number }) {
  const [broken, setBroken] = useState(false);
  const style = { width: size, height: size, fontSize: Math.round(size * 0.4), ['--persona' as string]: persona.color };
  if (persona.avatarUrl && !broken) {
    return <img className="avatar" src={persona.avatarUrl} alt="" width={size} height={size} style={style} onError={() => setBroken(true)} />;
  }
  return (
    <span className="avatar avatar-initials" style={style} aria-hidden="true">
      {initials(persona.name)}
    </span>
  );
}
