// GraphQL types and helpers shared by the API's features.
export * from './enums.js';
export * from './page.js';
export * from './prepared.js';
export * from './typed-data.js';
export * from './time.js';
