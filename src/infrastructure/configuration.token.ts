/** Injection token of the service's Configuration (a module of its own so controllers need not import the root module). */
export const CONFIGURATION = Symbol('Configuration');
