// Labels of linked records: a link cell holds record ids of the target
// table; a person sees each record by its first text column (or its id
// when the target has none). Labels are read on demand, a hundred ids per
// request, and kept for the screen's life.
import { api, enc, q } from "../lib/api";
import type { RecordList, RecordT, Table } from "../lib/types";

const textTypes = new Set(["text", "long_text", "email", "url", "phone", "single_select"]);

export function labelColumn(t: Table | undefined): string | null {
  return t?.columns.find((c) => textTypes.has(c.type))?.name ?? null;
}

export function labelOf(t: Table | undefined, rec: RecordT): string {
  const col = labelColumn(t);
  const v = col ? rec.fields[col] : undefined;
  return v === null || v === undefined || v === "" ? "(untitled " + rec.id.slice(-6) + ")" : String(v);
}

export function filterString(s: string): string {
  return JSON.stringify(s);
}

export class LinkLabels {
  tick = $state(0);
  private notebook: string;
  private tables = new Map<string, Promise<Table | undefined>>();
  private tableOf = new Map<string, Table | undefined>();
  private labels = new Map<string, string>(); // table \0 id → label
  private wanted = new Map<string, Set<string>>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(notebook: string) {
    this.notebook = notebook;
  }

  table(id: string): Promise<Table | undefined> {
    let p = this.tables.get(id);
    if (!p) {
      p = api.get<Table>(`/api/v1/notebooks/${enc(this.notebook)}/tables/${enc(id)}`).then(
        (t) => (this.tableOf.set(id, t), t),
        () => (this.tableOf.set(id, undefined), undefined),
      );
      this.tables.set(id, p);
    }
    return p;
  }

  remember(table: string, rec: RecordT): void {
    this.labels.set(table + "\u0000" + rec.id, labelOf(this.tableOf.get(table), rec));
  }

  // label is the label of a linked record, or "…" while it is read.
  label = (table: string, id: string): string => {
    void this.tick;
    const l = this.labels.get(table + "\u0000" + id);
    if (l !== undefined) return l;
    let set = this.wanted.get(table);
    if (!set) this.wanted.set(table, (set = new Set()));
    set.add(id);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), 30);
    return "…";
  };

  // resolve finds records of a table by their label (exact), for a paste
  // into a link column: label → ids (none when no record has it).
  async resolve(table: string, labels: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(labels.map((l) => [l, []]));
    const t = await this.table(table);
    const col = labelColumn(t);
    if (!col) return out;
    const names = [...new Set(labels)];
    const base = `/api/v1/notebooks/${enc(this.notebook)}/tables/${enc(table)}/records`;
    for (let i = 0; i < names.length; i += 100) {
      const chunk = names.slice(i, i + 100);
      const filter = `\`${col.replace(/`/g, "``")}\` in [${chunk.map(filterString).join(", ")}]`;
      const page = await api.get<RecordList>(base + q({ filter, limit: 1000 }));
      for (const r of page.records) {
        const l = String(r.fields[col] ?? "");
        out.get(l)?.push(r.id);
        this.labels.set(table + "\u0000" + r.id, labelOf(t, r));
      }
    }
    return out;
  }

  private async flush(): Promise<void> {
    this.timer = null;
    const wanted = this.wanted;
    this.wanted = new Map();
    for (const [table, ids] of wanted) {
      const t = await this.table(table);
      const all = [...ids].filter((id) => !this.labels.has(table + "\u0000" + id));
      for (let i = 0; i < all.length; i += 100) {
        const chunk = all.slice(i, i + 100);
        for (const id of chunk) this.labels.set(table + "\u0000" + id, "(not visible)");
        try {
          const base = `/api/v1/notebooks/${enc(this.notebook)}/tables/${enc(table)}/records`;
          const filter = `id in [${chunk.map(filterString).join(", ")}]`;
          const page = await api.get<RecordList>(base + q({ filter, limit: 100 }));
          for (const r of page.records) this.labels.set(table + "\u0000" + r.id, labelOf(t, r));
        } catch {
          // Unreadable: the ids stay marked as not visible.
        }
      }
    }
    this.tick++;
  }
}
