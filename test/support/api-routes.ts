import 'reflect-metadata';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { API_CONTROLLERS } from '../../src/infrastructure/service.module';

export interface ApiRoute {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** Express-style, e.g. "/backups/:id/cancel". */
  path: string;
  handler: string;
}

const METHODS: Partial<Record<RequestMethod, ApiRoute['method']>> = {
  [RequestMethod.GET]: 'get',
  [RequestMethod.POST]: 'post',
  [RequestMethod.PATCH]: 'patch',
  [RequestMethod.PUT]: 'put',
  [RequestMethod.DELETE]: 'delete',
};

/** Every REST route of the service, read from the controllers' metadata: a new endpoint is covered at once. */
export function apiRoutes(): ApiRoute[] {
  const routes: ApiRoute[] = [];
  for (const controller of API_CONTROLLERS) {
    const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
    for (const name of Object.getOwnPropertyNames(controller.prototype)) {
      const method: unknown = (controller.prototype as unknown as Record<string, unknown>)[name];
      if (typeof method !== 'function') continue;
      const verb = Reflect.getMetadata(METHOD_METADATA, method) as RequestMethod | undefined;
      const routeMethod = verb === undefined ? undefined : METHODS[verb];
      if (routeMethod === undefined) continue;
      const sub = String(Reflect.getMetadata(PATH_METADATA, method) ?? '');
      const path = `/${[base, sub].filter((part) => part !== '' && part !== '/').join('/')}`.replace(/\/+/g, '/');
      routes.push({ method: routeMethod, path, handler: `${controller.name}.${name}` });
    }
  }
  return routes;
}

/** The route's path with each `:param` replaced by `id`. */
export function fill(path: string, id: string): string {
  return path.replace(/:[A-Za-z]+/g, id);
}
