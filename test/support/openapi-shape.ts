/**
 * Compares two OpenAPI descriptions operation by operation, the way a client author would read
 * them: security, parameters, request body, the statuses answered, the success bodies' shapes and
 * the error codes an error status names. Both OpenAPI 3.0 (upstream's `nullable`) and 3.1 (ours)
 * are read. Formats are compared only for date-time (int32/int64 name widths both sides agree on),
 * bounds only where upstream states one.
 */
import { ERROR_STATUS } from "@oversync/protocol";

/** A JSON object of an OpenAPI document. */
export type Json = Record<string, unknown>;

/** One way two descriptions of an operation differ. */
export interface Difference {
  /** `POST /sync/connect` */
  readonly endpoint: string;
  /** What differs, e.g. `response 200 retry_after_seconds minimum`. */
  readonly where: string;
  readonly ours: string;
  readonly upstream: string;
}

/** What a schema says once references, unions and nullability are resolved. */
interface Shape {
  readonly types: readonly string[];
  readonly properties?: Readonly<Record<string, Shape>>;
  readonly required?: readonly string[];
  readonly enum?: readonly string[];
  readonly items?: Shape;
  readonly closed?: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly format?: string;
}

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

/** Every `METHOD /path` a document describes. */
export function operationsOf(document: Json): string[] {
  const out: string[] = [];
  for (const [path, item] of Object.entries(document.paths as Record<string, Json>)) {
    for (const method of METHODS) if (item[method] !== undefined) out.push(`${method.toUpperCase()} ${path}`);
  }
  return out;
}

/** The differences between our and upstream's description of each of `endpoints`. */
export function compareOperations(ours: Json, upstream: Json, endpoints: readonly string[]): Difference[] {
  const out: Difference[] = [];
  for (const endpoint of endpoints) {
    const add = (where: string, oursText: string, upstreamText: string) =>
      out.push({ endpoint, where, ours: oursText, upstream: upstreamText });
    const a = operation(ours, endpoint);
    const b = operation(upstream, endpoint);
    if (a === undefined || b === undefined) {
      add("operation", a === undefined ? "absent" : "present", b === undefined ? "absent" : "present");
      continue;
    }
    const security = (doc: Json, op: Json) =>
      ((op.security ?? doc.security ?? []) as unknown[]).length > 0 ? "bearer" : "none";
    if (security(ours, a) !== security(upstream, b))
      add("security", security(ours, a), security(upstream, b));
    compareParameters(ours, a, upstream, b, add);
    compareRequestBodies(ours, a, upstream, b, add);
    compareResponses(ours, a, upstream, b, add);
  }
  return out;
}

type Add = (where: string, ours: string, upstream: string) => void;

function operation(document: Json, endpoint: string): Json | undefined {
  const [method, path] = endpoint.split(" ");
  const item = (document.paths as Record<string, Json>)[path!];
  return item?.[method!.toLowerCase()] as Json | undefined;
}

function compareParameters(ours: Json, a: Json, upstream: Json, b: Json, add: Add): void {
  const params = (doc: Json, op: Json) =>
    new Map(
      ((op.parameters ?? []) as Json[]).map((param) => {
        const resolved = deref(doc, param);
        return [`${resolved.in} parameter ${resolved.name}`, resolved] as const;
      }),
    );
  const pa = params(ours, a);
  const pb = params(upstream, b);
  for (const name of union(pa.keys(), pb.keys())) {
    const x = pa.get(name);
    const y = pb.get(name);
    if (x === undefined || y === undefined) {
      add(name, x === undefined ? "absent" : "present", y === undefined ? "absent" : "present");
      continue;
    }
    if (Boolean(x.required) !== Boolean(y.required))
      add(`${name} required`, yesNo(x.required), yesNo(y.required));
    compareShapes(shape(ours, x.schema as Json), shape(upstream, y.schema as Json), name, add);
  }
}

