/**
 * The Discord adapter: discord.js (gateway + REST) behind the bridge's
 * PlatformAdapter seam (../bridge/platform.ts).
 *
 * Inbound. Intents Guilds, GuildMessages, MessageContent and DirectMessages
 * (with the Channel partial, so DMs from uncached channels arrive). The bot's
 * own messages, other bots' and webhooks' (our personas included) are
 * ignored. A message that mentions the bot in a guild text channel
 * `opensThread`; messages in threads and DMs are passed on as they are (the
 * bridge decides whether they belong to a conversation). Slash commands
 * (../bridge/commands.ts) are registered with one bulk overwrite at start-up
 * (string options, with choices or autocomplete), and deferred when the
 * bridge has not answered within `deferAfterMs` (Discord's deadline is 3 s).
 * Autocomplete requests (a person typing `/room template:…`) are answered
 * with the bridge's suggestions (`handlers.complete`), or none. Text
 * attachments (and the message.txt Discord makes of a long paste) are
 * fetched for the model (../bridge/inline-files.ts); other attachments go on
 * as their URLs.
 *
 * Outbound, all through discord.js's REST client (`client.rest`), whose
 * queue reads Discord's rate-limit headers and waits out 429s (`retry_after`)
 * before retrying, so a write is never dropped for a rate limit:
 * - post: `nonce` + `enforce_nonce` from the idempotency key, so a retried
 *   post returns the first message instead of a second one; mentions are
 *   never pinged (`allowed_mentions: {parse: []}`);
 * - personas: one webhook per parent channel, named WEBHOOK_NAME, found or
 *   created once and cached; posts set `username` and `avatar_url`, and go to
 *   threads with `thread_id`. Without Manage Webhooks (or in DMs) the message
 *   is posted by the bot with a bold name prefix instead;
 * - threads: POST /channels/:id/messages/:message/threads (what
 *   Message#startThread does); error 160004 "thread already created" means it
 *   exists — its id is the message id — and it is reused;
 * - typing, reactions, edits (edits of persona messages go through the webhook).
 *
 * Errors are mapped to PlatformError codes (not_found, forbidden, invalid,
 * other) for the renderer.
 */
import { createHash } from 'node:crypto';
import {
  ChannelType,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  MessageFlags,
  Partials,
  Routes,
  type APIChannel,
  type APIMessage,
  type APIWebhook,
  type AutocompleteInteraction,
  type Channel,
  type ChatInputCommandInteraction,
  type Message,
} from 'discord.js';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { COMMANDS } from '../bridge/commands.js';
import { INLINE_BUDGET_BYTES, inlineFiles, type FileKind } from '../bridge/inline-files.js';
import {
  PlatformError,
  type CommandSpec,
  type InboundHandlers,
  type InboundMessage,
  type Persona,
  type Place,
  type PlatformAdapter,
  type PlatformLimits,
  type PlatformUser,
  type PostedMessage,
} from '../bridge/platform.js';
import { SerialQueues } from '../bridge/serial.js';

export interface DiscordAdapterOptions {
  token: string;
  /** REST base without the version, e.g. https://discord.com/api (the default) or a test server's. */
  apiUrl?: string;
  logger?: Logger;
  /** Overrides of the pacing limits (tests shorten them). */
  limits?: Partial<PlatformLimits>;
  /** Register the slash commands at start-up (bulk overwrite). Default true. */
  registerCommands?: boolean;
  /** Defer a slash command that has not been answered after this long. Default 2000 ms. */
  deferAfterMs?: number;
  /** Most bytes of text attachments fetched and passed to the model per message. Default INLINE_BUDGET_BYTES (700 kB). */
  inlineFileBytes?: number;
}

/** Where Discord serves attachments; text attachments are fetched from these (and the test API's host). */
const ATTACHMENT_HOSTS = ['cdn.discordapp.com', 'media.discordapp.net'];
/** Attachments fetched for the model: images it can take by URL, text files it cannot. */
const INLINED_KINDS: ReadonlySet<FileKind> = new Set(['text']);
const ATTACHMENT_TIMEOUT_MS = 30_000;

/** The webhook the adapter creates per channel for personas. */
export const WEBHOOK_NAME = 'Conclave Personas';

export const DISCORD_LIMITS: PlatformLimits = {
  maxMessageLength: 2000,
  // About 5 writes per 5 s are allowed per channel; one edit every 1.2 s
  // leaves room for the posts of a long answer and for reactions.
  editIntervalMs: 1200,
  // Typing shows for 10 s after each pulse.
  typingIntervalMs: 8000,
};

