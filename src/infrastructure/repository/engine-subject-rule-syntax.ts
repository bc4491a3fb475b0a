import type { SubjectRuleSyntax } from '../../application/ports/subject-rule-syntax';
import { SubjectRules } from '../../engine';

/** Subject rules are compiled by the engine that applies them, so the engine checks them. */
export const engineSubjectRuleSyntax: SubjectRuleSyntax = {
  problemWith(rules) {
    try {
      SubjectRules.compile(rules);
      return null;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  },
};
