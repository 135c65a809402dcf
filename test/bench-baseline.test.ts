/**
 * test/bench/baseline.json and how `npm run bench -- forward` picks its Caffe reference: the figures of a machine
 * like the one it runs on, batch 1 and batch 8, and a note saying which entry it used.
 */
import * as fs from 'fs';
import { chooseBaseline, loadBaselineFile, parseCpuInfo } from './bench/baseline';
import { corpusFile } from './bench/netutil';

const cpuinfo = (model: string, flags: string): string =>
  `processor\t: 0\nvendor_id\t: x\nmodel name\t: ${model}\nflags\t\t: ${flags}\n\nprocessor\t: 1\nmodel name\t: ${model}\nflags\t\t: ${flags}\n`;
const EPYC = cpuinfo('AMD EPYC', 'fpu sse4_2 avx fma avx2 bmi2 sha_ni vaes');
const XEON = cpuinfo('Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz', 'fpu avx fma avx2 avx512f avx512bw avx512_vnni');

describe('baseline.json', () => {
  const file = loadBaselineFile();

  it('reads the CPU model and the AVX-512 flag from /proc/cpuinfo text', () => {
    expect(parseCpuInfo(EPYC)).toEqual({ model: 'AMD EPYC', avx512: false });
    expect(parseCpuInfo(XEON)).toEqual({ model: 'Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz', avx512: true });
    expect(parseCpuInfo('')).toEqual({ model: '', avx512: false });
  });

  it('uses the figures measured on the AMD EPYC (AVX2, no AVX-512) there, batch 1 and batch 8', () => {
    const c = chooseBaseline(file, parseCpuInfo(EPYC));
    expect(c.sameMachine).toBe(true);
    expect(c.baseline.id).toMatch(/epyc/);
    expect(c.baseline.date).toMatch(/^\d{4}-\d\d-\d\d$/);
    expect(c.note).toMatch(/^Caffe measured on this kind of machine/);
    for (const key of ['googlenet', 'resnet50', 'mobilenet_v1']) {
      const n = c.baseline.nets[key];
      // CPU times, which the load of a shared machine hardly moves; on one thread each is the whole forward's work
      expect(n.caffeMainCpuMsB1).toBeGreaterThan(0);
      expect(n.caffeMainCpuMsB8PerImage).toBeGreaterThan(0);
      expect(n.caffeCpuMsB1OneThread).toBeGreaterThan(0);
      expect(n.caffeCpuMsB8PerImageOneThread).toBeGreaterThan(0);
    }
  });

  it("keeps issue 16's Xeon figures as their own entry, used on an AVX-512 Xeon", () => {
    const c = chooseBaseline(file, parseCpuInfo(XEON));
    expect(c.sameMachine).toBe(true);
    expect(c.baseline.id).toBe('xeon-issue16');
    expect(c.baseline.description).toMatch(/given in issue 16 for the Xeon/);
    expect(Object.fromEntries(Object.entries(c.baseline.nets).map(([k, v]) => [k, v.caffeMsB1]))).toEqual({
      googlenet: 68,
      resnet50: 116,
      mobilenet_v1: 51,
    });
  });

  it('says so when no entry matches the machine', () => {
    const c = chooseBaseline(file, parseCpuInfo(cpuinfo('Apple M2', 'fp asimd')));
    expect(c.sameMachine).toBe(false);
    expect(c.baseline.id).toBe(file.fallback);
    expect(c.note).toMatch(/^no Caffe figures for this machine \(Apple M2, no AVX-512\).*not like for like/);
  });

  it('names corpus prototxts and records how every figure was measured', () => {
    for (const b of file.baselines) {
      const j = b as unknown as { commands?: Record<string, string> };
      for (const [key, n] of Object.entries(b.nets)) {
        expect(fs.existsSync(corpusFile(`prototxt/${n.file}`))).toBe(true);
        expect(j.commands?.[key]).toMatch(/caffe\w*(\.bin)? time -model/);
      }
    }
  });
});