interface Webhook {
  id: string;
  token: string;
}

export function createDiscordAdapter(options: DiscordAdapterOptions): DiscordAdapter {
  return new DiscordAdapter(options);
}

export class DiscordAdapter implements PlatformAdapter {
  readonly platform = 'discord' as const;
  readonly limits: PlatformLimits;
  private client: Client | null = null;
  private readonly logger: Logger;
  /** Parent channel id → its persona webhook, or null when webhooks are not allowed there. */
  private readonly webhooks = new Map<string, Promise<Webhook | null>>();

  private readonly attachmentHosts: ReadonlySet<string>;
  /** Each place's messages, handed to the bridge in the order they came. */
  private readonly handOver = new SerialQueues();

  constructor(private readonly options: DiscordAdapterOptions) {
    this.limits = { ...DISCORD_LIMITS, ...options.limits };
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.attachmentHosts = new Set([...ATTACHMENT_HOSTS, ...(options.apiUrl ? [new URL(options.apiUrl).host] : [])]);
  }

  /** The discord.js client (after start). */
  get discord(): Client {
    if (!this.client) throw new Error('the Discord adapter is not started');
    return this.client;
  }

  private get botId(): string {
    return this.discord.user?.id ?? '';
  }

  // ------------------------------------------------------------ lifecycle

