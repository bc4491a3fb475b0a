import { ProtectedPaths, sourceConfinementProblem } from '../../src/application/source-confinement';

describe('source confinement (the rule the API and the worker both apply)', () => {
  const paths: ProtectedPaths = {
    dataDirs: ['/var/lib/custodia'],
    repositories: ['/backup/repository'],
    secretFiles: ['/var/lib/custodia/repository.key', '/etc/custodia/tokens'],
    restoreRoots: ['/srv/restores'],
    sourceRoots: null,
  };
  const ruleOf = (source: string, given: ProtectedPaths = paths) => sourceConfinementProblem(source, given)?.rule ?? null;

  it('allows an ordinary folder anywhere when SOURCE_ROOTS is not set', () => {
    expect(ruleOf('/srv/crm')).toBeNull();
    expect(ruleOf('/home/olga/documents')).toBeNull();
    // Only whole path segments count: these are beside the protected folders, not in them.
    expect(ruleOf('/var/lib/custodia2')).toBeNull();
    expect(ruleOf('/srv/restores-archive')).toBeNull();
    expect(ruleOf('/dev2')).toBeNull();
  });

  it.each([['/'], ['//'], ['/.']])('refuses the root folder %j', (source) => {
    expect(sourceConfinementProblem(source, paths)).toEqual({
      code: 'SOURCE_FORBIDDEN',
      rule: 'root folder',
      message: expect.stringMatching(/^root folder: /),
    });
  });

  it.each([['/proc'], ['/proc/1'], ['/sys/kernel'], ['/dev'], ['/dev/shm']])('refuses the kernel interface %j', (source) => {
    expect(ruleOf(source)).toBe('system folder');
  });

  it.each([
    ['DATA_DIR itself', '/var/lib/custodia'],
    ['a folder inside DATA_DIR', '/var/lib/custodia/restores'],
    ['a folder holding DATA_DIR', '/var/lib'],
    ['a folder holding DATA_DIR, two levels up', '/var'],
    ['the repository folder', '/backup/repository'],
    ['inside the repository', '/backup/repository/data'],
    ['a folder holding the repository', '/backup'],
    ['a folder holding the tokens file', '/etc/custodia'],
    ['a folder holding the tokens file, further up', '/etc'],
    ['a key file given as the source', '/etc/custodia/tokens'],
  ])('refuses %s (service data)', (_what, source) => {
    const refusal = sourceConfinementProblem(source, paths);
    expect(refusal).toMatchObject({ code: 'SOURCE_FORBIDDEN', rule: 'service data' });
    expect(refusal?.message).toContain('DATA_DIR, the repository or a key or secret file');
  });

  it.each([['/srv/restores'], ['/srv/restores/crm'], ['/srv']])('refuses %j: a restore root, inside one or holding one', (source) => {
    expect(ruleOf(source)).toBe('restore root');
  });

  it('with SOURCE_ROOTS, allows a root and what is inside it, and refuses everything else', () => {
    const confined = { ...paths, sourceRoots: ['/srv/data', '/home/shared'] };
    expect(ruleOf('/srv/data', confined)).toBeNull();
    expect(ruleOf('/srv/data/crm', confined)).toBeNull();
    expect(ruleOf('/home/shared/hr/..archive', confined)).toBeNull();
    expect(ruleOf('/srv/data2', confined)).toBe('outside SOURCE_ROOTS');
    expect(ruleOf('/home', confined)).toBe('outside SOURCE_ROOTS');
    expect(ruleOf('/tmp/demo', confined)).toBe('outside SOURCE_ROOTS');
    expect(sourceConfinementProblem('/tmp/demo', confined)?.message).toBe(
      'outside SOURCE_ROOTS: path is not inside /srv/data or /home/shared (SOURCE_ROOTS)',
    );
  });

  it('applies the fixed rules inside SOURCE_ROOTS too: a root may not open the service data to backups', () => {
    const wide = { ...paths, sourceRoots: ['/'] };
    expect(ruleOf('/', wide)).toBe('root folder');
    expect(ruleOf('/proc/self', wide)).toBe('system folder');
    expect(ruleOf('/var/lib/custodia', wide)).toBe('service data');
    expect(ruleOf('/srv/restores/x', wide)).toBe('restore root');
    expect(ruleOf('/srv/crm', wide)).toBeNull();
  });

  it('judges resolved paths only: a relative one is a caller bug, not a folder to allow', () => {
    expect(() => ruleOf('srv/crm')).toThrow('source confinement needs an absolute, resolved path');
  });
});