function compareRequestBodies(ours: Json, a: Json, upstream: Json, b: Json, add: Add): void {
  const x = a.requestBody === undefined ? undefined : deref(ours, a.requestBody as Json);
  const y = b.requestBody === undefined ? undefined : deref(upstream, b.requestBody as Json);
  if (x === undefined || y === undefined) {
    if (x !== y)
      add("request body", x === undefined ? "absent" : "present", y === undefined ? "absent" : "present");
    return;
  }
  if (Boolean(x.required) !== Boolean(y.required))
    add("request body required", yesNo(x.required), yesNo(y.required));
  compareContent(ours, x, upstream, y, "request body", add);
}

function compareResponses(ours: Json, a: Json, upstream: Json, b: Json, add: Add): void {
  const ra = a.responses as Record<string, Json>;
  const rb = b.responses as Record<string, Json>;
  for (const status of union(Object.keys(ra), Object.keys(rb))) {
    const where = `response ${status}`;
    const x = ra[status] === undefined ? undefined : deref(ours, ra[status]);
    const y = rb[status] === undefined ? undefined : deref(upstream, rb[status]);
    if (x === undefined || y === undefined) {
      add(where, x === undefined ? "absent" : "documented", y === undefined ? "absent" : "documented");
      continue;
    }
    if (Number(status) < 300) {
      compareContent(ours, x, upstream, y, where, add);
      continue;
    }
    // Error bodies: the codes upstream's description names, where it names any.
    const named = namedCodes(String(y.description ?? ""), Number(status));
    if (named.length === 0) continue;
    const answered = namedCodes(String(x.description ?? ""), Number(status));
    if (!sameSet(named, answered)) add(`${where} codes`, answered.join(", "), named.join(", "));
  }
}

function compareContent(ours: Json, x: Json, upstream: Json, y: Json, where: string, add: Add): void {
  const ca = (x.content ?? {}) as Record<string, Json>;
  const cb = (y.content ?? {}) as Record<string, Json>;
  const types = (content: Record<string, Json>) => Object.keys(content).sort().join(", ") || "none";
  if (types(ca) !== types(cb)) {
    add(`${where} content`, types(ca), types(cb));
    return;
  }
  const json = "application/json";
  if (ca[json] !== undefined) {
    compareShapes(
      shape(ours, ca[json].schema as Json),
      shape(upstream, cb[json]!.schema as Json),
      where,
      add,
    );
  }
}

/** The error codes a response description names in backticks, sent with `status`. */
function namedCodes(description: string, status: number): string[] {
  const codes = [...description.matchAll(/`([a-z_]+)`/g)].map((match) => match[1]!);
  return [...new Set(codes)].filter((code) => (ERROR_STATUS as Record<string, number>)[code] === status);
}

function compareShapes(x: Shape, y: Shape, where: string, add: Add): void {
  const at = (suffix: string) => (where === "" ? suffix : `${where} ${suffix}`).trim();
  if (!sameSet(x.types, y.types)) add(at("type"), x.types.join(" | "), y.types.join(" | "));
  if (!sameSet(x.enum ?? [], y.enum ?? [])) add(at("values"), list(x.enum), list(y.enum));
  if (x.types.includes("object") && y.types.includes("object") && Boolean(x.closed) !== Boolean(y.closed)) {
    add(at("other members"), x.closed ? "refused" : "allowed", y.closed ? "refused" : "allowed");
  }
  // A bound only we state narrows what upstream allows without contradicting it, so only the
  // bounds upstream states are compared.
  if (y.minimum !== undefined && x.minimum !== y.minimum)
    add(at("minimum"), text(x.minimum), text(y.minimum));
  if (y.maximum !== undefined && x.maximum !== y.maximum)
    add(at("maximum"), text(x.maximum), text(y.maximum));
  if (x.format !== y.format) add(at("format"), text(x.format), text(y.format));
  const px = x.properties ?? {};
  const py = y.properties ?? {};
  for (const name of union(Object.keys(px), Object.keys(py))) {
    const member = where === "" ? name : `${where} ${name}`;
    if (px[name] === undefined || py[name] === undefined) {
      add(
        member,
        px[name] === undefined ? "absent" : "present",
        py[name] === undefined ? "absent" : "present",
      );
      continue;
    }
    const rx = x.required?.includes(name) ?? false;
    const ry = y.required?.includes(name) ?? false;
    if (rx !== ry) add(`${member} required`, yesNo(rx), yesNo(ry));
    compareShapes(px[name], py[name], member, add);
  }
  if (x.items !== undefined && y.items !== undefined) compareShapes(x.items, y.items, at("items"), add);
}

