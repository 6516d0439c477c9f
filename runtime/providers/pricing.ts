/**
 * Model prices and the cost of a call, in USD.
 *
 * Prices are USD per million tokens: `input` (uncached input), `output`
 * (including reasoning) and `cached` (input read from the prompt cache; the
 * input price when not given). The built-in table holds list prices of a few
 * well-known models as of 2025; they go stale, so CONCLAVE_PRICES overrides
 * or adds entries: `{"openai:gpt-4.1": {"input": 2, "output": 8, "cached": 0.5}}`.
 *
 * Lookups try the exact model id, then the id without a date or `-latest`
 * suffix (`anthropic:claude-sonnet-4-5-20250929` → `anthropic:claude-sonnet-4-5`).
 * Local servers (ollama, lmstudio, vllm) cost nothing unless priced. Anthropic's
 * cache writes (1.25× input) are counted at the input price.
 */
import type { TokenUsage } from './types.js';

export interface ModelPrice {
  input: number;
  output: number;
  cached?: number;
}

export type PriceTable = Readonly<Record<string, ModelPrice>>;

export const DEFAULT_PRICES: PriceTable = {
  'openai:gpt-5': { input: 1.25, output: 10, cached: 0.125 },
  'openai:gpt-5-mini': { input: 0.25, output: 2, cached: 0.025 },
  'openai:gpt-5-nano': { input: 0.05, output: 0.4, cached: 0.005 },
  'openai:gpt-4.1': { input: 2, output: 8, cached: 0.5 },
  'openai:gpt-4.1-mini': { input: 0.4, output: 1.6, cached: 0.1 },
  'openai:gpt-4.1-nano': { input: 0.1, output: 0.4, cached: 0.025 },
  'openai:gpt-4o': { input: 2.5, output: 10, cached: 1.25 },
  'openai:gpt-4o-mini': { input: 0.15, output: 0.6, cached: 0.075 },
  'openai:o3': { input: 2, output: 8, cached: 0.5 },
  'openai:o4-mini': { input: 1.1, output: 4.4, cached: 0.275 },
  'anthropic:claude-opus-4-1': { input: 15, output: 75, cached: 1.5 },
  'anthropic:claude-sonnet-4-5': { input: 3, output: 15, cached: 0.3 },
  'anthropic:claude-sonnet-4': { input: 3, output: 15, cached: 0.3 },
  'anthropic:claude-haiku-4-5': { input: 1, output: 5, cached: 0.1 },
  'anthropic:claude-3-5-haiku': { input: 0.8, output: 4, cached: 0.08 },
  'deepseek:deepseek-chat': { input: 0.28, output: 0.42, cached: 0.028 },
  'deepseek:deepseek-reasoner': { input: 0.28, output: 0.42, cached: 0.028 },
  'gemini:gemini-2.5-pro': { input: 1.25, output: 10, cached: 0.31 },
  'gemini:gemini-2.5-flash': { input: 0.3, output: 2.5, cached: 0.075 },
};

/** Providers that run on your own machine: free unless the table says otherwise. */
const LOCAL_PROVIDERS = ['ollama', 'lmstudio', 'vllm'];
const FREE: ModelPrice = { input: 0, output: 0, cached: 0 };

/** The built-in table with CONCLAVE_PRICES entries on top. */
export function priceTable(overrides: Record<string, ModelPrice> = {}): PriceTable {
  return { ...DEFAULT_PRICES, ...overrides };
}

/** The price of a model id, or undefined when nobody priced it. */
export function priceOf(modelId: string, table: PriceTable = DEFAULT_PRICES): ModelPrice | undefined {
  const exact = table[modelId];
  if (exact) return exact;
  const undated = modelId.replace(/-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$/, '');
  const base = table[undated];
  if (base) return base;
  const provider = modelId.slice(0, modelId.indexOf(':'));
  return LOCAL_PROVIDERS.includes(provider) ? FREE : undefined;
}

/** The cost in USD of one call's usage, or undefined for a model without a price. */
export function costOf(modelId: string, usage: TokenUsage, table: PriceTable = DEFAULT_PRICES): number | undefined {
  const price = priceOf(modelId, table);
  if (!price) return undefined;
  const cached = Math.min(usage.cachedTokens, usage.inputTokens);
  const uncached = usage.inputTokens - cached;
  const micro = uncached * price.input + cached * (price.cached ?? price.input) + usage.outputTokens * price.output;
  return micro / 1_000_000;
}
