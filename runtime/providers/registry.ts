/**
 * The provider registry: which named providers exist, where they live, whether
 * they are usable, and the `provider:model` ids that pick one.
 *
 * Built-in providers (all but `anthropic` speak the OpenAI Chat Completions
 * protocol):
 *
 *   name        base URL variable     default base URL                                          key variable
 *   openai      OPENAI_BASE_URL       https://api.openai.com/v1                                 OPENAI_API_KEY
 *   ollama      OLLAMA_BASE_URL       http://127.0.0.1:11434/v1                                 OLLAMA_API_KEY (optional)
 *   lmstudio    LMSTUDIO_BASE_URL     http://127.0.0.1:1234/v1                                  (none)
 *   vllm        VLLM_BASE_URL         http://127.0.0.1:8000/v1                                  VLLM_API_KEY (optional)
 *   deepseek    DEEPSEEK_BASE_URL     https://api.deepseek.com/v1                               DEEPSEEK_API_KEY
 *   openrouter  OPENROUTER_BASE_URL   https://openrouter.ai/api/v1                              OPENROUTER_API_KEY
 *   gemini      GEMINI_BASE_URL       https://generativelanguage.googleapis.com/v1beta/openai/  GEMINI_API_KEY
 *   anthropic   ANTHROPIC_BASE_URL    https://api.anthropic.com                                 ANTHROPIC_API_KEY
 *
 * More come from CONCLAVE_PROVIDERS (validated in runtime/config):
 * `{"name": {"type": "openai"|"anthropic", "base_url": "...", "api_key_env": "VAR"}}`.
 *
 * A provider is `configured` when its key is set, when it needs none (local
 * servers, custom providers without `api_key_env`), or when its base URL is on
 * this machine (127.0.0.1, localhost, ::1), e.g. a test server or a proxy.
 * SDK clients are created on first use.
 */
import type { Config } from '../config/index.js';
import { createAnthropicProvider } from './anthropic.js';
import { createOpenAIProvider } from './openai.js';
import { type Provider, ProviderError } from './types.js';

export type ProviderType = 'openai' | 'anthropic';

export interface ProviderInfo {
  name: string;
  type: ProviderType;
  baseURL: string;
  /** The environment variable the key is read from, if any. */
  apiKeyEnv: string | undefined;
  hasKey: boolean;
  /** Usable as is: a key is set, or none is needed. */
  configured: boolean;
  builtIn: boolean;
}

interface BuiltIn {
  name: string;
  type: ProviderType;
  baseUrlVariable: keyof Config;
  defaultBaseURL: string;
  apiKeyEnv?: keyof Config;
  /** False for local servers that run without a key. */
  keyRequired: boolean;
}

const BUILT_INS: BuiltIn[] = [
  { name: 'openai', type: 'openai', baseUrlVariable: 'OPENAI_BASE_URL', defaultBaseURL: 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY', keyRequired: true },
  { name: 'ollama', type: 'openai', baseUrlVariable: 'OLLAMA_BASE_URL', defaultBaseURL: 'http://127.0.0.1:11434/v1', apiKeyEnv: 'OLLAMA_API_KEY', keyRequired: false },
  { name: 'lmstudio', type: 'openai', baseUrlVariable: 'LMSTUDIO_BASE_URL', defaultBaseURL: 'http://127.0.0.1:1234/v1', keyRequired: false },
  { name: 'vllm', type: 'openai', baseUrlVariable: 'VLLM_BASE_URL', defaultBaseURL: 'http://127.0.0.1:8000/v1', apiKeyEnv: 'VLLM_API_KEY', keyRequired: false },
  { name: 'deepseek', type: 'openai', baseUrlVariable: 'DEEPSEEK_BASE_URL', defaultBaseURL: 'https://api.deepseek.com/v1', apiKeyEnv: 'DEEPSEEK_API_KEY', keyRequired: true },
  { name: 'openrouter', type: 'openai', baseUrlVariable: 'OPENROUTER_BASE_URL', defaultBaseURL: 'https://openrouter.ai/api/v1', apiKeyEnv: 'OPENROUTER_API_KEY', keyRequired: true },
  { name: 'gemini', type: 'openai', baseUrlVariable: 'GEMINI_BASE_URL', defaultBaseURL: 'https://generativelanguage.googleapis.com/v1beta/openai/', apiKeyEnv: 'GEMINI_API_KEY', keyRequired: true },
  { name: 'anthropic', type: 'anthropic', baseUrlVariable: 'ANTHROPIC_BASE_URL', defaultBaseURL: 'https://api.anthropic.com', apiKeyEnv: 'ANTHROPIC_API_KEY', keyRequired: true },
];

export const BUILT_IN_PROVIDERS: readonly string[] = BUILT_INS.map((b) => b.name);

/** A malformed model id, or one naming a provider nobody configured. */
export class ModelIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelIdError';
  }
}

/**
 * Splits `provider:model` at the first colon (model names may contain more:
 * `ollama:llama3.2:3b`). Throws ModelIdError for a missing prefix or a
 * provider not in `knownProviders` (the built-ins unless given).
 */
