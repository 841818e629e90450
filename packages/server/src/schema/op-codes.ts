/**
 * Row operation codes: how the runtime's tables (`bundle_capture_stage`, `bundle_rows`,
 * `push_session_rows`) store INSERT, UPDATE and DELETE. The codes are part of the stored layout
 * (its CHECKs in sync-layout.ts spell them out), so changing one means a new layout label.
 */

/** A wire operation name to its stored code. */
export const OP_CODES = { INSERT: 1, UPDATE: 2, DELETE: 3 } as const;

/** A stored operation code back to its wire name. */
export const OP_NAMES = { 1: "INSERT", 2: "UPDATE", 3: "DELETE" } as const;

/** A stored operation code. */
export type OpCode = (typeof OP_CODES)[keyof typeof OP_CODES];
