// The columns the grid shows: the table's columns in the layout's order,
// without the hidden ones, and only those the server answered with (a
// column the caller may not read never reaches the page). A small version
// of the schema screens' layout helpers, kept here until theirs land.
import type { Column, Table } from "../lib/types";
import { defaultWidth } from "./values";

export function orderedColumns(table: Table): Column[] {
  const order = table.layout?.order ?? [];
  const pos = new Map(order.map((id, i) => [id, i]));
  return table.columns
    .map((c, i) => ({ c, i }))
    .sort((a, b) => (pos.get(a.c.id) ?? order.length + a.i) - (pos.get(b.c.id) ?? order.length + b.i))
    .map((x) => x.c);
}

// shownColumns are the columns of the grid; fields (the names the server
// returned, null before the first answer) limits them.
export function shownColumns(table: Table, fields: string[] | null): Column[] {
  const hidden = new Set(table.layout?.hidden ?? []);
  const known = fields ? new Set(fields) : null;
  return orderedColumns(table).filter((c) => !hidden.has(c.id) && (!known || known.has(c.name) || known.has(c.id)));
}

export function columnWidth(table: Table, col: Column): number {
  return table.layout?.widths?.[col.id] ?? defaultWidth(col);
}
