/**
 * One JSON log line per HTTP request, written when the response is finished or abandoned: method,
 * path (without the query string), status, duration in ms and, once known, the user id (and the
 * scope id when the request acts on a scope other than the user's own, a workspace's). A request
 * the client abandoned is marked `aborted` and logged at info level like any other (anyone can
 * abandon requests, so they must not fill the error log); it has a status only when one was sent
 * before the client left. Headers are never logged, so tokens never reach the log. The user id is learned deep inside the request
 * handling (authentication, sign-in); it is carried there through AsyncLocalStorage.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NodeListener } from "@oversync/server";
import type { JsonLogger } from "./json-log.js";

interface RequestRecord {
  userId?: string;
  scopeId?: string;
}

const currentRequest = new AsyncLocalStorage<RequestRecord>();

/** Records the user the current request acts for, and the scope it acts on, for its log line. */
export function noteRequestUser(userId: string, scopeId?: string): void {
  const record = currentRequest.getStore();
  if (record === undefined) return;
  record.userId = userId;
  if (scopeId !== undefined && scopeId !== userId) record.scopeId = scopeId;
}

/** Wraps a node:http listener so each request is logged once it ends. */
export function logRequests(listener: NodeListener, logger: JsonLogger): NodeListener {
  return (request: IncomingMessage, response: ServerResponse) => {
    const started = process.hrtime.bigint();
    const record: RequestRecord = {};
    response.once("close", () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info("request", {
        method: request.method,
        path: pathOf(request.url),
        ...(response.headersSent ? { status: response.statusCode } : {}),
        duration_ms: Math.round(durationMs * 100) / 100,
        ...(record.userId === undefined ? {} : { user_id: record.userId }),
        ...(record.scopeId === undefined ? {} : { scope_id: record.scopeId }),
        ...(response.writableFinished ? {} : { aborted: true }),
      });
    });
    currentRequest.run(record, () => listener(request, response));
  };
}

function pathOf(url: string | undefined): string {
  const raw = url ?? "/";
  const query = raw.indexOf("?");
  return query === -1 ? raw : raw.slice(0, query);
}
