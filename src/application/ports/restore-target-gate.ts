/**
 * Admits restore targets. The adapter checks the folder on this machine (inside RESTORE_ROOTS,
 * new or empty, clear of sources and of open restores' targets) and admits one request at a
 * time, so two overlapping requests cannot both pass.
 */
export interface RestoreTargetGate {
  /**
   * Checks `target`, then runs `record` (which stores RestoreRequested) with the resolved target
   * before the next request is checked; refusals are DomainErrors (INVALID_INPUT, TARGET_IN_USE,
   * TARGET_IN_SOURCE).
   */
  accept<T>(target: string, restoreId: string, record: (resolvedTarget: string) => Promise<T>): Promise<T>;
}
