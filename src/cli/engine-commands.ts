import { Command } from 'commander';
import { registerBackupCommand } from './commands/backup';
import { registerCheckCommand } from './commands/check';
import { registerIndexCommands } from './commands/index-rebuild';
import { registerKeyCommands } from './commands/key';
import { registerRepoCommands } from './commands/repo';
import { registerRestoreCommand } from './commands/restore';
import { registerSnapshotsCommand } from './commands/snapshots';
import { registerMaintenanceCommands } from './maintenance-commands';
import { registerSubjectCommands } from './subject-commands';

/** The commands that work on a repository directly, one file each under commands/. */
export function registerEngineCommands(program: Command): void {
  registerRepoCommands(program);
  registerKeyCommands(program);
  registerBackupCommand(program);
  registerSnapshotsCommand(program);
  registerRestoreCommand(program);
  registerCheckCommand(program);
  registerIndexCommands(program);
  registerSubjectCommands(program);
  registerMaintenanceCommands(program);
}
