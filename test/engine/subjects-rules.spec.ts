import { EngineError, hmacPseudonymiser, SubjectRules } from '../../src/engine';

/** The subject-rule matcher: which path belongs to which data subject. */
describe('subject rules', () => {
  const rules = SubjectRules.compile(['customers/{subject}/**', 'invoices/{subject}.pdf', 'tenants/*/users/{subject}']);

  it('a {subject} component matches one name, which is the external id', () => {
    expect(rules.matchRoot(['customers', 'alice@example.com'])).toEqual({
      externalId: 'alice@example.com',
      rule: 'customers/{subject}/**',
    });
    expect(rules.matchRoot(['tenants', 'acme', 'users', 'u-17'])).toEqual({ externalId: 'u-17', rule: 'tenants/*/users/{subject}' });
  });

  it('literal text around {subject} is not part of the id, and the id is never empty', () => {
    expect(rules.matchRoot(['invoices', 'bob@example.com.pdf'])?.externalId).toBe('bob@example.com');
    expect(rules.matchRoot(['invoices', '.pdf'])).toBeNull();
    expect(rules.matchRoot(['invoices', 'bob.txt'])).toBeNull();
  });

  it('everything below a subject root belongs to that subject; the folders above it to nobody', () => {
    expect(rules.subjectOf('customers/alice@example.com/orders/2024.csv')).toEqual({
      externalId: 'alice@example.com',
      rule: 'customers/{subject}/**',
      root: ['customers', 'alice@example.com'],
    });
    expect(rules.subjectOf('customers')).toBeNull();
    expect(rules.subjectOf('public/readme.md')).toBeNull();
    expect(rules.subjectOf('Customers/alice@example.com/x')).toBeNull();
    // matchRoot answers for the root itself only, not for entries below it.
    expect(rules.matchRoot(['customers', 'alice@example.com', 'orders'])).toBeNull();
  });

  it('of overlapping rules, the shallowest subject root wins, then the first rule', () => {
    const overlapping = SubjectRules.compile(['data/{subject}/**', '{subject}/**', 'data/*/{subject}']);
    expect(overlapping.subjectOf('data/x/y')?.externalId).toBe('data');
    const ordered = SubjectRules.compile(['data/{subject}', 'data/{subject}.json']);
    expect(ordered.subjectOf('data/a.json')).toMatchObject({ externalId: 'a.json', rule: 'data/{subject}' });
  });

  it.each([
    ['', 'empty'],
    ['customers/**', 'no {subject} component'],
    ['/customers/{subject}', 'relative to the source root'],
    ['customers/{subject}/orders', 'only "/**" may follow'],
    ['**/{subject}', 'a component is a literal name'],
    ['customers/{subject}{subject}', '{subject} component may hold one {subject}'],
    ['customers/../{subject}', 'empty, "." and ".."'],
    ['customers//{subject}', 'empty, "." and ".."'],
    ['cust*/{subject}', 'a component is a literal name'],
  ])('refuses the malformed rule %j (%s)', (rule, why) => {
    let error: unknown;
    try {
      SubjectRules.compile([rule]);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).code).toBe('INVALID_ARGUMENT');
    expect((error as EngineError).message).toContain(why);
  });

  it('pseudonymises by HMAC-SHA256 under a secret: stable, secret-dependent, Unicode-normalised', () => {
    const pseudonymise = hmacPseudonymiser('a secret of at least sixteen bytes');
    const alice = pseudonymise('alice@example.com');
    expect(alice).toMatch(/^[0-9a-f]{64}$/);
    expect(pseudonymise('alice@example.com')).toBe(alice);
    expect(pseudonymise('bob@example.com')).not.toBe(alice);
    expect(hmacPseudonymiser('another secret, also long enough')('alice@example.com')).not.toBe(alice);
    expect(pseudonymise('zoe\u0301@example.com')).toBe(pseudonymise('zo\u00e9@example.com'));
    expect(() => hmacPseudonymiser('short')).toThrow(EngineError);
  });
});
