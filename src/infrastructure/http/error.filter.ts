import { ArgumentsHost, BadRequestException, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { GqlContextType } from '@nestjs/graphql';
import type { Response } from 'express';
import { GraphQLError } from 'graphql';
import { DomainError } from '../../domain';
import { describeForLog } from '../../application/describe-for-log';
import { isStorageFull, STORAGE_FULL } from '../../engine';

const DOMAIN_STATUS: Record<DomainError['code'], number> = {
  INVALID_INPUT: HttpStatus.BAD_REQUEST,
  NOT_FOUND: HttpStatus.NOT_FOUND,
  INVALID_TRANSITION: HttpStatus.CONFLICT,
  ALREADY_EXISTS: HttpStatus.CONFLICT,
  SOURCE_FORBIDDEN: HttpStatus.BAD_REQUEST,
  TARGET_IN_USE: HttpStatus.CONFLICT,
  TARGET_IN_SOURCE: HttpStatus.CONFLICT,
  NO_SNAPSHOT: HttpStatus.CONFLICT,
  FORBIDDEN: HttpStatus.FORBIDDEN,
};

/**
 * Every error leaves the API as `{statusCode, code, message}` with a stable code. Domain errors
 * map to 400/404/409; validation errors list their field messages; a full disk or database is a
 * 507 STORAGE_FULL; anything unexpected is a 500 with no detail (and the log names its kind,
 * never its data).
 */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Api');

  catch(error: unknown, host: ArgumentsHost): GraphQLError | void {
    const { status, body } = apiErrorResponse(error, this.logger);
    if (host.getType<GqlContextType>() === 'graphql') {
      // GraphQL answers 200 with an error entry: the same code and message, in extensions.
      const message = Array.isArray(body.message) ? body.message.join('; ') : String(body.message);
      return new GraphQLError(message, { extensions: { code: body.code, statusCode: status } });
    }
    host.switchToHttp().getResponse<Response>().status(status).json(body);
  }
}

/**
 * The answer for an error: `{status, body: {statusCode, code, message}}`. Shared by the filter
 * (REST, and GraphQL resolvers) and GraphQL's formatError (errors raised outside a resolver).
 */
export function apiErrorResponse(error: unknown, logger: Logger): { status: number; body: Record<string, unknown> } {
  // An exception thrown inside body-parser (the JSON depth check) comes back wrapped by Nest's
  // Express adapter: answer with the inner one and its code.
  if (error instanceof HttpException && error.cause instanceof HttpException) return apiErrorResponse(error.cause, logger);
  if (error instanceof DomainError) {
    const status = DOMAIN_STATUS[error.code];
    return { status, body: { statusCode: status, code: error.code, message: error.message } };
  }
  if (error instanceof BadRequestException && isJsonParseFailure(error.cause)) {
    // body-parser's SyntaxError, which Nest turns into a BadRequestException with it as the cause.
    return { status: 400, body: { statusCode: 400, code: 'INVALID_JSON', message: `the body is not valid JSON: ${error.message}` } };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const payload = error.getResponse();
    const details = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : { message: payload };
    const code = typeof details.code === 'string' ? details.code : codeForStatus(status);
    return { status, body: { statusCode: status, code, message: details.message ?? error.message } };
  }
  if (isStorageFull(error)) {
    // The append or the read-model write failed as a whole: nothing of the request was recorded.
    logger.error(`storage full (${describeForLog(error)}): a request was refused`);
    const status = HttpStatus.INSUFFICIENT_STORAGE;
    return {
      status,
      body: {
        statusCode: status,
        code: STORAGE_FULL,
        message: "the service's storage is full; nothing was recorded: free space and retry",
      },
    };
  }
  logger.error(`unexpected error (${describeForLog(error)})`);
  return { status: 500, body: { statusCode: 500, code: 'INTERNAL', message: 'internal error' } };
}

function isJsonParseFailure(cause: unknown): boolean {
  return cause instanceof SyntaxError && (cause as { type?: unknown }).type === 'entity.parse.failed';
}

export function codeForStatus(status: number): string {
  switch (status) {
    case 400:
      return 'VALIDATION_FAILED';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'CONFLICT';
    case 413:
      return 'PAYLOAD_TOO_LARGE';
    case 415:
      return 'UNSUPPORTED_MEDIA_TYPE';
    case 429:
      return 'RATE_LIMITED';
    default:
      return `HTTP_${status}`;
  }
}
