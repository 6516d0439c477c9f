/**
 * Slack inbound normalisation: which Slack events become an InboundMessage
 * or InboundCommand (gateway/bridge/platform.ts), where their conversation
 * lives (the Place), and how Slack's message text is turned back into plain
 * text. Pure functions; the adapter (./index.ts) wires them to Bolt.
 *
 * Places (`Place.key`):
 *   - a thread:        `T/C/thread_ts`  (threadId = the thread's parent ts)
 *   - a whole channel: `T/C`            (only channels listed in SLACK_BIND_CHANNELS)
 *   - a DM:            `dm/D`           (the whole DM is one conversation)
 *
 * Which messages are delivered:
 *   - a mention of the bot at the top level of a channel → place = the
 *     channel where it was written, `opensThread: true`; the bridge then
 *     calls `openThread`, which gives the thread of that message (threadId =
 *     the mention's ts: Slack makes a thread by replying to a message, there
 *     is nothing to create);
 *   - any human message in a thread → that thread (the bridge keeps the ones
 *     whose place is bound and drops the rest);
 *   - any human message in a DM with the bot;
 *   - any top-level human message in a whole-channel channel (`mentionsBot`
 *     is then set: the channel is given over to the bot, so every message is
 *     addressed to it);
 *   - nothing else: other bots, the bot itself, edits/deletes/joins and other
 *     subtypes (only plain messages, `file_share` and `thread_broadcast` count).
 *
 * Slack sends both `app_mention` and `message` for a mention (two event_ids),
 * and has been seen delivering one message under several event_ids; both
 * normalise to the same message here, and the adapter keeps the first per
 * (channel, ts).
 */
import type { Attachment, InboundMessage, Place, PlatformUser } from '../bridge/platform.js';
import type { Json } from './api.js';

export interface WorkspaceIdentity {
  teamId: string;
  botUserId: string;
  botId: string | null;
}

/** Which channels are whole-channel conversations: `'*'` for all, or a set of channel ids. */
export type WholeChannels = '*' | ReadonlySet<string>;

export function isDirectChannel(channelId: string, channelType?: unknown): boolean {
  return channelType === 'im' || (channelType === undefined && channelId.startsWith('D'));
}

export function placeFor(teamId: string, channelId: string, threadTs: string | null, direct: boolean): Place {
  if (direct) return { platform: 'slack', teamId, channelId, threadId: null, isDirect: true, key: `dm/${channelId}` };
  return {
    platform: 'slack',
    teamId,
    channelId,
    threadId: threadTs,
    isDirect: false,
    key: threadTs ? `${teamId}/${channelId}/${threadTs}` : `${teamId}/${channelId}`,
  };
}

export function isWholeChannel(channels: WholeChannels, channelId: string, direct: boolean): boolean {
  if (direct) return false;
  return channels === '*' || channels.has(channelId);
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>' };

/**
 * Slack's escaped text back to what the person typed: the bot's own mention
 * removed, `<@U…>` → `@U…`, `<#C…|name>` → `#name`, `<!here>` → `@here`,
 * `<url|label>` → `label (url)`, `<url>` → `url`, and &amp; &lt; &gt; decoded.
 */
export function plainText(text: string, botUserId: string): string {
  const withoutBot = text.replace(new RegExp(`<@${botUserId}(\\|[^>]*)?> ?`, 'g'), '');
  const unwrapped = withoutBot.replace(/<([^<>]+)>/g, (_whole, inner: string) => {
    const [target = '', label] = inner.split('|', 2);
    if (target.startsWith('@')) return label ? `@${label}` : target;
    if (target.startsWith('#')) return label ? `#${label}` : target;
    if (target.startsWith('!')) return `@${(label ?? target.slice(1)).replace(/^subteam\^/, '')}`;
    return label && label !== target ? `${label} (${target})` : target;
  });
  const decoded = unwrapped.replace(/&(amp|lt|gt);/g, (entity) => ENTITIES[entity] ?? entity);
  return decoded.trim();
}

/** `@alex` handles in the text (rooms), lowercased, without `@`, first occurrence order. */
export function handlesIn(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:^|[^\w@])@([a-z0-9][a-z0-9_.-]*)/gi)) {
    const handle = (match[1] ?? '').replace(/[.-]+$/, '').toLowerCase();
    if (handle && !found.includes(handle)) found.push(handle);
  }
  return found;
}

