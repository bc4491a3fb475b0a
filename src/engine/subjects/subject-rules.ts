import { EngineError } from '../errors';

/**
 * Subject rules: path templates, relative to the source root, that say which files and folders
 * belong to a data subject. `customers/{subject}/**` makes every folder directly under
 * `customers` a subject's folder, named by the subject's external id (e.g. an e-mail address).
 *
 * A rule is '/'-separated components:
 * - a literal name (`customers`), or `*` for any one name, before the subject component;
 * - exactly one subject component: `{subject}`, optionally with literal text around it
 *   (`{subject}.json`); it matches one name, and the part matched by `{subject}` (not empty)
 *   is the external id;
 * - optionally `**` after it: "and everything below", which is implied anyway: the entry that
 *   matched `{subject}` is the subject's root, and everything below it belongs to the subject.
 * Of several rules, the shallowest subject root on a path wins; at equal depth, the first rule.
 */
export interface SubjectRuleMatch {
  externalId: string;
  /** The rule as written. */
  rule: string;
}

type Component = { kind: 'literal'; name: string } | { kind: 'any' } | { kind: 'subject'; prefix: string; suffix: string };

interface CompiledRule {
  text: string;
  /** The components up to and including the subject component (`**` is dropped). */
  components: Component[];
}

const SUBJECT = '{subject}';

export class SubjectRules {
  private constructor(private readonly rules: CompiledRule[]) {}

  /** Parses the rules; a malformed one is an INVALID_ARGUMENT error naming it. */
  static compile(rules: readonly string[]): SubjectRules {
    return new SubjectRules(rules.map(compileRule));
  }

  get size(): number {
    return this.rules.length;
  }

  /** The rules as written. */
  get texts(): string[] {
    return this.rules.map((rule) => rule.text);
  }

  /**
   * The subject whose root is exactly the entry at `parts` (path components relative to the
   * source root), or null. This is what a walk from the root asks at every entry until it
   * meets a subject root.
   */
  matchRoot(parts: readonly string[]): SubjectRuleMatch | null {
    for (const rule of this.rules) {
      if (rule.components.length !== parts.length) continue;
      const externalId = matchComponents(rule.components, parts);
      if (externalId !== null) return { externalId, rule: rule.text };
    }
    return null;
  }

  /**
   * The subject the entry at `path` belongs to: the shallowest subject root on the way to it
   * (the entry itself or an ancestor), and that root's path; null for unruled entries.
   */
  subjectOf(path: string | readonly string[]): (SubjectRuleMatch & { root: string[] }) | null {
    const parts = typeof path === 'string' ? path.split('/').filter((part) => part !== '') : path;
    for (let depth = 1; depth <= parts.length; depth++) {
      const root = parts.slice(0, depth);
      const match = this.matchRoot(root);
      if (match) return { ...match, root };
    }
    return null;
  }
}

function compileRule(text: string): CompiledRule {
  const invalid = (why: string) => new EngineError('INVALID_ARGUMENT', `subject rule ${JSON.stringify(text)} is invalid: ${why}`);
  if (text.startsWith('/')) throw invalid('it must be relative to the source root');
  const parts = text.split('/');
  if (parts.at(-1) === '**') parts.pop();
  const components: Component[] = [];
  for (const part of parts) {
    if (components.some((component) => component.kind === 'subject')) {
      throw invalid('only "/**" may follow the {subject} component');
    }
    if (part === '' || part === '.' || part === '..') throw invalid('empty, "." and ".." components are not allowed');
    if (part === '*') {
      components.push({ kind: 'any' });
      continue;
    }
    const at = part.indexOf(SUBJECT);
    if (at >= 0) {
      const prefix = part.slice(0, at);
      const suffix = part.slice(at + SUBJECT.length);
      if (/[*{}]/.test(prefix + suffix)) throw invalid('the {subject} component may hold one {subject} and literal text only');
      components.push({ kind: 'subject', prefix, suffix });
      continue;
    }
    if (/[*{}]/.test(part)) throw invalid(`"${part}": a component is a literal name, "*", "**" (last) or holds {subject}`);
    components.push({ kind: 'literal', name: part });
  }
  if (!components.some((component) => component.kind === 'subject')) throw invalid('it has no {subject} component');
  return { text, components };
}

/** The external id when every component matches its name, else null. */
function matchComponents(components: readonly Component[], parts: readonly string[]): string | null {
  let externalId: string | null = null;
  for (let i = 0; i < components.length; i++) {
    const component = components[i];
    const name = parts[i];
    if (component.kind === 'literal' && component.name !== name) return null;
    if (component.kind === 'subject') {
      const { prefix, suffix } = component;
      if (name.length <= prefix.length + suffix.length || !name.startsWith(prefix) || !name.endsWith(suffix)) return null;
      externalId = name.slice(prefix.length, name.length - suffix.length);
    }
  }
  return externalId;
}
