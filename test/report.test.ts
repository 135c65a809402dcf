import { renderReport, ReportData } from '../src/report/html';

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
