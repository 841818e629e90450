/**
 * The API report: every export of every package entry point (the `exports` map of each
 * package.json), with its kind and its declaration as the published `.d.ts` states it (comments
 * left out), in `packages/<package>/api/<entry>.api.md`. api-report.test.ts fails when a report is
 * out of date, so a change of the public surface is always a reviewed change of a report.
 *
 *   npm run api-report     # rewrites the reports
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PACKAGES = ["protocol", "server", "client", "react", "kysely", "cli"] as const;
const SOURCE_CONDITION = "@oversync/source";
const OUT_DIR = join(repoRoot, ".api-report-out");

/** One entry point: `@oversync/client/better-sqlite3` from `packages/client/src/drivers/better-sqlite3.ts`. */
export interface Entry {
  readonly specifier: string;
  readonly source: string;
  readonly report: string;
}

/** One export of an entry point. */
export interface ExportedName {
  readonly name: string;
  readonly kind: string;
  /** Where it is declared (`packages/…/x.ts#name`), so the same name in two entries can be compared. */
  readonly origin: string;
  readonly typeOnly: boolean;
  readonly declaration: string;
  /** The names its declaration refers to, as `<emitted .d.ts>#Name`. */
  readonly references: readonly string[];
}

/** The entry points of every package, read from their package.json `exports`. */
export function entryPoints(): Entry[] {
  return PACKAGES.flatMap((name) => {
    const dir = join(repoRoot, "packages", name);
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
      name: string;
      exports: Record<string, string | Record<string, string>>;
    };
    return Object.entries(manifest.exports).flatMap(([subpath, target]) => {
      if (typeof target === "string") return [];
      const source = target[SOURCE_CONDITION];
      if (source === undefined) return [];
      const entry = subpath === "." ? "index" : subpath.slice(2);
      return [
        {
          specifier: subpath === "." ? manifest.name : `${manifest.name}/${entry}`,
          source: join(dir, source),
          report: join(dir, "api", `${entry}.api.md`),
        },
      ];
    });
  });
}

/** Builds every report: the report text per file, and each entry's exports. */
export function buildReports(): { reports: Map<string, string>; exports: Map<string, ExportedName[]> } {
  const entries = entryPoints();
  const program = ts.createProgram(
    entries.map((entry) => entry.source),
    compilerOptions(),
  );
  const emitted = new Map<string, string>();
  const result = program.emit(undefined, (file, text) => emitted.set(resolve(file), text), undefined, true);
  const problems = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (problems.length > 0) {
    throw new Error(
      `the declarations do not compile:\n${ts.formatDiagnostics(problems, {
        getCanonicalFileName: (file) => file,
        getCurrentDirectory: () => repoRoot,
        getNewLine: () => "\n",
      })}`,
    );
  }
  const checker = program.getTypeChecker();
  const declarations = new Declarations(emitted);
  const exports = new Map<string, ExportedName[]>();
  for (const entry of entries) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(entry.source)!)!;
    const names = checker
      .getExportsOfModule(module)
      .map((symbol) => describeExport(symbol, checker, declarations))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    exports.set(entry.specifier, names);
    declarations.packageExports.set(entry.specifier, new Map(names.map((name) => [name.name, name.origin])));
  }
  const everywhere = new Set([...exports.values()].flatMap((names) => names.map((name) => name.origin)));
  const reports = new Map<string, string>();
  for (const entry of entries) {
    const names = exports.get(entry.specifier)!;
    const exported = new Set(names.map((name) => name.origin));
    // Named by this entry's declarations but not exported by it: from another entry point
    // (nameable through that package), or from none (an internal helper type).
    const named = [...new Set(names.flatMap((name) => declarations.resolve(name.references)))].sort();
    const elsewhere = named.filter((origin) => !exported.has(origin) && everywhere.has(origin));
    const nowhere = named.filter((origin) => !everywhere.has(origin));
    reports.set(entry.report, render(entry, names, elsewhere, nowhere));
  }
  return { reports, exports };
}

