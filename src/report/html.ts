/**
 * The per-layer quantization report: one self-contained HTML file (inline SVG, no scripts, no network).
 * Per layer: the activation histogram (log scale) with the chosen threshold and the clipped fraction,
 * per-channel weight ranges with their th_params, and an SQNR bar chart across layers, worst highlighted —
 * the analysis the Hailo and Vitis guides ask users to do by hand.
 */
export interface ReportHistogram {
  /** histogram of |x| over [0, max] in equal bins (max: the upper edge of the last bin) */
  counts: number[];
  max: number;
  /** the largest |x| seen (≤ max) */
  absMax?: number;
}

export interface ReportLayer {
  name: string;
  type: string;
  thIn?: number;
  thOut?: number;
  flIn?: number;
  flOut?: number;
  method?: string;
  histogram?: ReportHistogram;
  /** fraction of calibration values with |x| > thOut */
  clippedFraction?: number;
  /** per output channel min and max of the weights */
  weightMin?: number[];
  weightMax?: number[];
  thParams?: number[];
  /** DynamicFixed: the largest representable output (2^(bw-1)-1)·2^-fl_out, drawn where th_out would be */
  rangeOut?: number;
  /** DynamicFixed: the largest representable weight, (2^(bw-1)-1)·2^-fl_params */
  paramRange?: number;
  /** fixed chain vs float, through this layer */
  sqnrDb?: number;
  /** HW layers: this layer alone on its quantized float input */
  localSqnrDb?: number;
  cosine?: number;
  saturation?: number;
  /** 'hw' (integer, FPGA) or 'sw' (float, ARM) in the simulation */
  where?: string;
  note?: string;
}

