/**
 * The sync protocol called directly over HTTP, without a SQLite client: how the scenarios seed and
 * grow databases through the server quickly, and time one endpoint at a time. Paths come from the
 * protocol's endpoint table; answers are checked with its decoders where the bench relies on them.
 */
import {
  ENDPOINTS,
  type PushRow,
  canonicalRequestHash,
  decodePullResponse,
  decodePushCommitResponse,
  decodePushCreateResponse,
} from "@oversync/protocol";

/** One source of one user, speaking to the server at `origin`. */
export class WireClient {
  #nextBundleId = 1;

  constructor(
    readonly origin: string,
    readonly token: string,
    readonly sourceId: string,
  ) {}

  /** Sends one request; returns the parsed JSON answer (undefined when empty). Throws on non-2xx. */
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.origin}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        "oversync-source-id": this.sourceId,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
    return text === "" ? undefined : JSON.parse(text);
  }

  /** Connects with no local rows, which initializes an empty scope. */
  async connect(): Promise<void> {
    await this.call(ENDPOINTS.connect.method, ENDPOINTS.connect.path, { has_local_pending_rows: false });
  }

  /** Pushes `rows` as one bundle in chunks of `chunkRows`; resolves to its bundle_seq. */
  async push(rows: readonly PushRow[], chunkRows = 1000): Promise<number> {
    const request = {
      source_bundle_id: this.#nextBundleId++,
      planned_row_count: rows.length,
      canonical_request_hash: canonicalRequestHash([...rows]),
    };
    const created = decodePushCreateResponse(
      await this.call(ENDPOINTS.pushCreate.method, ENDPOINTS.pushCreate.path, request),
      request,
      this.sourceId,
    );
    if (created.status !== "staging") throw new Error(`push session answered ${created.status}`);
    const at = (path: string) => path.replace(":push_id", encodeURIComponent(created.push_id));
    for (let start = 0; start < rows.length; start += chunkRows) {
      await this.call(ENDPOINTS.pushChunk.method, at(ENDPOINTS.pushChunk.path), {
        start_row_ordinal: start,
        rows: rows.slice(start, start + chunkRows),
      });
    }
    const committed = decodePushCommitResponse(
      await this.call(ENDPOINTS.pushCommit.method, at(ENDPOINTS.pushCommit.path)),
      { sourceId: this.sourceId, sourceBundleId: request.source_bundle_id },
    );
    return committed.bundle_seq;
  }

  /** One pull page after `afterBundleSeq`; resolves to the number of rows it carried. */
  async pull(afterBundleSeq: number): Promise<number> {
    const page = decodePullResponse(
      await this.call(ENDPOINTS.pull.method, `${ENDPOINTS.pull.path}?after_bundle_seq=${afterBundleSeq}`),
      { afterBundleSeq },
    );
    return page.bundles.reduce((sum, bundle) => sum + bundle.rows.length, 0);
  }

  /** A whole snapshot (create, every chunk, delete); resolves to its row count. */
  async snapshot(): Promise<number> {
    const session = (await this.call(ENDPOINTS.snapshotCreate.method, ENDPOINTS.snapshotCreate.path, {})) as {
      snapshot_id: string;
    };
    const path = ENDPOINTS.snapshotChunk.path.replace(
      ":snapshot_id",
      encodeURIComponent(session.snapshot_id),
    );
    let after = 0;
    for (;;) {
      const chunk = (await this.call("GET", `${path}?after_row_ordinal=${after}`)) as {
        next_row_ordinal: number;
        has_more: boolean;
      };
      after = chunk.next_row_ordinal;
      if (!chunk.has_more) break;
    }
    await this.call(ENDPOINTS.snapshotDelete.method, path);
    return after;
  }
}

/** GETs an unauthenticated path and reads the whole answer; throws unless it is 200. */
export async function getPublic(origin: string, path: string): Promise<void> {
  const response = await fetch(`${origin}${path}`);
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}`);
}
