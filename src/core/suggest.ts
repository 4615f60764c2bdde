/** Levenshtein distance between two strings, case-insensitive. */
function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const row = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost));
    }
    prev = row;
  }
  return prev[t.length];
}

/**
 * The names closest to `name`: those within a third of its length in edit distance, or that
 * contain it (or are contained in it), closest first, at most `limit`.
 */
export function closestNames(name: string, candidates: Iterable<string>, limit = 3): string[] {
  const lower = name.toLowerCase();
  return [...candidates]
    .map((c) => ({ c, d: editDistance(name, c) }))
    .filter(
      ({ c, d }) =>
        d <= Math.max(2, Math.ceil(name.length / 3)) ||
        c.toLowerCase().includes(lower) ||
        (c.length > 2 && lower.includes(c.toLowerCase())),
    )
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .slice(0, limit)
    .map(({ c }) => c);
}

/** `" Did you mean 'a' or 'b'?"`, or `""` when nothing is close. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const close = closestNames(name, candidates);
  if (close.length === 0) return '';
  return ` Did you mean ${close.map((c) => `'${c}'`).join(' or ')}?`;
}
