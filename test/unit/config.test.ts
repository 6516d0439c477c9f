/** Configuration: defaults, .env reading, and errors that name the variable. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configSchema, loadConfig } from '../../runtime/config/index.js';

const emptyDir = () => mkdtempSync(join(tmpdir(), 'conclave-config-'));

describe('configuration', () => {
  it('defaults to the embedded setup on 127.0.0.1:8700', () => {
    const config = loadConfig({}, emptyDir());
    expect(config.CONCLAVE_HOST).toBe('127.0.0.1');
    expect(config.CONCLAVE_PORT).toBe(8700);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.CONCLAVE_BODY_LIMIT).toBe(1024 * 1024);
    expect(config.CONCLAVE_EVENT_RETENTION_SECONDS).toBe(3600);
  });

  it('reads .env, and the environment wins over it', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, '.env'), 'CONCLAVE_PORT=9100\nOPENAI_BASE_URL=http://127.0.0.1:1234/v1\n');
    expect(loadConfig({}, dir).CONCLAVE_PORT).toBe(9100);
    expect(loadConfig({}, dir).OPENAI_BASE_URL).toBe('http://127.0.0.1:1234/v1');
    expect(loadConfig({ CONCLAVE_PORT: '9200' }, dir).CONCLAVE_PORT).toBe(9200);
  });

  it.each([
    ['CONCLAVE_PORT', 'eighty', 'CONCLAVE_PORT'],
    ['CONCLAVE_PORT', '70000', 'CONCLAVE_PORT'],
    ['DATABASE_URL', 'mysql://x', 'DATABASE_URL'],
    ['REDIS_URL', 'not a url', 'REDIS_URL'],
    ['CONCLAVE_AUTH_TOKEN', 'short', 'CONCLAVE_AUTH_TOKEN'],
    ['CONCLAVE_BODY_LIMIT', 'huge', 'CONCLAVE_BODY_LIMIT'],
    ['CONCLAVE_LOG_LEVEL', 'loud', 'CONCLAVE_LOG_LEVEL'],
    ['CONCLAVE_WEB_UI', 'maybe', 'CONCLAVE_WEB_UI'],
  ])('rejects %s=%s naming the variable', (name, value, named) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value }, emptyDir());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(named);
  });

  it('documents every variable in .env.example', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    for (const name of Object.keys(configSchema.shape)) {
      expect(example, name).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
    }
  });
});
