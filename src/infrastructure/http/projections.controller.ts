import { Controller, Get } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { GetProjectionStatusQuery, ProjectionStatusView } from '../../application/queries/projection-status.query';
import { Requires } from './access.guard';

/** Operators' view of the read models: each projection's position and any events it stepped over. */
@Controller('projections')
export class ProjectionsController {
  constructor(private readonly queries: QueryBus) {}

  @Requires('catalog:read')
  @Get()
  status(): Promise<ProjectionStatusView[]> {
    return this.queries.execute(new GetProjectionStatusQuery());
  }
}
