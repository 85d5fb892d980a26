// A small router over the History API: every screen has its own URL, links
// are ordinary <a href> elements (so they open in new tabs and work without
// script knowledge), and back/forward re-render the matching screen.

export interface Route {
  name: string;
  params: Record<string, string>;
  query: URLSearchParams;
}

type Pattern = { name: string; parts: string[] };

const patterns: Pattern[] = [];

// define registers a route; pattern parts starting with ":" are parameters.
export function define(name: string, pattern: string): void {
  patterns.push({ name, parts: pattern.split("/").filter(Boolean) });
}

export function match(pathname: string, search = ""): Route {
  const parts = pathname.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  for (const p of patterns) {
    if (p.parts.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < parts.length; i++) {
      if (p.parts[i].startsWith(":")) params[p.parts[i].slice(1)] = parts[i];
      else if (p.parts[i] !== parts[i]) {
        ok = false;
        break;
      }
    }
    if (ok) return { name: p.name, params, query: new URLSearchParams(search) };
  }
  return { name: "not_found", params: {}, query: new URLSearchParams(search) };
}

export const router = $state({ route: { name: "loading", params: {}, query: new URLSearchParams() } as Route });

function update(): void {
  router.route = match(location.pathname, location.search);
}

// navigate goes to path, adding a history entry (or replacing the current
// one), and renders its screen.
export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  update();
  window.scrollTo(0, 0);
}

// start renders the current URL and follows back/forward and clicks on
// same-origin links.
export function start(): void {
  update();
  addEventListener("popstate", update);
  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.("a");
    if (!a || a.target || a.hasAttribute("download") || a.origin !== location.origin) return;
    if (a.pathname.startsWith("/api/")) return;
    e.preventDefault();
    navigate(a.pathname + a.search + a.hash);
  });
}

// path builds a URL path from parts, encoding each.
export function path(...parts: string[]): string {
  return "/" + parts.map(encodeURIComponent).join("/");
}