export interface ReportData {
  title: string;
  subtitle?: string;
  /** rows of the summary table, e.g. [['float top-1', '99.1 %'], ...] */
  summary?: [string, string][];
  /** a free table above the layers, first row = header (e.g. the demo's variants) */
  table?: string[][];
  /** relative links to sibling reports */
  links?: { href: string; text: string }[];
  layers: ReportLayer[];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const db = (x: number) => (x === Infinity ? 'inf' : x === -Infinity ? '-inf' : x.toFixed(1));
const num = (x: number | undefined, d = 4) => (x === undefined || Number.isNaN(x) ? '–' : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toFixed(d).replace(/\.?0+$/, '') || '0');

function histogramSvg(h: ReportHistogram, th: number | undefined, thLabel = 'th'): string {
  const W = 560;
  const H = 160;
  const pad = 28;
  const n = h.counts.length;
  const plotW = W - pad - 8;
  // the axis reaches past a threshold above max|x| (a DynamicFixed range, a pow2 snap) so the marker shows
  const xMax = th !== undefined && th > h.max ? th * 1.04 : h.max;
  const xOf = (v: number) => pad + (xMax > 0 ? v / xMax : 0) * plotW;
  const logMax = Math.log10(1 + Math.max(1, ...h.counts));
  const bw = xMax > 0 ? ((h.max / n) / xMax) * plotW : plotW / n;
  const bars = h.counts
    .map((c, i) => {
      if (c <= 0) return '';
      const bh = ((H - pad - 8) * Math.log10(1 + c)) / logMax;
      const clipped = th !== undefined && ((i + 0.5) * h.max) / n > th;
      return `<rect x="${(pad + i * bw).toFixed(2)}" y="${(H - pad - bh).toFixed(2)}" width="${Math.max(bw - 0.3, 0.5).toFixed(2)}" height="${bh.toFixed(2)}" class="${clipped ? 'clip' : 'bar'}"/>`;
    })
    .join('');
  const marker =
    th !== undefined && xMax > 0
      ? (() => {
          const x = xOf(th);
          const right = x > pad + 0.7 * plotW;
          return `<line class="threshold" x1="${x.toFixed(2)}" x2="${x.toFixed(2)}" y1="4" y2="${H - pad}"/><text x="${(right ? x - 3 : x + 3).toFixed(2)}" y="14" class="lbl"${right ? ' text-anchor="end"' : ''}>${thLabel} = ${esc(num(th))}</text>`;
        })()
      : '';
  // the real max|x| (the last bin's upper edge lies above it)
  const am = h.absMax ?? h.max;
  const ax = xOf(am);
  const maxMark = `<line x1="${ax.toFixed(2)}" x2="${ax.toFixed(2)}" y1="${H - pad}" y2="${H - pad + 4}" class="axis"/><text x="${ax.toFixed(2)}" y="${H - 10}" class="lbl" text-anchor="${ax > pad + 0.8 * plotW ? 'end' : 'middle'}">max |x| ${esc(num(am))}</text>`;
  return `<svg class="hist" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="histogram of |x|, log scale">
<line x1="${pad}" y1="${H - pad}" x2="${W - 8}" y2="${H - pad}" class="axis"/>${bars}${marker}
<text x="${pad}" y="${H - 10}" class="lbl">0</text>${maxMark}
<text x="4" y="${H / 2}" class="lbl" transform="rotate(-90 10 ${H / 2})">log count</text></svg>`;
}

/** channels drawn one bar each; above this, consecutive channels share a bar (their envelope) */
const WEIGHT_BARS = 128;

function weightSvg(l: ReportLayer): string {
  const mn = l.weightMin!;
  const mx = l.weightMax!;
  const n = mn.length;
  const W = 640;
  const H = 190;
  const left = 62;
  const right = 10;
  const top = 22;
  const bottom = 34;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const thName = l.thParams ? '±th_params' : '±range_params';
  const thp = l.thParams ?? (l.paramRange !== undefined ? new Array<number>(n).fill(l.paramRange) : []);
  const lim = Math.max(1e-12, ...mx.map(Math.abs), ...mn.map(Math.abs), ...thp);
  const y = (v: number) => top + plotH / 2 - (v / lim) * (plotH / 2);
  const group = Math.ceil(n / WEIGHT_BARS);
  const bars = Math.ceil(n / group);
  const cw = plotW / bars;
  let rects = '';
  let ths = '';
  for (let b = 0; b < bars; b++) {
    let lo = Infinity;
    let hi = -Infinity;
    let t = -Infinity;
    for (let c = b * group; c < Math.min(n, (b + 1) * group); c++) {
      lo = Math.min(lo, mn[c]);
      hi = Math.max(hi, mx[c]);
      if (c < thp.length) t = Math.max(t, thp[c]);
    }
    const x0 = left + b * cw;
    rects += `<rect x="${x0.toFixed(2)}" y="${y(hi).toFixed(2)}" width="${Math.max(cw - (cw > 2 ? 0.5 : 0), 0.5).toFixed(2)}" height="${Math.max(0.5, y(lo) - y(hi)).toFixed(2)}" class="bar"/>`;
    if (t > -Infinity)
      for (const v of [t, -t]) ths += `<line class="threshold" x1="${x0.toFixed(2)}" x2="${(x0 + cw).toFixed(2)}" y1="${y(v).toFixed(2)}" y2="${y(v).toFixed(2)}"/>`;
  }
  // axes: weight value (±lim, 0) and output channel (first, middle, last)
  const yTicks = [lim, lim / 2, 0, -lim / 2, -lim]
    .map((v) => `<line x1="${left - 4}" x2="${left}" y1="${y(v).toFixed(2)}" y2="${y(v).toFixed(2)}" class="axis"/><text x="${left - 6}" y="${(y(v) + 4).toFixed(2)}" class="lbl" text-anchor="end">${esc(num(v, 3))}</text>`)
    .join('');
  const xOfCh = (c: number) => left + (Math.floor(c / group) + 0.5) * cw;
  const xTicks = [...new Set([0, Math.floor((n - 1) / 2), n - 1])]
    .map((c) => `<line x1="${xOfCh(c).toFixed(2)}" x2="${xOfCh(c).toFixed(2)}" y1="${top + plotH}" y2="${top + plotH + 4}" class="axis"/><text x="${xOfCh(c).toFixed(2)}" y="${top + plotH + 15}" class="lbl" text-anchor="middle">${c}</text>`)
    .join('');
  const per = group > 1 ? `, ${group} channels per bar` : '';
  const legend = `<rect x="${left}" y="6" width="10" height="10" class="bar"/><text x="${left + 14}" y="15" class="lbl">weight min … max${per}</text>` +
    (thp.length ? `<line x1="${left + 210}" x2="${left + 226}" y1="11" y2="11" class="threshold"/><text x="${left + 230}" y="15" class="lbl">${thName}${group > 1 ? ' (largest in the bar)' : ''}</text>` : '');
  return `<svg class="weights" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="per-channel weight ranges"><title>per output channel: weight min..max (bars), ${thName} (red)</title>
${legend}<line x1="${left}" x2="${W - right}" y1="${y(0).toFixed(2)}" y2="${y(0).toFixed(2)}" class="axis"/><line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" class="axis"/>${yTicks}${xTicks}
<text x="${left + plotW / 2}" y="${H - 4}" class="lbl" text-anchor="middle">output channel (${n})</text><text x="12" y="${top + plotH / 2}" class="lbl" text-anchor="middle" transform="rotate(-90 12 ${top + plotH / 2})">weight</text>
${rects}${ths}</svg>`;
}

function sqnrSvg(layers: ReportLayer[]): string {
  const ls = layers.filter((l) => l.sqnrDb !== undefined && Number.isFinite(l.sqnrDb));
  if (ls.length === 0) return '';
  const worst = ls.reduce((a, b) => (b.sqnrDb! < a.sqnrDb! ? b : a));
  const W = 640;
  const rowH = 18;
  const H = ls.length * rowH + 10;
  const maxDb = Math.max(1, ...ls.map((l) => l.sqnrDb!));
  const rows = ls
    .map((l, i) => {
      const w = Math.max(0, (l.sqnrDb! / maxDb) * (W - 230));
      return `<text x="150" y="${i * rowH + 14}" class="lbl" text-anchor="end">${esc(l.name)}</text><rect x="156" y="${i * rowH + 3}" height="${rowH - 5}" width="${w.toFixed(1)}" class="${l === worst ? 'worst' : 'bar'}"/><text x="${(160 + w).toFixed(1)}" y="${i * rowH + 14}" class="lbl">${l.sqnrDb!.toFixed(1)} dB</text>`;
    })
    .join('');
  return `<svg class="sqnr" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="SQNR per layer">${rows}</svg>
<p class="worst-note">worst: <a href="#layer-${esc(worst.name)}">${esc(worst.name)}</a> (${worst.sqnrDb!.toFixed(1)} dB)</p>`;
}

export function renderReport(data: ReportData): string {
  const links = data.links?.length ? `<p class="links">${data.links.map((k) => `<a href="${esc(k.href)}">${esc(k.text)}</a>`).join(' · ')}</p>` : '';
  const table = data.table && data.table.length > 1
    ? `<table class="variants"><tr>${data.table[0].map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${data.table.slice(1).map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</table>`
    : '';
  const summary = data.summary?.length
    ? `<table class="summary">${data.summary.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`
    : '';
  const glance = data.layers.length
    ? `<table class="variants glance"><tr><th>layer</th><th>type</th><th>th / fl out</th><th>clipped</th><th>SQNR</th><th>local SQNR</th></tr>${data.layers
      .map((l) => `<tr><td><a href="#layer-${esc(l.name)}">${esc(l.name)}</a></td><td>${esc(l.type)}</td><td>${l.thOut !== undefined ? num(l.thOut) : l.flOut !== undefined ? `fl ${l.flOut}` : '–'}</td><td>${l.clippedFraction !== undefined ? (l.clippedFraction * 100).toPrecision(3) + ' %' : '–'}</td><td>${l.sqnrDb !== undefined ? db(l.sqnrDb) + ' dB' : '–'}</td><td>${l.localSqnrDb !== undefined ? db(l.localSqnrDb) + ' dB' : '–'}</td></tr>`)
      .join('')}</table>`
    : '';
  const sections = data.layers
    .map((l) => {
      const facts: string[] = [];
      if (l.thIn !== undefined) facts.push(`th_in ${num(l.thIn)}`);
      if (l.thOut !== undefined) facts.push(`th_out ${num(l.thOut)}`);
      if (l.flIn !== undefined) facts.push(`fl_in ${l.flIn}`);
      if (l.flOut !== undefined) facts.push(`fl_out ${l.flOut}`);
      if (l.method) facts.push(`method ${esc(l.method)}`);
      if (l.clippedFraction !== undefined) facts.push(`clipped ${(l.clippedFraction * 100).toPrecision(3)} %`);
      if (l.rangeOut !== undefined) facts.push(`range_out ±${num(l.rangeOut)}`);
      if (l.paramRange !== undefined) facts.push(`range_params ±${num(l.paramRange)}`);
      if (l.where) facts.push(l.where === 'hw' ? 'HW (fixed)' : 'SW (float)');
      if (l.sqnrDb !== undefined) facts.push(`SQNR ${db(l.sqnrDb)} dB`);
      if (l.localSqnrDb !== undefined) facts.push(`local SQNR ${db(l.localSqnrDb)} dB`);
      if (l.cosine !== undefined) facts.push(`cosine ${num(l.cosine, 5)}`);
      if (l.saturation !== undefined) facts.push(`saturated ${(l.saturation * 100).toPrecision(3)} %`);
      if (l.weightMin && l.weightMax) facts.push(`weights ${num(Math.min(...l.weightMin))} … ${num(Math.max(...l.weightMax))} over ${l.weightMin.length} channels`);
      if (l.note) facts.push(esc(l.note));
      return `<section class="layer" id="layer-${esc(l.name)}"><h2>${esc(l.name)} <small>${esc(l.type)}</small></h2>
<p class="facts">${facts.join(' · ')}</p>
${l.histogram ? histogramSvg(l.histogram, l.thOut ?? l.rangeOut, l.thOut !== undefined ? 'th' : 'range') : ''}
${l.weightMin && l.weightMax ? weightSvg(l) : ''}</section>`;
    })
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(data.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:980px;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin:1.4em 0 .2em}h2 small{color:#777;font-weight:normal}
.facts{color:#444;margin:.2em 0}.summary th{text-align:left;padding-right:1em}
svg{display:block;margin:.3em 0;background:#fafafa;border:1px solid #eee}
.bar{fill:#4a7fb5}.clip{fill:#d9534f}.worst{fill:#d9534f}.threshold{stroke:#d9534f;stroke-width:1.5}
.axis{stroke:#999}.lbl{font-size:11px;fill:#333}
.variants{border-collapse:collapse;margin:.6em 0}.variants td,.variants th{border:1px solid #ddd;padding:.2em .6em;text-align:left}
</style></head><body>
<h1>${esc(data.title)}</h1>${data.subtitle ? `<p>${esc(data.subtitle)}</p>` : ''}
${links}${summary}${table}
${data.layers.length ? `<h2>SQNR per layer (fixed chain vs float, through each layer; worst in red)</h2>${sqnrSvg(data.layers) || '<p>no simulation data</p>'}
<h2>Layers</h2>${glance}` : ''}
${sections}
</body></html>
`;
}
