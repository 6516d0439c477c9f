/**
 * Who may talk to the agents, and where: the gateway's allow-lists. The
 * bridge checks every inbound message and command against them before it
 * touches the runtime, so a refused person never starts a run.
 *
 * Rules (an empty list allows everything it covers):
 * - guilds: the Discord guild id or Slack team id must be listed (DMs skip this check);
 * - channels: the channel (for a thread: its parent channel, or the thread
 *   itself) must be listed (DMs skip this check);
 * - users and roles together: when either list is non-empty, the person must
 *   be listed in `users` or hold one of `roles` (Discord role ids);
 * - direct messages are refused when `allowDirectMessages` is false.
 *
 * User entries may be the platform's id (`123456`) or the runtime's user id
 * (`discord:123456`, `slack:t01:u02`); comparison ignores case.
 */
import type { Place, PlatformUser } from './platform.js';

export interface AccessLists {
  users: string[];
  guilds: string[];
  channels: string[];
  roles: string[];
  allowDirectMessages: boolean;
}

export const OPEN_ACCESS: AccessLists = { users: [], guilds: [], channels: [], roles: [], allowDirectMessages: true };

export type AccessDecision = { allowed: true } | { allowed: false; reason: 'user' | 'guild' | 'channel' | 'direct' };

/** The runtime user a platform user acts as: `discord:<id>` or `slack:<team>:<user>`, lowercased. */
export function runtimeUserId(place: Place, user: PlatformUser): string {
  const id = place.platform === 'slack' ? `slack:${place.teamId ?? 'none'}:${user.id}` : `discord:${user.id}`;
  return id.toLowerCase();
}

export function checkAccess(lists: AccessLists, place: Place, user: PlatformUser): AccessDecision {
  const has = (list: string[], value: string | null) =>
    value !== null && list.some((entry) => entry.toLowerCase() === value.toLowerCase());

  if (place.isDirect) {
    if (!lists.allowDirectMessages) return { allowed: false, reason: 'direct' };
  } else {
    if (lists.guilds.length > 0 && !has(lists.guilds, place.teamId)) return { allowed: false, reason: 'guild' };
    if (lists.channels.length > 0 && !has(lists.channels, place.channelId) && !has(lists.channels, place.threadId)) {
      return { allowed: false, reason: 'channel' };
    }
  }
  if (lists.users.length > 0 || lists.roles.length > 0) {
    const listed = has(lists.users, user.id) || has(lists.users, runtimeUserId(place, user));
    const holdsRole = user.roles.some((role) => has(lists.roles, role));
    if (!listed && !holdsRole) return { allowed: false, reason: 'user' };
  }
  return { allowed: true };
}
