// The row store: the records of one table's current query (filter, sort,
// view), loaded from the server's keyset pages as the grid scrolls, with
// placeholders for rows not loaded yet. The grid, the toolbar (filter,
// sort, views, undo) and the live updates all share one store per table
// screen.
//
// Interface (stable; other screens build on it):
//   new RowStore(notebook, table)          ids (or names) of the table
//   store.total           number of rows of the query ($state; from count=true)
//   store.tick            bumps on every change of the loaded rows ($state):
//                         read it in a $derived/$effect to re-render
//   store.loading, store.error             first page state ($state)
//   store.query           the current {filter, sort, view} (read-only)
//   store.epoch           bumps when setQuery's new query has its first page
//   store.sortInUse       the sort of the rows: the query's, else the view's
//   store.fields          column names the server returned in any loaded
//                         record (null until known): the grid shows only
//                         these (the server masks)
//   setQuery({filter, sort, view})         a new query: reloads from the top;
//                                          resolves when the first page is in
//   reload()              the same query again, from the top
//   ensure(start, end)    load the rows [start, end) (called by the grid):
//                         pages are read from the nearer end, far pages
//                         without their fields, one request at a time
//   get(i)                the record at index i, or undefined (placeholder)
//   indexOf(id)           the index of a loaded record, or -1
//   upsert(record, flash=true)  a record changed elsewhere (live event):
//                         replaced in place; changed cells flash briefly;
//                         a new record unknown here is appended
//   remove(id)            a record deleted or out of sight: removed
//   isFlashing(id, field) whether a cell changed a moment ago
//   setCell(i, field, value)     optimistic edit of one cell: shown at
//                         once, PATCH with If-Match; rolled back with a
//                         message on refusal. Resolves true when saved.
//   setFields(id, fields) the same for several fields of one record
//   batch(ops)            POST …/records/batch as ONE change (one undo);
//                         updates the loaded rows from the results
//                         (creates appended); null (and a message) when
//                         refused
//   create(fields)        add a row (appended at the end of the loaded rows)
//   deleteMany(ids)       delete records in one batch (one change)
//   onChange(fn)          fn() after every change this store writes
//                         (for undo buttons); returns an unsubscribe
import { api, ApiError, enc, plainWords, q } from "../lib/api";
import { toast } from "../lib/toast.svelte";
import type { RecordList, RecordT } from "../lib/types";

export interface Query {
  filter?: string;
  sort?: string;
  view?: string;
}

export interface BatchOp {
  op: "create" | "update" | "delete";
  id?: string;
  fields?: Record<string, unknown>;
  version?: number;
}

// PAGE is the size of a page of full records. A keyset has no offset: to
// reach a far row, pages are read in order from the nearer end (the query
// read backwards, with its sort reversed, serves the end), and pages far
// from the rows shown are read without their fields (SKIP rows each), only
// to move the cursor. One request is in flight at a time.
export const PAGE = 500;
const SKIP = 1000;
const FLASH_MS = 1500;

// reverseSort flips every key of a sort ("" is creation order, by id).
export function reverseSort(sort: string): string {
  if (!sort.trim()) return "-id";
  const keys: string[] = [];
  let cur = "";
  let tick = false;
  for (const ch of sort) {
    if (ch === "`") tick = !tick;
    if (ch === "," && !tick) {
      keys.push(cur);
      cur = "";
    } else cur += ch;
  }
  keys.push(cur);
  return keys
    .map((k) => k.trim())
    .filter(Boolean)
    .map((k) => (k.startsWith("-") ? k.slice(1) : "-" + (k.startsWith("+") ? k.slice(1) : k)))
    .join(",");
}

export class RowStore {
  readonly notebook: string;
  readonly table: string;
  total = $state(0);
  tick = $state(0);
  loading = $state(true);
  error = $state("");
  fields = $state<string[] | null>(null);
  sortInUse = ""; // the sort the rows are in: the query's, else its view's ("" = creation order)
  epoch = $state(0); // bumps when a new query's first page is in (the grid returns to the top)
  query: Query = {};

