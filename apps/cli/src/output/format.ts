import { stringify } from 'yaml';
import { type Style, visibleLength } from './style.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export type Column<T> = {
  readonly header: string;
  readonly value: (row: T) => string;
  /** Colour the cell (after padding is computed on the plain text). */
  readonly style?: (text: string, row: T) => string;
};

/** A plain-text table: upper-case headers, columns two spaces apart, no borders (like kubectl). */
export function renderTable<T>(columns: readonly Column<T>[], rows: readonly T[], style: Style): string[] {
  const cells = rows.map((row) => columns.map((c) => oneLine(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => visibleLength(r[i] ?? ''))));
  const pad = (text: string, i: number, last: boolean): string => (last ? text : text + ' '.repeat(Math.max(0, (widths[i] ?? 0) - visibleLength(text))));
  const lines = [columns.map((c, i) => pad(c.header.toUpperCase(), i, i === columns.length - 1)).join('  ').trimEnd()];
  lines[0] = style.bold(lines[0] ?? '');
  rows.forEach((row, r) => {
    const line = columns.map((c, i) => {
      const text = cells[r]?.[i] ?? '';
      const padded = pad(text, i, i === columns.length - 1);
      return c.style === undefined ? padded : padded.replace(text, c.style(text, row));
    });
    lines.push(line.join('  ').trimEnd());
  });
  return lines;
}

/** `label:  value` lines with aligned values; undefined values are left out. */
export function renderFields(fields: readonly (readonly [string, string | undefined])[], style: Style): string[] {
  const shown = fields.filter((f): f is readonly [string, string] => f[1] !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${style.bold(`${k}:`.padEnd(width))}  ${v}`);
}

/** The value as JSON (2-space indent) or YAML, for --output json|yaml. */
export function renderData(data: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(data, null, 2) : stringify(data, { lineWidth: 0 }).replace(/\n$/, '');
}

/** Short JSON for a table cell or a field. */
export function compactJson(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? '';
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/** How long ago an epoch-ms time was: 5s, 3m, 2h, 4d. */
export function formatAge(atMs: number | null | undefined, nowMs: number): string {
  if (atMs === null || atMs === undefined || !Number.isFinite(atMs)) return '-';
  return formatElapsed(Math.max(0, nowMs - atMs));
}

/** A duration in ms as 850ms, 12s, 3m4s, 2h5m, 4d3h. */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
}

/** An epoch-ms time as ISO 8601 (UTC), or '-' . */
export function formatTime(atMs: number | null | undefined): string {
  if (atMs === null || atMs === undefined || !Number.isFinite(atMs)) return '-';
  return new Date(atMs).toISOString();
}

/** `a=b,c=d` of a label map ('-' when empty). */
export function formatLabels(labels: Readonly<Record<string, string>> | undefined): string {
  const entries = Object.entries(labels ?? {});
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}
