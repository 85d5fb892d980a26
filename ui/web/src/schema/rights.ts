// Who may change a table's columns and layout: owners, admins and those
// whose grants give the schema right on the table. The server decides on
// every change; the page only asks (GET …/access/explain about oneself)
// so as not to offer what would be refused.
import { api, enc } from "../lib/api";

interface Explanation {
  role: string;
  capabilities: Record<string, string[]>;
}

const cache = new Map<string, Promise<boolean>>();

// canChangeSchema reports whether the signed-in person has the schema
// right on the table. When the server cannot tell, it answers true: the
// server then refuses a change plainly.
export function canChangeSchema(notebook: string, table: string): Promise<boolean> {
  const key = notebook + "/" + table;
  let p = cache.get(key);
  if (!p) {
    p = api
      .get<Explanation>(`/api/v1/notebooks/${enc(notebook)}/access/explain?table=${enc(table)}`)
      .then((e) => "schema" in (e.capabilities ?? {}))
      .catch(() => true);
    cache.set(key, p);
    setTimeout(() => cache.delete(key), 60_000);
  }
  return p;
}
