/**
 * A small JSON Schema checker for tool arguments. It enforces the subset that
 * tool parameter schemas use in practice:
 *
 *   type (a name or a list; `integer` included), properties, required,
 *   additionalProperties (boolean or schema), items (one schema), enum, const,
 *   minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers),
 *   minLength, maxLength, pattern, minItems, maxItems, allOf, anyOf, oneOf,
 *   and the boolean schemas `true` / `false`.
 *
 * Other keywords ($ref, format, dependencies, ...) are not enforced: the
 * checker is permissive about what it does not know, and the remote service
 * stays the final judge. Problems come back as short sentences naming the
 * argument (`city is required`, `tags[1] must be a string`) so a model can fix
 * its call.
 */

type Schema = Record<string, unknown> | boolean;

/** Checks `value` against `schema`; returns the problems found, none when valid. */
export function validateJsonSchema(schema: unknown, value: unknown): string[] {
  const problems: string[] = [];
  check(asSchema(schema), value, '', problems);
  return problems;
}

function asSchema(schema: unknown): Schema {
  if (typeof schema === 'boolean') return schema;
  if (isObject(schema)) return schema;
  return true; // not a schema: nothing to enforce
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `city`, `filter.tag`, `tags[0]`; the root is "the arguments". */
function label(where: string): string {
  return where === '' ? 'the arguments' : where;
}

function child(where: string, key: string): string {
  return where === '' ? key : `${where}.${key}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && Number.isInteger(value)) return 'integer';
  return typeof value;
}

function matchesType(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isObject(value);
    default:
      return true; // an unknown type name is not enforced
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function numberKeyword(schema: Record<string, unknown>, key: string): number | undefined {
  const value = schema[key];
  return typeof value === 'number' ? value : undefined;
}

function check(schema: Schema, value: unknown, where: string, problems: string[]): void {
  if (schema === true) return;
  if (schema === false) {
    problems.push(`${label(where)} is not allowed`);
    return;
  }

  // type: stop here on a mismatch, the other keywords would only add noise
  const type = schema.type;
  const types = typeof type === 'string' ? [type] : Array.isArray(type) ? type.filter((t): t is string => typeof t === 'string') : [];
  if (types.length > 0 && !types.some((t) => matchesType(t, value))) {
    const expected = types.map(article).join(' or ');
    problems.push(`${label(where)} must be ${expected} (got ${typeName(value)})`);
    return;
  }

  if (Array.isArray(schema.enum) && !schema.enum.some((allowed) => deepEqual(allowed, value))) {
    problems.push(`${label(where)} must be one of ${schema.enum.map(show).join(', ')} (got ${show(value)})`);
  }
  if ('const' in schema && !deepEqual(schema.const, value)) {
    problems.push(`${label(where)} must be ${show(schema.const)}`);
  }

  if (typeof value === 'number') checkNumber(schema, value, where, problems);
  if (typeof value === 'string') checkString(schema, value, where, problems);
  if (Array.isArray(value)) checkArray(schema, value, where, problems);
  if (isObject(value)) checkObject(schema, value, where, problems);
  checkCombinators(schema, value, where, problems);
}

function checkNumber(schema: Record<string, unknown>, value: number, where: string, problems: string[]): void {
  const minimum = numberKeyword(schema, 'minimum');
  const maximum = numberKeyword(schema, 'maximum');
  const exclusiveMinimum = numberKeyword(schema, 'exclusiveMinimum');
  const exclusiveMaximum = numberKeyword(schema, 'exclusiveMaximum');
  if (minimum !== undefined && value < minimum) problems.push(`${label(where)} must be at least ${minimum}`);
  if (maximum !== undefined && value > maximum) problems.push(`${label(where)} must be at most ${maximum}`);
  if (exclusiveMinimum !== undefined && value <= exclusiveMinimum) {
    problems.push(`${label(where)} must be greater than ${exclusiveMinimum}`);
  }
  if (exclusiveMaximum !== undefined && value >= exclusiveMaximum) {
    problems.push(`${label(where)} must be less than ${exclusiveMaximum}`);
  }
}

function checkString(schema: Record<string, unknown>, value: string, where: string, problems: string[]): void {
  const length = [...value].length;
  const minLength = numberKeyword(schema, 'minLength');
  const maxLength = numberKeyword(schema, 'maxLength');
  if (minLength !== undefined && length < minLength) {
    problems.push(`${label(where)} must be at least ${minLength} characters long`);
  }
  if (maxLength !== undefined && length > maxLength) {
    problems.push(`${label(where)} must be at most ${maxLength} characters long`);
  }
  if (typeof schema.pattern === 'string') {
    let pattern: RegExp | null = null;
    try {
      pattern = new RegExp(schema.pattern, 'u');
    } catch {
      pattern = null; // a broken pattern in the schema is not the caller's fault
    }
    if (pattern && !pattern.test(value)) problems.push(`${label(where)} must match the pattern ${schema.pattern}`);
  }
}

function checkArray(schema: Record<string, unknown>, value: unknown[], where: string, problems: string[]): void {
  const minItems = numberKeyword(schema, 'minItems');
  const maxItems = numberKeyword(schema, 'maxItems');
  if (minItems !== undefined && value.length < minItems) problems.push(`${label(where)} must have at least ${minItems} items`);
  if (maxItems !== undefined && value.length > maxItems) problems.push(`${label(where)} must have at most ${maxItems} items`);
  const items = schema.items;
  if (typeof items === 'boolean' || isObject(items)) {
    value.forEach((item, index) => check(items, item, `${where}[${index}]`, problems));
  }
}

function checkObject(
  schema: Record<string, unknown>,
  value: Record<string, unknown>,
  where: string,
  problems: string[],
): void {
  const properties = isObject(schema.properties) ? schema.properties : {};
  if (Array.isArray(schema.required)) {
    for (const name of schema.required) {
      if (typeof name === 'string' && value[name] === undefined) problems.push(`${child(where, name)} is required`);
    }
  }
  const additional = schema.additionalProperties;
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (Object.hasOwn(properties, key)) {
      check(asSchema(properties[key]), item, child(where, key), problems);
    } else if (additional === false) {
      const known = Object.keys(properties);
      const allowed = known.length > 0 ? ` (allowed: ${known.join(', ')})` : '';
      problems.push(`${child(where, key)} is not an allowed argument${allowed}`);
    } else if (isObject(additional)) {
      check(additional, item, child(where, key), problems);
    }
  }
}

function checkCombinators(schema: Record<string, unknown>, value: unknown, where: string, problems: string[]): void {
  if (Array.isArray(schema.allOf)) {
    for (const part of schema.allOf) check(asSchema(part), value, where, problems);
  }
  const branchesPassing = (branches: unknown[]): number =>
    branches.filter((branch) => validateAt(asSchema(branch), value, where).length === 0).length;
  if (Array.isArray(schema.anyOf) && schema.anyOf.length > 0 && branchesPassing(schema.anyOf) === 0) {
    problems.push(`${label(where)} does not match any of the allowed forms`);
  }
  if (Array.isArray(schema.oneOf) && schema.oneOf.length > 0) {
    const passing = branchesPassing(schema.oneOf);
    if (passing === 0) problems.push(`${label(where)} does not match any of the allowed forms`);
    else if (passing > 1) problems.push(`${label(where)} matches more than one of the allowed forms`);
  }
}

function validateAt(schema: Schema, value: unknown, where: string): string[] {
  const problems: string[] = [];
  check(schema, value, where, problems);
  return problems;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, index) => deepEqual(item, b[index]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
  }
  return false;
}
