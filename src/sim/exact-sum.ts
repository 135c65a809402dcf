/**
 * Exact floating-point summation (Shewchuk's non-overlapping partials, as Python's math.fsum): the value is
 * the correctly rounded sum of everything added, whatever the order or grouping. Simulation accumulators
 * use it so that images spread over threads, shards or machines merge to the same bytes as one run.
 */

export interface ExactSumJSON {
  p: number[];
  /** the sum of the non-finite terms, when there were any ('inf', '-inf', 'nan') */
  s?: string;
}

export class ExactSum {
  private partials: number[] = [];
  private special = 0;

  add(x: number): void {
    if (!Number.isFinite(x)) {
      this.special += x;
      return;
    }
    const ps = this.partials;
    let i = 0;
    for (let j = 0; j < ps.length; j++) {
      let y = ps[j];
      if (Math.abs(x) < Math.abs(y)) {
        const t = x;
        x = y;
        y = t;
      }
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) ps[i++] = lo;
      x = hi;
    }
    ps.length = i;
    ps.push(x);
  }

  addSum(o: ExactSum): void {
    for (const p of o.partials) this.add(p);
    if (o.special !== 0 || Number.isNaN(o.special)) this.special += o.special;
  }

  /** The correctly rounded total. */
  value(): number {
    if (this.special !== 0 || Number.isNaN(this.special)) return this.special;
    const ps = this.partials;
    let n = ps.length;
    if (n === 0) return 0;
    let hi = ps[--n];
    let lo = 0;
    while (n > 0) {
      const x = hi;
      const y = ps[--n];
      hi = x + y;
      lo = y - (hi - x);
      if (lo !== 0) break;
    }
    // half-way case: the partials below decide the rounding direction
    if (n > 0 && ((lo < 0 && ps[n - 1] < 0) || (lo > 0 && ps[n - 1] > 0))) {
      const y = lo * 2;
      const x = hi + y;
      if (y === x - hi) hi = x;
    }
    return hi;
  }

  /**
   * The exact value as a canonical expansion: its rounded value, then the rounded remainder, and so on. It
   * depends only on the value, so files written from any split of the same terms are identical.
   */
  canonical(): number[] {
    const rest = new ExactSum();
    for (const p of this.partials) rest.add(p);
    const out: number[] = [];
    for (let v = rest.value(); v !== 0; v = rest.value()) {
      out.push(v);
      rest.add(-v);
    }
    return out;
  }

  toJSON(): ExactSumJSON {
    const j: ExactSumJSON = { p: this.canonical() };
    if (this.special !== 0 || Number.isNaN(this.special)) j.s = Number.isNaN(this.special) ? 'nan' : this.special > 0 ? 'inf' : '-inf';
    return j;
  }

  static fromJSON(j: unknown): ExactSum | undefined {
    const o = j as ExactSumJSON;
    if (!o || typeof o !== 'object' || !Array.isArray(o.p) || !o.p.every((v) => typeof v === 'number' && Number.isFinite(v))) return undefined;
    const e = new ExactSum();
    for (const v of o.p) e.add(v);
    if (o.s !== undefined) {
      if (o.s === 'inf') e.special = Infinity;
      else if (o.s === '-inf') e.special = -Infinity;
      else if (o.s === 'nan') e.special = NaN;
      else return undefined;
    }
    return e;
  }
}
