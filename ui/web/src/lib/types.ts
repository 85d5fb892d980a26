// The shapes of the API's JSON (see api/openapi.json).

export type ColumnType =
  | "text" | "long_text" | "number" | "boolean" | "date" | "datetime"
  | "single_select" | "multi_select" | "email" | "url" | "phone" | "link"
  | "created_at" | "created_by" | "updated_at" | "updated_by"
  | "encrypted" | "password" | "file";

// FileRef is one file of a file cell (GET …/records/{id}); url is its
// authenticated link, /files/{id}.
export interface FileRef {
  id: string;
  name: string;
  size: number;
  type: string;
  sha256: string;
  url: string;
}

export const columnTypes: { type: ColumnType; label: string }[] = [
  { type: "text", label: "Text" },
  { type: "long_text", label: "Long text" },
  { type: "number", label: "Number" },
  { type: "boolean", label: "Checkbox" },
  { type: "date", label: "Date" },
  { type: "datetime", label: "Date and time" },
  { type: "single_select", label: "Single select" },
  { type: "multi_select", label: "Multiple select" },
  { type: "email", label: "E-mail" },
  { type: "url", label: "Web address" },
  { type: "phone", label: "Phone" },
  { type: "link", label: "Link to another table" },
  { type: "created_at", label: "Created at" },
  { type: "created_by", label: "Created by" },
  { type: "updated_at", label: "Updated at" },
  { type: "updated_by", label: "Updated by" },
  { type: "file", label: "Files" },
];

// laterTypes are shown in the grid but created from the schema screens
// only with the second UI issue (an encrypted column needs its password
// given, and both need unlock and verify screens).
export const laterTypes: { type: ColumnType; label: string }[] = [
  { type: "encrypted", label: "Encrypted" },
  { type: "password", label: "Password (write-only)" },
];

// typeLabel names a column type for people.
export function typeLabel(t: ColumnType): string {
  return (columnTypes.find((x) => x.type === t) ?? laterTypes.find((x) => x.type === t))?.label ?? t;
}

export interface ColumnOptions {
  precision?: number;
  choices?: string[];
  table?: string;
  multiple?: boolean;
  collation?: string;
}

export interface Column {
  id: string;
  name: string;
  type: ColumnType;
  options: ColumnOptions;
  created_at: string;
}

// TableLayout is how the grid shows a table's columns to everyone: order,
// widths in pixels and hidden columns (a presentation choice, not access:
// hiding is no protection). Set by owners and those with `schema`.
export interface TableLayout {
  order?: string[]; // column ids; columns missing here follow in table order
  widths?: Record<string, number>;
  hidden?: string[];
}

export interface Table {
  id: string;
  notebook_id: string;
  name: string;
  columns: Column[];
  layout?: TableLayout;
  created_at: string;
  updated_at: string;
}

export interface Notebook {
  id: string;
  name: string;
  owner_id: string;
  created_at: string;
  updated_at: string;
}

export interface RecordT {
  id: string;
  fields: Record<string, unknown>;
  version: number;
  created_at: string;
  created_by: string;
  updated_at: string;
  updated_by: string;
}

export interface RecordList {
  records: RecordT[];
  next_cursor: string | null;
  total?: number;
}

export interface View {
  id: string;
  table_id: string;
  name: string;
  filter: string;
  sort: string;
  columns: string[];
  created_at: string;
  updated_at: string;
}

export interface User {
  id: string;
  email: string;
  name: string;
  [k: string]: unknown;
}
