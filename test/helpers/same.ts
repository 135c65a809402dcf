/**
 * The names whose arrays differ (length, or any element by Object.is, as toEqual compares numbers): one pass,
 * where toEqual walks a Float32Array of a net's blob element by element through its generic matcher (seconds per net).
 */
export function differing(want: Iterable<[string, ArrayLike<number>]>, got: (name: string) => ArrayLike<number> | undefined): string[] {
  const bad: string[] = [];
  for (const [k, v] of want) {
    const g = got(k);
    let same = !!g && g.length === v.length;
    for (let i = 0; same && i < v.length; i++) same = Object.is(g![i], v[i]);
    if (!same) bad.push(k);
  }
  return bad;
}
