import { Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { randomUUID } from 'node:crypto';
import { ExecuteBackupCommand, ExecuteSourceCommand } from '../../application/commands/commands';
import { CommandContext } from '../../application/event-envelope';
import { DomainError, SourceState } from '../../domain';
import { SubjectRules } from '../../engine';
import { CreateSourceDto, RequestBackupDto, UpdateSourceDto } from './dto';

/** Subject rules are parsed by the engine that will apply them; a bad one is a 400 now, not a failed backup later. */
export function checkSubjectRules(rules: string[] | undefined): string[] | undefined {
  if (rules === undefined) return undefined;
  try {
    SubjectRules.compile(rules);
  } catch (error) {
    throw new DomainError('INVALID_INPUT', `subjectRules: ${error instanceof Error ? error.message : String(error)}`);
  }
  return rules;
}

/**
 * The operator's commands on sources and backups, shared by the REST controllers and the
 * GraphQL resolvers: each records its event and answers with what was accepted (the catalog
 * shows the outcome once the projections and the worker have caught up).
 */
@Injectable()
export class OperatorRequests {
  constructor(private readonly commands: CommandBus) {}

  async registerSource(body: CreateSourceDto, context: CommandContext) {
    const sourceId = randomUUID();
    const subjectRules = checkSubjectRules(body.subjectRules);
    const { dataCategories, purposes } = body;
    await this.commands.execute(
      new ExecuteSourceCommand(
        { type: 'RegisterSource', sourceId, name: body.name, path: body.path, subjectRules, dataCategories, purposes },
        context,
      ),
    );
    return {
      id: sourceId,
      name: body.name,
      path: body.path,
      subjectRules: subjectRules ?? [],
      dataCategories: dataCategories ?? [],
      purposes: purposes ?? [],
      status: 'active',
    };
  }

  async updateSource(id: string, body: UpdateSourceDto, context: CommandContext) {
    const { name, path, dataCategories, purposes } = body;
    const subjectRules = checkSubjectRules(body.subjectRules);
    const result = await this.commands.execute<ExecuteSourceCommand, { state: SourceState }>(
      new ExecuteSourceCommand({ type: 'UpdateSource', sourceId: id, name, path, subjectRules, dataCategories, purposes }, context),
    );
    const state = result.state;
    if (state.status === 'none') return { id };
    return {
      id,
      name: state.name,
      path: state.path,
      subjectRules: state.subjectRules,
      dataCategories: state.dataCategories,
      purposes: state.purposes,
      status: state.status,
    };
  }

  async removeSource(id: string, context: CommandContext) {
    await this.commands.execute(new ExecuteSourceCommand({ type: 'RemoveSource', sourceId: id }, context));
    return { id, status: 'removed' };
  }

  async requestBackup(body: RequestBackupDto, context: CommandContext) {
    const backupId = randomUUID();
    await this.commands.execute(
      new ExecuteBackupCommand({ type: 'RequestBackup', backupId, sourceId: body.sourceId, backupType: body.type }, context),
    );
    return { id: backupId, sourceId: body.sourceId, type: body.type, status: 'requested' };
  }

  async cancelBackup(id: string, reason: string | undefined, context: CommandContext) {
    // CancelBackupDto's rule, for GraphQL's bare argument too.
    if (reason !== undefined && reason.length > 500) throw new DomainError('INVALID_INPUT', 'reason must be at most 500 characters');
    await this.commands.execute(
      new ExecuteBackupCommand({ type: 'CancelBackup', backupId: id, reason: reason ?? `cancelled by ${context.actor}` }, context),
    );
    return { id, status: 'cancelled' };
  }

  async verifyBackup(id: string, context: CommandContext) {
    const verificationId = randomUUID();
    await this.commands.execute(new ExecuteBackupCommand({ type: 'VerifyBackup', backupId: id, verificationId }, context));
    return { id, verificationId, verification: 'requested' };
  }

  /**
   * Only a completed backup can be deleted; restores of it are refused from now on. A worker
   * removes the snapshot and prunes the data nothing else uses.
   */
  async deleteBackup(id: string, context: CommandContext) {
    const deletionId = randomUUID();
    await this.commands.execute(new ExecuteBackupCommand({ type: 'DeleteBackup', backupId: id, deletionId, reason: 'operator' }, context));
    return { id, deletionId, status: 'deleting' };
  }
}
