// Test helpers of the database package (#db/testing): throwaway databases and synthetic chain events. Never
// imported by production code.
export * from './test-database.js';
export * from './chain-fixtures.js';
