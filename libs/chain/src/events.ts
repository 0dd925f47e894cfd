import { Interface, LogDescription, ParamType, decodeBytes32String } from 'ethers';
import { loadArtifact } from './artifacts.js';
import type { RpcLog } from './json-rpc.js';

/** A decoded argument: arrays (e.g. a proposal's targets) hold decoded elements. */
export type EventArg = string | number | boolean | EventArg[];

export interface DecodedLog {
  contract: string;
  name: string;
  /** addresses, bytes and bytes32 lower-case hex; integers up to 32 bits as numbers, wider ones as decimal strings */
  args: Record<string, EventArg>;
}

/** Decodes the logs of OpenRead's contracts (market, registry, parameters and, when deployed, the governor) by address. */
export class OpenReadLogDecoder {
  private readonly byAddress = new Map<string, Interface>();

  constructor(addresses: { market: string; registry: string; parameters: string; governor?: string; membership?: string }) {
    this.byAddress.set(addresses.market.toLowerCase(), new Interface(loadArtifact('StudyMarket').abi));
    this.byAddress.set(addresses.registry.toLowerCase(), new Interface(loadArtifact('CredentialRegistry').abi));
    this.byAddress.set(addresses.parameters.toLowerCase(), new Interface(loadArtifact('IncentiveParameters').abi));
    if (addresses.governor) this.byAddress.set(addresses.governor.toLowerCase(), new Interface(loadArtifact('OpenReadGovernor').abi));
    if (addresses.membership) this.byAddress.set(addresses.membership.toLowerCase(), new Interface(loadArtifact('MembershipToken').abi));
  }

  get addresses(): string[] {
    return [...this.byAddress.keys()];
  }

  /** null for a log of an event the ABI does not know (e.g. from a newer contract version): stored nowhere. */
  decode(log: Pick<RpcLog, 'address' | 'topics' | 'data'>): DecodedLog | null {
    const contract = log.address.toLowerCase();
    const iface = this.byAddress.get(contract);
    if (!iface) return null;
    let parsed: LogDescription | null;
    try {
      parsed = iface.parseLog({ topics: log.topics, data: log.data });
    } catch {
      return null;
    }
    if (!parsed) return null;
    const args: DecodedLog['args'] = {};
    parsed.fragment.inputs.forEach((input, i) => {
      args[input.name] = normalise(parsed.name, input, parsed.args[i]);
    });
    return { contract, name: parsed.name, args };
  }
}

function normalise(event: string, input: ParamType, value: unknown): EventArg {
  if (input.baseType === 'array' && input.arrayChildren) {
    const child = input.arrayChildren;
    return [...(value as unknown[])].map((v) => normalise(event, child, v));
  }
  if (input.type === 'address' || input.type === 'bytes') return String(value).toLowerCase();
  if (input.type === 'string') return String(value);
  if (input.type === 'bool') return Boolean(value);
  if (input.type === 'bytes32') {
    // IncentiveParameters names its parameters with short ASCII strings
    if (event === 'ParameterUpdated' && input.name === 'name') return decodeBytes32String(String(value));
    return String(value).toLowerCase();
  }
  const m = /^u?int(\d+)$/.exec(input.type);
  if (m) return Number(m[1]) <= 32 ? Number(value) : (value as bigint).toString();
  return String(value);
}