function compilerOptions(): ts.CompilerOptions {
  const base = ts.readConfigFile(join(repoRoot, "tsconfig.base.json"), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(base.config, ts.sys, repoRoot);
  return {
    ...options,
    customConditions: [SOURCE_CONDITION],
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    declarationMap: false,
    sourceMap: false,
    rootDir: repoRoot,
    outDir: OUT_DIR,
  };
}

function describeExport(
  symbol: ts.Symbol,
  checker: ts.TypeChecker,
  declarations: Declarations,
): ExportedName {
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const first = target.declarations?.[0];
  if (first === undefined) throw new Error(`export ${symbol.name} has no declaration`);
  const sourceFile = first.getSourceFile().fileName;
  const origin = `${relative(repoRoot, sourceFile)}#${target.name}`;
  const kind = [...new Set((target.declarations ?? []).map(kindOf))].join(" + ");
  const typeOnly = (symbol.declarations ?? []).some(
    (declaration) =>
      (ts.isExportSpecifier(declaration) &&
        (declaration.isTypeOnly || declaration.parent.parent.isTypeOnly)) ||
      ts.isTypeOnlyImportOrExportDeclaration(declaration),
  );
  if (!relative(repoRoot, sourceFile).startsWith("packages/")) {
    const declaration = `re-exported from ${relative(join(repoRoot, "node_modules"), sourceFile)}`;
    return { name: symbol.name, kind, origin, typeOnly, declaration, references: [] };
  }
  const dts = emittedPath(sourceFile);
  const statements = declarations.declaring(dts, target.name);
  const renamed = target.name !== symbol.name ? `(\`${target.name}\` renamed)\n` : "";
  const declaration =
    renamed +
    statements
      .map((statement) =>
        printer.printNode(ts.EmitHint.Unspecified, withoutPrivates(statement), statement.getSourceFile()),
      )
      .join("\n");
  const named = statements.flatMap((statement) => references(statement, dts));
  return { name: symbol.name, kind, origin, typeOnly, declaration, references: named };
}

function kindOf(declaration: ts.Declaration): string {
  if (ts.isClassDeclaration(declaration)) return "class";
  if (ts.isFunctionDeclaration(declaration)) return "function";
  if (ts.isInterfaceDeclaration(declaration)) return "interface";
  if (ts.isTypeAliasDeclaration(declaration)) return "type";
  if (ts.isEnumDeclaration(declaration)) return "enum";
  if (ts.isModuleDeclaration(declaration)) return "namespace";
  if (ts.isVariableDeclaration(declaration)) {
    return declaration.parent.flags & ts.NodeFlags.Const ? "const" : "variable";
  }
  return ts.SyntaxKind[declaration.kind];
}

const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed });

/** A class without its private members, which the `.d.ts` lists by name but no caller can use. */
function withoutPrivates(statement: ts.Statement): ts.Statement {
  if (!ts.isClassDeclaration(statement)) return statement;
  const members = statement.members.filter(
    (member) =>
      !(member.name !== undefined && ts.isPrivateIdentifier(member.name)) &&
      (ts.getCombinedModifierFlags(member as ts.Declaration) & ts.ModifierFlags.Private) === 0,
  );
  return ts.factory.updateClassDeclaration(
    statement,
    statement.modifiers,
    statement.name,
    statement.typeParameters,
    statement.heritageClauses,
    members,
  );
}

function emittedPath(source: string): string {
  return resolve(OUT_DIR, relative(repoRoot, source)).replace(/\.ts$/, ".d.ts");
}

function sourcePath(dts: string): string {
  return relative(OUT_DIR, dts).replace(/\.d\.ts$/, ".ts");
}

/** The emitted `.d.ts` files, parsed on demand, and what their names refer to. */
class Declarations {
  /** Each workspace entry point's exports, name → origin, for names imported from a package. */
  readonly packageExports = new Map<string, Map<string, string>>();
  readonly #files = new Map<string, ts.SourceFile>();

  constructor(private readonly emitted: Map<string, string>) {}

  /** The top-level statements of an emitted `.d.ts` that declare `name`. */
  declaring(dts: string, name: string): ts.Statement[] {
    const statements = this.#file(dts).statements.filter((statement) => declares(statement, name));
    if (statements.length === 0) throw new Error(`no declaration of ${name} in ${sourcePath(dts)}`);
    return statements;
  }

  /** The origin (`packages/…/x.ts#Name`) of each `<.d.ts>#Name` reference that names our code. */
  resolve(references: readonly string[]): string[] {
    return references.flatMap((reference) => {
      const at = reference.lastIndexOf("#");
      const [scope, name] = [reference.slice(0, at), reference.slice(at + 1)];
      const origin = scope.startsWith("package:")
        ? this.packageExports.get(scope.slice("package:".length))?.get(name)
        : this.#origin(scope, name, 0);
      return origin === undefined ? [] : [origin];
    });
  }

