/** One row of the fault campaign's table: what was done, how often, and what went wrong. */
export interface FaultRow {
  fault: string;
  trials: number;
  /** A request answered 2xx that never reached a final state, or is not in the catalog. */
  lost: number;
  /** An effect that happened twice (two BackupCompleted for one backup). */
  duplicated: number;
  /** A request still not final when the trial's budget ran out. */
  stuck: number;
  /** A wrong byte restored, or damage the check did not name, or a repository that fails its check. */
  corrupted: number;
}

export function faultTable(seed: number, rows: FaultRow[]): string {
  const lines = [
    `fault campaign, seed ${seed}`,
    '| fault | trials | lost | duplicated | stuck | corrupted |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((row) => `| ${row.fault} | ${row.trials} | ${row.lost} | ${row.duplicated} | ${row.stuck} | ${row.corrupted} |`),
  ];
  return lines.join('\n');
}

/** A small seeded generator (mulberry32): a trial's choices are reproducible from the campaign's seed. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
