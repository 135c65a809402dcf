// `npm pack`, the tarball unpacked as an installed package (its dependencies linked from this checkout's
// node_modules: no network), then require('chaiq') from a folder outside the repo quantizes and simulates LeNet.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from './helpers/cli';

const npm = spawnSync('npm', ['--version'], { encoding: 'utf8' });
const haveNpm = npm.status === 0;
if (!haveNpm) console.warn('test/pack.test.ts skipped: npm is not available on this machine');
const maybe = haveNpm ? test : test.skip;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-pack-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

maybe('the packed tarball holds the library, and its typed API quantizes and simulates LeNet', async () => {
  // dist/ is built by jest's globalSetup; --ignore-scripts: no second build
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: ROOT, encoding: 'utf8' });
  const info = JSON.parse(out)[0];
  const files: string[] = info.files.map((f: { path: string }) => f.path);
  expect(files).toEqual(expect.arrayContaining(['package.json', 'bin/chaiq.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'src/proto/caffe.proto', 'models/lenet/lenet.prototxt', 'models/lenet/lenet_iter_10000.caffemodel']));
  // not the tests, their fixtures, or sources other than the schema
  expect(files.filter((f) => /^(test|dist\/test)\/|^src\/.*\.ts$|\.map$/.test(f))).toEqual([]);

  const app = path.join(tmp, 'app');
  const pkgDir = path.join(app, 'node_modules', 'chaiq');
  fs.mkdirSync(pkgDir, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(tmp, info.filename), '-C', pkgDir, '--strip-components=1']);
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies)) fs.symlinkSync(path.join(ROOT, 'node_modules', dep), path.join(app, 'node_modules', dep), 'dir');

  // the installed package, by name, in a process of its own (nothing of this checkout's dist/ in reach)
  const lenet = path.join(pkgDir, 'models', 'lenet');
  const script = `
    const chaiq = require('chaiq');
    const path = require('path');
    const lenet = ${JSON.stringify(lenet)};
    const digits = path.join(lenet, 'digits');
    (async () => {
      const pre = { ...chaiq.XPORTDNN_PREPROCESS, dims: [1, 28, 28], channelSwap: [0], mean: [0], inputScale: 0.00390625 };
      const q = await chaiq.quantize({
        mode: 'Xilinx', deploy: path.join(lenet, 'lenet.prototxt'), weights: path.join(lenet, 'lenet_iter_10000.caffemodel'),
        bitwidths: { in: 8, params: 8, out: 8 }, inputs: chaiq.calibrationFromDirectory(path.join(digits, 'calibration'), { size: 8 }),
        preprocess: pre, forBoard: { weightsName: 'lenet_q8.caffemodel' },
      });
      require('fs').writeFileSync('lenet_q8.prototxt', q.text);
      require('fs').writeFileSync('lenet_q8.caffemodel', q.caffemodel);
      const board = { ...pre, ...q.input };
      const s = await chaiq.simulate({
        deploy: 'lenet_q8.prototxt', weights: 'lenet_q8.caffemodel', top: 1,
        samples: chaiq.samplesFromDirectory(path.join(digits, 'test'), board, { labelsFromDirname: true }).slice(0, 40),
      });
      process.stdout.write(JSON.stringify({ resolved: require.resolve('chaiq'), mode: s.mode, images: s.images, labelled: s.classification.labelled,
        fixed: s.classification.fixedTop1, agree: s.classification.top1Agree, layers: s.layers.length, blocks: (q.text.match(/precision_param/g) || []).length }));
    })().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
  `;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const got = JSON.parse(r.stdout);
  expect(got.resolved.startsWith(pkgDir)).toBe(true);
  expect(got).toMatchObject({ mode: 'Xilinx', images: 40, labelled: 40 });
  expect(got.blocks).toBeGreaterThan(3);
  expect(got.fixed).toBeGreaterThanOrEqual(36);
  expect(got.agree).toBeGreaterThanOrEqual(36);

  // the typings name the API
  const dts = fs.readFileSync(path.join(pkgDir, 'dist', 'src', 'index.d.ts'), 'utf8');
  expect(dts).toMatch(/quantize/);
  expect(fs.existsSync(path.join(pkgDir, 'dist', 'src', 'pipeline', 'quantize.d.ts'))).toBe(true);
});
