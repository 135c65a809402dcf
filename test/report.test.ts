import { renderReport, ReportData } from '../src/report/html';
import * as path from 'path';
import { StatsCollector } from '../src/calib/stats';
import { clippedFraction, dynamicFixedRange, quantizeReportLayers, reportHistogram, weightRanges, addSimulation } from '../src/report/build';
import { loadModel } from '../src/graph/load';
import type { LayerReport } from '../src/sim/simulate';

const data: ReportData = {
  title: 'LeNet <8-bit>',
  summary: [['float top-1', '99.0 %']],
  layers: [
    { name: 'conv1', type: 'Convolution', thIn: 0.99, thOut: 3.5, method: 'kl', histogram: { counts: [100, 50, 10, 0, 1], max: 5 }, clippedFraction: 0.001, weightMin: [-0.3, -0.2], weightMax: [0.4, 0.1], thParams: [0.4, 0.2], sqnrDb: 30 },
    { name: 'pool1', type: 'Pooling', thIn: 3.5, thOut: 3.5, sqnrDb: 12 },
    { name: 'ip1', type: 'InnerProduct', sqnrDb: 25 },
  ],
};

test('the report is one standalone HTML file with a section per layer and the threshold marker', () => {
  const html = renderReport(data);
  expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
  expect(html.trimEnd().endsWith('</html>')).toBe(true);
  expect(html).not.toMatch(/<script|https?:\/\/|src=/);
  expect(html.match(/<section class="layer"/g)).toHaveLength(3);
  expect(html).toContain('id="layer-conv1"');
  expect(html).toContain('class="threshold"');
  expect(html).toContain('th = 3.5');
  expect(html).toContain('LeNet &lt;8-bit&gt;');
  // worst SQNR layer highlighted
  expect(html).toMatch(/class="worst"[^>]*\/><text[^>]*>12\.0 dB/);
  // balanced section/svg tags
  const count = (re: RegExp) => (html.match(re) ?? []).length;
  expect(count(/<svg/g)).toBe(count(/<\/svg>/g));
  expect(count(/<section/g)).toBe(count(/<\/section>/g));
  // bins above the threshold drawn as clipped
  expect(html).toContain('class="clip"');
});

describe('report builders', () => {
  const stats = new StatsCollector();
  // 1000 values 0.000..0.999 and ten at 3.0
  stats.observe('b', Float32Array.from({ length: 1000 }, (_, i) => (i % 2 ? -1 : 1) * (i / 1000)));
  stats.observe('b', new Float32Array(10).fill(3));
  const s = stats.get('b');

  test('reportHistogram regroups the fine histogram without losing counts', () => {
    const h = reportHistogram(s, 50)!;
    expect(h.counts.length).toBeLessThanOrEqual(50);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(1010);
    expect(h.max).toBeGreaterThanOrEqual(3);
    expect(h.max).toBeLessThan(3.2);
    expect(h.counts[h.counts.length - 1]).toBe(10);
  });

  test('clippedFraction: values above the threshold over all values', () => {
    expect(clippedFraction(s, 4)).toBe(0);
    expect(clippedFraction(s, 2)).toBeCloseTo(10 / 1010, 6);
    expect(clippedFraction(s, 0.5)).toBeCloseTo(510 / 1010, 2);
  });

  test('DynamicFixed range: (2^(bw-1)-1)·2^-fl', () => {
    expect(dynamicFixedRange(8, 9)).toBe(127 / 512);
    expect(dynamicFixedRange(6, 3)).toBe(31 / 8);
  });

  test('LeNet: weight ranges per output channel, sections for every layer, simulation merged by name', () => {
    const M = path.resolve(__dirname, '../models/lenet');
    const m = loadModel(path.join(M, 'lenet.prototxt'), path.join(M, 'lenet_iter_10000.caffemodel'));
    const conv1 = m.graph.layers.find((l) => l.name === 'conv1')!;
    const w = weightRanges(m.graph, conv1)!;
    expect(w.min).toHaveLength(20);
    const W = conv1.blobs[0].data;
    expect(w.max[0]).toBe(Math.max(...W.slice(0, 25)));
    expect(w.min[19]).toBe(Math.min(...W.slice(19 * 25, 20 * 25)));
    expect(weightRanges(m.graph, m.graph.layers.find((l) => l.type === 'Pooling')!)).toBeUndefined();
    const plan = new Map([['conv1', { th_layer_in: 1, th_layer_out: 2, th_params: [0.5] }]]);
    const layers = quantizeReportLayers(m.graph, plan);
    expect(layers.map((l) => l.name)).toEqual(m.graph.layers.map((l) => l.name));
    expect(layers[1]).toMatchObject({ name: 'conv1', thIn: 1, thOut: 2, thParams: [0.5] });
    const sim = { name: 'conv1', index: 1, type: 'Convolution', blob: 'conv1', where: 'hw',
      cumulative: { sqnrDb: 20, cosine: 0.99, maxAbsErr: 1, satFraction: 0.01, count: 1 }, local: { sqnrDb: 25, cosine: 1, maxAbsErr: 1, satFraction: 0, count: 1 } } as LayerReport;
    const merged = addSimulation(layers, [sim]);
    expect(merged[1]).toMatchObject({ sqnrDb: 20, localSqnrDb: 25, saturation: 0.01, where: 'hw', thOut: 2 });
    expect(merged[0].sqnrDb).toBeUndefined();
    const html = renderReport({ title: 't', layers: merged });
    expect(html).toContain('local SQNR 25.0 dB');
  });
});
