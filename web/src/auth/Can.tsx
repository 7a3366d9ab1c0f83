import type { ReactNode } from 'react';
import { allowed, type Action } from './rbac';
import { useAuth } from './AuthContext';

export function useCan(action: Action): boolean {
  return allowed(useAuth().me?.role, action);
}

/** Renders its children only when the user's role may do `action`. `fallback`
 * (e.g. a disabled button with a reason) is rendered otherwise. */
export function Can({ action, children, fallback = null }: { action: Action; children: ReactNode; fallback?: ReactNode }) {
  return <>{useCan(action) ? children : fallback}</>;
}
