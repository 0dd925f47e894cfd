// Local-chain tooling (#devchain): the anvil launcher and its cheat codes, contract, governance and Safe deployment,
// bulk event generation, the dev accounts and the test clients' sign-in. For scripts/ and test/ only: production
// code never imports it (.dependency-cruiser.cjs), and gets its provider from #chain.
export * from './anvil.js';
export * from './deploy.js';
export * from './dev-deployment.js';
export * from './safe.js';
export * from './bulk-events.js';
export * from './dev-accounts.js';
export * from './siwe.js';
export * from './claim-race.js';