export function parseModelId(modelId: string, knownProviders: Iterable<string> = BUILT_IN_PROVIDERS): { provider: string; model: string } {
  const colon = modelId.indexOf(':');
  const provider = colon > 0 ? modelId.slice(0, colon) : '';
  const model = colon > 0 ? modelId.slice(colon + 1) : '';
  const known = [...knownProviders];
  if (!provider || !model) {
    throw new ModelIdError(`model id "${modelId}" must be provider:model, for example openai:gpt-4.1 (providers: ${known.join(', ')})`);
  }
  if (!known.includes(provider)) {
    throw new ModelIdError(
      `unknown provider "${provider}" in model id "${modelId}"; known providers: ${known.join(', ')} (add others with CONCLAVE_PROVIDERS)`,
    );
  }
  return { provider, model };
}

function isLoopback(baseURL: string): boolean {
  const host = new URL(baseURL).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1';
}

export interface ProviderRegistry {
  /** Every provider, built-in then custom, configured or not. */
  list(): ProviderInfo[];
  info(name: string): ProviderInfo | undefined;
  /** The provider by name; throws ModelIdError when unknown, ProviderError (authentication) when not configured. */
  get(name: string): Provider;
  /** Parses a model id against this registry's providers (no configured check). */
  parse(modelId: string): { provider: string; model: string };
  /** The provider and bare model name for `provider:model`; throws like `parse` and `get`. */
  resolve(modelId: string): { provider: Provider; model: string };
}

export interface RegistryOptions {
  /** How long each call waits for a response to begin (the adapters default to 120 s). */
  timeoutMs?: number;
}

/**
 * Builds the registry from validated configuration. `env` is where custom
 * providers' `api_key_env` variables are read: pass `readEnvironment()` from
 * runtime/config so keys in `.env` count too.
 */
export function createProviderRegistry(
  config: Config,
  env: Record<string, string | undefined> = process.env,
  options: RegistryOptions = {},
): ProviderRegistry {
  const infos = new Map<string, ProviderInfo & { apiKey: string | undefined }>();

  for (const builtIn of BUILT_INS) {
    const baseURL = (config[builtIn.baseUrlVariable] as string | undefined) ?? builtIn.defaultBaseURL;
    const apiKey = builtIn.apiKeyEnv ? (config[builtIn.apiKeyEnv] as string | undefined) : undefined;
    infos.set(builtIn.name, {
      name: builtIn.name,
      type: builtIn.type,
      baseURL,
      apiKeyEnv: builtIn.apiKeyEnv,
      apiKey,
      hasKey: apiKey !== undefined,
      configured: apiKey !== undefined || !builtIn.keyRequired || isLoopback(baseURL),
      builtIn: true,
    });
  }

  for (const [name, custom] of Object.entries(config.CONCLAVE_PROVIDERS)) {
    if (infos.has(name)) {
      throw new Error(
        `CONCLAVE_PROVIDERS: "${name}" is a built-in provider; change it with its own variables (e.g. ${name.toUpperCase()}_BASE_URL) or pick another name`,
      );
    }
    const rawKey = custom.api_key_env ? env[custom.api_key_env]?.trim() : undefined;
    const apiKey = rawKey ? rawKey : undefined;
    infos.set(name, {
      name,
      type: custom.type,
      baseURL: custom.base_url,
      apiKeyEnv: custom.api_key_env,
      apiKey,
      hasKey: apiKey !== undefined,
      configured: apiKey !== undefined || custom.api_key_env === undefined || isLoopback(custom.base_url),
      builtIn: false,
    });
  }

  const providers = new Map<string, Provider>();

  const registry: ProviderRegistry = {
    list: () => [...infos.values()].map(({ apiKey: _key, ...info }) => info),

    info: (name) => {
      const found = infos.get(name);
      if (!found) return undefined;
      const { apiKey: _key, ...info } = found;
      return info;
    },

    get(name) {
      const info = infos.get(name);
      if (!info) {
        throw new ModelIdError(`unknown provider "${name}"; known providers: ${[...infos.keys()].join(', ')}`);
      }
      if (!info.configured) {
        throw new ProviderError('authentication', `provider ${name} is not configured: set ${info.apiKeyEnv ?? 'its API key'}`, {
          provider: name,
        });
      }
      let provider = providers.get(name);
      if (!provider) {
        const settings = {
          name,
          baseURL: info.baseURL,
          ...(info.apiKey !== undefined ? { apiKey: info.apiKey } : {}),
          ...(info.apiKeyEnv !== undefined ? { apiKeyEnv: info.apiKeyEnv } : {}),
          ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        };
        provider = info.type === 'anthropic' ? createAnthropicProvider(settings) : createOpenAIProvider(settings);
        providers.set(name, provider);
      }
      return provider;
    },

    parse: (modelId) => parseModelId(modelId, infos.keys()),

    resolve(modelId) {
      const { provider, model } = registry.parse(modelId);
      return { provider: registry.get(provider), model };
    },
  };
  return registry;
}
