/**
 * Discord for the gateway: the discord.js adapter (./adapter.ts). Imports
 * `shared/` and `../bridge` only.
 */
export { createDiscordAdapter, DiscordAdapter, DISCORD_LIMITS, WEBHOOK_NAME, nonceOf, type DiscordAdapterOptions } from './adapter.js';
