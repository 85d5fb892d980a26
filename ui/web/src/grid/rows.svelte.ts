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
//   store.fields          column names the server returned (null until known):
//                         the grid shows only these (the server masks)
//   setQuery({filter, sort, view})         a new query: reloads from the top;
//                                          resolves when the first page is in
//   reload()              the same query again, from the top
//   ensure(start, end)    load the rows [start, end) (called by the grid)
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
//   batch(ops, label)     POST …/records/batch as ONE change; updates the
//                         loaded rows from the results (creates appended)
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

// PAGE is the size of a page of full records; SKIP pages carry no fields
// and only move the cursor forward, to reach a far index quickly.
export const PAGE = 500;
const SKIP = 1000;
const FLASH_MS = 1500;

export class RowStore {
  readonly notebook: string;
  readonly table: string;
  total = $state(0);
  tick = $state(0);
  loading = $state(true);
  error = $state("");
  fields = $state<string[] | null>(null);
  query: Query = {};

  private rows: (RecordT | undefined)[] = [];
  private byId = new Map<string, number>();
  // The cursor that opens the rows from an index, by that index (a keyset
  // cursor is only known once the rows before it were read).
  private cursorAt = new Map<number, string>();
  private gen = 0;
  private loadingTo = 0; // rows [0, loadingTo) are loaded or being loaded
  private chain: Promise<void> = Promise.resolve();
  private wantEnd = 0;
  private flashes = new Map<string, number>();
  private pending = new Map<string, Promise<unknown>>();
  private listeners = new Set<() => void>();
  private exhausted = false;

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
    this.query = { ...query };
    return this.reload();
  }

  async reload(): Promise<void> {
    const gen = ++this.gen;
    this.loading = true;
    this.error = "";
    this.exhausted = false;
    this.cursorAt = new Map([[0, ""]]);
    this.loadingTo = 0;
    this.chain = Promise.resolve();
    this.skipped = [];
    this.wantEnd = 0;
    try {
      const page = await api.get<RecordList>(this.base + q({ ...this.queryParams(), limit: PAGE, count: true }));
      if (gen !== this.gen) return;
      this.rows = [];
      this.byId.clear();
      this.total = page.total ?? page.records.length;
      this.rows.length = this.total;
      this.take(0, page);
      if (page.records.length > 0) this.fields = Object.keys(page.records[0].fields);
      else if (this.fields === null) this.fields = null;
      this.loadingTo = page.records.length;
      this.loading = false;
      this.bump();
      if (this.wantEnd > this.loadingTo) this.ensure(0, this.wantEnd);
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

  private queryParams(): Record<string, string | undefined> {
    return { filter: this.query.filter || undefined, sort: this.query.sort || undefined, view: this.query.view || undefined };
  }

  private take(start: number, page: RecordList): void {
    page.records.forEach((r, j) => {
      this.rows[start + j] = r;
      this.byId.set(r.id, start + j);
    });
    const end = start + page.records.length;
    if (page.next_cursor) this.cursorAt.set(end, page.next_cursor);
    else {
      this.exhausted = true;
      if (end !== this.total) {
        // Rows were added or removed since the count: believe the pages.
        this.total = end;
        this.rows.length = end;
      }
    }
  }

  // ensure loads rows [start, end): pages are read in order (a keyset has
  // no offset), one request in flight at a time; pages far before start
  // are read without their fields, only to move the cursor.
  ensure(start: number, end: number): void {
    end = Math.min(end, this.total);
    if (end > this.wantEnd) this.wantEnd = end;
    if (this.skipped.length > 0) this.fill(start, end);
    if (this.loading || this.exhausted || this.loadingTo >= this.wantEnd) {
      // Rows beyond loadingTo are all loaded, or will be.
      return;
    }
    const gen = this.gen;
    this.chain = this.chain.then(() => this.step(gen, start));
  }

  private async step(gen: number, start: number): Promise<void> {
    while (gen === this.gen && !this.exhausted && this.loadingTo < this.wantEnd) {
      const from = this.loadingTo;
      const cursor = this.cursorAt.get(from);
      if (cursor === undefined) return;
      const skip = from + SKIP < start - PAGE && from + SKIP < this.wantEnd - PAGE;
      const limit = skip ? SKIP : PAGE;
      let page: RecordList;
      try {
        const params: Record<string, string | number | undefined> = { ...this.queryParams(), limit, cursor: cursor || undefined };
        page = await api.get<RecordList>(this.base + q(params) + (skip ? "&fields=" : ""));
      } catch (e) {
        if (gen === this.gen) {
          this.error = plainWords(e);
          toast("Rows could not be loaded: " + this.error, "error");
        }
        return;
      }
      if (gen !== this.gen) return;
      if (skip) {
        const end = from + page.records.length;
        if (page.next_cursor) this.cursorAt.set(end, page.next_cursor);
        else this.exhausted = true;
        this.loadingTo = end;
        // The skipped rows stay placeholders: ask for them again when the
        // grid shows them (by re-reading from the nearest cursor).
        this.skipped.push([from, end]);
      } else {
        this.take(from, page);
        this.loadingTo = from + page.records.length;
        this.bump();
      }
      if (page.records.length === 0) this.exhausted = true;
    }
  }

  // Ranges read as skip pages: their rows are loaded when shown.
  private skipped: [number, number][] = [];

  // fill loads placeholders inside skipped ranges that the grid shows.
  fill(start: number, end: number): void {
    for (const [a, b] of this.skipped) {
      if (b <= start || a >= end) continue;
      let missing = false;
      for (let i = Math.max(a, start); i < Math.min(b, end); i++) {
        if (!this.rows[i]) {
          missing = true;
          break;
        }
      }
      if (!missing) continue;
      // The nearest cursor at or before start within [a, b).
      let at = -1;
      for (const k of this.cursorAt.keys()) if (k >= a && k <= Math.max(start, a) && k > at) at = k;
      if (at < 0) continue;
      const key = `${at}`;
      if (this.filling.has(key)) continue;
      this.filling.add(key);
      const gen = this.gen;
      const cursor = this.cursorAt.get(at)!;
      void this.readFrom(gen, at, cursor, Math.min(b, end + PAGE) - at).finally(() => this.filling.delete(key));
    }
  }
  private filling = new Set<string>();

  private async readFrom(gen: number, at: number, cursor: string, count: number): Promise<void> {
    while (count > 0 && gen === this.gen) {
      const limit = Math.min(1000, Math.max(count, 50));
      let page: RecordList;
      try {
        page = await api.get<RecordList>(this.base + q({ ...this.queryParams(), limit, cursor: cursor || undefined }));
      } catch (e) {
        if (gen === this.gen) toast("Rows could not be loaded: " + plainWords(e), "error");
        return;
      }
      if (gen !== this.gen) return;
      page.records.forEach((r, j) => {
        this.rows[at + j] = r;
        this.byId.set(r.id, at + j);
      });
      const end = at + page.records.length;
      if (page.next_cursor) this.cursorAt.set(end, page.next_cursor);
      this.bump();
      if (!page.next_cursor || page.records.length === 0) return;
      count -= page.records.length;
      at = end;
      cursor = page.next_cursor;
    }
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
    const i = this.indexOf(rec.id);
    if (i < 0) {
      this.rows.push(rec);
      this.byId.set(rec.id, this.rows.length - 1);
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
    const shifted = new Map<number, string>();
    for (const [k, c] of this.cursorAt) shifted.set(k > i ? k - 1 : k, c);
    this.cursorAt = shifted;
    if (this.loadingTo > i) this.loadingTo--;
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
    this.bump();
    return this.serial(id, async () => {
      const cur = this.rows[this.indexOf(id)];
      const version = cur?.version ?? rec.version;
      try {
        const saved = await api.patch<RecordT>(`${this.base}/${enc(id)}`, { fields }, { headers: { "If-Match": `"${version}"` } });
        const j = this.indexOf(id);
        if (j >= 0) {
          // Keep edits made meanwhile on top of the saved record.
          this.rows[j] = { ...saved, fields: { ...saved.fields } };
          this.bump();
        }
        this.changed();
        return true;
      } catch (e) {
        this.rollback(id, before);
        toast(refusal(e, Object.keys(fields)), "error", 8000);
        if (e instanceof ApiError && (e.status === 409 || e.status === 412)) void this.refresh(id);
        return false;
      }
    });
  }

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
  }
  return what + plainWords(e);
}
