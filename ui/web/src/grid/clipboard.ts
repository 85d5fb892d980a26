// Copy, paste and clear of a range of cells, as batch operations: the
// grid turns them into ONE request (one change, one undo).
import type { Column, RecordT } from "../lib/types";
import type { BatchOp } from "./rows.svelte";
import { parseTSV, toTSV } from "./tsv";
import { display, parse, ParseError, readOnly, type Labels } from "./values";

// copyText is the range as tab-separated text, each cell as it is shown.
export function copyText(recs: (RecordT | undefined)[], cols: Column[], label: Labels): string {
  return toTSV(recs.map((rec) => cols.map((c) => (rec ? display(c, rec.fields[c.name], label) : ""))));
}

export function emptyValue(c: Column): unknown {
  return c.type === "boolean" ? false : c.type === "multi_select" || c.type === "link" ? [] : null;
}

// clearOps empties the editable cells of the range.
export function clearOps(recs: (RecordT | undefined)[], cols: Column[]): BatchOp[] {
  const editable = cols.filter((c) => !readOnly(c));
  if (editable.length === 0) return [];
  const ops: BatchOp[] = [];
  for (const rec of recs) {
    if (!rec) continue;
    const fields: Record<string, unknown> = {};
    for (const c of editable) fields[c.name] = emptyValue(c);
    ops.push({ op: "update", id: rec.id, fields, version: rec.version });
  }
  return ops;
}

// LinkIds gives the ids of the records of a table with a label (resolved
// before the paste is planned).
export type LinkIds = (table: string, label: string) => string[] | undefined;

// linkLabels lists the labels a paste puts into link columns, by target
// table (to resolve them first).
export function linkLabels(text: string, columns: Column[], c0: number): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of parseTSV(text.replace(/\r?\n$/, ""))) {
    line.forEach((cell, j) => {
      const col = columns[c0 + j];
      if (col?.type !== "link" || !col.options.table) return;
      const list = out.get(col.options.table) ?? [];
      list.push(...splitLabels(cell));
      out.set(col.options.table, list);
    });
  }
  return out;
}

function splitLabels(cell: string): string[] {
  return cell.split(/\s*,\s*/).map((s) => s.trim()).filter(Boolean);
}

export interface PastePlan {
  ops: BatchOp[];
  problems: string[]; // values that do not fit their column, in plain words
  skipped: number; // cells of automatic or link columns, left as they were
  missing: boolean; // a row of the target is not loaded yet
  rows: number;
  cols: number;
}

// pasteOps plans a paste of text at row r0, column c0 (indexes into
// columns). A block smaller than the selected range (selRows × selCols)
// whose size divides it is repeated over the range, as spreadsheets do.
// Rows past total become new records.
export function pasteOps(
  text: string,
  columns: Column[],
  r0: number,
  c0: number,
  selRows: number,
  selCols: number,
  total: number,
  get: (i: number) => RecordT | undefined,
  linkIds?: LinkIds,
): PastePlan {
  const block = parseTSV(text.replace(/\r?\n$/, ""));
  const bw = Math.max(0, ...block.map((r) => r.length));
  const rows = block.length > 0 && selRows > block.length && selRows % block.length === 0 ? selRows : block.length;
  const cols = bw > 0 && selCols > bw && selCols % bw === 0 && block.every((r) => r.length === bw) ? selCols : bw;
  const plan: PastePlan = { ops: [], problems: [], skipped: 0, missing: false, rows, cols };
  for (let i = 0; i < rows; i++) {
    const line = block[i % block.length];
    const r = r0 + i;
    const fields: Record<string, unknown> = {};
    for (let j = 0; j < cols; j++) {
      const cell = line[j % bw];
      const col = columns[c0 + j];
      if (!col || cell === undefined) continue;
      if (readOnly(col) || (col.type === "link" && !linkIds)) {
        plan.skipped++;
        continue;
      }
      if (col.type === "link") {
        // Linked records by their labels, as copied from a link cell.
        const ids: string[] = [];
        for (const l of splitLabels(cell)) {
          const found = linkIds!(col.options.table ?? "", l) ?? [];
          if (found.length === 1) ids.push(found[0]);
          else plan.problems.push(`row ${r + 1}: ${col.name}: ` + (found.length === 0 ? `no record is called "${l}".` : `several records are called "${l}".`));
        }
        fields[col.name] = col.options.multiple ? ids : ids.slice(0, 1);
        continue;
      }
      try {
        if (col.type === "single_select") {
          const t = cell.trim();
          const choice = (col.options.choices ?? []).find((c) => c.toLowerCase() === t.toLowerCase());
          fields[col.name] = t === "" ? null : (choice ?? t);
        } else fields[col.name] = parse(col, cell);
      } catch (err) {
        if (err instanceof ParseError) plan.problems.push(`row ${r + 1}: ${err.message}`);
        else throw err;
      }
    }
    if (r < total) {
      const rec = get(r);
      if (!rec) {
        plan.missing = true;
        continue;
      }
      plan.ops.push({ op: "update", id: rec.id, fields, version: rec.version });
    } else plan.ops.push({ op: "create", fields });
  }
  return plan;
}
