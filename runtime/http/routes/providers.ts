/** GET /api/providers: the model providers this runtime knows, and whether each answers. */
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { route, type AnyRoute } from '../route.js';

const providerSchema = z
  .object({
    name: z.string(),
    type: z.enum(['openai', 'anthropic']),
    base_url: z.string(),
    built_in: z.boolean(),
    configured: z.boolean().describe('a key is set, or none is needed'),
    reachable: z.boolean().nullable().describe('null when not configured (not checked)'),
    detail: z.string().optional(),
  })
  .meta({ id: 'Provider' });

export function providerRoutes(ctx: AppContext): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/providers',
      tag: 'system',
      summary: 'Configured model providers and whether each answers (checked with a 3 s timeout)',
      access: 'user',
      responses: { 200: z.object({ items: z.array(providerSchema) }) },
      handler: async () => {
        const items = await Promise.all(
          ctx.providers.list().map(async (info) => {
            const base = { name: info.name, type: info.type, base_url: info.baseURL, built_in: info.builtIn, configured: info.configured };
            if (!info.configured) return { ...base, reachable: null };
            const check = await ctx.providers.get(info.name).check(AbortSignal.timeout(3000));
            return { ...base, reachable: check.ok, ...(check.detail && { detail: check.detail }) };
          }),
        );
        return { body: { items } };
      },
    }),
  ];
}
