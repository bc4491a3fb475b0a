import { JobKind } from '../../application/ports/job-bus';

/** Topic names, all under one configurable prefix so several installations can share a cluster. */
export interface KafkaTopics {
  jobs: Record<JobKind, string>;
  jobStatus: string;
  /** Read by every worker (each in a group of its own): cancel a running job. */
  jobControl: string;
  deadLetter: string;
  integrationEvents: string;
}

export function kafkaTopics(prefix = 'custodia'): KafkaTopics {
  return {
    jobs: {
      backup: `${prefix}.jobs.backup`,
      restore: `${prefix}.jobs.restore`,
      verify: `${prefix}.jobs.verify`,
      erase: `${prefix}.jobs.erase`,
      delete: `${prefix}.jobs.delete`,
    },
    jobStatus: `${prefix}.job-status`,
    jobControl: `${prefix}.job-control`,
    deadLetter: `${prefix}.dead-letter`,
    integrationEvents: `${prefix}.integration-events`,
  };
}
