import { Controller, Get, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { GetRetentionStatusQuery, RetentionReport } from '../../application/queries/retention.queries';
import { RetentionPhase } from '../../domain';
import { PageQueryDto } from './dto';
import { Requires } from './access.guard';

export class RetentionQueryDto extends PageQueryDto {
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? value.toLowerCase() : value))
  @IsUUID()
  sourceId?: string;

  @IsOptional()
  @IsIn(['active', 'archived', 'expired'])
  phase?: RetentionPhase;
}

/** Where each completed backup stands in the retention policy, and its restore tests. */
@Controller('retention')
export class RetentionController {
  constructor(private readonly queries: QueryBus) {}

  @Requires('catalog:read')
  @Get()
  status(@Query() query: RetentionQueryDto): Promise<RetentionReport> {
    return this.queries.execute(
      new GetRetentionStatusQuery({ sourceId: query.sourceId, phase: query.phase }, { limit: query.limit, offset: query.offset }),
    );
  }
}
