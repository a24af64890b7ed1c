// globalSetup: tests load the probe the way users do, from dist/perfprobe.js, built from lib/ as it is now.
module.exports = { globalSetup: './__tests__/helpers/global-setup.js', testEnvironment: 'node', testTimeout: 600000, testMatch: ['**/__tests__/**/*.test.js'] };
