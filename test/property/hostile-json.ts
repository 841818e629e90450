/**
 * Arbitraries for hostile input: strings with every UTF-16 code unit (lone surrogates, NUL, BOM,
 * U+2028), number tokens at and past every integer and float limit, deep nesting, and mutations of
 * valid bodies at the JSON text level, so duplicate members and raw tokens such as `1.0` or
 * `1e400` survive (a JavaScript value cannot hold them).
 */
import fc from "fast-check";

/** One UTF-16 code unit or code point, weighted toward the ones that break parsers and encoders. */
export const trickyUnit: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
  fc.constantFrom(
    "\ud800",
    "\udbff",
    "\udc00",
    "\udfff",
    "\u0000",
    "\u001f",
    "\u007f",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffd",
    "\uffff",
    "\u0301",
    "😀",
    '"',
    "\\",
    "/",
    "\n",
    "\r",
    "\t",
    " ",
    "%",
    "{",
    "[",
  ),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }),
);

/** A string of tricky units, lone surrogates included. */
export function trickyString(maxLength = 16): fc.Arbitrary<string> {
  return fc.string({ unit: trickyUnit, maxLength });
}

/** A well-formed string (no lone surrogate) of any code points. */
export function wellFormedString(maxLength = 16): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: "binary", maxLength }),
    fc.string({ unit: "grapheme", maxLength }),
    fc.string({ maxLength }),
  );
}

/** JSON number tokens at the edges: integer widths, 2^53, float limits, spellings JSON allows. */
export const edgeNumberToken: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "0",
    "-0",
    "0.0",
    "1.0",
    "1e2",
    "1E+2",
    "1e-2",
    "-1",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9007199254740991",
    "9007199254740992",
    "9007199254740993",
    "-9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "123456789012345678901234567890",
    "1e308",
    "1e309",
    "-1e309",
    "5e-324",
    "1e-400",
    "0.1",
    "1.5",
    "1e999999999",
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => JSON.stringify(value)),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.integer().map(String),
);

/** A JSON document kept as text, so members may repeat and number tokens keep their spelling. */
export type JsonText =
  | { readonly kind: "raw"; readonly text: string }
  | { readonly kind: "object"; readonly members: readonly (readonly [string, JsonText])[] }
  | { readonly kind: "array"; readonly items: readonly JsonText[] };

/** A value as JSON text nodes. */
export function textOf(value: unknown): JsonText {
  if (Array.isArray(value)) return { kind: "array", items: value.map(textOf) };
  if (typeof value === "object" && value !== null) {
    return {
      kind: "object",
      members: Object.entries(value)
        .filter(([, member]) => member !== undefined)
        .map(([name, member]) => [name, textOf(member)] as const),
    };
  }
  return { kind: "raw", text: JSON.stringify(value) ?? "null" };
}

/** Renders nodes as compact JSON text. */
export function render(node: JsonText): string {
  switch (node.kind) {
    case "raw":
      return node.text;
    case "array":
      return `[${node.items.map(render).join(",")}]`;
    case "object":
      return `{${node.members.map(([name, value]) => `${JSON.stringify(name)}:${render(value)}`).join(",")}}`;
  }
}

const raw = (text: string): JsonText => ({ kind: "raw", text });

