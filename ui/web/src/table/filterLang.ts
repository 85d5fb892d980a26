// What the filter bar offers as you type: a small, forgiving reading of
// the filter language (docs/filter.md; the Go package filter is the
// reference and the server the judge). It only decides what could come
// next at the caret — a column, an operator, a value, "&&" / "||" — and
// never decides whether a filter is valid: the server answers that.

import { typeLabel, type Column, type ColumnType } from "../lib/types";

export const keywords = new Set(["in", "not", "is", "null", "true", "false"]);

// quoteName writes a column name as the language needs it: bare when it is
// an identifier that is not a keyword, else in backticks (a backtick
// doubled).
export function quoteName(name: string): string {
  if (/^[\p{L}_][\p{L}\p{N}_]*$/u.test(name) && !keywords.has(name.toLowerCase())) return name;
  return "`" + name.replaceAll("`", "``") + "`";
}

// quoteString writes a text value as a filter string literal.
export function quoteString(s: string): string {
  return JSON.stringify(s);
}

// Suggestion is one entry of the list under the bar.
export interface Suggestion {
  label: string; // what the list shows
  insert: string; // what replaces the word being typed
  hint: string; // a few words on what it is (column type, operator meaning)
}

type Tok = { kind: "name" | "kw" | "str" | "num" | "op" | "open" | "close" | "var" | "comma"; text: string; start: number; end: number };

