/**
 * The Caffe reference of `npm run bench -- forward`: test/bench/baseline.json holds Caffe's float forward times
 * per machine (the bench cannot run Caffe), and the bench compares against the entry measured on a machine like
 * the one it runs on (same CPU model and AVX-512 or not): ratios against another CPU's Caffe are not like for like.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface CaffeNetTimes {
  /** corpus/prototxt file the bench builds (Caffe ran a copy with only the input batch changed) */
  file: string;
  /** batch 1, 2 threads: Caffe's forward pass, wall ms per image, on a quiet machine (absent: not measured quiet) */
  caffeMsB1?: number;
  /** batch 8, 2 threads: the forward pass divided by 8, wall ms per image (absent: not measured) */
  caffeMsB8PerImage?: number;
  /** batch 1, 2 threads: CPU ms of the thread that runs the layers (it also runs its share of each GEMM) */
  caffeMainCpuMsB1?: number;
  /** batch 8, 2 threads: the same per image */
  caffeMainCpuMsB8PerImage?: number;
  /** batch 1 on one thread (OPENBLAS_NUM_THREADS=1): CPU ms of that thread, hardly moved by other load */
  caffeCpuMsB1OneThread?: number;
  /** batch 8 on one thread: the same per image */
  caffeCpuMsB8PerImageOneThread?: number;
}

export interface CaffeBaseline {
  id: string;
  /** what the entry says about where it comes from and how it was measured */
  description: string;
  /** matched against /proc/cpuinfo: `model name` contains `cpuModel`, and `avx512f` present or not */
  match: { cpuModel: string; avx512: boolean };
  date?: string;
  nets: Record<string, CaffeNetTimes>;
}

export interface BaselineFile {
  /** the entry used when no entry matches this machine */
  fallback: string;
  baselines: CaffeBaseline[];
}

/** This machine's CPU, as baseline entries are matched. */
export interface CpuInfo {
  model: string;
  avx512: boolean;
}

/** The first processor's model name and AVX-512 flag from /proc/cpuinfo text (empty model when unknown). */
export function parseCpuInfo(text: string): CpuInfo {
  const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1].trim() ?? '';
  const flags = /^flags\s*:\s*(.*)$/m.exec(text)?.[1].split(/\s+/) ?? [];
  return { model, avx512: flags.includes('avx512f') };
}

export function thisCpu(): CpuInfo {
  try {
    return parseCpuInfo(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return { model: '', avx512: false };
  }
}

/** test/bench/baseline.json (read from the source tree: dist/ holds no JSON) */
export function loadBaselineFile(): BaselineFile {
  const f = [path.join(__dirname, 'baseline.json'), path.join(__dirname, '../../../test/bench/baseline.json')].find((p) =>
    fs.existsSync(p),
  );
  if (!f) throw new Error('test/bench/baseline.json not found');
  return JSON.parse(fs.readFileSync(f, 'utf8')) as BaselineFile;
}

export interface ChosenBaseline {
  baseline: CaffeBaseline;
  /** false: no entry was measured on a CPU like this one, the ratios compare different machines */
  sameMachine: boolean;
  /** one line for the bench's output: which figures the ratios use and why */
  note: string;
}

/** The entry measured on a CPU like `cpu`, else the file's fallback entry, said so in the note. */
export function chooseBaseline(file: BaselineFile, cpu: CpuInfo): ChosenBaseline {
  const same = file.baselines.find(
    (b) => cpu.model !== '' && cpu.model.includes(b.match.cpuModel) && b.match.avx512 === cpu.avx512,
  );
  const baseline = same ?? file.baselines.find((b) => b.id === file.fallback);
  if (!baseline) throw new Error(`baseline.json: fallback entry '${file.fallback}' not found`);
  const where = `${baseline.id}${baseline.date ? `, ${baseline.date}` : ''}`;
  const cpuText = `${cpu.model || 'unknown CPU'}${cpu.avx512 ? ' with AVX-512' : ', no AVX-512'}`;
  const note = same
    ? `Caffe measured on this kind of machine (${where}: ${baseline.description})`
    : `no Caffe figures for this machine (${cpuText}): ratios against ${where} (${baseline.description}), not like for like`;
  return { baseline, sameMachine: !!same, note };
}
