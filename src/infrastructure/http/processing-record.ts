import { SourceProcessingFacts } from '../../application/queries/processing-record.query';
import { Configuration } from '../config/configuration';

/**
 * The record of processing activities (GDPR Art. 30(1)) for one source, as far as Custodia can
 * state it: what the operator declared (categories, purposes, subject rules), what the
 * configuration does (encryption, where data and keys are stored) and what the read models
 * count. Controller, recipients and transfers are the controller's to fill in.
 */
export function processingRecord(facts: SourceProcessingFacts, config: Configuration) {
  const { source } = facts;
  const perSubjectKeys = source.subjectRules.length > 0;
  return {
    sourceId: source.id,
    name: source.name,
    status: source.status,
    purposes: source.purposes,
    categoriesOfPersonalData: source.dataCategories,
    dataSubjects: {
      identifiedBy: source.subjectRules,
      withDataInBackups: facts.subjects.withData,
      erased: facts.subjects.erased,
      note: perSubjectKeys
        ? 'files matched by a subject rule are encrypted under that subject’s own key; subjects are known only by pseudonym'
        : 'no subject rules: files are encrypted under the repository key and cannot be erased per subject',
    },
    retention: {
      ...config.retention,
      // Said plainly, so the record does not claim more than the service does.
      enforcement: config.retention.deleteExpired
        ? 'automatic: restore tests run on schedule, and expired backups are deleted (snapshot removed, unused data pruned); phases reported by GET /retention'
        : 'restore tests run on schedule; expired backups are kept (RETENTION_DELETE_EXPIRED=false) and listed by GET /retention?phase=expired',
      backups: facts.backups,
    },
    erasure: perSubjectKeys
      ? 'crypto-shredding: POST /erasures destroys the subject’s keys; every backup then restores without the subject'
      : 'not available per subject for this source (no subject rules)',
    security: {
      encryption: 'client-side AES-256-GCM, a fresh HKDF-SHA256 subkey per object; keyed (HMAC-SHA256) content ids',
      keyProtection: `master key wrapped by an scrypt-derived key (N=${config.kdfN}, r=8, p=1)`,
      subjectKeys: perSubjectKeys ? `per data subject, wrapped by the master key, kept in the ${config.keyVault} key vault` : null,
      integrity: 'every blob authenticated and hash-checked on restore and by check --read-data; audit trail hash-chained',
      pseudonymisation: 'HMAC-SHA256 of the subject id under CUSTODIA_PSEUDONYM_SECRET',
    },
    storage: {
      kind: config.storage,
      location: config.repositoryLocation,
      keyVault: config.keyVault,
      eventStore: config.eventStore,
    },
    generatedAt: new Date().toISOString(),
  };
}

export type ProcessingRecord = ReturnType<typeof processingRecord>;
