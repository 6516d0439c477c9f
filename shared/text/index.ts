/**
 * Text helpers shared by the gateway's renderers: splitting long messages
 * into platform-sized chunks (./split.ts), the streaming variant
 * (./stream-splitter.ts), and the fence rules they share (./fences.ts).
 */
export { MIN_SPLIT_LIMIT, splitMessage, splitPieces, type SplitPiece } from './split.js';
export { StreamSplitter, type StreamSnapshot } from './stream-splitter.js';
export { findFences, type FenceBlock } from './fences.js';
