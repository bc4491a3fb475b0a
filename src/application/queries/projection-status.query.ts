import { Inject } from '@nestjs/common';
import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { ProjectionRunner } from '../projections/projection-runner';
import { ReadModel } from '../projections/read-model';
import { READ_MODEL } from '../tokens';

export interface ProjectionStatusView {
  name: string;
  /** The last event position whose effects are in the read model. */
  position: number;
  /** Events stepped over because the projection could not apply them (see ProjectionRunner). */
  parked: { position: number; eventId: string; eventType: string; error: string; parkedAt: string }[];
}

export class GetProjectionStatusQuery {}

/** How far each projection has got, and what it had to step over: read models are only as good as this. */
@QueryHandler(GetProjectionStatusQuery)
export class GetProjectionStatusHandler implements IQueryHandler<GetProjectionStatusQuery, ProjectionStatusView[]> {
  constructor(
    @Inject(READ_MODEL) private readonly db: ReadModel,
    private readonly runner: ProjectionRunner,
  ) {}

  async execute(): Promise<ProjectionStatusView[]> {
    const checkpoints = await this.db.selectFrom('projection_checkpoints').selectAll().execute();
    const parked = await this.db.selectFrom('projection_failures').selectAll().orderBy('position').execute();
    return this.runner.projections.map((projection) => ({
      name: projection.name,
      position: Number(checkpoints.find((row) => row.name === projection.name)?.position ?? 0),
      parked: parked
        .filter((row) => row.projection === projection.name)
        .map((row) => ({
          position: Number(row.position),
          eventId: row.event_id,
          eventType: row.event_type,
          error: row.error,
          parkedAt: row.parked_at,
        })),
    }));
  }
}
