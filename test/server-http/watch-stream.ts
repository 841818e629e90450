/** `GET /sync/watch` streams over real HTTP, read with the clients' own SSE parser. */
import { type BundleChangeEvent, BundleChangeSseParser } from "@oversync/protocol";
import { expect } from "vitest";
import { LIVENESS_MS } from "../server/watch-support.js";
import { syncHeaders } from "./http-support.js";

/** An open watch response read the way clients read it. */
export class WatchStream {
  readonly events: BundleChangeEvent[] = [];
  raw = "";
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #parser = new BundleChangeSseParser();
  readonly #decoder = new TextDecoder();

  constructor(
    readonly response: Response,
    readonly controller: AbortController,
  ) {
    this.#reader = response.body!.getReader();
  }

  /** Reads until `done()` holds; fails when the stream ends or LIVENESS_MS passes first. */
  async readUntil(done: () => boolean): Promise<void> {
    const deadline = Date.now() + LIVENESS_MS;
    while (!done()) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`watch stream stalled; read so far: ${this.raw}`)),
          deadline - Date.now(),
        );
      });
      const chunk = await Promise.race([this.#reader.read(), timeout]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error(`watch stream ended; read so far: ${this.raw}`);
      const text = this.#decoder.decode(chunk.value, { stream: true });
      this.raw += text;
      this.events.push(...this.#parser.acceptText(text));
    }
  }

  /** The next event not yet taken. */
  async nextEvent(): Promise<BundleChangeEvent> {
    const index = this.#taken;
    await this.readUntil(() => this.events.length > index);
    this.#taken++;
    return this.events[index]!;
  }
  #taken = 0;

  /** Resolves when the server ends the stream. */
  async ended(): Promise<void> {
    for (;;) {
      const chunk = await this.#reader.read();
      if (chunk.done) return;
      this.raw += this.#decoder.decode(chunk.value, { stream: true });
    }
  }
}

/** Opens `/sync/watch` below `base` (an origin plus any base path). */
export async function openWatch(
  base: string,
  userId: string,
  sourceId: string,
  after: number,
): Promise<WatchStream> {
  const controller = new AbortController();
  const response = await fetch(`${base}/sync/watch?after_bundle_seq=${after}`, {
    headers: syncHeaders(userId, sourceId),
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  return new WatchStream(response, controller);
}
