// Column definitions as the forms edit them (a draft), and as the API
// takes them: only the options that apply to the type are sent.
import { type Column, type ColumnOptions, type ColumnType, type Table } from "../lib/types";
import type { FieldError } from "../lib/api";

export interface ColumnDraft {
  name: string;
  type: ColumnType;
  precision: number;
  choices: string[];
  table: string;
  multiple: boolean;
  collation?: string;
}

export interface ColumnInput {
  name: string;
  type: ColumnType;
  options: ColumnOptions;
}

const textLike = new Set<ColumnType>(["text", "long_text", "email", "url", "phone", "single_select"]);

export function draftOf(c?: Column): ColumnDraft {
  if (!c) return { name: "", type: "text", precision: 0, choices: [], table: "", multiple: false };
  const o = c.options ?? {};
  return {
    name: c.name,
    type: c.type,
    precision: o.precision ?? 0,
    choices: [...(o.choices ?? [])],
    table: o.table ?? "",
    multiple: !!o.multiple,
    collation: o.collation,
  };
}

// optionsOf returns the options of the draft that apply to its type.
export function optionsOf(d: ColumnDraft): ColumnOptions {
  const o: ColumnOptions = {};
  if (d.type === "number" && d.precision) o.precision = Math.trunc(Number(d.precision));
  if (d.type === "single_select" || d.type === "multi_select") o.choices = d.choices.map((c) => c.trim()).filter((c) => c !== "");
  if (d.type === "link") {
    o.table = d.table;
    if (d.multiple) o.multiple = true;
  }
  if (d.collation && textLike.has(d.type)) o.collation = d.collation;
  return o;
}

export function inputOf(d: ColumnDraft): ColumnInput {
  return { name: d.name.trim(), type: d.type, options: optionsOf(d) };
}

export function sameOptions(a: ColumnOptions, b: ColumnOptions): boolean {
  const norm = (o: ColumnOptions) =>
    JSON.stringify({ p: o.precision ?? 0, c: o.choices ?? [], t: o.table ?? "", m: !!o.multiple, k: o.collation ?? "" });
  return norm(a) === norm(b);
}

export { typeLabel } from "../lib/types";

// hasOptions reports whether columns of type t have options to edit.
export function hasOptions(t: ColumnType): boolean {
  return t === "number" || t === "single_select" || t === "multi_select" || t === "link";
}

// optionsSummary says a column's options in a few plain words.
export function optionsSummary(c: Column, tables: Table[]): string {
  const o = c.options ?? {};
  switch (c.type) {
    case "number":
      return o.precision ? `${o.precision} decimal place${o.precision > 1 ? "s" : ""}` : "whole numbers";
    case "single_select":
    case "multi_select":
      return (o.choices ?? []).join(", ");
    case "link": {
      const target = tables.find((t) => t.id === o.table)?.name ?? "another table";
      return `to ${target}${o.multiple ? ", several records" : ", one record"}`;
    }
  }
  return "";
}

// fieldErrors maps the server's field errors of a column input to the
// form's fields ("name", "type", "options.choices[1]" → "choices"...);
// prefix is stripped first (e.g. "columns[2].").
export function fieldErrors(errs: FieldError[], prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of errs) {
    if (prefix && !e.field.startsWith(prefix)) continue;
    let f = e.field.slice(prefix.length);
    if (f.startsWith("options.")) f = f.slice(8).replace(/\[\d+\]$/, "");
    out[f] = out[f] ? out[f] + "; " + e.message : e.message;
  }
  return out;
}

// inChoiceEntry reports whether focus is in a form's "New choice" field,
// whose Enter adds the choice: the form must not take it as a submission.
export function inChoiceEntry(): boolean {
  const el = document.activeElement as HTMLElement | null;
  return !!el && el.dataset.choiceEntry !== undefined;
}