  async start(handlers: InboundHandlers): Promise<void> {
    const client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent, GatewayIntentBits.DirectMessages],
      partials: [Partials.Channel],
      ...(this.options.apiUrl && { rest: { api: this.options.apiUrl } }),
    });
    this.client = client;
    client.on(Events.MessageCreate, (message) => {
      const inbound = this.inboundMessage(message);
      if (!inbound) return;
      const failed = (error: unknown) => this.logger.error({ err: error }, 'message handler failed');
      // Prepared at once, handed over in the place's order (a file download may outlast the next message).
      const prepared = this.withFiles(inbound);
      void this.handOver
        .run(inbound.place.key, async () => {
          void handlers.message(await prepared).catch(failed);
        })
        .catch(failed);
    });
    client.on(Events.InteractionCreate, (interaction) => {
      if (interaction.isAutocomplete()) {
        void this.onAutocomplete(interaction, handlers);
        return;
      }
      if (!interaction.isChatInputCommand()) return;
      const spec = COMMANDS.find((c) => c.name === interaction.commandName);
      if (spec) void this.onCommand(interaction, spec, handlers);
    });
    client.on(Events.Error, (error) => this.logger.error({ err: error }, 'discord client error'));
    client.on(Events.Warn, (message) => this.logger.warn({ message }, 'discord client warning'));
    client.rest.on('rateLimited', (info) =>
      this.logger.debug({ route: info.route, retryAfter: info.retryAfter, global: info.global }, 'discord rate limit: waiting'),
    );

    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    await client.login(this.options.token);
    await ready;
    this.logger.info({ bot: client.user?.tag }, 'connected to Discord');
    if (this.options.registerCommands !== false) await this.registerCommands();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.destroy();
  }

  private async registerCommands(): Promise<void> {
    const applicationId = this.discord.application?.id ?? this.botId;
    const body = COMMANDS.map((spec) => ({
      name: spec.name,
      description: spec.description,
      type: 1,
      options: (spec.options ?? []).map((option) => ({
        type: 3, // string
        name: option.name,
        description: option.description,
        required: option.required,
        ...(option.choices && { choices: option.choices.map((value) => ({ name: value, value })) }),
        ...(option.autocomplete && !option.choices && { autocomplete: true }),
      })),
    }));
    try {
      await this.discord.rest.put(Routes.applicationCommands(applicationId), { body });
    } catch (error) {
      this.logger.error({ err: error }, 'could not register the slash commands');
    }
  }

  // ------------------------------------------------------------ inbound

  /** Normalises a message; null for messages the bridge must not see. */
  private inboundMessage(message: Message): InboundMessage | null {
    if (message.author.id === this.botId || message.author.bot || message.webhookId || message.system) return null;
    const place = this.placeOf(message.channel, message.guildId);
    if (!place) return null;
    const mentionsBot = message.mentions.users.has(this.botId);
    const text = message.content.replace(new RegExp(`<@!?${this.botId}>`, 'g'), '').trim();
    return {
      id: message.id,
      dedupeKey: message.id,
      place,
      opensThread: mentionsBot && !place.isDirect && place.threadId === null,
      user: {
        id: message.author.id,
        name: message.member?.displayName ?? message.author.globalName ?? message.author.username,
        isBot: message.author.bot,
        roles: message.member ? [...message.member.roles.cache.keys()].filter((id) => id !== message.guildId) : [],
      },
      text,
      attachments: [...message.attachments.values()].map((a) => ({
        url: a.url,
        name: a.name,
        ...(a.contentType && { mimeType: a.contentType }),
      })),
      mentionsBot,
      mentions: [...text.matchAll(/(?:^|\s)@([a-z0-9][a-z0-9_-]{0,31})/gi)].map((m) => (m[1] ?? '').toLowerCase()),
    };
  }

  /** The message with its text attachments' content fetched (gateway/bridge/inline-files.ts). */
  private async withFiles(message: InboundMessage): Promise<InboundMessage> {
    if (message.attachments.length === 0) return message;
    const attachments = await inlineFiles(message.attachments, {
      kinds: INLINED_KINDS,
      hosts: this.attachmentHosts,
      budgetBytes: this.options.inlineFileBytes ?? INLINE_BUDGET_BYTES,
      timeoutMs: ATTACHMENT_TIMEOUT_MS,
      onError: (attachment, reason) => this.logger.warn({ file: attachment.name, reason }, 'discord: an attached file was not passed on to the model'),
    });
    return { ...message, attachments };
  }

  /** The place of a channel: a DM, a thread (under its parent) or a guild channel. */
  private placeOf(channel: Channel | APIChannel | null, guildId: string | null): Place | null {
    if (!channel) return null;
    const type = channel.type;
    if (type === ChannelType.DM || !guildId) {
      return { platform: 'discord', teamId: null, channelId: channel.id, threadId: null, isDirect: true, key: `dm/${channel.id}` };
    }
    const isThread = type === ChannelType.PublicThread || type === ChannelType.PrivateThread || type === ChannelType.AnnouncementThread;
    if (isThread) {
      const parentId = ('parentId' in channel ? channel.parentId : 'parent_id' in channel ? channel.parent_id : null) ?? channel.id;
      return { platform: 'discord', teamId: guildId, channelId: parentId, threadId: channel.id, isDirect: false, key: `g${guildId}/c${parentId}/t${channel.id}` };
    }
    return { platform: 'discord', teamId: guildId, channelId: channel.id, threadId: null, isDirect: false, key: `g${guildId}/c${channel.id}` };
  }

  /** Suggestions while a person types an autocomplete option; always answered (Discord waits 3 s), [] on any trouble. */
  private async onAutocomplete(interaction: AutocompleteInteraction, handlers: InboundHandlers): Promise<void> {
    let choices: Array<{ name: string; value: string }> = [];
    try {
      const channel = interaction.channel ?? (interaction.channelId ? await this.discord.channels.fetch(interaction.channelId) : null);
      const place = this.placeOf(channel, interaction.guildId);
      const focused = interaction.options.getFocused(true);
      if (place && handlers.complete) {
        const options: Record<string, string> = {};
        for (const option of interaction.options.data) {
          if (option.name !== focused.name && option.value !== undefined && option.value !== null) options[option.name] = String(option.value);
        }
        const member = interaction.member;
        const roles = !member ? [] : Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
        const found = await handlers.complete({
          command: interaction.commandName,
          option: focused.name,
          value: String(focused.value ?? ''),
          options,
          place,
          user: {
            id: interaction.user.id,
            name: interaction.user.globalName ?? interaction.user.username,
            isBot: interaction.user.bot,
            roles: roles.filter((id) => id !== interaction.guildId),
          },
        });
        // Discord: at most 25 choices, names and values of 1–100 characters.
        choices = found
          .filter((c) => c.value !== '' && c.value.length <= 100)
          .slice(0, 25)
          .map((c) => ({ name: (c.name || c.value).slice(0, 100), value: c.value }));
      }
    } catch (error) {
      this.logger.warn({ err: error, command: interaction.commandName }, 'autocomplete failed');
    }
    await interaction.respond(choices).catch((error: unknown) => this.logger.debug({ err: error }, 'could not answer an autocomplete request'));
  }

  private async onCommand(interaction: ChatInputCommandInteraction, spec: CommandSpec, handlers: InboundHandlers): Promise<void> {
    let responded = false;
    let deferred: Promise<unknown> | null = null;
    const ephemeralFlag = (ephemeral: boolean) => (ephemeral ? MessageFlags.Ephemeral : undefined);
    const timer = setTimeout(() => {
      if (responded) return;
      deferred = interaction.deferReply({ flags: ephemeralFlag(spec.ephemeral) }).catch((error: unknown) => {
        this.logger.warn({ err: error, command: spec.name }, 'could not defer a command');
      });
    }, this.options.deferAfterMs ?? 2000);

    const respond = async (text: string, options?: { ephemeral?: boolean }) => {
      const first = !responded;
      responded = true;
      clearTimeout(timer);
      const content = text.length > 2000 ? `${text.slice(0, 1999)}…` : text;
      const ephemeral = options?.ephemeral ?? spec.ephemeral;
      try {
        if (deferred && first) {
          await deferred;
          await interaction.editReply({ content, allowedMentions: { parse: [] } });
        } else if (!first || interaction.replied || interaction.deferred) {
          await interaction.followUp({ content, flags: ephemeralFlag(ephemeral), allowedMentions: { parse: [] } });
        } else {
          await interaction.reply({ content, flags: ephemeralFlag(ephemeral), allowedMentions: { parse: [] } });
        }
      } catch (error) {
        this.logger.warn({ err: error, command: spec.name }, 'could not answer a command');
      }
    };

    try {
      const channel = interaction.channel ?? (interaction.channelId ? await this.discord.channels.fetch(interaction.channelId) : null);
      const place = this.placeOf(channel, interaction.guildId);
      if (!place) {
        await respond('This command does not work here.', { ephemeral: true });
        return;
      }
      const member = interaction.member;
      const roles = !member ? [] : Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
      const user: PlatformUser = {
        id: interaction.user.id,
        name: interaction.user.globalName ?? interaction.user.username,
        isBot: interaction.user.bot,
        roles: roles.filter((id) => id !== interaction.guildId),
      };
      const optionValues: Record<string, string> = {};
      for (const option of interaction.options.data) {
        if (option.value !== undefined && option.value !== null) optionValues[option.name] = String(option.value);
      }
      await handlers.command({
        name: spec.name,
        options: optionValues,
        text: Object.values(optionValues).join(' '),
        place,
        user,
        dedupeKey: interaction.id,
        respond,
      });
    } catch (error) {
      this.logger.error({ err: error, command: spec.name }, 'command handler failed');
    } finally {
      clearTimeout(timer);
      if (!responded) await respond('✅');
    }
  }

  // ------------------------------------------------------------ outbound

  async post(place: Place, text: string, options: { persona?: Persona; replyTo?: string; idempotencyKey?: string } = {}): Promise<PostedMessage> {
    const target = place.threadId ?? place.channelId;
    if (options.persona) {
      const hook = await this.webhookOf(place);
      if (hook) {
        const message = await this.call('post as persona', () =>
          this.discord.rest.post(Routes.webhook(hook.id, hook.token), {
            body: { content: text, username: personaName(options.persona!.name), avatar_url: options.persona!.avatarUrl, allowed_mentions: { parse: [] } },
            query: webhookQuery(place, true),
            auth: false,
          }),
        );
        return { id: (message as APIMessage).id };
      }
      text = `${personaPrefix(options.persona)}${text}`;
    }
    const nonce = options.idempotencyKey ? nonceOf(options.idempotencyKey) : undefined;
    const message = await this.call('post', () =>
      this.discord.rest.post(Routes.channelMessages(target), {
        body: {
          content: text,
          allowed_mentions: { parse: [] },
          ...(nonce && { nonce, enforce_nonce: true }),
          ...(options.replyTo && { message_reference: { message_id: options.replyTo, fail_if_not_exists: false } }),
        },
      }),
    );
    return { id: (message as APIMessage).id };
  }

  async edit(place: Place, messageId: string, text: string, options: { persona?: Persona } = {}): Promise<void> {
    if (options.persona) {
      const hook = await this.webhookOf(place);
      if (hook) {
        await this.call('edit as persona', () =>
          this.discord.rest.patch(Routes.webhookMessage(hook.id, hook.token, messageId), {
            body: { content: text, allowed_mentions: { parse: [] } },
            query: webhookQuery(place, false),
            auth: false,
          }),
        );
        return;
      }
      text = `${personaPrefix(options.persona)}${text}`;
    }
    await this.call('edit', () =>
      this.discord.rest.patch(Routes.channelMessage(place.threadId ?? place.channelId, messageId), {
        body: { content: text, allowed_mentions: { parse: [] } },
      }),
    );
  }

  async react(place: Place, messageId: string, emoji: string): Promise<void> {
    await this.call('react', () =>
      this.discord.rest.put(Routes.channelMessageOwnReaction(place.threadId ?? place.channelId, messageId, encodeURIComponent(emoji))),
    );
  }

  async typing(place: Place): Promise<void> {
    await this.call('typing', () => this.discord.rest.post(Routes.channelTyping(place.threadId ?? place.channelId)));
  }

  async openThread(place: Place, fromMessageId: string, title: string): Promise<Place> {
    if (place.isDirect || place.threadId !== null || !place.teamId) return place;
    const name = title.trim().slice(0, 100) || 'Conversation';
    let threadId: string;
    try {
      const thread = (await this.discord.rest.post(Routes.threads(place.channelId, fromMessageId), {
        body: { name, auto_archive_duration: 1440 },
      })) as APIChannel;
      threadId = thread.id;
    } catch (error) {
      // 160004: a thread already exists for this message; its id is the message id.
      if (error instanceof DiscordAPIError && error.code === 160004) threadId = fromMessageId;
      else throw toPlatformError('open a thread', error);
    }
    return {
      platform: 'discord',
      teamId: place.teamId,
      channelId: place.channelId,
      threadId,
      isDirect: false,
      key: `g${place.teamId}/c${place.channelId}/t${threadId}`,
    };
  }

  // ------------------------------------------------------------ webhooks

  /** The persona webhook of a place's parent channel; null where webhooks cannot be used. */
  private webhookOf(place: Place): Promise<Webhook | null> {
    if (place.isDirect) return Promise.resolve(null);
    const channelId = place.channelId;
    let hook = this.webhooks.get(channelId);
    if (!hook) {
      hook = this.findOrCreateWebhook(channelId);
      this.webhooks.set(channelId, hook);
      // A passing failure (network) must not stick: forget it so the next post tries again.
      hook.catch(() => this.webhooks.delete(channelId));
    }
    return hook;
  }

  private async findOrCreateWebhook(channelId: string): Promise<Webhook | null> {
    try {
      const existing = (await this.discord.rest.get(Routes.channelWebhooks(channelId))) as APIWebhook[];
      const ours = existing.find((w) => w.name === WEBHOOK_NAME && w.token && (w.application_id === this.botId || w.user?.id === this.botId));
      if (ours?.token) return { id: ours.id, token: ours.token };
      const created = (await this.discord.rest.post(Routes.channelWebhooks(channelId), { body: { name: WEBHOOK_NAME } })) as APIWebhook;
      if (!created.token) return null;
      return { id: created.id, token: created.token };
    } catch (error) {
      const mapped = toPlatformError('set up the persona webhook', error);
      if (mapped.code === 'forbidden' || mapped.code === 'invalid') {
        this.logger.warn({ channelId, err: error }, 'personas cannot use webhooks here; posting with a name prefix instead');
        return null;
      }
      throw mapped;
    }
  }

  /** Runs a REST call; maps failures to PlatformError (a stale webhook is forgotten). */
  private async call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (error instanceof DiscordAPIError && error.code === 10015) this.webhooks.clear(); // unknown webhook
      throw toPlatformError(what, error);
    }
  }
}

