/**
 * Workspaces of the reference server: data several users sync, each workspace one scope. A
 * workspace's sync routes live under `/w/<workspace>` (clients use `<server>/w/<workspace>` as their
 * base URL, so the wire is unchanged), its scope id is `workspace:<workspace>`, and a user is a
 * member when their token's `workspaces` claim names it (`POST /dummy-signin` with `workspaces`).
 * User ids may not start with `workspace:`, so no user's own scope can be a workspace's.
 */
import { WORKSPACE_ID_PATTERN } from "@oversync/protocol";

/** The base path of a workspace's routes; `:workspace` is its id (WORKSPACE_ID_PATTERN). */
export const WORKSPACE_BASE_PATH = "/w/:workspace";

/** What every workspace scope id starts with, and no user id may. */
export const WORKSPACE_SCOPE_PREFIX = "workspace:";

/** The scope id of workspace `workspace`. */
export function workspaceScopeId(workspace: string): string {
  return `${WORKSPACE_SCOPE_PREFIX}${workspace}`;
}

/** True for an id in the workspaces' scope namespace, which no user id may take. */
export function isWorkspaceScopeId(id: string): boolean {
  return id.startsWith(WORKSPACE_SCOPE_PREFIX);
}

/** True when `pathname` is below the workspace routes' prefix, `/w/`. */
export function isWorkspacePath(pathname: string): boolean {
  return pathname.startsWith("/w/");
}

/** True for a workspace id the routes and sign-in accept. */
export function isWorkspaceId(value: string): boolean {
  return WORKSPACE_ID_PATTERN.test(value);
}
