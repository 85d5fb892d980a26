// Tab-separated text as spreadsheets write it: cells separated by tabs,
// rows by line breaks, a cell holding a tab, a line break or a quote
// wrapped in double quotes with inner quotes doubled.

export function toTSV(rows: string[][]): string {
  return rows.map((r) => r.map(quote).join("\t")).join("\n");
}

function quote(s: string): string {
  return /[\t\n\r"]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

export function parseTSV(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let i = 0;
  let atStart = true;
  while (i < text.length) {
    const ch = text[i];
    if (atStart && ch === '"') {
      // A quoted cell: up to the closing quote.
      let j = i + 1;
      let v = "";
      let closed = false;
      while (j < text.length) {
        if (text[j] === '"') {
          if (text[j + 1] === '"') {
            v += '"';
            j += 2;
            continue;
          }
          closed = true;
          j++;
          break;
        }
        v += text[j++];
      }
      if (closed && (j >= text.length || text[j] === "\t" || text[j] === "\n" || text[j] === "\r")) {
        cell = v;
        i = j;
        atStart = false;
        continue;
      }
      // Not a well-formed quoted cell: the quote is text.
    }
    atStart = false;
    if (ch === "\t") {
      row.push(cell);
      cell = "";
      atStart = true;
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      atStart = true;
    } else cell += ch;
    i++;
  }
  if (cell !== "" || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
