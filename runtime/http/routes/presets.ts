/** /api/presets: stored agent definitions. Anyone signed in reads; administrators write. */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  listOf,
  presetCreateSchema,
  presetPatchSchema,
  presetSchema,
  slugSchema,
} from '../../../shared/protocol/api.js';
import type { ModelSpec, ToolSpec } from '../../store/schema.js';
import type { AppContext } from '../context.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { idParams, route, type AnyRoute } from '../route.js';
import { presetBody } from '../serialize.js';
import { isUniqueViolation } from '../../store/errors.js';

type PresetInput = z.output<typeof presetPatchSchema>;

/** `"openai:gpt-4.1"` → `{name, fallbacks: [], settings: {}}`. */
function modelSpec(model: NonNullable<PresetInput['model']>): ModelSpec {
  return typeof model === 'string' ? { name: model, fallbacks: [], settings: {} } : model;
}

/** A bare tool name means a built-in tool. */
function toolSpecs(tools: NonNullable<PresetInput['tools']>): ToolSpec[] {
  return tools.map((t) => (typeof t === 'string' ? { type: 'builtin', name: t } : t));
}

function presetColumns(input: PresetInput) {
  return {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.model !== undefined && { model: modelSpec(input.model) }),
    ...(input.system_prompt !== undefined && { systemPrompt: input.system_prompt }),
    ...(input.tools !== undefined && { tools: toolSpecs(input.tools) }),
    ...(input.mcp_servers !== undefined && { mcpServers: input.mcp_servers }),
    ...(input.subagents !== undefined && { subagents: input.subagents }),
    ...(input.persona !== undefined && { persona: input.persona }),
    ...(input.workspace_id !== undefined && { workspaceId: input.workspace_id }),
    ...(input.is_default !== undefined && { isDefault: input.is_default }),
  };
}

export function presetRoutes(ctx: AppContext): AnyRoute[] {
  const { presets, workspaces } = ctx.repos;

  async function checkReferences(input: PresetInput): Promise<void> {
    if (input.workspace_id && !(await workspaces.get(input.workspace_id))) {
      throw unprocessable('unknown_workspace', `body.workspace_id: workspace '${input.workspace_id}' does not exist`);
    }
  }

  return [
    route({
      method: 'get',
      path: '/api/presets',
      tag: 'presets',
      summary: 'List presets',
      access: 'user',
      responses: { 200: listOf(presetSchema, 'PresetList') },
      handler: async () => ({ body: { items: (await presets.list()).map(presetBody), next_cursor: null } }),
    }),
    route({
      method: 'post',
      path: '/api/presets',
      tag: 'presets',
      summary: 'Create a preset',
      access: 'admin',
      body: presetCreateSchema,
      responses: { 201: presetSchema, 409: null, 422: null },
      handler: async ({ body }) => {
        await checkReferences(body);
        try {
          const row = await presets.create({ id: body.id ?? randomUUID(), ...presetColumns(body), name: body.name, model: modelSpec(body.model) });
          return { status: 201, body: presetBody(row) };
        } catch (error) {
          if (isUniqueViolation(error)) throw conflict('already_exists', `a preset with id '${body.id}' already exists`);
          throw error;
        }
      },
    }),
    route({
      method: 'get',
      path: '/api/presets/:id',
      tag: 'presets',
      summary: 'Get a preset',
      access: 'user',
      params: idParams(slugSchema),
      responses: { 200: presetSchema, 404: null },
      handler: async ({ params }) => {
        const row = await presets.get(params.id);
        if (!row) throw notFound('preset', params.id);
        return { body: presetBody(row) };
      },
    }),
    route({
      method: 'patch',
      path: '/api/presets/:id',
      tag: 'presets',
      summary: 'Change a preset (only the fields sent)',
      access: 'admin',
      params: idParams(slugSchema),
      body: presetPatchSchema,
      responses: { 200: presetSchema, 404: null, 422: null },
      handler: async ({ params, body }) => {
        await checkReferences(body);
        const row = await presets.update(params.id, presetColumns(body));
        if (!row) throw notFound('preset', params.id);
        return { body: presetBody(row) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/presets/:id',
      tag: 'presets',
      summary: 'Delete a preset',
      access: 'admin',
      params: idParams(slugSchema),
      responses: { 204: null, 404: null },
      handler: async ({ params }) => {
        if (!(await presets.remove(params.id))) throw notFound('preset', params.id);
        return { status: 204 };
      },
    }),
  ];
}
