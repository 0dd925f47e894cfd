export * from './errors.js';
export * from './reidentification.js';
export * from './import-study.js';
export * from './report.js';
