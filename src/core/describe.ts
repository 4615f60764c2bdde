/** A short, human-readable description of any value, for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object' && 'shape' in value && 'dtype' in value) {
    const t = value as { shape: number[]; dtype: string };
    return `a ${t.dtype} tensor of shape [${t.shape.join(', ')}]`;
  }
  if (typeof value === 'function') return 'a function';
  return `a value of type ${typeof value}`;
}
