/** Model prices and the cost of a call. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../runtime/config/index.js';
import { DEFAULT_PRICES, costOf, priceOf, priceTable } from '../../runtime/providers/pricing.js';
import { BUILT_IN_PROVIDERS, parseModelId } from '../../runtime/providers/registry.js';
import type { TokenUsage } from '../../runtime/providers/types.js';

const usage = (input: number, output: number, cached = 0): TokenUsage => ({
  inputTokens: input,
  outputTokens: output,
  cachedTokens: cached,
  reasoningTokens: 0,
});

describe('pricing', () => {
  it('prices only valid model ids of built-in providers', () => {
    for (const id of Object.keys(DEFAULT_PRICES)) {
      expect(BUILT_IN_PROVIDERS).toContain(parseModelId(id).provider);
    }
  });

  it('costs input, cached input and output per million tokens', () => {
    // gpt-4.1: $2 in, $8 out, $0.50 cached.
    expect(costOf('openai:gpt-4.1', usage(1_000_000, 0))).toBeCloseTo(2);
    expect(costOf('openai:gpt-4.1', usage(0, 1_000_000))).toBeCloseTo(8);
    // 1M input of which 400k cached: 600k × $2 + 400k × $0.50.
    expect(costOf('openai:gpt-4.1', usage(1_000_000, 0, 400_000))).toBeCloseTo(1.2 + 0.2);
    expect(costOf('openai:gpt-4.1', usage(1200, 300, 200))).toBeCloseTo((1000 * 2 + 200 * 0.5 + 300 * 8) / 1e6);
  });

  it('finds dated and -latest variants under the undated id', () => {
    expect(priceOf('anthropic:claude-sonnet-4-5-20250929')).toEqual(DEFAULT_PRICES['anthropic:claude-sonnet-4-5']);
    expect(priceOf('openai:gpt-4.1-2025-04-14')).toEqual(DEFAULT_PRICES['openai:gpt-4.1']);
    expect(priceOf('anthropic:claude-3-5-haiku-latest')).toEqual(DEFAULT_PRICES['anthropic:claude-3-5-haiku']);
    // Not a date suffix: another model.
    expect(priceOf('openai:gpt-4.1-turbo')).toBeUndefined();
  });

  it('knows nothing of unpriced models, and local servers are free', () => {
    expect(costOf('openrouter:some/model', usage(1000, 1000))).toBeUndefined();
    expect(costOf('ollama:llama3.2:3b', usage(1000, 1000))).toBe(0);
  });

  it('uses the input price for cached tokens when no cached price is given', () => {
    const table = priceTable({ 'custom:m': { input: 1, output: 2 } });
    expect(costOf('custom:m', usage(1_000_000, 0, 500_000), table)).toBeCloseTo(1);
  });

  it('CONCLAVE_PRICES overrides and adds prices', () => {
    const config = loadConfig(
      { CONCLAVE_PRICES: '{"openai:gpt-4.1":{"input":1,"output":4,"cached":0.25},"ollama:big":{"input":0.1,"output":0.1}}' },
      mkdtempSync(join(tmpdir(), 'conclave-prices-')),
    );
    const table = priceTable(config.CONCLAVE_PRICES);
    expect(costOf('openai:gpt-4.1', usage(1_000_000, 1_000_000), table)).toBeCloseTo(5);
    expect(costOf('ollama:big', usage(1_000_000, 0), table)).toBeCloseTo(0.1);
    expect(costOf('openai:gpt-4o', usage(1_000_000, 0), table)).toBeCloseTo(2.5);
  });

  it.each([
    ['{"gpt-4.1":{"input":1,"output":1}}', /price keys are model ids/],
    ['{"openai:gpt-4.1":{"input":-1,"output":1}}', /CONCLAVE_PRICES\.openai:gpt-4\.1\.input/],
    ['{"openai:gpt-4.1":{"input":1}}', /CONCLAVE_PRICES\.openai:gpt-4\.1\.output/],
    ['[1,2', /CONCLAVE_PRICES: must be JSON/],
  ])('rejects CONCLAVE_PRICES=%s naming the problem', (value, message) => {
    let error: unknown;
    try {
      loadConfig({ CONCLAVE_PRICES: value }, mkdtempSync(join(tmpdir(), 'conclave-prices-')));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
  });
});
