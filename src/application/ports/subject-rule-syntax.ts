/**
 * Checks a source's subject rules before they are recorded. The rules are the engine's (it
 * applies them during a backup), so the adapter asks the engine; the application only needs to
 * know that a bad rule is refused now, as a 400, and not later as a failed backup.
 */
export interface SubjectRuleSyntax {
  /** null if every rule compiles; otherwise why the first one does not. */
  problemWith(rules: string[]): string | null;
}
