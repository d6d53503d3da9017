// The README's API reference is what ships: every export of @fsync2/core, every field of its
// report, result, stats and event types, every option, every Syncer member and every error code,
// checked against the compiled package (its runtime exports and its .d.ts files), both ways where
// a field list is given; the fields' types and the type aliases are compared as text too.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as core from '@fsync2/core';
import { REPO } from './helpers.js';

const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
const apiStart = readme.indexOf('## Packages and installing');
const apiEnd = readme.indexOf('## Proof');
const api = readme.slice(apiStart, apiEnd);
const refStart = api.indexOf('### Reference');
const block = stripComments(/```ts\n([\s\S]*?)```/.exec(api.slice(refStart))?.[1] ?? '');
const DIST = path.join(REPO, 'packages/core/dist');
const dts = (file: string) => stripComments(fs.readFileSync(path.join(DIST, file), 'utf8'));

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

/** The text between the braces that follow `head`. */
function body(src: string, head: RegExp): string | null {
  const m = head.exec(src);
  if (!m) return null;
  const open = src.indexOf('{', m.index + m[0].length - 1);
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === '{') depth++;
    else if (src[i] === '}' && --depth === 0) return src.slice(open + 1, i);
  }
  return null;
}

/** Top-level member names of an interface or class body (nested object types removed). */
function members(text: string): string[] {
  let flat = text;
  for (let prev = ''; prev !== flat; ) {
    prev = flat;
    flat = flat.replace(/\{[^{}]*\}/g, '');
  }
  return [...flat.matchAll(/(?:^|[;\n])\s*(?:readonly\s+|declare\s+readonly\s+|get\s+)?(\w+)\??\s*[:(]/g)].map((m) => m[1]!);
}

const set = (xs: Iterable<string>) => [...new Set(xs)].sort();

/** A type's text without `readonly`, whitespace or a last `;` before `}`: README and .d.ts spell it alike. */
function norm(type: string): string {
  return type.replace(/\breadonly\s+/g, '').replace(/\s+/g, '').replace(/;}/g, '}').replace(/;$/, '');
}

/**
 * Top-level fields of an interface body with their types (`name` or `name?` → normalized type),
 * aliases in `expand` replaced by what they stand for.
 */
function fieldTypes(text: string, expand: Readonly<Record<string, string>> = {}): Record<string, string> {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if ('{([<'.includes(ch)) depth++;
    else if ('})]'.includes(ch) || (ch === '>' && text[i - 1] !== '=')) depth--;
    if ((ch === ';' || ch === '\n') && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  const out: Record<string, string> = {};
  for (const part of parts) {
    const m = /^\s*(?:readonly\s+)?(\w+\??)\s*:\s*([\s\S]+?)\s*$/.exec(part);
    if (!m) continue;
    let type = m[2]!;
    for (const [alias, def] of Object.entries(expand)) type = type.replace(new RegExp(`\\b${alias}\\b`, 'g'), def);
    out[m[1]!] = norm(type);
  }
  return out;
}

/** `type Name = …;` declarations (exported or not) of a .d.ts or of the reference block: name → normalized type. */
function aliases(src: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of src.matchAll(/(?:^|\n)\s*(?:export\s+)?type (\w+) = ([^;]+);/g)) out[m[1]!] = norm(m[2]!);
  return out;
}

test('the README has the API section and its reference block', () => {
  assert.ok(apiStart >= 0 && apiEnd > apiStart, 'sections "Packages and installing" … "Proof"');
  assert.ok(block.length > 1000, 'a ```ts reference block under "### Reference"');
});

test('every runtime export of @fsync2/core is declared in the reference', () => {
  const names = Object.keys(core);
  assert.ok(names.length >= 15);
  for (const name of names) {
    assert.match(block, new RegExp(`\\b(function|class|const) ${name}\\b`), `${name} is not in the README reference`);
  }
});

function exportedTypes(): string[] {
  const index = dts('index.d.ts');
  return [...index.matchAll(/export type \{([^}]*)\}/g)].flatMap((m) => m[1]!.split(',').map((t) => t.trim()).filter(Boolean));
}

test('every type export of @fsync2/core is declared in the reference', () => {
  const types = exportedTypes();
  assert.ok(types.length >= 15, types.join(', '));
  for (const name of types) {
    assert.match(block, new RegExp(`\\b(type|interface|class) ${name}\\b`), `type ${name} is not in the README reference`);
  }
});