  private rows: (RecordT | undefined)[] = [];
  private byId = new Map<string, number>();
  private gen = 0;
  // Rows [0, fwdTo) were read (or skipped) from the start, rows
  // [backFrom, total) from the end. fwdCursor.get(i) reads on from row i;
  // backCursor.get(i) reads backwards from row i-1.
  private fwdTo = 0;
  private backFrom = 0;
  private fwdCursor = new Map<number, string>();
  private backCursor = new Map<number, string>();
  private backSort = "";
  private want: [number, number] = [0, 0];
  private pumping = false;
  private flashes = new Map<string, number>();
  private pending = new Map<string, Promise<unknown>>();
  private listeners = new Set<() => void>();

  constructor(notebook: string, table: string) {
    this.notebook = notebook;
    this.table = table;
  }

  private get base(): string {
    return `/api/v1/notebooks/${enc(this.notebook)}/tables/${enc(this.table)}/records`;
  }

  private bump(): void {
    this.tick++;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  setQuery(query: Query): Promise<void> {
    const changed = JSON.stringify(query) !== JSON.stringify(this.query);
    this.query = { ...query };
    return this.reload().then(() => {
      if (changed) this.epoch++;
    });
  }

  async reload(): Promise<void> {
    const gen = ++this.gen;
    this.loading = true;
    this.error = "";
    this.pumping = false;
    try {
      // The end of the list is read with the sort reversed: the view's
      // sort when the query gives none.
      let sort = this.query.sort ?? "";
      if (!sort && this.query.view) {
        const v = await api.get<{ sort: string }>(`/api/v1/notebooks/${enc(this.notebook)}/tables/${enc(this.table)}/views/${enc(this.query.view)}`);
        sort = v.sort ?? "";
      }
      const page = await api.get<RecordList>(this.base + q({ ...this.params(), limit: PAGE, count: true }));
      if (gen !== this.gen) return;
      this.backSort = reverseSort(sort);
      this.sortInUse = sort;
      this.rows = [];
      this.byId.clear();
      this.fwdCursor = new Map();
      this.total = page.total ?? page.records.length;
      if (!page.next_cursor) this.total = page.records.length;
      this.rows.length = this.total;
      this.fwdTo = 0;
      this.backFrom = this.total;
      this.backCursor = new Map([[this.total, ""]]);
      this.want = [0, Math.min(this.want[1] - this.want[0], this.total)];
      this.takeForward(0, page, false);
      this.fields = null;
      if (page.records.length > 0) this.noteFields(page.records);
      this.loading = false;
      this.bump();
      this.pump();
    } catch (e) {
      if (gen !== this.gen) return;
      this.loading = false;
      this.error = plainWords(e);
      this.total = 0;
      this.rows = [];
      this.byId.clear();
      this.bump();
    }
  }

  private params(): Record<string, string | undefined> {
    return { filter: this.query.filter || undefined, sort: this.query.sort || undefined, view: this.query.view || undefined };
  }

  private put(i: number, r: RecordT): void {
    this.rows[i] = r;
    this.byId.set(r.id, i);
  }

  // noteFields adds the field names of records to fields: the columns the
  // server answered with (a cell masked in one row may be given in another).
  private noteFields(recs: RecordT[]): void {
    const have = new Set(this.fields ?? []);
    const before = have.size;
    for (const r of recs) for (const k of Object.keys(r.fields)) have.add(k);
    if (this.fields === null || have.size !== before) this.fields = [...have];
  }

  // takeForward stores a page read forwards from row at.
  private takeForward(at: number, page: RecordList, skip: boolean): void {
    if (!skip) {
      page.records.forEach((r, j) => this.put(at + j, r));
      if (at > 0) this.noteFields(page.records);
    }
    const end = at + page.records.length;
    if (page.next_cursor) this.fwdCursor.set(end, page.next_cursor);
    if (end > this.fwdTo) this.fwdTo = end;
  }

  // takeBackward stores a page read backwards from row at-1.
  private takeBackward(at: number, page: RecordList, skip: boolean): void {
    if (!skip) {
      page.records.forEach((r, j) => this.put(at - 1 - j, r));
      this.noteFields(page.records);
    }
    const start = at - page.records.length;
    if (page.next_cursor) this.backCursor.set(start, page.next_cursor);
    if (start < this.backFrom) this.backFrom = start;
  }

  // ensure loads rows [start, end) (called by the grid for what it shows).
  ensure(start: number, end: number): void {
    this.want = [Math.max(0, start), Math.min(end, this.total)];
    this.pump();
  }

  private firstMissing(): number {
    const [a, b] = this.want;
    for (let i = a; i < Math.min(b, this.total); i++) if (!this.rows[i]) return i;
    return -1;
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.loading) return;
    this.pumping = true;
    const gen = this.gen;
    try {
      let guard = 0;
      while (gen === this.gen && guard++ < 1000) {
        const m = this.firstMissing();
        if (m < 0) break;
        const [a, b] = this.want;
        let ok: boolean;
        if (m >= this.fwdTo && m < this.backFrom) {
          // Not reached yet: read on from the nearer frontier.
          if (m - this.fwdTo <= this.backFrom - b) {
            const skip = this.fwdTo + SKIP <= a - PAGE;
            ok = await this.read(gen, "fwd", this.fwdTo, Math.min(skip ? SKIP : PAGE, this.backFrom - this.fwdTo), skip);
          } else {
            const skip = this.backFrom - SKIP >= b + PAGE;
            ok = await this.read(gen, "back", this.backFrom, Math.min(skip ? SKIP : PAGE, this.backFrom - this.fwdTo), skip);
          }
        } else if (m < this.fwdTo) {
          // A skipped row: read from the nearest cursor before it.
          let k = 0;
          for (const c of this.fwdCursor.keys()) if (c <= m && c > k) k = c;
          ok = await this.read(gen, "fwd", k, Math.min(1000, Math.max(PAGE, b - k)), false);
        } else {
          let k = this.total;
          for (const c of this.backCursor.keys()) if (c > m && c < k) k = c;
          ok = await this.read(gen, "back", k, Math.min(1000, Math.max(PAGE, k - a)), false);
        }
        if (!ok) break;
      }
    } finally {
      if (gen === this.gen) this.pumping = false;
    }
  }

