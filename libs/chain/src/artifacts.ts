import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InterfaceAbi } from 'ethers';

/** Names of the compiled contracts in contracts/out (written by `npm run build:contracts`). */
export const CONTRACT_NAMES = {
  TestUSD: 'TestUSD',
  IncentiveParameters: 'IncentiveParameters',
  CredentialRegistry: 'CredentialRegistry',
  StudyMarket: 'StudyMarket',
  AccessLogAnchor: 'AccessLogAnchor',
  RoDirectory: 'RoDirectory',
  StudyCustody: 'StudyCustody',
  MembershipToken: 'MembershipToken',
  OpenReadGovernor: 'OpenReadGovernor',
  OpenReadTimelock: 'OpenReadTimelock',
  OpenReadForwarder: 'OpenReadForwarder',
  StorageHolders: 'StorageHolders',
  PatientLinks: 'PatientLinks',
  ResearchPools: 'ResearchPools',
} as const;
export type ContractName = (typeof CONTRACT_NAMES)[keyof typeof CONTRACT_NAMES];

export interface Artifact {
  abi: InterfaceAbi;
  bytecode: string;
}

let cachedRoot: string | undefined;

/**
 * The repository root: the first directory above this file whose package.json is named "openread".
 * Works from libs/chain/src (vitest, tsx) and from dist/libs/chain/src (after tsc).
 */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'openread') {
          cachedRoot = dir;
          return dir;
        }
      } catch {
        // unreadable package.json: keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the openread repository root (package.json with "name": "openread")');
    dir = parent;
  }
}

const cache = new Map<string, Artifact>();

/** Reads contracts/out/<name>.json. Throws a helpful error when the contracts were not compiled. */
export function loadArtifact(name: ContractName | (string & {})): Artifact {
  const hit = cache.get(name);
  if (hit) return hit;
  const file = join(repoRoot(), 'contracts', 'out', `${name}.json`);
  if (!existsSync(file)) {
    throw new Error(`contract artifact ${file} not found: run \`npm run build:contracts\` first`);
  }
  const json = JSON.parse(readFileSync(file, 'utf8')) as { abi: InterfaceAbi; bytecode: string };
  const artifact: Artifact = { abi: json.abi, bytecode: json.bytecode };
  cache.set(name, artifact);
  return artifact;
}
