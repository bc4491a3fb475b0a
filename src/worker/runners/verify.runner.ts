import { verifySnapshot } from '../../engine';
import { JobRunner } from './runner';

/** Reads back and checks every blob of the snapshot. */
export const runVerify: JobRunner<'verify'> = async (job, { repository }) => {
  const verification = await verifySnapshot(repository, job.payload.snapshotId);
  return { blobsChecked: verification.blobsChecked, bytesChecked: verification.bytesChecked };
};
