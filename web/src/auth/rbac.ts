// The UI's copy of the least role per action (src/core/we-rbac.c, spec
// §19.5). The server decides; this only hides or disables what would be
// refused with 403 anyway. Keep in step with tests/rbac-matrix.json.

import type { Role } from '../api/types';

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export const ACTIONS = {
  'job.read': 'viewer',
  'job.create': 'operator',
  'job.update': 'operator',
  'job.delete': 'operator',
  'job.cancel': 'operator',
  'job.retry': 'operator',
  'job.debug': 'operator',
  'file.read': 'viewer',
  'file.upload': 'operator',
  'profile.read': 'viewer',
  'profile.create': 'admin',
  'profile.update': 'admin',
  'profile.delete': 'admin',
  'worker.read': 'viewer',
  'worker.drain': 'admin',
  'worker.delete': 'admin',
  'user.read': 'admin',
  'token.read': 'admin',
  'audit.read': 'admin',
  'token.create': 'admin',
  'token.revoke': 'admin',
  'webhook.read': 'admin',
  'webhook.create': 'admin',
  'webhook.update': 'admin',
  'webhook.delete': 'admin',
  'webhook.deliver': 'admin',
  'plugin.read': 'admin',
  'plugin.update': 'admin',
  'plugin.test': 'admin',
  'error.read': 'admin',
  'error.update': 'admin',
  'stream.read': 'viewer',
  'stream.create': 'operator',
  'stream.update': 'operator',
  'stream.delete': 'operator',
  'stream.rotate': 'operator',
  'stream.reveal': 'operator',
  'restream.read': 'viewer',
  'restream.create': 'operator',
  'restream.update': 'operator',
  'restream.delete': 'operator',
  'restream.start': 'operator',
  'restream.stop': 'operator',
} as const satisfies Record<string, Role>;

export type Action = keyof typeof ACTIONS;

export function allowed(role: Role | undefined, action: Action): boolean {
  if (!role || !(role in RANK)) return false;
  return RANK[role] >= RANK[ACTIONS[action]];
}