  // read reads one page forwards from row at (or backwards from row at-1).
  private async read(gen: number, dir: "fwd" | "back", at: number, limit: number, skip: boolean): Promise<boolean> {
    if (limit <= 0) return false;
    const cursor = dir === "fwd" ? (at === 0 ? "" : this.fwdCursor.get(at)) : at === this.total ? "" : this.backCursor.get(at);
    if (cursor === undefined) return false;
    const params: Record<string, string | number | undefined> = { ...this.params(), limit, cursor: cursor || undefined };
    if (dir === "back") params.sort = this.backSort;
    let page: RecordList;
    try {
      page = await api.get<RecordList>(this.base + q(params) + (skip ? "&fields=" : ""));
    } catch (e) {
      if (gen === this.gen) {
        this.error = plainWords(e);
        toast("Rows could not be loaded: " + this.error, "error");
      }
      return false;
    }
    if (gen !== this.gen) return false;
    if (page.records.length === 0) {
      // The rows changed since they were counted: read the list again.
      void this.reload();
      return false;
    }
    if (dir === "fwd") this.takeForward(at, page, skip);
    else this.takeBackward(at, page, skip);
    if (!skip) this.bump();
    return true;
  }

  get(i: number): RecordT | undefined {
    return this.rows[i];
  }

