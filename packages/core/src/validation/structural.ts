/**
 * Structural validation against the JSON Schema (Ajv), with each Ajv error turned into a sentence a
 * person can act on, located by a JSON path.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { FlagDocument, SCHEMA_VERSION, SegmentDocument } from '../document/schema.js';
import {
  describeType,
  didYouMean,
  formatPath,
  type PathSegment,
  pointerSegments,
  type ValidationIssue,
} from './issues.js';

// ajv-formats ships CommonJS whose default export is the plugin function itself.
const addFormats = addFormatsPlugin as unknown as (ajv: Ajv) => Ajv;

let validators: { flag: ValidateFunction; segment: ValidateFunction } | undefined;

function compiled() {
  if (validators === undefined) {
    const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, strict: true });
    addFormats(ajv);
    validators = { flag: ajv.compile(FlagDocument), segment: ajv.compile(SegmentDocument) };
  }
  return validators;
}

interface SchemaNode {
  title?: string;
  description?: string;
  properties?: Record<string, unknown>;
  enum?: unknown[];
}

const quoted = (value: unknown) => (typeof value === 'string' ? JSON.stringify(value) : String(value));

function translate(error: ErrorObject): { path: PathSegment[]; message: string } | undefined {
  const path = pointerSegments(error.instancePath);
  const schema = (error.parentSchema ?? {}) as SchemaNode;
  const what = schema.title;
  const params = error.params as Record<string, unknown>;
  if (error.propertyName !== undefined) {
    // An invalid key of a record (a variation, environment or region name).
    if (error.keyword === 'propertyNames') return undefined;
    return {
      path: [...path, error.propertyName],
      message: `${quoted(error.propertyName)} is not a valid ${what ?? 'name'}`,
    };
  }
  switch (error.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      return { path: [...path, missing], message: `required field "${missing}" is missing` };
    }
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const known = Object.keys(schema.properties ?? {});
      return { path: [...path, field], message: `unknown field "${field}"${didYouMean(field, known)}` };
    }
    case 'enum': {
      const allowed = (schema.enum ?? []).map(String);
      const hint = typeof error.data === 'string' ? didYouMean(error.data, allowed) : '';
      return {
        path,
        message: `unknown ${what ?? 'value'} ${quoted(error.data)}${hint || ` (expected one of ${allowed.join(', ')})`}`,
      };
    }
    case 'const': {
      const last = path[path.length - 1];
      if (last === 'schemaVersion') {
        return {
          path,
          message: `unsupported schema version ${quoted(error.data)}: this Switchyard reads version ${SCHEMA_VERSION}`,
        };
      }
      return { path, message: `must be ${quoted(params.allowedValue)}, not ${quoted(error.data)}` };
    }
    case 'type': {
      const expected = what ?? [params.type].flat().map(String).join(' or ');
      return {
        path,
        message: `must be ${what ? expected : article(expected)}, not ${describeType(error.data)}`,
      };
    }
    case 'pattern':
    case 'format':
      return {
        path,
        message: `${quoted(error.data)} is not ${schema.description ?? what ?? `in the expected ${error.keyword}`}`,
      };
    default:
      return { path, message: error.message ?? `fails "${error.keyword}"` };
  }
}

function article(typeName: string): string {
  return /^[aeiou]/.test(typeName) ? `an ${typeName}` : `a ${typeName}`;
}

/** Issues that the JSON Schema finds in a flag or segment document, deduplicated and in document order. */
export function structuralIssues(kind: 'flag' | 'segment', document: unknown): ValidationIssue[] {
  const validate = compiled()[kind];
  if (validate(document)) return [];
  const seen = new Set<string>();
  const issues: ValidationIssue[] = [];
  for (const error of validate.errors ?? []) {
    const issue = translate(error);
    if (issue === undefined) continue;
    const formatted = { path: formatPath(issue.path), message: issue.message };
    const id = `${formatted.path}\u0000${formatted.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      issues.push(formatted);
    }
  }
  return issues;
}
