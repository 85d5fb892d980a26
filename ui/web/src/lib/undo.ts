// Undo and redo of the person's own last actions in a notebook
// (POST /api/v1/notebooks/{nb}/undo and /redo). The server does the work:
// compare-and-set against what the action wrote, through the access
// engine again. The page says in a short sentence what happened, or why
// not: a conflict names the cells someone else changed since.

import { api, ApiError, enc } from "./api";

export interface RecordRef {
  table: string;
  record: string;
}

export interface ActionDone {
  seq: number;
  kind: string;
  of?: number;
  summary: string;
  records: RecordRef[];
}

export interface CellRef {
  table: string;
  record?: string;
  column?: string;
  view?: string;
}

export interface UndoResult {
  ok: boolean;
  message: string;
  done?: ActionDone;
}

// describeCells names the cells in conflict in plain words: "Name of
// record rec_1, the record rec_2 (table People)".
// nameOf may give a record's name as the page shows it (its first column).
export type RecordNamer = (table: string, record: string) => string | undefined;

export function describeCells(cells: CellRef[], nameOf?: RecordNamer): string {
  const rec = (c: CellRef) => {
    const n = c.record ? nameOf?.(c.table, c.record) : undefined;
    return n ? `“${n}”` : `record ${c.record}`;
  };
  const parts = cells.slice(0, 5).map((c) => {
    if (c.view) return `the view “${c.view}”`;
    if (c.column && c.record) return `“${c.column}” of ${rec(c)}`;
    if (c.column) return `the column “${c.column}”`;
    if (c.record) return `the ${rec(c)}`;
    return `a hidden cell of “${c.table}”`;
  });
  const tables = [...new Set(cells.map((c) => c.table))];
  let s = parts.join(", ");
  if (cells.length > 5) s += ` and ${cells.length - 5} more`;
  if (tables.length === 1 && tables[0]) s += ` in table “${tables[0]}”`;
  return s;
}

// undoRedo calls the server and words its answer.
export async function undoRedo(notebook: string, what: "undo" | "redo", nameOf?: RecordNamer): Promise<UndoResult> {
  try {
    const done = await api.post<ActionDone>(`/api/v1/notebooks/${enc(notebook)}/${what}`);
    // The server's summary reads "undid: changed Age of a record in People".
    const s = done.summary ? done.summary.charAt(0).toUpperCase() + done.summary.slice(1) : what === "undo" ? "Undid your last change" : "Redid your last change";
    return { ok: true, message: s.endsWith(".") ? s : s + ".", done };
  } catch (e) {
    return { ok: false, message: whyNot(e, what, nameOf) };
  }
}

function whyNot(e: unknown, what: "undo" | "redo", nameOf?: RecordNamer): string {
  if (!(e instanceof ApiError)) return `Could not ${what}: the server cannot be reached.`;
  switch (e.code) {
    case "nothing_to_undo":
      return "Nothing to undo: you have no recent change in this notebook.";
    case "nothing_to_redo":
      return "Nothing to redo.";
    case "conflict": {
      const cells = Array.isArray(e.body.cells) ? (e.body.cells as CellRef[]) : [];
      if (cells.length > 0) return `Could not ${what}: someone else changed ${describeCells(cells, nameOf)} since. Nothing was changed.`;
      return `Could not ${what}: ${e.detail || "someone else changed it since"}.`;
    }
    case "forbidden":
      return `Could not ${what}: you no longer have the right to make that change.`;
    default:
      return `Could not ${what}: ${e.detail || e.code}.`;
  }
}

// isEditable reports whether a key press belongs to a text field (or an
// editor inside the grid): then Ctrl+Z is the field's own undo.
export function isEditable(t: EventTarget | null): boolean {
  if (!(t instanceof Element)) return false;
  if (t instanceof HTMLInputElement) {
    return !["checkbox", "radio", "button", "submit", "reset", "range", "color", "file"].includes(t.type);
  }
  if (t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return true;
  return (t as HTMLElement).isContentEditable;
}

// undoKey tells which of undo or redo a key press asks for: Ctrl+Z (Cmd+Z
// on macOS) undoes, Ctrl+Y and Ctrl+Shift+Z (Cmd+Shift+Z) redo.
export function undoKey(e: KeyboardEvent): "undo" | "redo" | null {
  const mac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
  const mod = mac ? e.metaKey && !e.ctrlKey : e.ctrlKey && !e.metaKey;
  if (!mod || e.altKey) return null;
  const k = e.key.toLowerCase();
  if (k === "z") return e.shiftKey ? "redo" : "undo";
  if (k === "y" && !e.shiftKey) return "redo";
  return null;
}