  indexOf(id: string): number {
    const i = this.byId.get(id);
    return i !== undefined && this.rows[i]?.id === id ? i : -1;
  }

  isFlashing(id: string, field: string): boolean {
    const t = this.flashes.get(id + "\u0000" + field);
    return t !== undefined && t > Date.now();
  }

  upsert(rec: RecordT, flash = true): void {
    // Edits of this page not answered yet stay on top of what arrives.
    const unsaved = this.unsaved.get(rec.id);
    if (unsaved) {
      const fields = { ...rec.fields };
      for (const e of unsaved) Object.assign(fields, e.fields);
      rec = { ...rec, fields };
    }
    const i = this.indexOf(rec.id);
    if (i < 0) {
      // A new row joins the end (where creation order puts it); reading
      // backwards now starts after it.
      const end = this.rows.length;
      const c = this.backCursor.get(end);
      if (c === "") {
        this.backCursor.delete(end);
        this.backCursor.set(end + 1, "");
      }
      if (this.backFrom === end) this.backFrom = end + 1;
      this.rows.push(rec);
      this.byId.set(rec.id, end);
      this.total = this.rows.length;
      this.bump();
      return;
    }
    const old = this.rows[i]!;
    if (old.version > rec.version) return;
    if (flash) {
      const until = Date.now() + FLASH_MS;
      for (const f of new Set([...Object.keys(old.fields), ...Object.keys(rec.fields)])) {
        if (JSON.stringify(old.fields[f]) !== JSON.stringify(rec.fields[f])) this.flashes.set(rec.id + "\u0000" + f, until);
      }
      setTimeout(() => this.bump(), FLASH_MS + 50);
    }
    this.rows[i] = rec;
    this.bump();
  }

  remove(id: string): void {
    const i = this.indexOf(id);
    if (i < 0) return;
    this.rows.splice(i, 1);
    this.byId.delete(id);
    for (let j = i; j < this.rows.length; j++) {
      const r = this.rows[j];
      if (r) this.byId.set(r.id, j);
    }
    // Cursors hold sort values, not positions: those after the row move
    // up by one.
    const shift = (m: Map<number, string>) => new Map([...m].map(([k, c]) => [k > i ? k - 1 : k, c] as [number, string]));
    this.fwdCursor = shift(this.fwdCursor);
    this.backCursor = shift(this.backCursor);
    if (this.fwdTo > i) this.fwdTo--;
    if (this.backFrom > i) this.backFrom--;
    this.total = Math.max(0, this.total - 1);
    this.bump();
  }

