import { DomainError, fold, SubjectCommand, subjectDecider, SubjectEvent, SubjectState } from '../../src/domain';

const AT = '2030-01-02T03:04:05.000Z';
const SUBJECT = 'c'.repeat(64);
const ERASURE = '44444444-4444-4444-8444-444444444444';
const OTHER_ERASURE = '55555555-5555-4555-8555-555555555555';

const request = (erasureId = ERASURE): SubjectCommand => ({
  type: 'RequestErasure',
  subject: SUBJECT,
  erasureId,
  legalBasis: 'Art. 17(1)(a)',
  requestedBy: 'dpo',
  at: AT,
});
const shredded: SubjectCommand = {
  type: 'RecordKeyShredded',
  subject: SUBJECT,
  erasureId: ERASURE,
  jobId: 'erase-1',
  keysShredded: 2,
  at: AT,
};
const failed: SubjectCommand = {
  type: 'FailErasure',
  subject: SUBJECT,
  erasureId: ERASURE,
  jobId: 'erase-1',
  code: 'IO_ERROR',
  reason: 'store unreachable',
  retryable: true,
  at: AT,
};

/** Folds the events each command decides, in order, from the initial state. */
function run(...commands: SubjectCommand[]): { state: SubjectState; events: SubjectEvent[] } {
  const events: SubjectEvent[] = [];
  for (const command of commands) events.push(...subjectDecider.decide(command, fold(subjectDecider, events)));
  return { state: fold(subjectDecider, events), events };
}

describe('subjectDecider (erasure)', () => {
  it('requests an erasure, then records the shredded keys and completes in one decision', () => {
    const { state, events } = run(request(), shredded);
    expect(events.map((e) => e.type)).toEqual(['ErasureRequested', 'SubjectKeyShredded', 'ErasureCompleted']);
    expect(events[0].data).toEqual({ erasureId: ERASURE, subject: SUBJECT, legalBasis: 'Art. 17(1)(a)', requestedBy: 'dpo', at: AT });
    expect(events[1].data).toMatchObject({ keysShredded: 2, jobId: 'erase-1' });
    expect(state).toMatchObject({ status: 'completed', erasureId: ERASURE, completedAt: AT });
  });

  it('decides nothing for a repeated request, in progress or completed, nor for a duplicate result', () => {
    expect(run(request(), request(OTHER_ERASURE)).events).toHaveLength(1);
    const completed = run(request(), shredded);
    expect(subjectDecider.decide(request(OTHER_ERASURE), completed.state)).toEqual([]);
    expect(subjectDecider.decide(shredded, completed.state)).toEqual([]);
  });

  it('records every lookup (an access), before, during and after an erasure, without changing the state', () => {
    const lookup: SubjectCommand = { type: 'RecordLookup', subject: SUBJECT, lookupId: 'lookup-1', purpose: 'Art. 15', at: AT };
    const { state, events } = run(lookup, request(), lookup, shredded, lookup);
    expect(events.map((e) => e.type)).toEqual([
      'SubjectDataLookedUp',
      'ErasureRequested',
      'SubjectDataLookedUp',
      'SubjectKeyShredded',
      'ErasureCompleted',
      'SubjectDataLookedUp',
    ]);
    expect(events[0].data).toEqual({ lookupId: 'lookup-1', subject: SUBJECT, purpose: 'Art. 15', at: AT });
    expect(state).toMatchObject({ status: 'completed', erasureId: ERASURE });
  });

  it('can be requested again after a failure, under a new erasure id', () => {
    const { state, events } = run(request(), failed, request(OTHER_ERASURE));
    expect(events.map((e) => e.type)).toEqual(['ErasureRequested', 'ErasureFailed', 'ErasureRequested']);
    expect(state).toMatchObject({ status: 'requested', erasureId: OTHER_ERASURE });
  });

  it('refuses results for an unknown erasure, a failure after completion, and an empty legal basis', () => {
    const refuse = (command: SubjectCommand, state: SubjectState) => {
      expect(() => subjectDecider.decide(command, state)).toThrow(DomainError);
    };
    refuse(shredded, subjectDecider.initialState);
    refuse({ ...shredded, erasureId: OTHER_ERASURE }, run(request()).state);
    refuse(failed, run(request(), shredded).state);
    refuse({ ...request(), legalBasis: '  ' } as SubjectCommand, subjectDecider.initialState);
  });
});
