/**
 * The platform-neutral bridge (see ./bridge.ts): what adapters and the
 * gateway entry point (../index.ts) use. Imports `shared/` only.
 */
export * from './platform.js';
export { Bridge, DEFAULT_BRIDGE_SETTINGS, DEFAULT_DENIED_MESSAGE, messageInput, threadTitle, type BridgeOptions, type BridgeSettings } from './bridge.js';
export { COMMANDS, parseCommandText, usageLine } from './commands.js';
export { ROOM_COMMANDS } from './room-commands.js';
export { mapPersonaMentions, roomFinishedText, roomPersonas, ROOM_MODES, type RoomPersona } from './rooms.js';
export { checkAccess, OPEN_ACCESS, runtimeUserId, type AccessDecision, type AccessLists } from './access.js';
export { Deduper } from './dedupe.js';
export { RESERVE, TurnRenderer, errorLine, type RendererSettings } from './renderer.js';
export { Subscription, compareEventIds } from './subscription.js';
export type { StoredState, StoredTurn } from './binding-writer.js';
