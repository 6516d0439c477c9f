/**
 * The platform-neutral bridge between chat platforms and the runtime. It
 * owns: inbound handling (de-duplication, allow-lists, mention → thread,
 * mapping a place to its conversation through the runtime's bindings,
 * sending messages with on_busy=steer and acknowledging steering with ✅),
 * slash commands (./commands.ts, ./room-commands.ts) and their autocomplete,
 * and one follow-live Subscription per active
 * binding (./subscription.ts), including resuming the bindings that had a
 * turn in flight when the gateway last stopped.
 *
 * Identity. The bridge talks to the runtime with a service credential (a
 * service key, or the root token under `conclave start`). Everything a person
 * causes — creating the binding and its conversation, messages, /stop, /new,
 * /preset — is sent acting for them (`X-Conclave-User: discord:<id>` or
 * `slack:<team>:<user>`); following streams and storing binding state use the
 * service identity, which sees every conversation bound to its places.
 *
 * Ordering. Inbound events of one place are handled one at a time, in
 * arrival order, so two quick messages in a thread start one run and steer
 * it (never the other way round).
 *
 * Rooms. A message to a room goes in like any other, with on_busy=steer:
 * for a room run the runtime takes it as queued (answered after the current
 * turn; 202 `status: "queued"`), acknowledged with ⏳. Before it is sent,
 * `@Display Name` mentions of the room's personas become `@handle`
 * (./rooms.ts mapPersonaMentions; the participants are cached a minute).
 * Personas are shown from their participant entry, else their preset's
 * persona, else the event's `speaker`.
 */
import type { Logger } from 'pino';
import { pino } from 'pino';
import { ConclaveApiError, type Binding, type ConclaveClient, type MessageCreate, type RoomTemplate } from '../../shared/client/index.js';
import type { Speaker } from '../../shared/protocol/events.js';
import { checkAccess, OPEN_ACCESS, runtimeUserId, type AccessLists } from './access.js';
import type { StoredState } from './binding-writer.js';
import { completeOption, runCommand, type CommandHost } from './commands.js';
import { Deduper } from './dedupe.js';
import type {
  Attachment,
  Choice,
  CompletionRequest,
  InboundCommand,
  InboundMessage,
  Persona,
  Place,
  PlatformAdapter,
  PlatformName,
  PlatformUser,
} from './platform.js';
import { mapPersonaMentions, roomPersonas, type RoomPersona } from './rooms.js';
import { SerialQueues } from './serial.js';
import { Subscription, type BindingRecord } from './subscription.js';

export interface BridgeSettings {
  access: AccessLists;
  /** Said to people the allow-lists refuse (at most once a minute per person and place); null: only a 🚫 reaction. */
  deniedMessage: string | null;
  /** Reasoning is hidden, or shown as a "💭 thinking…" status line. */
  reasoning: 'hidden' | 'status';
  /** Slowest edit cadence to use (ms); 0: each platform's own. */
  editIntervalMs: number;
  /** Preset of new conversations; null: the runtime's default preset. */
  defaultPresetId: string | null;
  /** At start-up, follow again the bindings active within this window (ms), besides those with a turn in flight. */
  resumeWindowMs: number;
  /** How often the cursor is stored while no turn is in flight (ms). */
  cursorThrottleMs: number;
}

export const DEFAULT_DENIED_MESSAGE = 'Sorry, you are not allowed to talk to the agents here.';

export const DEFAULT_BRIDGE_SETTINGS: BridgeSettings = {
  access: OPEN_ACCESS,
  deniedMessage: DEFAULT_DENIED_MESSAGE,
  reasoning: 'hidden',
  editIntervalMs: 0,
  defaultPresetId: null,
  resumeWindowMs: 24 * 3600_000,
  cursorThrottleMs: 3000,
};

export interface BridgeOptions {
  /** A client with the service credential (not acting for anyone). */
  client: ConclaveClient;
  adapters: PlatformAdapter[];
  settings?: Partial<BridgeSettings>;
  logger?: Logger;
}

/** Where a binding's place is stored in its metadata, so a restarted gateway can render into it. */
interface PlaceMetadata {
  team_id: string | null;
  channel_id: string;
  thread_id: string | null;
  is_direct: boolean;
}

