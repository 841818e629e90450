/** What a server response got wrong, as the client reports it. */
export type ProtocolViolationCode =
  /** A response body breaks its schema or a rule of the protocol. */
  | "invalid_response"
  /** Capabilities advertise a protocol version other than "v1". */
  | "protocol_version_mismatch"
  /** Capabilities limits fail the client-side snapshot checks (§4). */
  | "invalid_capabilities"
  /** A canonical_request_hash or committed bundle identity disagrees with the prepared outbox. */
  | "source_sequence_mismatch"
  /** A snapshot session body is invalid (KMP `invalid_session`). */
  | "invalid_snapshot_session"
  /** A snapshot chunk body is invalid as a whole (KMP `invalid_chunk`). */
  | "invalid_snapshot_chunk"
  /** A snapshot chunk row is invalid (KMP `invalid_row`). */
  | "invalid_snapshot_row"
  /** A bundle-change watch event cannot be decoded. */
  | "invalid_watch_event";

/**
 * Thrown by the response decoders when a server answer breaks the protocol. The message names the
 * field path (`bundles[0].rows[1].key`) and the rule.
 */
export class ProtocolViolationError extends Error {
  override readonly name = "ProtocolViolationError";
  readonly code: ProtocolViolationCode;
  /** The field path the violation was found at, when there is one. */
  readonly path: string | undefined;

  constructor(code: ProtocolViolationCode, message: string, options?: { path?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options?.path;
  }
}
