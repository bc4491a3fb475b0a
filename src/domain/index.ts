export * from './backup';
export * from './decider';
export * from './domain-error';
export * from './events';
export * from './restore';
export * from './source';
export * from './subject';
export * from './retention-policy';