/** `[[[…]]]` or `{"a":{"a":…}}` nested `depth` times: around and far beyond the 128 limit. */
export const deepNesting: fc.Arbitrary<JsonText> = fc
  .tuple(fc.oneof(fc.integer({ min: 120, max: 140 }), fc.integer({ min: 1, max: 20_000 })), fc.boolean())
  .map(([depth, arrays]) =>
    raw(
      arrays ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`,
    ),
  );

/** Escapes only what JSON forbids raw in a string: the quote, the backslash and C0 controls. */
function escapeForbidden(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    out +=
      code < 0x20 || code === 0x22 || code === 0x5c ? `\\u${code.toString(16).padStart(4, "0")}` : text[i];
  }
  return out;
}

/** A string member value, escaped as JSON.stringify does or with its code units written raw. */
const stringToken: fc.Arbitrary<JsonText> = fc.oneof(
  trickyString(24).map((text) => raw(JSON.stringify(text))),
  // Raw: lone surrogates and U+2028 as themselves; only the characters JSON forbids are escaped.
  trickyString(24).map((text) => raw(`"${escapeForbidden(text)}"`)),
  fc
    .constantFrom(
      "",
      " ",
      "1",
      "1.0",
      "-0",
      "NaN",
      "Infinity",
      "0x10",
      "true",
      "null",
      "_sync_scope_id",
      "DELETE",
      "v1",
      "00000000-0000-0000-0000-000000000000",
      "0190F1A2-7B3C-7D4E-8F50-123456789ABC",
      "a".repeat(64),
      "2026-02-30T00:00:00Z",
    )
    .map((text) => raw(JSON.stringify(text))),
);

/** Any JSON value that could stand where another was expected. */
export const hostileValue: fc.Arbitrary<JsonText> = fc.oneof(
  { weight: 3, arbitrary: edgeNumberToken.map(raw) },
  { weight: 3, arbitrary: stringToken },
  {
    weight: 1,
    arbitrary: fc.constantFrom("true", "false", "null", "{}", "[]", '[""]', '{"":null}').map(raw),
  },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map(textOf) },
  { weight: 1, arbitrary: deepNesting },
);

/** One edit of a JSON tree; `where` picks the node among all nodes in document order. */
export type Mutation =
  | { readonly kind: "drop"; readonly where: number }
  | { readonly kind: "duplicate"; readonly where: number; readonly value: JsonText | undefined }
  | { readonly kind: "replace"; readonly where: number; readonly value: JsonText }
  | { readonly kind: "add"; readonly where: number; readonly name: string; readonly value: JsonText }
  | { readonly kind: "wrap"; readonly where: number; readonly inArray: boolean };

const memberName: fc.Arbitrary<string> = fc.oneof(
  trickyString(12),
  fc.constantFrom("__proto__", "constructor", "_sync_scope_id", "payload", "rows", "key", "error", ""),
);

/** A random edit. */
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("drop" as const), where: fc.nat() }),
  fc.record({
    kind: fc.constant("duplicate" as const),
    where: fc.nat(),
    value: fc.option(hostileValue, { nil: undefined }),
  }),
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("replace" as const), where: fc.nat(), value: hostileValue }),
  },
  fc.record({ kind: fc.constant("add" as const), where: fc.nat(), name: memberName, value: hostileValue }),
  fc.record({ kind: fc.constant("wrap" as const), where: fc.nat(), inArray: fc.boolean() }),
);

/** The paths (child indexes from the root) of every node, in document order. */
function paths(node: JsonText, prefix: readonly number[] = []): number[][] {
  const out: number[][] = [[...prefix]];
  const children =
    node.kind === "object" ? node.members.map(([, child]) => child) : node.kind === "array" ? node.items : [];
  for (const [i, child] of children.entries()) out.push(...paths(child, [...prefix, i]));
  return out;
}

/**
 * Rewrites the children of the container at `path` (the root when empty) with `edit`, which gets
 * the container and returns it changed.
 */
function editContainer(
  node: JsonText,
  path: readonly number[],
  edit: (container: JsonText) => JsonText,
): JsonText {
  if (path.length === 0) return edit(node);
  const [head, ...rest] = path as [number, ...number[]];
  if (node.kind === "object") {
    const members = node.members.map((member, i) =>
      i === head ? ([member[0], editContainer(member[1], rest, edit)] as const) : member,
    );
    return { kind: "object", members };
  }
  if (node.kind === "array") {
    return {
      kind: "array",
      items: node.items.map((item, i) => (i === head ? editContainer(item, rest, edit) : item)),
    };
  }
  return node;
}

/** Applies one edit to a tree. */
export function applyMutation(root: JsonText, edit: Mutation): JsonText {
  const all = paths(root);
  const target = all[edit.where % all.length]!;
  if (edit.kind === "replace") return editContainer(root, target, () => edit.value);
  if (edit.kind === "wrap") {
    return editContainer(root, target, (node) =>
      edit.inArray ? { kind: "array", items: [node] } : { kind: "object", members: [["value", node]] },
    );
  }
  if (edit.kind === "add") {
    return editContainer(root, target, (node) => {
      if (node.kind === "object")
        return { kind: "object", members: [...node.members, [edit.name, edit.value]] };
      if (node.kind === "array") return { kind: "array", items: [...node.items, edit.value] };
      return { kind: "object", members: [[edit.name, edit.value]] };
    });
  }
  // drop and duplicate act on the target's parent.
  if (target.length === 0) return edit.kind === "drop" ? { kind: "object", members: [] } : root;
  const parent = target.slice(0, -1);
  const index = target[target.length - 1]!;
  return editContainer(root, parent, (node) => {
    if (node.kind === "object") {
      const members = [...node.members];
      if (edit.kind === "drop") members.splice(index, 1);
      else members.splice(index + 1, 0, [members[index]![0], edit.value ?? members[index]![1]]);
      return { kind: "object", members };
    }
    if (node.kind === "array") {
      const items = [...node.items];
      if (edit.kind === "drop") items.splice(index, 1);
      else items.splice(index + 1, 0, edit.value ?? items[index]!);
      return { kind: "array", items };
    }
    return node;
  });
}

/** `valid` with one to three edits, as JSON text. */
export function mutatedText(valid: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc
    .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 }))
    .map(([value, edits]) => render(edits.reduce(applyMutation, textOf(value))));
}

/** Damage to the text itself: cut short, a stray character, a BOM, trailing data, padding. */
export function damagedText(valid: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc
    .tuple(
      valid.map((value) => JSON.stringify(value)),
      fc.nat(),
      trickyUnit,
      fc.nat({ max: 4 }),
    )
    .map(([text, at, unit, how]) => {
      const cut = at % (text.length + 1);
      switch (how) {
        case 0:
          return text.slice(0, cut);
        case 1:
          return `${text.slice(0, cut)}${unit}${text.slice(cut)}`;
        case 2:
          return `\ufeff${text}`;
        case 3:
          return `${text}${unit}`;
        default:
          return ` \t\r\n${text}\n `;
      }
    });
}

/**
 * Bodies a decoder may be sent: the valid body, mutated and damaged versions of it, random JSON,
 * and random text.
 */
export function hostileBody(valid: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 1, arbitrary: valid.map((value) => JSON.stringify(value)) },
    { weight: 6, arbitrary: mutatedText(valid) },
    { weight: 2, arbitrary: damagedText(valid) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) },
    { weight: 1, arbitrary: trickyString(40) },
    { weight: 1, arbitrary: deepNesting.map(render) },
  );
}

/** Parsed JSON values a response decoder may be handed: the same bodies, through JSON.parse. */
export function hostileJson(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 6, arbitrary: mutatedText(valid).map(parseOr) },
    { weight: 1, arbitrary: valid },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
  );
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // 1e400 and friends parse; only a mutation that wrote invalid text lands here.
    return text;
  }
}
