// Writes a rendered results page: atomically (a temporary name, then rename), keeping the hand-written reading
// below the `<!-- reading -->` marker of the page it replaces, and the page's SVG plot beside it when there is one.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export const READING_MARKER = '<!-- reading -->';

export function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** `md` rendered into `page` (the reading kept), and `svg` into page's .svg twin when given. */
export function writeReportPage(page: string, md: string, svg?: string): void {
  const old = existsSync(page) ? readFileSync(page, 'utf8') : '';
  const reading = old.includes(READING_MARKER) ? old.slice(old.indexOf(READING_MARKER)) : '';
  if (svg !== undefined) writeAtomic(page.replace(/\.md$/, '.svg'), svg);
  writeAtomic(page, reading ? `${md}\n${reading}` : md);
}
