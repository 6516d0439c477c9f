/** /api/workspaces: named sets of folders for file tools. Anyone signed in reads; administrators write. */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  listOf,
  pageQuerySchema,
  slugSchema,
  workspaceCreateSchema,
  workspacePatchSchema,
  workspaceSchema,
} from '../../../shared/protocol/api.js';
import { isUniqueViolation } from '../../store/errors.js';
import type { AppContext } from '../context.js';
import { conflict, notFound } from '../errors.js';
import { metadataFilter } from '../query.js';
import { idParams, route, type AnyRoute } from '../route.js';
import { workspaceBody } from '../serialize.js';

type WorkspaceInput = z.output<typeof workspacePatchSchema>;

function workspaceColumns(input: WorkspaceInput) {
  return {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.folders !== undefined && { folders: input.folders }),
    ...(input.metadata !== undefined && { metadata: input.metadata }),
  };
}

const listQuery = pageQuerySchema.extend({
  metadata: z.string().max(16_384).optional().describe('JSON object; workspaces whose metadata contains it'),
});

export function workspaceRoutes(ctx: AppContext): AnyRoute[] {
  const { workspaces } = ctx.repos;
  return [
    route({
      method: 'get',
      path: '/api/workspaces',
      tag: 'workspaces',
      summary: 'List workspaces',
      access: 'user',
      query: listQuery,
      responses: { 200: listOf(workspaceSchema, 'WorkspaceList') },
      handler: async ({ query }) => {
        const page = await workspaces.list({ ...query, metadata: metadataFilter(query.metadata) });
        return { body: { items: page.items.map(workspaceBody), next_cursor: page.nextCursor } };
      },
    }),
    route({
      method: 'post',
      path: '/api/workspaces',
      tag: 'workspaces',
      summary: 'Create a workspace',
      access: 'admin',
      body: workspaceCreateSchema,
      responses: { 201: workspaceSchema, 409: null },
      handler: async ({ body }) => {
        try {
          const row = await workspaces.create({ id: body.id ?? randomUUID(), ...workspaceColumns(body), name: body.name });
          return { status: 201, body: workspaceBody(row) };
        } catch (error) {
          if (isUniqueViolation(error)) throw conflict('already_exists', `a workspace with id '${body.id}' already exists`);
          throw error;
        }
      },
    }),
    route({
      method: 'get',
      path: '/api/workspaces/:id',
      tag: 'workspaces',
      summary: 'Get a workspace',
      access: 'user',
      params: idParams(slugSchema),
      responses: { 200: workspaceSchema, 404: null },
      handler: async ({ params }) => {
        const row = await workspaces.get(params.id);
        if (!row) throw notFound('workspace', params.id);
        return { body: workspaceBody(row) };
      },
    }),
    route({
      method: 'patch',
      path: '/api/workspaces/:id',
      tag: 'workspaces',
      summary: 'Change a workspace (only the fields sent)',
      access: 'admin',
      params: idParams(slugSchema),
      body: workspacePatchSchema,
      responses: { 200: workspaceSchema, 404: null },
      handler: async ({ params, body }) => {
        const row = await workspaces.update(params.id, workspaceColumns(body));
        if (!row) throw notFound('workspace', params.id);
        return { body: workspaceBody(row) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/workspaces/:id',
      tag: 'workspaces',
      summary: 'Delete a workspace (its folders stay on disk)',
      access: 'admin',
      params: idParams(slugSchema),
      responses: { 204: null, 404: null },
      handler: async ({ params }) => {
        if (!(await workspaces.remove(params.id))) throw notFound('workspace', params.id);
        return { status: 204 };
      },
    }),
  ];
}