const PERSONA_TTL_MS = 10 * 60_000;
const UNBOUND_TTL_MS = 60_000;
/** How long a room's participants (for mention mapping) and the room templates are remembered. */
const ROOM_TTL_MS = 60_000;

export class Bridge {
  readonly settings: BridgeSettings;
  /** Resolves once the bindings to resume at start-up are followed again. */
  resumed: Promise<void> = Promise.resolve();

  private readonly client: ConclaveClient;
  private readonly logger: Logger;
  private readonly adapters = new Map<PlatformName, PlatformAdapter>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly inbound = new Deduper();
  private readonly notices = new Deduper({ ttlMs: 60_000 });
  /** Place keys recently found unbound (so chatter in other channels does not query the runtime each time). */
  private readonly unbound = new Map<string, number>();
  /** One place's messages and commands, one at a time in arrival order. */
  private readonly queues = new SerialQueues();
  private readonly personas = new Map<string, { at: number; persona: Promise<Persona> }>();
  /** Conversation id → its room personas (empty: not a room), for mention mapping and room commands. */
  private readonly rooms = new Map<string, { at: number; personas: Promise<RoomPersona[]> }>();
  private templates: { at: number; list: Promise<RoomTemplate[]> } | null = null;
  /** Places whose binding or conversation was deleted while followed: people there still expect an answer. */
  private readonly formerlyBound = new Set<string>();
  private stopping = false;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(options: BridgeOptions) {
    this.client = options.client;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.settings = { ...DEFAULT_BRIDGE_SETTINGS, ...options.settings };
    for (const adapter of options.adapters) this.adapters.set(adapter.platform, adapter);
  }

  /** Starts every adapter and resumes the bindings that need it. */
  async start(): Promise<void> {
    for (const adapter of this.adapters.values()) {
      await adapter.start({
        message: (message) => this.handleMessage(adapter, message),
        command: (command) => this.handleCommand(adapter, command),
        complete: (request) => this.handleComplete(adapter, request),
      });
      this.logger.info({ platform: adapter.platform }, 'platform connected');
    }
    this.resumed = this.resumeBindings();
    // Bindings quiet for longer than the resume window stop being followed (a message brings them back).
    this.sweeper = setInterval(() => void this.sweepIdle(), Math.min(this.settings.resumeWindowMs, 10 * 60_000));
    this.sweeper.unref();
  }

  /** Stops taking events, stores what each subscription must remember, and disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.all([...this.adapters.values()].map((a) => a.stop().catch((error: unknown) => this.logger.warn({ err: error }, 'adapter stop failed'))));
    await Promise.all([...this.subscriptions.values()].map((s) => s.stop()));
    this.subscriptions.clear();
  }

  /** Stops following bindings with no turn in flight and no event for longer than the resume window. */
  private async sweepIdle(): Promise<void> {
    const cutoff = Date.now() - this.settings.resumeWindowMs;
    for (const [key, subscription] of this.subscriptions) {
      if (subscription.activeSessionId !== null || subscription.lastActivityAt > cutoff) continue;
      this.subscriptions.delete(key);
      await subscription.stop().catch(() => undefined);
    }
  }

  /** The subscription following a place, if any (tests, /status). */
  subscriptionFor(platform: PlatformName, placeKey: string): Subscription | undefined {
    return this.subscriptions.get(`${platform}:${placeKey}`);
  }

  get activeSubscriptions(): number {
    return this.subscriptions.size;
  }

  // ------------------------------------------------------------ inbound messages