// ------------------------------------------------------------ helpers

/** Discord nonces are at most 25 characters: a digest of the idempotency key. */
export function nonceOf(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 25);
}

function webhookQuery(place: Place, wait: boolean): URLSearchParams {
  const query = new URLSearchParams();
  if (wait) query.set('wait', 'true');
  if (place.threadId) query.set('thread_id', place.threadId);
  return query;
}

/** Webhook usernames: 1–80 characters, and Discord refuses names containing "discord" or "clyde". */
function personaName(name: string): string {
  const cleaned = name.replace(/discord/gi, 'Dscord').replace(/clyde/gi, 'Clyd').trim().slice(0, 80);
  return cleaned || 'Agent';
}

function personaPrefix(persona: Persona): string {
  return `**${persona.name.replace(/\*/g, '').slice(0, 80)}:** `;
}

export function toPlatformError(what: string, error: unknown): PlatformError {
  if (error instanceof PlatformError) return error;
  if (error instanceof DiscordAPIError) {
    const code = Number(error.code);
    const kind =
      error.status === 404 || [10003, 10008, 10015].includes(code)
        ? 'not_found'
        : error.status === 403 || [50001, 50013].includes(code)
          ? 'forbidden'
          : error.status === 400
            ? 'invalid'
            : 'other';
    return new PlatformError(kind, `Discord could not ${what}: ${error.message} (code ${error.code})`, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new PlatformError('other', `Discord could not ${what}: ${message}`, { cause: error });
}
