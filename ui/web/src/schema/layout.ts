// A table's layout: the order, widths and hidden columns that everyone who
// opens the table sees (a presentation choice, not access: hiding protects
// nothing). Stored on the server with the table (PATCH …/tables/{table}
// {"layout": …}) by owners and those with the schema right. The grid and
// the column menu use these helpers; every change is saved whole.
import { api, enc } from "../lib/api";
import type { Column, Table, TableLayout } from "../lib/types";

export const minWidth = 40;
export const maxWidth = 2000;
export const defaultWidth = 180;

// ordered returns the table's columns in layout order: those the layout
// lists first, in its order, then the others in table order.
export function ordered(table: Table): Column[] {
  const byId = new Map(table.columns.map((c) => [c.id, c]));
  const out: Column[] = [];
  const seen = new Set<string>();
  for (const id of table.layout?.order ?? []) {
    const c = byId.get(id);
    if (c && !seen.has(id)) {
      out.push(c);
      seen.add(id);
    }
  }
  for (const c of table.columns) if (!seen.has(c.id)) out.push(c);
  return out;
}

// isHidden reports whether the layout hides column id.
export function isHidden(table: Table, id: string): boolean {
  return (table.layout?.hidden ?? []).includes(id);
}

// visibleColumns is what the grid shows: ordered, without hidden columns.
export function visibleColumns(table: Table): Column[] {
  return ordered(table).filter((c) => !isHidden(table, c.id));
}

// width is the column's width in pixels (the default when the layout sets none).
export function width(table: Table, id: string): number {
  return table.layout?.widths?.[id] ?? defaultWidth;
}

// clampWidth keeps a width within what the server accepts.
export function clampWidth(px: number): number {
  return Math.min(maxWidth, Math.max(minWidth, Math.round(px)));
}

function copy(table: Table): TableLayout {
  const l = table.layout ?? {};
  return { order: ordered(table).map((c) => c.id), widths: { ...(l.widths ?? {}) }, hidden: [...(l.hidden ?? [])] };
}

// withHidden returns the layout with column id hidden or shown.
export function withHidden(table: Table, id: string, hidden: boolean): TableLayout {
  const l = copy(table);
  l.hidden = l.hidden!.filter((h) => h !== id);
  if (hidden) l.hidden.push(id);
  return l;
}

// withMoved returns the layout with column id moved by delta places among
// the shown columns (-1: one to the left), hidden ones keeping their place
// relative to their neighbours. Unchanged at either end.
export function withMoved(table: Table, id: string, delta: number): TableLayout {
  const l = copy(table);
  const order = l.order!;
  const hidden = new Set(l.hidden);
  const shown = order.filter((c) => !hidden.has(c));
  const i = shown.indexOf(id);
  const j = i + delta;
  if (i < 0 || j < 0 || j >= shown.length) return l;
  const other = shown[j];
  const a = order.indexOf(id);
  const b = order.indexOf(other);
  order.splice(a, 1);
  order.splice(b, 0, id);
  return l;
}

// withWidth returns the layout with column id at width px (clamped).
export function withWidth(table: Table, id: string, px: number): TableLayout {
  const l = copy(table);
  l.widths![id] = clampWidth(px);
  return l;
}

// canMove reports whether column id can move by delta among the shown columns.
export function canMove(table: Table, id: string, delta: number): boolean {
  const shown = visibleColumns(table).map((c) => c.id);
  const i = shown.indexOf(id);
  return i >= 0 && i + delta >= 0 && i + delta < shown.length;
}

// saveLayout stores the layout and returns the table as the server now has it.
export function saveLayout(notebook: string, table: Table, layout: TableLayout): Promise<Table> {
  return api.patch<Table>(`/api/v1/notebooks/${enc(notebook)}/tables/${enc(table.id)}`, { layout });
}