  // serial runs fn after the previous write to the same record, so the
  // second of two quick edits sends the version the first one made.
  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.pending.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.pending.set(id, next);
    void next.finally(() => {
      if (this.pending.get(id) === next) this.pending.delete(id);
    }).catch(() => {});
    return next;
  }

  setCell(i: number, field: string, value: unknown): Promise<boolean> {
    const rec = this.rows[i];
    if (!rec) return Promise.resolve(false);
    return this.setFields(rec.id, { [field]: value });
  }

  setFields(id: string, fields: Record<string, unknown>): Promise<boolean> {
    const i = this.indexOf(id);
    const rec = i >= 0 ? this.rows[i] : undefined;
    if (!rec) return Promise.resolve(false);
    const before: Record<string, unknown> = {};
    for (const k of Object.keys(fields)) before[k] = rec.fields[k];
    this.rows[i] = { ...rec, fields: { ...rec.fields, ...fields } };
    // The edits of this record not answered yet, oldest first: each answer
    // is shown with the later ones still on top.
    const edit = { fields };
    const queue = this.unsaved.get(id) ?? [];
    queue.push(edit);
    this.unsaved.set(id, queue);
    this.bump();
    const done = () => {
      const q = this.unsaved.get(id) ?? [];
      const k = q.indexOf(edit);
      if (k >= 0) q.splice(k, 1);
      if (q.length === 0) this.unsaved.delete(id);
      return q;
    };
    return this.serial(id, async () => {
      const cur = this.rows[this.indexOf(id)];
      const version = cur?.version ?? rec.version;
      try {
        const saved = await api.patch<RecordT>(`${this.base}/${enc(id)}`, { fields }, { headers: { "If-Match": `"${version}"` } });
        const later = done();
        const j = this.indexOf(id);
        if (j >= 0) {
          const shown = { ...saved.fields };
          for (const e of later) Object.assign(shown, e.fields);
          this.rows[j] = { ...saved, fields: shown };
          this.bump();
        }
        this.changed();
        return true;
      } catch (e) {
        const later = done();
        // Undo this edit's cells, except those a later edit sets again.
        const back = { ...before };
        for (const l of later) for (const k of Object.keys(l.fields)) delete back[k];
        this.rollback(id, back);
        toast(refusal(e, Object.keys(fields)), "error", 8000);
        if (e instanceof ApiError && (e.status === 409 || e.status === 412)) void this.refresh(id);
        return false;
      }
    });
  }
  private unsaved = new Map<string, { fields: Record<string, unknown> }[]>();

  private rollback(id: string, before: Record<string, unknown>): void {
    const j = this.indexOf(id);
    const cur = j >= 0 ? this.rows[j] : undefined;
    if (!cur) return;
    this.rows[j] = { ...cur, fields: { ...cur.fields, ...before } };
    this.bump();
  }

  // refresh reads one record again (after a conflict: someone else's
  // version is shown).
  async refresh(id: string): Promise<void> {
    try {
      const rec = await api.get<RecordT>(`${this.base}/${enc(id)}`);
      this.upsert(rec);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) this.remove(id);
    }
  }

  async batch(ops: BatchOp[]): Promise<RecordT[] | null> {
    if (ops.length === 0) return [];
    try {
      const res = await api.post<{ results: RecordT[] }>(`${this.base}/batch`, { operations: ops });
      res.results.forEach((r, k) => {
        if (ops[k].op === "delete") this.remove(ops[k].id!);
        else this.upsert(r, false);
      });
      this.changed();
      return res.results;
    } catch (e) {
      toast(refusal(e, []), "error", 8000);
      return null;
    }
  }

  async create(fields: Record<string, unknown> = {}): Promise<RecordT | null> {
    try {
      const rec = await api.post<RecordT>(this.base, { fields });
      // Every row before the end must be loaded for the new row to sit
      // at its place: it joins the rows already read, at the end.
      this.upsert(rec, false);
      this.changed();
      return rec;
    } catch (e) {
      toast(refusal(e, Object.keys(fields)), "error", 8000);
      return null;
    }
  }

  async deleteMany(ids: string[]): Promise<boolean> {
    const ops: BatchOp[] = ids.map((id) => ({ op: "delete", id, version: this.rows[this.indexOf(id)]?.version ?? 0 }));
    return (await this.batch(ops)) !== null;
  }
}

// refusal says in plain words why a write was refused and undone.
export function refusal(e: unknown, fields: string[]): string {
  const what = fields.length === 1 ? `Your change to ${fields[0]} was undone: ` : "Your change was undone: ";
  if (e instanceof ApiError) {
    if (e.status === 409 || e.status === 412) return what + "someone else changed this row at the same time. Their version is shown now.";
    if (e.status === 403) return what + "you do not have the right to change this.";
    if (e.status === 404) return what + "this row no longer exists, or you cannot see it.";
    if (e.fields.length > 0) {
      return what + e.fields.map((f) => (f.field && f.field !== "body" ? `${f.field} ${f.message}` : f.message)).join("; ") + ".";
    }
  }
  const words = plainWords(e);
  return what + words.charAt(0).toLowerCase() + words.slice(1);
}
