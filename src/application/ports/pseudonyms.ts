/**
 * Turns a data subject's external id (an e-mail address, a customer number: whatever names the
 * subject's folder) into its pseudonym, the only subject id Custodia stores or sends. Keyed, so
 * a pseudonym cannot be linked back to a person without the secret.
 */
export interface SubjectPseudonyms {
  pseudonymOf(externalId: string): string;
}
