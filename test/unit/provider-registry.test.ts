/** The provider registry: model ids, built-in and custom providers, the configured flag. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, readEnvironment } from '../../runtime/config/index.js';
import { BUILT_IN_PROVIDERS, ModelIdError, createProviderRegistry, parseModelId } from '../../runtime/providers/registry.js';
import { ProviderError } from '../../runtime/providers/types.js';

const emptyDir = () => mkdtempSync(join(tmpdir(), 'conclave-registry-'));
const registryFor = (env: Record<string, string>, keys: Record<string, string> = {}) =>
  createProviderRegistry(loadConfig(env, emptyDir()), { ...env, ...keys });

function configErrorFor(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, emptyDir());
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseModelId', () => {
  it('splits provider:model at the first colon', () => {
    expect(parseModelId('openai:gpt-4.1')).toEqual({ provider: 'openai', model: 'gpt-4.1' });
    expect(parseModelId('ollama:llama3.2:3b')).toEqual({ provider: 'ollama', model: 'llama3.2:3b' });
    expect(parseModelId('openrouter:deepseek/deepseek-r1:free')).toEqual({ provider: 'openrouter', model: 'deepseek/deepseek-r1:free' });
  });

  it.each(['gpt-4.1', ':gpt-4.1', 'openai:', ''])('rejects %j without a provider prefix, with an example', (id) => {
    expect(() => parseModelId(id)).toThrow(ModelIdError);
    expect(() => parseModelId(id)).toThrow(/must be provider:model, for example openai:gpt-4.1/);
  });

  it('rejects an unknown provider, listing the known ones', () => {
    expect(() => parseModelId('mistral:large')).toThrow(/unknown provider "mistral" in model id "mistral:large"; known providers: openai, ollama/);
    expect(parseModelId('mistral:large', ['mistral'])).toEqual({ provider: 'mistral', model: 'large' });
  });
});

describe('provider registry', () => {
  it('knows the built-in providers with their default base URLs', () => {
    const registry = registryFor({});
    expect(BUILT_IN_PROVIDERS).toEqual(['openai', 'ollama', 'lmstudio', 'vllm', 'deepseek', 'openrouter', 'gemini', 'anthropic']);
    const byName = Object.fromEntries(registry.list().map((p) => [p.name, p]));
    expect(byName.openai).toMatchObject({ type: 'openai', baseURL: 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY' });
    expect(byName.ollama?.baseURL).toBe('http://127.0.0.1:11434/v1');
    expect(byName.lmstudio?.baseURL).toBe('http://127.0.0.1:1234/v1');
    expect(byName.vllm?.baseURL).toBe('http://127.0.0.1:8000/v1');
    expect(byName.deepseek?.baseURL).toBe('https://api.deepseek.com/v1');
    expect(byName.openrouter?.baseURL).toBe('https://openrouter.ai/api/v1');
    expect(byName.gemini?.baseURL).toBe('https://generativelanguage.googleapis.com/v1beta/openai/');
    expect(byName.anthropic).toMatchObject({ type: 'anthropic', baseURL: 'https://api.anthropic.com' });
    expect(registry.list().every((p) => !('apiKey' in p))).toBe(true);
  });

  it('counts local servers as configured without a key, hosted APIs only with one', () => {
    const configured = (env: Record<string, string>) =>
      Object.fromEntries(registryFor(env).list().map((p) => [p.name, p.configured]));
    expect(configured({})).toEqual({
      openai: false, ollama: true, lmstudio: true, vllm: true, deepseek: false, openrouter: false, gemini: false, anthropic: false,
    });
    expect(configured({ OPENAI_API_KEY: 'sk-x', GEMINI_API_KEY: 'g' })).toMatchObject({ openai: true, gemini: true, deepseek: false });
    // An OpenAI-compatible server on this machine needs no key.
    expect(configured({ OPENAI_BASE_URL: 'http://localhost:4000/v1' })).toMatchObject({ openai: true });
  });

  it('resolves a model id to the provider and the bare model name', () => {
    const registry = registryFor({ OPENAI_API_KEY: 'sk-x' });
    const { provider, model } = registry.resolve('openai:gpt-4.1');
    expect(provider.name).toBe('openai');
    expect(model).toBe('gpt-4.1');
    expect(registry.get('openai')).toBe(provider);
  });

  it('refuses a provider that is not configured, naming the variable to set', () => {
    const registry = registryFor({});
    let error: unknown;
    try {
      registry.resolve('anthropic:claude-sonnet-4-5');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).kind).toBe('authentication');
    expect((error as ProviderError).message).toBe('provider anthropic is not configured: set ANTHROPIC_API_KEY');
    expect(() => registry.get('nope')).toThrow(ModelIdError);
  });

  it('adds custom providers from CONCLAVE_PROVIDERS, with keys from the named variable', () => {
    const providers = JSON.stringify({
      local: { type: 'openai', base_url: 'http://10.0.0.5:8080/v1' },
      work: { type: 'anthropic', base_url: 'https://llm-proxy.example.com', api_key_env: 'WORK_LLM_KEY' },
      other: { type: 'openai', base_url: 'https://api.example.com/v1', api_key_env: 'OTHER_KEY' },
    });
    const registry = registryFor({ CONCLAVE_PROVIDERS: providers }, { WORK_LLM_KEY: 'secret' });
    expect(registry.info('local')).toMatchObject({ type: 'openai', configured: true, hasKey: false, builtIn: false });
    expect(registry.info('work')).toMatchObject({ type: 'anthropic', configured: true, hasKey: true, apiKeyEnv: 'WORK_LLM_KEY' });
    expect(registry.info('other')).toMatchObject({ configured: false });
    expect(registry.parse('local:qwen3:8b')).toEqual({ provider: 'local', model: 'qwen3:8b' });
    expect(registry.resolve('work:claude-x').provider.name).toBe('work');
    expect(() => registry.resolve('other:m')).toThrow(/provider other is not configured: set OTHER_KEY/);
  });

  it('reads custom provider keys from .env through readEnvironment', () => {
    const dir = emptyDir();
    writeFileSync(
      join(dir, '.env'),
      `CONCLAVE_PROVIDERS={"work":{"type":"openai","base_url":"https://x.example.com/v1","api_key_env":"WORK_KEY"}}\nWORK_KEY=from-dotenv\n`,
    );
    const registry = createProviderRegistry(loadConfig({}, dir), readEnvironment({}, dir));
    expect(registry.info('work')).toMatchObject({ configured: true, hasKey: true });
  });

  it('refuses a custom provider that takes a built-in name', () => {
    const config = loadConfig({ CONCLAVE_PROVIDERS: '{"openai":{"type":"openai","base_url":"http://x.example.com"}}' }, emptyDir());
    expect(() => createProviderRegistry(config, {})).toThrow(/CONCLAVE_PROVIDERS: "openai" is a built-in provider/);
  });

  it.each([
    ['not json', /CONCLAVE_PROVIDERS: must be JSON/],
    ['{"local":{"type":"grpc","base_url":"http://x"}}', /CONCLAVE_PROVIDERS\.local\.type: type must be 'openai' or 'anthropic'/],
    ['{"local":{"type":"openai","base_url":"ftp://x"}}', /CONCLAVE_PROVIDERS\.local\.base_url: base_url must be an http/],
    ['{"Bad Name":{"type":"openai","base_url":"http://x"}}', /CONCLAVE_PROVIDERS.*provider names use/],
    ['{"local":{"type":"openai","base_url":"http://x","api_key_env":"not a var"}}', /api_key_env must be an environment variable name/],
    ['{"local":{"type":"openai","base_url":"http://x","apikey":"oops"}}', /CONCLAVE_PROVIDERS\.local/],
  ])('rejects CONCLAVE_PROVIDERS=%s with a clear message', (value, message) => {
    expect(configErrorFor({ CONCLAVE_PROVIDERS: value }).message).toMatch(message);
  });

  it('rejects a provider base URL that is not http(s)', () => {
    expect(configErrorFor({ OLLAMA_BASE_URL: 'localhost:11434' }).message).toContain('OLLAMA_BASE_URL');
  });
});