  async handleMessage(adapter: PlatformAdapter, message: InboundMessage): Promise<void> {
    try {
      if (this.stopping || message.user.isBot) return;
      const platform = adapter.platform;
      if (this.inbound.isRepeat(`${platform}:event:${message.dedupeKey}`, `${platform}:message:${message.place.channelId}:${message.id}`)) {
        this.logger.debug({ id: message.id }, 'dropping a redelivered message');
        return;
      }
      const queueKey = message.opensThread ? `${platform}:${message.place.key}:${message.id}` : `${platform}:${message.place.key}`;
      await this.queues.run(queueKey, async () => {
        // Only messages meant for the agents are answered at all (refusals included):
        // a mention, a DM, or a message in a bound thread or channel.
        const addressed =
          message.mentionsBot ||
          message.opensThread ||
          message.place.isDirect ||
          this.formerlyBound.has(`${platform}:${message.place.key}`) ||
          (await this.findSubscription(adapter, message.place)) !== null;
        if (!addressed) return;
        const decision = checkAccess(this.settings.access, message.place, message.user);
        if (!decision.allowed) {
          this.logger.info({ user: message.user.id, place: message.place.key, reason: decision.reason }, 'message refused by the allow-lists');
          await this.refuse(adapter, message.place, message.user, message.id);
          return;
        }
        await this.route(adapter, message);
      });
    } catch (error) {
      this.logger.error({ err: error, place: message.place.key }, 'handling a message failed');
    }
  }

  private async route(adapter: PlatformAdapter, message: InboundMessage): Promise<void> {
    const input = messageInput(message.text, message.attachments);
    let subscription: Subscription | null;
    if (message.opensThread) {
      if (input === null) {
        await adapter.post(message.place, 'Mention me with a question to start a conversation.', { replyTo: message.id });
        return;
      }
      const thread = await this.openThread(adapter, message.place, message.id, message.text || 'Attachment');
      subscription = await this.bind(adapter, thread, message.user);
    } else {
      subscription = await this.findSubscription(adapter, message.place);
      if (!subscription) {
        const wasOurs = this.formerlyBound.has(`${adapter.platform}:${message.place.key}`);
        if (!message.place.isDirect && !message.mentionsBot && !wasOurs) return; // not a conversation of ours
        subscription = await this.bind(adapter, message.place, message.user);
      }
    }
    if (input === null) return;
    await this.deliver(adapter, subscription, message.user, input, { place: message.place, messageId: message.id });
  }

  /** Tells a refused person so (rate-limited), or reacts 🚫. */
  private async refuse(adapter: PlatformAdapter, place: Place, user: PlatformUser, messageId: string): Promise<void> {
    const text = this.settings.deniedMessage;
    try {
      if (text && !this.notices.isRepeat(`${adapter.platform}:${place.key}:${user.id}`)) await adapter.post(place, text, { replyTo: messageId });
      else await adapter.react(place, messageId, '🚫');
    } catch (error) {
      this.logger.warn({ err: error }, 'could not answer a refused message');
    }
  }

  // ------------------------------------------------------------ commands

  async handleCommand(adapter: PlatformAdapter, command: InboundCommand): Promise<void> {
    try {
      if (this.stopping) return;
      if (this.inbound.isRepeat(`${adapter.platform}:command:${command.dedupeKey}`)) return;
      const decision = checkAccess(this.settings.access, command.place, command.user);
      if (!decision.allowed) {
        this.logger.info({ user: command.user.id, place: command.place.key, command: command.name }, 'command refused by the allow-lists');
        await command.respond(this.settings.deniedMessage ?? '🚫', { ephemeral: true });
        return;
      }
      await this.queues.run(`${adapter.platform}:${command.place.key}`, () => runCommand(this.commandHost(), adapter, command));
    } catch (error) {
      this.logger.error({ err: error, command: command.name }, 'a command failed');
      await command.respond(this.describeError(error), { ephemeral: true }).catch(() => undefined);
    }
  }

  /** Suggestions while a person types a command option (Discord autocomplete); none for refused people or on errors. */
  async handleComplete(adapter: PlatformAdapter, request: CompletionRequest): Promise<Choice[]> {
    try {
      if (this.stopping || !checkAccess(this.settings.access, request.place, request.user).allowed) return [];
      return await completeOption(this.commandHost(), adapter, request);
    } catch (error) {
      this.logger.warn({ err: error, command: request.command, option: request.option }, 'autocomplete failed');
      return [];
    }
  }

