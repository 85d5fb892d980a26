// The columns the grid shows: the table's visible columns in the layout's
// order (the schema screens' layout helpers), and only those the server
// answered with (a column the caller may not read never reaches the page).
import type { Column, Table } from "../lib/types";
import { visibleColumns } from "../schema/layout";
import { defaultWidth } from "./values";

// shownColumns are the columns of the grid; fields (the names the server
// returned, null before the first answer) limits them.
export function shownColumns(table: Table, fields: string[] | null): Column[] {
  const known = fields ? new Set(fields) : null;
  return visibleColumns(table).filter((c) => !known || known.has(c.name) || known.has(c.id));
}

// columnWidth is the layout's width of a column, else one that suits its type.
export function columnWidth(table: Table, col: Column): number {
  return table.layout?.widths?.[col.id] ?? defaultWidth(col);
}
