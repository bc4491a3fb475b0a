import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers (README, Architecture): which folder may import what. ESLint's own
 * no-restricted-imports, in the typescript-eslint version that can allow type-only imports, with
 * one block per layer: relative paths are matched by the folder they reach, packages by name.
 * `layerRules` is exported for test/infrastructure/layers.spec.ts.
 */
const outside = (folders) => `^\\.{1,2}/(.*/)?(${folders.join('|')})(/|$)`;
const nest = { group: ['@nestjs/*', '@apollo/*', '@as-integrations/*'], message: 'Nest and its adapters belong to the control plane.' };

export const layerRules = [
  {
    // Pure: decisions over events and values. Only its own files; no package, no Node built-in.
    files: ['src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./)',
              message: 'src/domain is pure: it imports only its own files (no package, Node built-in or other layer).',
            },
          ],
        },
      ],
    },
  },
  {
    // Ports and handlers: no adapter, no process wiring, no engine at run time.
    files: ['src/application/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: outside(['infrastructure', 'worker', 'cli', 'main']),
              message: 'src/application depends on ports, not on adapters or processes (infrastructure, worker, cli, main).',
            },
            {
              regex: '^\\.{1,2}/(.*/)?engine/.',
              message: "src/application must not reach into the engine's internals; import types from its public index.",
            },
            {
              regex: '^\\.{1,2}/(.*/)?engine$',
              allowTypeImports: true,
              message: "src/application may name the engine's types (import type from its index) but not run it: the worker does.",
            },
          ],
        },
      ],
    },
  },
  {
    // The engine is a library: no Nest, nothing of the control plane.
    files: ['src/engine/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            nest,
            {
              regex: outside(['domain', 'application', 'infrastructure', 'worker', 'cli', 'main']),
              message: 'src/engine is a library of its own: it imports nothing of the control plane.',
            },
          ],
        },
      ],
    },
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'dist-bench/**', 'node_modules/**', 'coverage/**', '*.js', '*.mjs'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  ...layerRules,
);