  /** What the commands use of the bridge. */
  private commandHost(): CommandHost {
    return {
      client: this.client,
      userClient: (place, user) => this.userClient(place, user),
      defaultPresetId: this.settings.defaultPresetId,
      findSubscription: (adapter, place) => this.findSubscription(adapter, place),
      bind: (adapter, place, user, conversationId) => this.bind(adapter, place, user, conversationId),
      rebind: (subscription, user, conversationId) => this.rebind(subscription, user, conversationId),
      roomSubscription: (adapter, place) => this.roomSubscription(adapter, place),
      commandSubscriptions: (adapter, place) => this.commandSubscriptions(adapter, place),
      roomTemplates: () => this.roomTemplates(),
      forgetRoom: (conversationId) => void this.rooms.delete(conversationId),
      openThread: (adapter, place, fromMessageId, title) => this.openThread(adapter, place, fromMessageId, title),
      deliver: (adapter, subscription, user, input, ack) => this.deliver(adapter, subscription, user, input, ack),
      describeError: (error) => this.describeError(error),
    };
  }

  // ------------------------------------------------------------ places, bindings, runs

  private userClient(place: Place, user: PlatformUser): ConclaveClient {
    return this.client.withUser(runtimeUserId(place, user));
  }

  /** Opens a thread for a new conversation; on failure the conversation lives in the place itself. */
  private async openThread(adapter: PlatformAdapter, place: Place, fromMessageId: string, text: string): Promise<Place> {
    try {
      return await adapter.openThread(place, fromMessageId, threadTitle(text));
    } catch (error) {
      this.logger.warn({ err: error, place: place.key }, 'could not open a thread; answering in the channel');
      return place;
    }
  }

  /** The subscription of a place: followed already, or found in the runtime. Null when unbound. */
  private async findSubscription(adapter: PlatformAdapter, place: Place): Promise<Subscription | null> {
    const key = `${adapter.platform}:${place.key}`;
    const known = this.subscriptions.get(key);
    if (known) return known;
    const checkedAt = this.unbound.get(key);
    if (checkedAt !== undefined && Date.now() - checkedAt < UNBOUND_TTL_MS) return null;
    const page = await this.client.listBindings({ platform: adapter.platform, key: place.key, limit: 1 });
    const binding = page.items[0];
    if (!binding) {
      this.unbound.set(key, Date.now());
      if (this.unbound.size > 10_000) this.unbound.clear();
      return null;
    }
    return this.follow(adapter, binding, place);
  }

  /**
   * Gets or creates the binding of a place, acting for the person, and
   * follows it. With `conversationId` (/room), a binding created now is
   * pointed at that conversation, and the empty one created with it is deleted.
   */
  private async bind(adapter: PlatformAdapter, place: Place, user: PlatformUser, conversationId?: string): Promise<Subscription> {
    const key = `${adapter.platform}:${place.key}`;
    const known = this.subscriptions.get(key);
    if (known) return known;
    const metadata: PlaceMetadata = { team_id: place.teamId, channel_id: place.channelId, thread_id: place.threadId, is_direct: place.isDirect };
    const client = this.userClient(place, user);
    let binding = await client.upsertBinding({
      platform: adapter.platform,
      key: place.key,
      metadata: { place: metadata, opened_by: runtimeUserId(place, user) },
      conversation: this.settings.defaultPresetId ? { preset_id: this.settings.defaultPresetId } : {},
    });
    if (conversationId && binding.conversation_id !== conversationId) {
      const empty = binding.created ? binding.conversation_id : null;
      binding = await client.patchBinding(binding.id, { conversation_id: conversationId, cursor: null, state: {} });
      if (empty) await client.deleteConversation(empty).catch((error: unknown) => this.logger.warn({ err: error, conversationId: empty }, 'could not delete an unused conversation'));
    }
    this.unbound.delete(key);
    this.formerlyBound.delete(key);
    this.logger.info({ place: place.key, conversationId: binding.conversation_id, created: binding.created }, 'place bound');
    return this.follow(adapter, binding, place);
  }

  /** Points a bound place at another conversation (/new, /room); what still runs in the old one is interrupted first. */
  private async rebind(subscription: Subscription, user: PlatformUser, conversationId: string): Promise<void> {
    const client = this.userClient(subscription.place, user);
    // What still runs in the old conversation would otherwise go on unseen.
    await client.interruptConversation(subscription.conversationId).catch(() => undefined);
    await client.patchBinding(subscription.binding.id, { conversation_id: conversationId, cursor: null, state: {} });
    await subscription.switchConversation(conversationId);
  }

