/**
 * Layer knowledge lives in src/layers/ (issue 13 §1): outside it, no source file names a layer type string
 * ('Convolution', "ReLU", ... every registered type and alias), except the files listed here, each with why.
 */
import * as fs from 'fs';
import * as path from 'path';
import { allLayers } from '../src/layers/registry';

const SRC = path.resolve(__dirname, '../src');

interface Exception {
  /** a file, or a folder ending in '/', relative to src/ */
  path: string;
  /** the type strings it may name (all, when absent) */
  types?: string[];
  reason: string;
  /** may match nothing yet (a file another branch adds) */
  temporary?: boolean;
}

const EXCEPTIONS: Exception[] = [
  { path: 'layers/', reason: 'the registry: one file per layer type declares what chaiq knows about it' },
  { path: 'proto/upgrade.ts', reason: "Caffe's V0/V1 → V2 upgrade tables (UpgradeV0LayerType, UpgradeV1LayerType), applied before any type is resolved; proto sits below layers" },
];

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const TYPES = new Set(allLayers().flatMap((d) => [d.type, ...(d.aliases ?? [])]));

/** Every quoted layer type string in the sources: file (relative to src/, '/'-separated), type, line. */
function typeStrings(): { file: string; type: string; line: number }[] {
  const out: { file: string; type: string; line: number }[] = [];
  for (const f of sources(SRC)) {
    const text = fs.readFileSync(f, 'utf8');
    const file = path.relative(SRC, f).split(path.sep).join('/');
    for (const m of text.matchAll(/(['"`])([A-Za-z0-9_]+)\1/g)) {
      if (TYPES.has(m[2])) out.push({ file, type: m[2], line: text.slice(0, m.index).split('\n').length });
    }
  }
  return out;
}

const covers = (e: Exception, h: { file: string; type: string }) =>
  (e.path.endsWith('/') ? h.file.startsWith(e.path) : h.file === e.path) && (!e.types || e.types.includes(h.type));

describe('layer type strings', () => {
  const hits = typeStrings();

  test('no layer type string outside src/layers/ except the listed exceptions', () => {
    const stray = hits.filter((h) => !EXCEPTIONS.some((e) => covers(e, h))).map((h) => `src/${h.file}:${h.line}: '${h.type}'`);
    expect(stray).toEqual([]);
  });

  test('every permanent exception is still needed, and says why', () => {
    for (const e of EXCEPTIONS) {
      expect(e.reason.length).toBeGreaterThan(20);
      if (!e.temporary) expect(hits.some((h) => covers(e, h))).toBe(true);
    }
  });

  test('the scan finds type strings (it would catch one)', () => {
    expect(hits.some((h) => h.file.startsWith('layers/') && h.type === 'Convolution')).toBe(true);
  });
});
