module.exports = { testEnvironment: 'node', testTimeout: 600000, testMatch: ['**/__tests__/**/*.test.js'] };