  /**
   * The subscription a room command acts on: the place's own; or, on Slack,
   * whose slash commands carry no thread, for a channel that is not bound
   * itself: the room thread of that channel active most recently.
   */
  private async roomSubscription(adapter: PlatformAdapter, place: Place): Promise<Subscription | null> {
    const own = await this.findSubscription(adapter, place);
    if (own) return own;
    for (const candidate of this.followedThreadsOf(adapter, place)) {
      if ((await this.roomPersonasOf(candidate.conversationId)).length > 0) return candidate;
    }
    return null;
  }

  private async commandSubscriptions(adapter: PlatformAdapter, place: Place): Promise<Subscription[]> {
    const own = await this.findSubscription(adapter, place);
    return own ? [own] : this.followedThreadsOf(adapter, place);
  }

  /**
   * On Slack, whose slash commands carry no thread: the followed threads of
   * a channel, most recently active first. Empty for other places.
   */
  private followedThreadsOf(adapter: PlatformAdapter, place: Place): Subscription[] {
    if (adapter.platform !== 'slack' || place.isDirect || place.threadId !== null) return [];
    const prefix = `${adapter.platform}:${place.key}/`;
    return [...this.subscriptions.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .map(([, subscription]) => subscription)
      .sort((a, b) => b.lastActivityAt - a.lastActivityAt);
  }

  /** The room templates, remembered for a minute. */
  private roomTemplates(): Promise<RoomTemplate[]> {
    if (this.templates && Date.now() - this.templates.at < ROOM_TTL_MS) return this.templates.list;
    const list = this.client.listRoomTemplates().then((page) => page.items);
    this.templates = { at: Date.now(), list };
    list.catch(() => {
      if (this.templates?.list === list) this.templates = null;
    });
    return list;
  }

  /**
   * A conversation's room personas (empty when it is not a room), with their
   * display names (the participant's, else its preset's), remembered for a minute.
   */
  private roomPersonasOf(conversationId: string): Promise<RoomPersona[]> {
    const cached = this.rooms.get(conversationId);
    if (cached && Date.now() - cached.at < ROOM_TTL_MS) return cached.personas;
    const personas = this.client
      .getConversation(conversationId)
      .then(async (conversation) => {
        if (conversation.mode === 'single') return [];
        const found = roomPersonas(conversation.participants);
        for (const persona of found.filter((p) => p.name === null)) {
          const preset = await this.client.getPreset(persona.presetId).catch(() => null);
          const display = preset?.persona.display_name;
          persona.name = typeof display === 'string' && display !== '' ? display : (preset?.name ?? null);
        }
        return found;
      })
      .catch(() => {
        this.rooms.delete(conversationId);
        return [] as RoomPersona[];
      });
    this.rooms.set(conversationId, { at: Date.now(), personas });
    if (this.rooms.size > 1000) this.rooms.clear();
    return personas;
  }

  /** Starts (or returns) the subscription of a binding. */
  private follow(adapter: PlatformAdapter, binding: Binding, place: Place): Subscription {
    const key = `${adapter.platform}:${binding.key}`;
    const known = this.subscriptions.get(key);
    if (known) return known;
    const record: BindingRecord = {
      id: binding.id,
      key,
      conversationId: binding.conversation_id,
      place,
      cursor: binding.cursor,
      state: binding.state as StoredState,
    };
    const subscription = new Subscription(record, {
      client: this.client,
      adapter,
      settings: { reasoning: this.settings.reasoning, editIntervalMs: this.settings.editIntervalMs },
      logger: this.logger,
      persona: (conversationId, speaker) => this.persona(conversationId, speaker),
      onGone: (gone) => {
        if (this.subscriptions.get(key) === gone) this.subscriptions.delete(key);
        this.formerlyBound.add(key);
        void gone.stop();
      },
      cursorThrottleMs: this.settings.cursorThrottleMs,
    });
    this.subscriptions.set(key, subscription);
    subscription.start();
    return subscription;
  }

  /** Sends a person's input: starts a run, or steers the one in progress (✅). */
  private async deliver(
    adapter: PlatformAdapter,
    subscription: Subscription,
    user: PlatformUser,
    input: NonNullable<MessageCreate['input']>,
    ack?: { place: Place; messageId: string },
  ): Promise<void> {
    subscription.lastRequester = user.id;
    // The platform message's identity: a delivery repeated after a gateway restart starts nothing new.
    const requestOptions = ack ? { idempotencyKey: `${adapter.platform}:message:${ack.place.channelId}:${ack.messageId}` } : {};
    try {
      input = await this.withPersonaMentions(subscription.conversationId, input);
      const client = this.userClient(subscription.place, user);
      const run = await client.sendMessage(subscription.conversationId, { input, on_busy: 'steer' }, requestOptions).catch(async (error: unknown) => {
        if (!(error instanceof ConclaveApiError && error.status === 404)) throw error;
        // The bound conversation was deleted (from the web UI, say; its binding went with it): start afresh here.
        this.logger.warn({ place: subscription.place.key, conversationId: subscription.conversationId }, 'the bound conversation is gone; starting a fresh one');
        if (this.subscriptions.get(subscription.binding.key) === subscription) this.subscriptions.delete(subscription.binding.key);
        await subscription.stop();
        const fresh = await this.bind(adapter, subscription.place, user);
        fresh.lastRequester = user.id;
        return client.sendMessage(fresh.conversationId, { input, on_busy: 'steer' }, requestOptions);
      });
      this.logger.debug({ conversationId: run.conversation_id, status: run.status }, 'message sent');
      if (ack && run.status === 'steered') await adapter.react(ack.place, ack.messageId, '✅');
      if (ack && run.status === 'queued') await adapter.react(ack.place, ack.messageId, '⏳');
    } catch (error) {
      this.logger.warn({ err: error, conversationId: subscription.conversationId }, 'the runtime refused a message');
      await adapter.post(subscription.place, this.describeError(error)).catch(() => undefined);
    }
  }

  /** In a room, `@Display Name` mentions of its personas become `@handle` (text input only). */
  private async withPersonaMentions(conversationId: string, input: NonNullable<MessageCreate['input']>): Promise<NonNullable<MessageCreate['input']>> {
    if (typeof input !== 'string' || !input.includes('@')) return input;
    const personas = await this.roomPersonasOf(conversationId);
    return personas.length > 0 ? mapPersonaMentions(input, personas) : input;
  }

  private describeError(error: unknown): string {
    if (error instanceof ConclaveApiError) {
      if (error.code === 'no_preset') return '⚠️ No agent is set up yet: an administrator needs to create a default preset.';
      if (error.code === 'conversation_busy') return '⚠️ Something is already running here: wait for it to end, or stop it with `/stop`.';
      if (error.code === 'not_a_room') return '⚠️ This conversation has no personas: add some with `/persona-add`, or open a room with `/room`.';
      if (error.status === 0 || error.status >= 500) return '⚠️ The agent runtime cannot be reached right now; please try again in a moment.';
      if (error.status === 429) return '⚠️ Too many requests right now; please try again in a moment.';
      return `⚠️ ${error.message}`;
    }
    return '⚠️ Something went wrong on our side; it has been logged.';
  }

  // ------------------------------------------------------------ personas

  /** How a room speaker is shown: its participant entry, else its preset's persona, else its name. */
  private persona(conversationId: string, speaker: Speaker): Promise<Persona> {
    const key = `${conversationId}:${speaker.presetId}:${speaker.handle ?? ''}`;
    const cached = this.personas.get(key);
    if (cached && Date.now() - cached.at < PERSONA_TTL_MS) return cached.persona;
    const persona = (async (): Promise<Persona> => {
      const [conversation, preset] = await Promise.all([
        this.client.getConversation(conversationId).catch(() => null),
        this.client.getPreset(speaker.presetId).catch(() => null),
      ]);
      const participant = conversation?.participants.find((p) => p.handle === speaker.handle || p.preset_id === speaker.presetId);
      const fromPreset = (preset?.persona ?? {}) as Record<string, unknown>;
      const pick = (field: string) => {
        const value = participant?.[field] ?? fromPreset[field];
        return typeof value === 'string' && value !== '' ? value : undefined;
      };
      const name = pick('display_name') ?? speaker.name;
      const avatarUrl = pick('avatar_url') ?? speaker.avatarUrl;
      const color = pick('color') ?? speaker.color;
      return { name, ...(avatarUrl && { avatarUrl }), ...(color && { color }) };
    })();
    this.personas.set(key, { at: Date.now(), persona });
    return persona;
  }

  // ------------------------------------------------------------ start-up

  /** Follows again the bindings with a turn in flight, or active recently; retried until the runtime answers. */
  private async resumeBindings(): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt += 1) {
      try {
        let resumed = 0;
        for (const adapter of this.adapters.values()) {
          let cursor: string | undefined;
          do {
            const page = await this.client.listBindings({ platform: adapter.platform, limit: 200, ...(cursor && { cursor }) });
            for (const binding of page.items) {
              const state = binding.state as StoredState;
              const recent = Date.now() - Date.parse(binding.updated_at) < this.settings.resumeWindowMs;
              const place = placeOfBinding(adapter.platform, binding);
              if (!place || (!state.turn && !recent)) continue;
              this.follow(adapter, binding, place);
              resumed += 1;
            }
            cursor = page.next_cursor ?? undefined;
          } while (cursor);
        }
        if (resumed > 0) this.logger.info({ resumed }, 'following bindings again after start-up');
        return;
      } catch (error) {
        const delayMs = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
        this.logger.warn({ err: error, delayMs }, 'could not list bindings; retrying');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }
}

// ------------------------------------------------------------ helpers

/**
 * A message's input for the runtime: its text, plus attachments. Images go as
 * image parts (their bytes when the adapter fetched them, else their URL);
 * other files as file parts (their bytes when fetched, e.g. a text file the
 * runtime puts into the prompt, else their URL and name). An image whose URL
 * needs the bot's credentials and was not fetched goes as a file part, so no
 * model is asked to fetch what it cannot. Null when empty.
 */
export function messageInput(text: string, attachments: Attachment[]): NonNullable<MessageCreate['input']> | null {
  const trimmed = text.trim();
  if (attachments.length === 0) return trimmed === '' ? null : trimmed;
  const parts: Exclude<NonNullable<MessageCreate['input']>, string> = [];
  if (trimmed !== '') parts.push({ type: 'text', text: trimmed });
  for (const attachment of attachments.slice(0, 63)) {
    const mime = attachment.mimeType?.split(';')[0]?.trim();
    const isImage = mime ? /^image\/[\w.+-]+$/.test(mime) : /\.(png|jpe?g|gif|webp)$/i.test(attachment.name ?? attachment.url);
    if (isImage && attachment.data && mime) parts.push({ type: 'image', data: attachment.data, mime_type: mime });
    else if (isImage && !attachment.private) parts.push({ type: 'image', url: attachment.url, ...(mime && { mime_type: mime }) });
    else {
      const source = attachment.data && mime ? { data: attachment.data } : { url: attachment.url };
      parts.push({ type: 'file', ...source, ...(mime && { mime_type: mime }), ...(attachment.name && { name: attachment.name.slice(0, 500) }) });
    }
  }
  return parts;
}

/** A thread name from the first words of a question (1–100 characters). */
export function threadTitle(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line === '') return 'Conversation';
  return line.length > 90 ? `${line.slice(0, 89)}…` : line;
}

/** The place a binding renders into, from the metadata stored when it was created. */
function placeOfBinding(platform: PlatformName, binding: Binding): Place | null {
  const raw = binding.metadata.place as Partial<PlaceMetadata> | undefined;
  if (!raw || typeof raw.channel_id !== 'string') return null;
  return {
    platform,
    teamId: raw.team_id ?? null,
    channelId: raw.channel_id,
    threadId: raw.thread_id ?? null,
    isDirect: raw.is_direct === true,
    key: binding.key,
  };
}
