/**
 * Building blocks for scripting the fake sync server: replies (JSON, protocol errors, no content,
 * event streams) and handler combinators (a sequence of answers, failing the first N or the Nth
 * call).
 */
import { ERROR_STATUS, type ErrorCode, type OversyncErrorExtras } from "@oversync/protocol";
import type { FakeHandler, FakeReply, FakeStream } from "./fake-sync-server.js";

/** A JSON reply. */
export function jsonReply(json: unknown, status = 200, headers?: Record<string, string>): FakeReply {
  return { status, json, ...(headers ? { headers } : {}) };
}

/** A protocol error reply: `{error, message, ...extras}` with the code's own status. */
export function errorReply(
  code: ErrorCode,
  message: string,
  extras?: OversyncErrorExtras,
  headers?: Record<string, string>,
): FakeReply {
  return jsonReply({ error: code, message, ...extras }, ERROR_STATUS[code], headers);
}

/** A reply with any status and body, e.g. `{"error":"temporary"}` with 500 as the fixtures use. */
export function statusReply(status: number, body: unknown, headers?: Record<string, string>): FakeReply {
  return jsonReply(body, status, headers);
}

/** 204 without a body. */
export function noContentReply(): FakeReply {
  return { status: 204 };
}

/** An event stream that writes `lines` (each + "\n") and then ends, or stays open with `hold`. */
export function sseLinesReply(lines: readonly string[], options?: { hold?: boolean }): FakeReply {
  return {
    status: 200,
    stream: (stream) => {
      stream.writeLines(lines);
      if (!options?.hold) stream.end();
    },
  };
}

/** An event stream held open until the client closes it; `onOpen` can keep the stream to write to. */
export function holdOpenReply(onOpen?: (stream: FakeStream) => void): FakeReply {
  return { status: 200, stream: (stream) => onOpen?.(stream) };
}

type Step = FakeReply | FakeHandler;

function run(step: Step, ...args: Parameters<FakeHandler>): FakeReply | Promise<FakeReply> {
  return typeof step === "function" ? step(...args) : step;
}

/** Answers call i with steps[i]; once the steps run out, the last one answers every later call. */
export function sequence(...steps: Step[]): FakeHandler {
  if (steps.length === 0) throw new Error("sequence needs at least one step");
  let calls = 0;
  return (request, params) => run(steps[Math.min(calls++, steps.length - 1)]!, request, params);
}

/** Answers the first `count` calls with `failure`, then delegates to `then`. */
export function failFirst(count: number, failure: Step, then: FakeHandler): FakeHandler {
  let calls = 0;
  return (request, params) => (calls++ < count ? run(failure, request, params) : then(request, params));
}

/** Answers call number `n` (1-based) with `failure`; every other call goes to `then`. */
export function failNth(n: number, failure: Step, then: FakeHandler): FakeHandler {
  let calls = 0;
  return (request, params) => (++calls === n ? run(failure, request, params) : then(request, params));
}
