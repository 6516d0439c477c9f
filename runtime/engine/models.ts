/**
 * Connects presets to providers: a preset's model and fallbacks become the
 * ModelStream the agent loop calls, with retries and fallbacks
 * (providers/resilient.ts) behind it.
 */
import type { ProviderRegistry } from '../providers/registry.js';
import { streamWithFallbacks, type RetryPolicy } from '../providers/resilient.js';
import type { PresetRow } from '../store/schema.js';
import type { ModelStream } from './loop.js';

export function modelStreamFactory(registry: ProviderRegistry, retry: Partial<RetryPolicy> = {}) {
  return (preset: PresetRow): ModelStream =>
    ({ messages, tools, signal }) =>
      streamWithFallbacks({
        registry,
        models: [preset.model.name, ...preset.model.fallbacks],
        request: { messages, tools, settings: preset.model.settings, signal },
        retry,
      });
}
