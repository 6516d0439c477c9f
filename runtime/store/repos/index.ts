/** The repository layer: one object per table group, over either database. */
import type { Db } from '../database.js';
import { createBindingsRepo } from './bindings.js';
import { createConversationsRepo } from './conversations.js';
import { createIdempotencyRepo } from './idempotency.js';
import { createMailboxRepo } from './mailbox.js';
import { createPresetsRepo } from './presets.js';
import { createSessionsRepo } from './sessions.js';
import { createUsersRepo } from './users.js';
import { createWorkspacesRepo } from './workspaces.js';

export function createRepos(db: Db) {
  return {
    users: createUsersRepo(db),
    presets: createPresetsRepo(db),
    workspaces: createWorkspacesRepo(db),
    conversations: createConversationsRepo(db),
    sessions: createSessionsRepo(db),
    bindings: createBindingsRepo(db),
    mailbox: createMailboxRepo(db),
    idempotency: createIdempotencyRepo(db),
  };
}

export type Repos = ReturnType<typeof createRepos>;
