import { Job, ReceivedJobStatus } from '../../application/ports/job-bus';
import { jobControlProblem, jobProblem, jobStatusProblem } from '../../application/jobs/messages';

/**
 * Shape checks for messages arriving on the job bus: both adapters check what arrives against
 * the schemas the job kinds declare (src/application/jobs), and dead-letter a message that
 * breaks them with the problem as the reason.
 */
export { jobControlProblem, jobProblem, jobStatusProblem };

export function isJob(value: unknown): value is Job {
  return jobProblem(value) === undefined;
}

export function isJobStatus(value: unknown): value is ReceivedJobStatus {
  return jobStatusProblem(value) === undefined;
}
