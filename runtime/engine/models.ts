/**
 * Connects presets to providers: a preset's model and fallbacks become the
 * ModelStream the agent loop calls, with retries and fallbacks
 * (providers/resilient.ts) behind it.
 */
import type { ProviderRegistry } from '../providers/registry.js';
import { streamWithFallbacks, type RetryPolicy } from '../providers/resilient.js';
import type { PresetRow } from '../store/schema.js';
import type { ModelStream } from './loop.js';

/** Model settings that Conclave itself reads; they are not sent to providers. */
const OWN_SETTINGS = ['context_window'];

export function modelStreamFactory(registry: ProviderRegistry, retry: Partial<RetryPolicy> = {}) {
  return (preset: PresetRow): ModelStream => {
    const settings = Object.fromEntries(Object.entries(preset.model.settings).filter(([key]) => !OWN_SETTINGS.includes(key)));
    return ({ messages, tools, signal }) =>
      streamWithFallbacks({
        registry,
        models: [preset.model.name, ...preset.model.fallbacks],
        request: { messages, tools, settings, signal },
        retry,
      });
  };
}