// lex reads src loosely (an unfinished string or name runs to the end);
// it never fails.
export function lex(src: string): Tok[] {
  const out: Tok[] = [];
  const r = src;
  let i = 0;
  while (i < r.length) {
    const c = r[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === '"') {
      i++;
      while (i < r.length && r[i] !== '"') i += r[i] === "\\" ? 2 : 1;
      i = Math.min(i + 1, r.length);
      out.push({ kind: "str", text: r.slice(start, i), start, end: i });
    } else if (c === "`") {
      i++;
      let name = "";
      for (;;) {
        if (i >= r.length) break;
        if (r[i] === "`") {
          if (r[i + 1] === "`") {
            name += "`";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += r[i++];
      }
      out.push({ kind: "name", text: name, start, end: i });
    } else if (c === "@") {
      i++;
      while (i < r.length && /[\p{L}\p{N}_.]/u.test(r[i])) i++;
      out.push({ kind: "var", text: r.slice(start, i), start, end: i });
    } else if (/[\p{L}_]/u.test(c)) {
      while (i < r.length && /[\p{L}\p{N}_]/u.test(r[i])) i++;
      const w = r.slice(start, i);
      out.push({ kind: keywords.has(w.toLowerCase()) ? "kw" : "name", text: keywords.has(w.toLowerCase()) ? w.toLowerCase() : w, start, end: i });
    } else if (/[0-9-]/.test(c)) {
      i++;
      while (i < r.length && /[0-9.eE+-]/.test(r[i])) i++;
      out.push({ kind: "num", text: r.slice(start, i), start, end: i });
    } else if (c === "(" || c === "[") {
      i++;
      out.push({ kind: "open", text: c, start, end: i });
    } else if (c === ")" || c === "]") {
      i++;
      out.push({ kind: "close", text: c, start, end: i });
    } else if (c === ",") {
      i++;
      out.push({ kind: "comma", text: c, start, end: i });
    } else {
      // operators: && || = != !~ ! > >= < <= ~ (anything else as one character)
      const two = r.slice(i, i + 2);
      if (["&&", "||", "!=", "!~", ">=", "<="].includes(two)) i += 2;
      else i++;
      out.push({ kind: "op", text: r.slice(start, i), start, end: i });
    }
  }
  return out;
}

const comparisons: { op: string; hint: string; types: "scalar" | "ordered" | "text" | "list" | "nonbool" | "any" }[] = [
  { op: "=", hint: "is", types: "scalar" },
  { op: "!=", hint: "is not", types: "scalar" },
  { op: "~", hint: "contains (any case)", types: "text" },
  { op: "!~", hint: "does not contain", types: "text" },
  { op: ">", hint: "greater than", types: "ordered" },
  { op: ">=", hint: "at least", types: "ordered" },
  { op: "<", hint: "less than", types: "ordered" },
  { op: "<=", hint: "at most", types: "ordered" },
  { op: "in [", hint: "is one of a list", types: "nonbool" },
  { op: "not in [", hint: "is none of a list", types: "nonbool" },
  { op: "is null", hint: "is empty", types: "any" },
  { op: "is not null", hint: "is not empty", types: "any" },
];

const textLike: ColumnType[] = ["text", "long_text", "email", "url", "phone", "single_select", "created_by", "updated_by"];
const ordered: ColumnType[] = ["number", "date", "datetime", "created_at", "updated_at", "text", "long_text", "email", "url", "phone", "single_select"];
const listTypes: ColumnType[] = ["multi_select", "link"];

// operatorsFor lists the comparisons a column of type t takes.
export function operatorsFor(t: ColumnType | undefined): { op: string; hint: string }[] {
  if (t && listTypes.includes(t)) return comparisons.filter((c) => c.types === "any");
  return comparisons.filter((c) => {
    switch (c.types) {
      case "text":
        return !t || textLike.includes(t);
      case "ordered":
        return !t || ordered.includes(t);
      case "nonbool":
        return t !== "boolean";
      default:
        return true;
    }
  });
}

// systemFields are the fields every record has, which filters may name.
const systemFields: { name: string; type: ColumnType; hint: string }[] = [
  { name: "created_at", type: "created_at", hint: "created when" },
  { name: "updated_at", type: "updated_at", hint: "changed when" },
  { name: "created_by", type: "created_by", hint: "created by" },
  { name: "updated_by", type: "updated_by", hint: "changed by" },
];

// Context is what the caret is in: the word being typed (from, to) and
// the suggestions for it.
export interface Context {
  from: number;
  to: number;
  suggestions: Suggestion[];
}

function columnByName(columns: Column[], name: string): Column | undefined {
  return columns.find((c) => c.name === name) ?? columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
}

function typeOf(columns: Column[], name: string): ColumnType | undefined {
  return columnByName(columns, name)?.type ?? systemFields.find((f) => f.name === name)?.type;
}

function matches(label: string, prefix: string): boolean {
  if (!prefix) return true;
  const l = label.toLowerCase();
  const p = prefix.toLowerCase();
  return l.startsWith(p) || l.includes(p);
}

// suggest returns what may be typed at caret in src, given the columns
// the caller sees.
export function suggest(src: string, caret: number, columns: Column[]): Context {
  const toks = lex(src.slice(0, caret));
  let from = caret;
  let prefix = "";
  let last = toks[toks.length - 1];
  // The word being typed: a name, keyword or open backtick that touches the caret.
  if (last && last.end === caret && (last.kind === "name" || last.kind === "kw") && !(src[last.start] === "`" && src[last.end - 1] === "`" && last.end - last.start > 1)) {
    from = last.start;
    prefix = last.text;
    toks.pop();
    last = toks[toks.length - 1];
  } else if (last && last.end === caret && last.kind === "op" && /^[=!<>~&|]+$/.test(last.text) && !["&&", "||"].includes(last.text)) {
    // an operator being typed: offer the operators of the column before it
    const col = toks[toks.length - 2];
    if (col && col.kind === "name") {
      const ops = operatorsFor(typeOf(columns, col.text)).filter((o) => o.op.startsWith(last!.text));
      if (ops.length > 0 && !(ops.length === 1 && ops[0].op === last.text)) {
        return { from: last.start, to: caret, suggestions: ops.map((o) => ({ label: o.op, insert: o.op + " ", hint: o.hint })) };
      }
    }
    return { from: caret, to: caret, suggestions: [] };
  }
  const to = caret + (src.slice(caret).match(/^[\p{L}\p{N}_]*/u)?.[0].length ?? 0);
  const none = { from, to, suggestions: [] as Suggestion[] };
  const expectColumn = !last || (last.kind === "open" && last.text === "(") || (last.kind === "op" && ["&&", "||", "!"].includes(last.text));
  if (expectColumn) {
    const list: Suggestion[] = [];
    for (const c of columns) {
      if (matches(c.name, prefix)) list.push({ label: c.name, insert: quoteName(c.name) + " ", hint: typeLabel(c.type) });
    }
    for (const f of systemFields) {
      if (prefix && matches(f.name, prefix) && !columns.some((c) => c.name === f.name)) list.push({ label: f.name, insert: f.name + " ", hint: f.hint });
    }
    // Names that start with what was typed come first.
    const p = prefix.toLowerCase();
    list.sort((a, b) => Number(!a.label.toLowerCase().startsWith(p)) - Number(!b.label.toLowerCase().startsWith(p)));
    return { from, to, suggestions: list };
  }
  if (last.kind === "name") {
    // after a column: its operators
    const ops = operatorsFor(typeOf(columns, last.text)).filter((o) => !prefix || o.op.startsWith(prefix.toLowerCase()));
    return { from, to, suggestions: ops.map((o) => ({ label: o.op, insert: o.op + (o.op.endsWith("[") ? "" : " "), hint: o.hint })) };
  }
  if (last.kind === "kw" && last.text === "is") {
    return { from, to, suggestions: ["null", "not null"].filter((w) => matches(w, prefix)).map((w) => ({ label: w, insert: w + " ", hint: w === "null" ? "is empty" : "is not empty" })) };
  }
  if (last.kind === "kw" && last.text === "not") {
    return { from, to, suggestions: matches("in", prefix) ? [{ label: "in [", insert: "in [", hint: "is none of a list" }] : [] };
  }
  // after a comparison operator (or inside a list): values of select columns, true/false
  const opIdx = [...toks].reverse().findIndex((t) => t.kind === "op" && ["=", "!=", ">", ">=", "<", "<=", "~", "!~"].includes(t.text) || (t.kind === "kw" && t.text === "in"));
  const valuePlace = (last.kind === "op" && !["&&", "||", "!"].includes(last.text)) || (last.kind === "open" && last.text === "[") || last.kind === "comma" || (last.kind === "kw" && last.text === "in");
  if (valuePlace && opIdx >= 0) {
    const at = toks.length - 1 - opIdx;
    let colTok = toks[at - 1];
    if (colTok?.kind === "kw" && colTok.text === "not") colTok = toks[at - 2];
    const col = colTok?.kind === "name" ? columnByName(columns, colTok.text) : undefined;
    if (col?.type === "boolean") return { from, to, suggestions: ["true", "false"].filter((w) => matches(w, prefix)).map((w) => ({ label: w, insert: w + " ", hint: "value" })) };
    if (col && (col.type === "single_select" || col.type === "multi_select")) {
      return { from, to, suggestions: (col.options.choices ?? []).filter((ch) => matches(ch, prefix)).map((ch) => ({ label: quoteString(ch), insert: quoteString(ch) + (last!.kind === "open" || last!.kind === "comma" ? "" : " "), hint: "choice" })) };
    }
    return none;
  }
  // after a value: join with another condition
  if (["str", "num", "close", "var"].includes(last.kind) || (last.kind === "kw" && ["null", "true", "false"].includes(last.text))) {
    return {
      from,
      to,
      suggestions: [
        { label: "&&", insert: "&& ", hint: "and" },
        { label: "||", insert: "|| ", hint: "or" },
      ].filter((s) => !prefix || matches(s.hint, prefix)),
    };
  }
  return none;
}

// errorPosition reads the 1-based character position of a filter error
// message ("at position 12: …"), or 0.
export function errorPosition(message: string): number {
  const m = /at position (\d+)/.exec(message);
  return m ? Number(m[1]) : 0;
}

// parseSort reads a sort parameter ("-age,`First name`") into keys.
export function parseSort(src: string): { name: string; desc: boolean }[] {
  const out: { name: string; desc: boolean }[] = [];
  let i = 0;
  const r = src;
  while (i < r.length) {
    while (i < r.length && /[\s,]/.test(r[i])) i++;
    if (i >= r.length) break;
    let desc = false;
    if (r[i] === "-" || r[i] === "+") desc = r[i++] === "-";
    while (i < r.length && /\s/.test(r[i])) i++;
    let name = "";
    if (r[i] === "`") {
      i++;
      while (i < r.length) {
        if (r[i] === "`") {
          if (r[i + 1] === "`") {
            name += "`";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += r[i++];
      }
    } else {
      while (i < r.length && r[i] !== ",") name += r[i++];
      name = name.trim();
    }
    if (name) out.push({ name, desc });
  }
  return out;
}

// formatSort writes sort keys as the sort parameter.
export function formatSort(keys: { name: string; desc: boolean }[]): string {
  return keys.map((k) => (k.desc ? "-" : "") + quoteName(k.name)).join(",");
}
