import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'data/**', 'bench-results/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'libsodium-wrappers-sumo',
              message: 'Use @vs/crypto: it is the only importer of libsodium.',
            },
            {
              name: 'libsodium-wrappers',
              message: 'Use @vs/crypto: it is the only importer of libsodium.',
            },
            {
              name: 'jose',
              message: 'Use services/api/src/auth/tokens.ts: the one place that uses jose.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/crypto/src/sodium.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['services/api/src/auth/tokens.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Tests forge hostile tokens with jose to prove the server refuses them; libsodium
    // stays behind @vs/crypto there too.
    files: ['**/tests/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'libsodium-wrappers-sumo',
              message: 'Use @vs/crypto: it is the only importer of libsodium.',
            },
            {
              name: 'libsodium-wrappers',
              message: 'Use @vs/crypto: it is the only importer of libsodium.',
            },
          ],
        },
      ],
    },
  },
)