test('report, result, stats, event and filesystem types: the same fields in the README as in the .d.ts', () => {
  const cases: Array<[string, string]> = [
    ['report.d.ts', 'SyncReport'],
    ['report.d.ts', 'TargetResult'],
    ['report.d.ts', 'ParentResult'],
    ['report.d.ts', 'FilesystemReport'],
    ['stats.d.ts', 'SyncerStats'],
    ['scheduler.d.ts', 'PlanEvent'],
    ['scheduler.d.ts', 'GroupCommit'],
    ['filesystems.d.ts', 'FsInfo'],
  ];
  for (const [file, name] of cases) {
    const shipped = body(dts(file), new RegExp(`interface ${name}\\b[^{]*\\{`));
    const documented = body(block, new RegExp(`interface ${name}\\b[^{]*\\{`));
    assert.ok(shipped, `${name} in ${file}`);
    assert.ok(documented, `interface ${name} in the README reference`);
    assert.equal(set(members(documented!)), set(members(shipped!)), `${name}: README fields vs ${file}`);
    // The same type for each field (and the same optional marks): aliases the package does not
    // export (SyncfsSupport) are written out in the README, so they are expanded here.
    const exported = new Set(exportedTypes());
    const local = Object.fromEntries(Object.entries(aliases(dts(file))).filter(([n]) => !exported.has(n)));
    assert.equal(fieldTypes(documented!), fieldTypes(shipped!, local), `${name}: README field types vs ${file}`);
  }
  const latency = body(dts('stats.d.ts'), /latencyMs:\s*\{/)!;
  const documentedLatency = body(block, /latencyMs:\s*\{/)!;
  assert.equal(set(members(documentedLatency)), set(members(latency)), 'SyncerStats.latencyMs');
});

test('the type aliases in the reference are the shipped ones', () => {
  const documented = aliases(block);
  const shipped: Record<string, string> = {
    ...aliases(dts('report.d.ts')),
    Backend: aliases(fs.readFileSync(path.join(REPO, 'packages/workers/dist/protocol.d.cts'), 'utf8')).Backend!,
    NativeSource: aliases(fs.readFileSync(path.join(REPO, 'packages/native/dist/binding.d.cts'), 'utf8')).NativeSource!,
  };
  for (const name of ['SyncTarget', 'Plan', 'FileKind', 'Backend', 'NativeSource']) {
    assert.ok(shipped[name], `type ${name} in the .d.ts`);
    assert.is(documented[name], shipped[name], `type ${name}: README vs .d.ts`);
  }
  // The values the README lists in its comments: `const STRATEGIES: …; // ['auto', …]`.
  const listed = (name: string) => JSON.parse((new RegExp(`const ${name}: [^\\n]*// (\\[[^\\]]*\\])`).exec(api)?.[1] ?? 'null').replace(/'/g, '"'));
  assert.equal(listed('STRATEGIES'), [...core.STRATEGIES], 'STRATEGIES as the README lists them');
  assert.equal(listed('MODES'), [...core.MODES], 'MODES as the README lists them');
  assert.equal(documented.Strategy, norm(core.STRATEGIES.map((s) => `'${s}'`).join('|')), 'type Strategy: README vs STRATEGIES');
  assert.equal(documented.Mode, norm(core.MODES.map((s) => `'${s}'`).join('|')), 'type Mode: README vs MODES');
});

test('every Syncer method and getter is in the reference', () => {
  const documented = body(block, /class Syncer\b[^{]*\{/)!;
  const names = Object.getOwnPropertyNames(core.Syncer.prototype).filter((n) => n !== 'constructor');
  assert.ok(names.length >= 9, names.join(', '));
  for (const name of names) assert.match(documented, new RegExp(`\\b${name}\\b`), `Syncer.${name}`);
  assert.ok(typeof core.Syncer.prototype[Symbol.asyncDispose] === 'function');
  assert.match(documented, /\[Symbol\.asyncDispose\]\(\)/);
});

test('every option of createSyncer() and sync(), with every nested one, in the reference and the options table', () => {
  const documented = body(block, /interface SyncerOptions\b[^{]*\{/)!;
  assert.equal(set(members(documented)), set(Object.keys(core.syncerOptionsSchema.shape)), 'SyncerOptions');
  const resolved = core.syncerOptionsSchema.parse({}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(resolved)) {
    if (typeof value !== 'object' || value === null) {
      assert.match(api, new RegExp(`\\| \`${key}\` \\|`), `options table row for ${key}`);
      continue;
    }
    const nested = body(documented, new RegExp(`\\b${key}\\?:\\s*`));
    assert.ok(nested !== null, `${key} in SyncerOptions`);
    assert.equal(set(members(nested!)), set(Object.keys(value)), `SyncerOptions.${key}`);
    for (const sub of Object.keys(value)) {
      assert.match(api, new RegExp(`\\| \`${key}\\.${sub}\` \\|`), `options table row for ${key}.${sub}`);
    }
  }
  const syncOptions = body(block, /interface SyncOptions\b[^{]*\{/)!;
  assert.equal(set(members(syncOptions)), set(Object.keys(core.syncOptionsSchema.shape)), 'SyncOptions');
  for (const key of Object.keys(core.syncOptionsSchema.shape)) {
    assert.match(api, new RegExp(`\\| \`${key}\` \\|`), `sync options table row for ${key}`);
  }
});

test('every error code the packages can produce, and every error class field, is in the README', () => {
  const codes = new Set<string>();
  for (const pkg of ['core', 'workers', 'native']) {
    const src = path.join(REPO, 'packages', pkg, 'src');
    for (const f of fs.readdirSync(src).filter((f) => /\.c?ts$/.test(f))) {
      for (const m of fs.readFileSync(path.join(src, f), 'utf8').matchAll(/'(ERR_FSYNC2_[A-Z_]+|ABORT_ERR)'/g)) codes.add(m[1]!);
    }
  }
  assert.ok(codes.size >= 8, [...codes].join(', '));
  for (const code of codes) assert.match(api, new RegExp(`\`'?${code}'?\``), `error code ${code}`);
  const errors = dts('errors.d.ts');
  for (const cls of ['TargetError', 'SyncError', 'OptionsError', 'QueueFullError', 'ClosedError', 'AbortError']) {
    const shipped = members(body(errors, new RegExp(`class ${cls}\\b[^{]*\\{`))!).filter((m) => m !== 'name' && m !== 'constructor');
    const line = new RegExp(`class ${cls} extends \\w+ \\{([^\\n]*)\\}`).exec(block)?.[1] ?? '';
    for (const field of shipped) assert.match(line, new RegExp(`\\b${field}:`), `${cls}.${field}`);
  }
});

test.run();