/** Resolves `$ref`s (local ones: `#/components/...`), keeping any sibling keywords. */
function deref(document: Json, node: Json): Json {
  let current = node;
  while (typeof current.$ref === "string") {
    const { $ref, ...siblings } = current;
    let target: unknown = document;
    for (const part of ($ref as string).slice(2).split("/")) target = (target as Json)[part];
    current = { ...(target as Json), ...siblings };
  }
  return current;
}

function shape(document: Json, schema: Json | undefined): Shape {
  if (schema === undefined) return { types: [] };
  const s = deref(document, schema);
  const variants = (s.oneOf ?? s.anyOf) as Json[] | undefined;
  if (variants !== undefined) return merge(variants.map((variant) => shape(document, variant)));
  if (s.allOf !== undefined)
    return merge(
      (s.allOf as Json[]).map((part) => shape(document, part)),
      true,
    );
  const types = new Set<string>(
    Array.isArray(s.type) ? (s.type as string[]) : s.type === undefined ? [] : [s.type as string],
  );
  if (types.size === 0 && s.properties !== undefined) types.add("object");
  if (s.nullable === true) types.add("null");
  const values = s.const !== undefined ? [String(s.const)] : (s.enum as unknown[] | undefined)?.map(String);
  return {
    types: [...types].sort(),
    ...(s.properties === undefined
      ? {}
      : {
          properties: Object.fromEntries(
            Object.entries(s.properties as Record<string, Json>).map(([name, member]) => [
              name,
              shape(document, member),
            ]),
          ),
          required: ((s.required ?? []) as string[]).slice().sort(),
        }),
    ...(values === undefined ? {} : { enum: values.sort() }),
    ...(s.items === undefined ? {} : { items: shape(document, s.items as Json) }),
    ...(s.additionalProperties === false ? { closed: true } : {}),
    ...(typeof s.minimum === "number" ? { minimum: s.minimum } : {}),
    ...(typeof s.maximum === "number" ? { maximum: s.maximum } : {}),
    ...(s.format === "date-time" ? { format: "date-time" } : {}),
  };
}

/**
 * A union's shapes as one: the types of all, the members of any (required where all require them).
 * An intersection (allOf) requires what any part requires.
 */
function merge(shapes: readonly Shape[], intersection = false): Shape {
  const objects = shapes.filter((part) => part.properties !== undefined);
  const properties: Record<string, Shape> = {};
  for (const part of objects) Object.assign(properties, part.properties);
  const required = Object.keys(properties).filter((name) =>
    intersection
      ? objects.some((part) => part.required?.includes(name))
      : objects.every((part) => part.required?.includes(name)),
  );
  const enums = shapes.filter((part) => part.enum !== undefined);
  return {
    types: [...new Set(shapes.flatMap((part) => part.types))].sort(),
    ...(objects.length === 0 ? {} : { properties, required: required.sort() }),
    ...(enums.length === 0 ? {} : { enum: [...new Set(enums.flatMap((part) => part.enum!))].sort() }),
  };
}

function union<T>(a: Iterable<T>, b: Iterable<T>): T[] {
  return [...new Set([...a, ...b])];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value) => b.includes(value));
}

function yesNo(value: unknown): string {
  return value ? "yes" : "no";
}

function text(value: unknown): string {
  return value === undefined ? "none" : String(value);
}

function list(values: readonly string[] | undefined): string {
  return values === undefined || values.length === 0 ? "any" : values.join(", ");
}
