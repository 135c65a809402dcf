/**
 * The import graph of src/ and grammar/, built from the sources (type-only imports and re-exports included):
 * no cycle between files or between folders, and no arrow pointing up the layer order
 *   cli → pipeline → (quant, sim, lint, report, print, calib) → chaidnn → exec → (layers, graph) → kernels
 *   → proto → grammar → (io, errors, tensor)
 * kernels sits below layers: they are numeric routines with no layer knowledge, and the float forwards of
 * the layer files call them.
 */
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..');

/** Higher imports lower; equal ranks may import each other as long as the folders stay acyclic. */
const RANK: Record<string, number> = {
  cli: 9,
  pipeline: 8,
  index: 8,
  recover: 7.5,
  quant: 7, sim: 7, lint: 7, report: 7, print: 7, calib: 7,
  chaidnn: 6,
  exec: 5,
  layers: 4, graph: 4,
  kernels: 3.5,
  proto: 3,
  grammar: 2,
  io: 1, errors: 1, tensor: 1, threads: 1, workers: 1, 'shared-weights': 1,
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** src/quant/xilinx.ts → quant; src/errors.ts → errors; grammar/x.ts → grammar */
function folderOf(file: string): string {
  const rel = path.relative(ROOT, file).split(path.sep);
  if (rel[0] === 'grammar') return 'grammar';
  return rel[1].replace(/\.ts$/, '');
}

const SPEC = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g;

function resolve(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [base + '.ts', path.join(base, 'index.ts'), base]) if (fs.existsSync(c) && fs.statSync(c).isFile() && c.endsWith('.ts')) return c;
  return undefined;
}

function importGraph(): Map<string, Set<string>> {
  const files = [...sources(path.join(ROOT, 'src')), ...sources(path.join(ROOT, 'grammar'))];
  const g = new Map<string, Set<string>>();
  for (const f of files) {
    // comments would give false edges
    const text = fs.readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
    const deps = new Set<string>();
    for (const m of text.matchAll(SPEC)) {
      const r = resolve(f, m[1] ?? m[2]);
      if (r) deps.add(r);
    }
    g.set(f, deps);
  }
  return g;
}

/** One cycle of the graph, or undefined. */
function findCycle<T>(g: Map<T, Set<T>>): T[] | undefined {
  const state = new Map<T, 1 | 2>();
  const stack: T[] = [];
  const visit = (n: T): T[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const d of g.get(n) ?? []) {
      if (state.get(d) === 1) return [...stack.slice(stack.indexOf(d)), d];
      if (!state.has(d)) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of g.keys()) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

const rel = (f: string) => path.relative(ROOT, f);
const graph = importGraph();

test('the graph is built from the sources', () => {
  expect(graph.size).toBeGreaterThan(100);
  // type-only imports count: lint.ts imports the QuantMode type from layers/types
  expect([...graph.get(path.join(ROOT, 'src/lint/lint.ts'))!].map(rel)).toContain('src/layers/types.ts');
});

test('every folder has a place in the order', () => {
  const unknown = [...new Set([...graph.keys()].map(folderOf))].filter((f) => RANK[f] === undefined);
  expect(unknown).toEqual([]);
});

test('no import cycle between files', () => {
  expect(findCycle(graph)?.map(rel)).toBeUndefined();
});

test('no import cycle between folders', () => {
  const fg = new Map<string, Set<string>>();
  for (const [f, deps] of graph) {
    const a = folderOf(f);
    if (!fg.has(a)) fg.set(a, new Set());
    for (const d of deps) if (folderOf(d) !== a) fg.get(a)!.add(folderOf(d));
  }
  expect(findCycle(fg)).toBeUndefined();
});

test('no import points up the layer order', () => {
  const up: string[] = [];
  for (const [f, deps] of graph) {
    for (const d of deps) {
      if ((RANK[folderOf(f)] ?? 0) < (RANK[folderOf(d)] ?? 0)) up.push(`${rel(f)} → ${rel(d)}`);
    }
  }
  expect(up).toEqual([]);
});
