// Short messages to the person: what was done, undone, or why not. They
// are announced to screen readers through a live region (Toasts.svelte).

export interface Toast {
  id: number;
  kind: "info" | "error" | "success";
  text: string;
}

export const toasts = $state({ list: [] as Toast[] });
let next = 1;

export function toast(text: string, kind: Toast["kind"] = "info", ms = 5000): void {
  const t = { id: next++, kind, text };
  toasts.list.push(t);
  if (ms > 0) setTimeout(() => dismiss(t.id), ms);
}

export function dismiss(id: number): void {
  toasts.list = toasts.list.filter((t) => t.id !== id);
}
