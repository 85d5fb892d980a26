// Cell values: how each column type shows a value as text, reads text
// typed or pasted by a person, and which types nobody edits (automatic).
import type { Column, ColumnType, FileRef } from "../lib/types";

export const automatic = new Set<ColumnType>(["created_at", "created_by", "updated_at", "updated_by"]);

// secretOrFile are the types the grid shows but does not edit in place:
// files come by upload, an encrypted cell needs its column unlocked and a
// password cell is write-only (their screens come with the second UI issue).
const secretOrFile = new Set<ColumnType>(["encrypted", "password", "file"]);

export function readOnly(col: Column): boolean {
  return automatic.has(col.type) || secretOrFile.has(col.type);
}

// whyReadOnly says, for a person, why a cell of col cannot be typed into.
export function whyReadOnly(col: Column): string {
  switch (col.type) {
    case "encrypted":
      return `${col.name} is encrypted: it is read and written only with its column password, not in the grid.`;
    case "password":
      return `${col.name} holds passwords: they are write-only and never shown.`;
    case "file":
      return `${col.name} holds files: they are added by upload, not typed.`;
    default:
      return `${col.name} is filled in automatically and cannot be edited.`;
  }
}

// locked reports whether v is an encrypted cell read without its key
// ({"locked":true,…}).
export function locked(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as { locked?: unknown }).locked === true;
}

// files are the files of a file cell (none when v is not a list of them).
export function files(v: unknown): FileRef[] {
  if (!Array.isArray(v)) return [];
  return v.filter((f): f is FileRef => typeof f === "object" && f !== null && typeof (f as FileRef).id === "string" && typeof (f as FileRef).url === "string");
}

// fileHref is the authenticated link of a file: only a same-site path
// under /files/ is ever used as a link.
export function fileHref(f: FileRef): string {
  return /^\/files\/[A-Za-z0-9_-]+$/.test(f.url) ? f.url : "/files/" + encodeURIComponent(f.id);
}

// defaultWidth is the width of a column the layout gives none.
export function defaultWidth(col: Column): number {
  switch (col.type) {
    case "boolean":
      return 90;
    case "number":
    case "date":
      return 130;
    case "long_text":
    case "link":
    case "file":
    case "multi_select":
      return 240;
    default:
      return 180;
  }
}

export type Labels = (table: string, id: string) => string;

// display is the text of a value in a cell (and what copy puts on the
// clipboard). Links show each linked record by its label.
export function display(col: Column, v: unknown, label?: Labels): string {
  if (v === null || v === undefined) return "";
  switch (col.type) {
    case "boolean":
      return v ? "true" : "false";
    case "number": {
      const n = typeof v === "number" ? v : Number(v);
      if (Number.isNaN(n)) return String(v);
      return col.options.precision !== undefined && col.options.precision >= 0 && col.options.precision <= 20
        ? n.toFixed(col.options.precision)
        : String(v);
    }
    case "datetime":
    case "created_at":
    case "updated_at":
      return localDateTime(String(v));
    case "multi_select":
      return Array.isArray(v) ? v.join(", ") : String(v);
    case "encrypted":
      return locked(v) ? "Locked" : typeof v === "string" ? v : "";
    case "password":
      return typeof v === "object" && (v as { set?: unknown }).set === true ? "Set" : "";
    case "file":
      return files(v)
        .map((f) => f.name)
        .join(", ");
    case "link":
      if (!Array.isArray(v)) return String(v);
      return v.map((id) => (label && col.options.table ? label(col.options.table, String(id)) : String(id))).join(", ");
    default:
      return String(v);
  }
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

// localDateTime shows an RFC 3339 moment in the person's time zone as
// "YYYY-MM-DD HH:MM" (what the editor takes back).
export function localDateTime(s: string): string {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export class ParseError extends Error {}

// parse reads text into a value of the column's type ("" is empty). It
// throws ParseError with a sentence for the person.
export function parse(col: Column, text: string): unknown {
  const t = text.trim();
  if (t === "") return col.type === "boolean" ? false : col.type === "multi_select" || col.type === "link" ? [] : null;
  switch (col.type) {
    case "number": {
      const n = Number(t.replace(/[\s,](?=\d{3}\b)/g, ""));
      if (!Number.isFinite(n)) throw new ParseError(`${col.name}: "${t}" is not a number.`);
      return n;
    }
    case "boolean":
      return /^(true|yes|y|1|x|✓|✔|on|checked)$/i.test(t);
    case "date": {
      const m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(t);
      if (!m) throw new ParseError(`${col.name}: write a date as YYYY-MM-DD.`);
      return `${m[1]}-${pad(+m[2])}-${pad(+m[3])}`;
    }
    case "datetime": {
      const m = /^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(t);
      if (m) {
        const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0);
        return d.toISOString().replace(/\.\d{3}Z$/, "Z");
      }
      const d = new Date(t);
      if (/\d{4}-\d{2}-\d{2}T/.test(t) && !Number.isNaN(d.getTime())) return d.toISOString().replace(/\.\d{3}Z$/, "Z");
      throw new ParseError(`${col.name}: write a date and time as YYYY-MM-DD HH:MM.`);
    }
    case "multi_select":
      return t.split(/\s*[,;]\s*/).filter(Boolean);
    case "link":
      return t.split(/\s*,\s*/).filter(Boolean);
    default:
      return text;
  }
}
