/**
 * Reading policy text: YAML (one or several `---`-separated documents) or JSON (a document or an array
 * of them). Syntax errors say where, by line and column.
 */
import { parseAllDocuments } from 'yaml';
import type { ValidationIssue } from '../validation/issues.js';

export type Parsed = { ok: true; documents: unknown[] } | { ok: false; issues: ValidationIssue[] };

/** Parses policy text into plain documents, not yet validated. `source` names the text in messages. */
export function parsePolicyText(text: string, source?: string): Parsed {
  const issues: ValidationIssue[] = [];
  const documents: unknown[] = [];
  const where = source === undefined ? '' : `${source}:`;
  for (const doc of parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true })) {
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        const at = error.linePos?.[0];
        const position = at === undefined ? '' : `${where}${at.line}:${at.col}: `;
        const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        issues.push({ path: '', message: `${position}${message}` });
      }
      continue;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) documents.push(...value);
    else documents.push(value);
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, documents };
}