/** Files shared with a message. `url_private` needs the bot token (`Authorization: Bearer xoxb-…`) to fetch. */
export function attachmentsOf(event: Json): Attachment[] {
  if (!Array.isArray(event.files)) return [];
  const out: Attachment[] = [];
  for (const file of event.files as Json[]) {
    const url = typeof file.url_private === 'string' ? file.url_private : typeof file.url_private_download === 'string' ? file.url_private_download : undefined;
    if (!url) continue;
    out.push({
      url,
      private: true,
      ...(typeof file.name === 'string' ? { name: file.name } : {}),
      ...(typeof file.mimetype === 'string' ? { mimeType: file.mimetype } : {}),
    });
  }
  return out;
}

const COUNTED_SUBTYPES = new Set([undefined, 'file_share', 'thread_broadcast']);

/** The parts of an event the adapter needs before it can build the message (user name lookups are async). */
export interface MessageDraft {
  channelId: string;
  ts: string;
  userId: string;
  /** (channel, ts): the same for every delivery of one message, whatever the event type or event_id. */
  messageKey: string;
  build(user: PlatformUser, dedupeKey: string): InboundMessage;
}

/**
 * An `app_mention` or `message` event → a draft of the InboundMessage, or
 * null when the event is not for the bridge (see the top of this file).
 */
export function draftMessage(event: Json, identity: WorkspaceIdentity, wholeChannels: WholeChannels): MessageDraft | null {
  if (event.type !== 'message' && event.type !== 'app_mention') return null;
  if (!COUNTED_SUBTYPES.has(event.subtype)) return null;
  if (event.bot_id || event.bot_profile || event.hidden) return null;
  const userId = typeof event.user === 'string' ? event.user : '';
  const channelId = typeof event.channel === 'string' ? event.channel : '';
  const ts = typeof event.ts === 'string' ? event.ts : '';
  if (!userId || !channelId || !ts || userId === identity.botUserId) return null;

  const rawText = typeof event.text === 'string' ? event.text : '';
  const direct = isDirectChannel(channelId, event.channel_type);
  const threadTs = typeof event.thread_ts === 'string' && event.thread_ts !== ts ? event.thread_ts : null;
  const mentioned = event.type === 'app_mention' || new RegExp(`<@${identity.botUserId}(\\|[^>]*)?>`).test(rawText);
  const whole = isWholeChannel(wholeChannels, channelId, direct);

  let place: Place;
  let opensThread = false;
  if (direct) place = placeFor(identity.teamId, channelId, null, true);
  else if (threadTs) place = placeFor(identity.teamId, channelId, threadTs, false);
  else if (whole) place = placeFor(identity.teamId, channelId, null, false);
  else if (mentioned) {
    place = placeFor(identity.teamId, channelId, null, false);
    opensThread = true;
  } else return null;

  const text = plainText(rawText, identity.botUserId);
  const attachments = attachmentsOf(event);
  const mentionsBot = mentioned || direct || (whole && !threadTs);
  return {
    channelId,
    ts,
    userId,
    messageKey: `${channelId}/${ts}`,
    build: (user, dedupeKey) => ({
      id: ts,
      dedupeKey,
      place,
      opensThread,
      user,
      text,
      attachments,
      mentionsBot,
      mentions: handlesIn(text),
    }),
  };
}

/** A slash command's name: `/ask` → `ask`; `/conclave-ask`, `/conclave_ask` and `/conclave ask …` → `ask` (Slack reserves some names, e.g. `/status`). */
export function commandName(command: string, text: string, namespace: string): { name: string; text: string } {
  const bare = command.replace(/^\//, '').trim().toLowerCase();
  const ns = namespace.toLowerCase();
  if (ns && bare === ns) {
    const [first = '', ...rest] = text.trim().split(/\s+/);
    return first ? { name: first.toLowerCase(), text: rest.join(' ') } : { name: 'help', text: '' };
  }
  for (const separator of ['-', '_']) {
    if (ns && bare.startsWith(`${ns}${separator}`) && bare.length > ns.length + 1) return { name: bare.slice(ns.length + 1), text: text.trim() };
  }
  return { name: bare, text: text.trim() };
}