  #file(dts: string): ts.SourceFile {
    let file = this.#files.get(dts);
    if (file === undefined) {
      const text = this.emitted.get(dts);
      if (text === undefined) throw new Error(`no declarations were emitted for ${sourcePath(dts)}`);
      file = ts.createSourceFile(dts, text, ts.ScriptTarget.Latest, true);
      this.#files.set(dts, file);
    }
    return file;
  }

  /** Follows `name` in `dts` to its declaration: declared there, or imported or re-exported. */
  #origin(dts: string, name: string, depth: number): string | undefined {
    const file = this.#file(dts);
    if (file.statements.some((statement) => declares(statement, name))) return `${sourcePath(dts)}#${name}`;
    for (const statement of file.statements) {
      let bindings: ts.NamedImportBindings | ts.NamedExportBindings | undefined;
      if (ts.isImportDeclaration(statement)) bindings = statement.importClause?.namedBindings;
      else if (ts.isExportDeclaration(statement)) bindings = statement.exportClause;
      if (bindings === undefined || !("elements" in bindings)) continue;
      const element = bindings.elements.find(
        (binding: ts.ImportSpecifier | ts.ExportSpecifier) => binding.name.text === name,
      );
      const module = (statement as ts.ImportDeclaration | ts.ExportDeclaration).moduleSpecifier;
      if (element === undefined || module === undefined || !ts.isStringLiteral(module)) continue;
      const imported = (element.propertyName ?? element.name).text;
      if (!module.text.startsWith(".")) return this.packageExports.get(module.text)?.get(imported);
      if (depth > 20) return undefined;
      return this.#origin(resolve(dirname(dts), module.text.replace(/\.js$/, ".d.ts")), imported, depth + 1);
    }
    return undefined;
  }
}

function declares(statement: ts.Statement, name: string): boolean {
  if (ts.isVariableStatement(statement)) {
    return statement.declarationList.declarations.some(
      (declaration) => ts.isIdentifier(declaration.name) && declaration.name.text === name,
    );
  }
  const declared = (statement as { name?: ts.Node }).name;
  return declared !== undefined && ts.isIdentifier(declared) && declared.text === name;
}

/**
 * The names a declaration's types refer to (the first part of a qualified name), as references:
 * `<.d.ts>#Name` for a name of that file's scope, `package:<specifier>#Name` for an inline
 * `import("<package>").Name`.
 */
function references(statement: ts.Statement, dts: string): string[] {
  const found = new Set<string>();
  const visit = (node: ts.Node): void => {
    let name: ts.Node | undefined;
    let scope = dts;
    if (ts.isTypeReferenceNode(node)) name = node.typeName;
    else if (ts.isExpressionWithTypeArguments(node)) name = node.expression;
    else if (ts.isTypeQueryNode(node)) name = node.exprName;
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const module = (node.argument.literal as ts.StringLiteral).text;
      name = node.qualifier;
      scope = module.startsWith(".")
        ? resolve(dirname(dts), module.replace(/\.js$/, ".d.ts"))
        : `package:${module}`;
    }
    while (name !== undefined && (ts.isQualifiedName(name) || ts.isPropertyAccessExpression(name))) {
      name = ts.isQualifiedName(name) ? name.left : name.expression;
    }
    if (name !== undefined && ts.isIdentifier(name)) found.add(`${scope}#${name.text}`);
    ts.forEachChild(node, visit);
  };
  visit(statement);
  return [...found];
}

function render(
  entry: Entry,
  names: readonly ExportedName[],
  elsewhere: readonly string[],
  nowhere: readonly string[],
): string {
  const counts = new Map<string, number>();
  for (const { kind } of names) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  const summary = [...counts]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([kind, count]) => `${count} ${kind}`)
    .join(", ");
  const lines = [
    `# API report: \`${entry.specifier}\``,
    "",
    "<!-- Generated by `npm run api-report` from the declarations the package publishes; do not edit.",
    "     test/packaging/api-report.test.ts fails when this file is out of date. -->",
    "",
    `Source: \`${relative(repoRoot, entry.source)}\`. ${names.length} exports (${summary}).`,
    "",
  ];
  const list = (origins: readonly string[]) =>
    origins.map((origin) => `- \`${origin.split("#")[1]}\` (${origin.split("#")[0]})`);
  if (elsewhere.length > 0) {
    lines.push(
      "Named in these declarations and exported by another entry point:",
      "",
      ...list(elsewhere),
      "",
    );
  }
  if (nowhere.length > 0) {
    lines.push("Named in these declarations but exported by no entry point:", "", ...list(nowhere), "");
  }
  for (const exported of names) {
    lines.push(`## \`${exported.name}\` (${exported.typeOnly ? "type-only " : ""}${exported.kind})`, "");
    lines.push("```ts", exported.declaration, "```", "");
  }
  return `${lines.join("\n").trimEnd()}\n`;
}

/** Writes every report. */
export function writeReports(): void {
  for (const [file, text] of buildReports().reports) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    console.log(`wrote ${relative(repoRoot, file)}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) writeReports();
