import { Inject } from '@nestjs/common';
import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { PROBLEM_REASONS, ProblemCountsData, ProblemReasonData } from '../../domain';
import { SnapshotProblemItem, SnapshotProblems } from '../ports/snapshot-problems';
import { SNAPSHOT_PROBLEMS } from '../tokens';
import { PageRequest } from './catalog.queries';
import { Page } from './views';

/** GET /backups/:id/errors: one page of the problems, with the counts of all of them by reason. */
export interface BackupProblemsView extends Page<SnapshotProblemItem> {
  backupId: string;
  snapshotId: string;
  counts: ProblemCountsData;
}

/**
 * The problems recorded in a backup's snapshot, in the order the backup met them. The caller
 * has recorded the read (BackupProblemsRead) first: this query only reads.
 */
export class GetBackupProblemsQuery {
  constructor(
    readonly backupId: string,
    readonly snapshotId: string,
    readonly reason: ProblemReasonData | undefined,
    readonly page: PageRequest,
  ) {}
}

@QueryHandler(GetBackupProblemsQuery)
export class GetBackupProblemsHandler implements IQueryHandler<GetBackupProblemsQuery, BackupProblemsView> {
  constructor(@Inject(SNAPSHOT_PROBLEMS) private readonly problems: SnapshotProblems) {}

  async execute({ backupId, snapshotId, reason, page }: GetBackupProblemsQuery): Promise<BackupProblemsView> {
    const all = await this.problems.problemsOf(snapshotId);
    const counts: ProblemCountsData = {};
    for (const name of PROBLEM_REASONS) {
      const count = all.filter((problem) => problem.reason === name).length;
      if (count > 0) counts[name] = count;
    }
    const selected = reason === undefined ? all : all.filter((problem) => problem.reason === reason);
    return {
      backupId,
      snapshotId,
      counts,
      items: selected.slice(page.offset, page.offset + page.limit),
      total: selected.length,
      limit: page.limit,
      offset: page.offset,
    };
  }
}
