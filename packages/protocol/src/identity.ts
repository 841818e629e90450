/**
 * The rules for the identities every sync call carries: the user id (the subject the host's
 * authentication yields, also named by sign-in and the test helpers), the scope id (whose rows the
 * call reads and writes: the user's own scope, whose id is the user id, unless the host resolves a
 * shared one) and the source id (the `Oversync-Source-ID` header, or an id a request body names).
 * The server checks them where they enter, the client before it binds a database to a user, so an
 * id PostgreSQL would rewrite or refuse never reaches it: node-postgres encodes a lone surrogate as
 * U+FFFD (two ids would share one scope), PostgreSQL text cannot hold U+0000, and a B-tree index
 * entry must fit in a third of a page (2704 bytes after compression).
 */
import { findLoneSurrogate, utf8ByteLength } from "./canonical-json.js";
import { isValidSourceId } from "./capabilities.js";

/**
 * The longest user, scope or source id accepted, in UTF-8 bytes. Ids are indexed in PostgreSQL (alone
 * and inside composite keys, and as `_sync_scope_id` in every business primary key), so this stays
 * far below the 2704-byte B-tree entry limit whatever else the key holds, and far above real ids
 * (a UUID is 36 bytes, an e-mail address at most 254).
 */
export const MAX_IDENTITY_BYTES = 512;

/**
 * Why `value` cannot be a user id, or undefined when it can: a non-empty string of well-formed
 * UTF-16 (no lone surrogate), without U+0000, at most MAX_IDENTITY_BYTES in UTF-8. The reason reads
 * after the id's name: "user id must not contain U+0000".
 */
export function userIdProblem(value: unknown): string | undefined {
  if (typeof value !== "string" || value === "") return "must be a non-empty string";
  if (value.includes("\u0000")) return "must not contain U+0000 (NUL)";
  const lone = findLoneSurrogate(value);
  if (lone >= 0) {
    return `must be well-formed Unicode; it has a lone surrogate U+${value.charCodeAt(lone).toString(16).toUpperCase()} at index ${lone}`;
  }
  const bytes = utf8ByteLength(value);
  if (bytes > MAX_IDENTITY_BYTES) {
    return `is ${bytes} bytes in UTF-8, more than the ${MAX_IDENTITY_BYTES} allowed`;
  }
  return undefined;
}

/**
 * Why `value` cannot be a scope id, or undefined when it can: the user id rules (userIdProblem),
 * since a user's own scope is named by the user id and every scope id is stored where user ids are.
 * The reason reads after the id's name: "scope id must not contain U+0000".
 */
export function scopeIdProblem(value: unknown): string | undefined {
  return userIdProblem(value);
}

/**
 * Why `value` cannot be a source id this implementation accepts, or undefined when it can: the
 * wire rule (isValidSourceId: one or more characters 0x21–0x7E) and at most MAX_IDENTITY_BYTES.
 * Decoders of what a server sends keep the plain wire rule.
 */
export function sourceIdProblem(value: unknown): string | undefined {
  if (!isValidSourceId(value)) return "must be one or more visible ASCII characters (0x21-0x7E)";
  // Visible ASCII: one byte per character.
  if (value.length > MAX_IDENTITY_BYTES) {
    return `is ${value.length} bytes, more than the ${MAX_IDENTITY_BYTES} allowed`;
  }
  return undefined;
}
