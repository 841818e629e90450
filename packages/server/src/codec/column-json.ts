/**
 * Uploaded text for `json`/`jsonb` columns. The wire carries the JSON document as a string (the
 * client's TEXT kind); here it is checked so PostgreSQL's parser cannot fail on it later.
 */
import { WireValueError, findLoneSurrogate } from "@oversync/protocol";
import { decimalOverflowReason } from "./column-decimal.js";

const NUMBER_TOKEN = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * The deepest nesting of arrays and objects accepted. PostgreSQL parses json and jsonb input
 * recursively and fails with "stack depth limit exceeded" beyond roughly 10 000 levels under the
 * default max_stack_depth (2 MB), and sooner under a smaller one; refusing far below that keeps
 * such a document a 400 at upload instead of a failed commit.
 */
export const MAX_JSON_VALUE_DEPTH = 1000;

/**
 * Throws WireValueError unless `text` is one JSON document PostgreSQL stores as given: valid JSON,
 * nested at most MAX_JSON_VALUE_DEPTH deep, no U+0000 or unpaired surrogate in any string, and
 * (for jsonb, which keeps numbers as numeric) every number within numeric's range.
 */
export function checkJsonText(text: string, type: "json" | "jsonb"): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new WireValueError(
      `${type} value is not valid JSON (${(error as Error).message}); send the document as a JSON string`,
    );
  }
  checkStrings(parsed, type);
  if (type === "jsonb") checkNumbers(text);
}

/**
 * Checks the depth and every string of a parsed document. Iterative: JSON.parse returns documents
 * of any depth, and recursing over one would overflow the call stack (a RangeError, answered 500).
 */
function checkStrings(document: unknown, type: string): void {
  const pending: { value: unknown; depth: number }[] = [{ value: document, depth: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, depth } = next;
    if (typeof value === "string") {
      if (value.includes("\u0000")) {
        throw new WireValueError(`${type} value contains U+0000 in a string, which PostgreSQL cannot store`);
      }
      if (findLoneSurrogate(value) >= 0) {
        throw new WireValueError(`${type} value contains an unpaired UTF-16 surrogate in a string`);
      }
    } else if (typeof value === "object" && value !== null) {
      if (depth >= MAX_JSON_VALUE_DEPTH) {
        throw new WireValueError(
          `${type} value nests arrays and objects more than ${MAX_JSON_VALUE_DEPTH} deep, beyond what PostgreSQL parses reliably`,
        );
      }
      if (Array.isArray(value)) {
        for (const item of value) pending.push({ value: item, depth: depth + 1 });
      } else {
        for (const [member, item] of Object.entries(value)) {
          pending.push({ value: member, depth: depth + 1 }, { value: item, depth: depth + 1 });
        }
      }
    }
  }
}

/** Scans the number tokens outside strings of already-valid JSON text. */
function checkNumbers(text: string): void {
  let index = 0;
  while (index < text.length) {
    const char = text[index]!;
    if (char === '"') {
      index++;
      while (text[index] !== '"') index += text[index] === "\\" ? 2 : 1;
      index++;
    } else if (char === "-" || (char >= "0" && char <= "9")) {
      NUMBER_TOKEN.lastIndex = index;
      const token = NUMBER_TOKEN.exec(text)![0];
      const reason = decimalOverflowReason(token, undefined);
      if (reason !== undefined) throw new WireValueError(`jsonb number: ${reason}`);
      index += token.length;
    } else {
      index++;
    }
  }
}
