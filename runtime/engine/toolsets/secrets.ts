/**
 * Secret references in tool configuration: a value such as
 * `Bearer ${env:WEATHER_TOKEN}` names an environment variable instead of
 * holding the secret, so presets can be stored and shown without it.
 *
 * `resolveSecrets` substitutes the variables' values. A variable that is not
 * set (or is empty) is an error that names the variable; no error message and
 * nothing in this module ever contains a resolved value.
 */

/** `${env:NAME}`; the name is checked separately so a malformed one gets a clear error. */
const REFERENCE = /\$\{env:([^}]*)\}/g;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A secret reference that cannot be resolved; the message names the variable, never a value. */
export class SecretError extends Error {
  constructor(
    message: string,
    /** The variable concerned. */
    readonly variable: string,
  ) {
    super(message);
    this.name = 'SecretError';
  }
}

/** The variable names a value references, in order of appearance, without duplicates. */
export function secretReferences(value: string): string[] {
  const names: string[] = [];
  for (const match of value.matchAll(REFERENCE)) {
    const name = match[1] ?? '';
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * Replaces every `${env:NAME}` in `value` with the variable's value from `env`.
 * Throws a SecretError for a malformed name or a variable that is not set.
 */
export function resolveSecrets(value: string, env: Record<string, string | undefined>): string {
  for (const name of secretReferences(value)) {
    if (!VARIABLE_NAME.test(name)) {
      throw new SecretError(
        `malformed secret reference \${env:${name}}: a variable name is letters, digits and _ and does not start with a digit`,
        name,
      );
    }
    const resolved = env[name];
    if (resolved === undefined || resolved === '') {
      throw new SecretError(`environment variable ${name} is not set (referenced as \${env:${name}})`, name);
    }
  }
  return value.replace(REFERENCE, (_match, name: string) => env[name] ?? '');
}

/** Resolves every value of a header map; the first problem throws (see resolveSecrets). */
export function resolveSecretHeaders(
  headers: Record<string, string>,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const resolved: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    try {
      resolved[name] = resolveSecrets(value, env);
    } catch (error) {
      if (error instanceof SecretError) {
        throw new SecretError(`header ${name}: ${error.message}`, error.variable);
      }
      throw error;
    }
  }
  return resolved;
}

/** The resolved secret values a header map contains, to redact them from anything shown. */
export function secretValues(headers: Record<string, string>, env: Record<string, string | undefined>): string[] {
  const values = new Set<string>();
  for (const value of Object.values(headers)) {
    for (const name of secretReferences(value)) {
      const resolved = env[name];
      if (resolved) values.add(resolved);
    }
  }
  return [...values];
}
