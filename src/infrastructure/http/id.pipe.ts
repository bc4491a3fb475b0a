import { Injectable, NotFoundException, PipeTransform } from '@nestjs/common';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Route ids are UUIDs; anything else cannot name a resource, so it is a 404, not a 500. */
@Injectable()
export class ResourceIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (!UUID.test(value))
      throw new NotFoundException({ code: 'NOT_FOUND', message: `no resource with id ${JSON.stringify(value.slice(0, 64))}` });
    return value.toLowerCase();
  }
}
