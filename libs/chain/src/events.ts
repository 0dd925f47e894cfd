import { EventFragment, Interface, LogDescription, ParamType, decodeBytes32String } from 'ethers';
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

/** An event whose inputs are all static 32-byte words: decoded by slicing topics and data, no ABI coder. */
interface FastEvent {
  name: string;
  /** per input: its name, where it is (topic index, or data word index), and how to read a 64-hex-digit word */
  inputs: { name: string; topic: number; word: number; read: (word: string) => string | number | boolean }[];
  topicCount: number;
  dataWords: number;
}

function reader(event: string, name: string, type: string): (word: string) => string | number | boolean {
  if (type === 'address') return (w) => '0x' + w.slice(24);
  if (type === 'bool') return (w) => /[^0]/.test(w);
  if (type === 'bytes32') return event === 'ParameterUpdated' && name === 'name' ? (w) => decodeBytes32String('0x' + w) : (w) => '0x' + w;
  const m = /^(u?)int(\d+)$/.exec(type)!;
  const signed = m[1] === '';
  if (Number(m[2]) <= 32) return signed ? (w) => Number(BigInt.asIntN(256, BigInt('0x' + w))) : (w) => parseInt(w.slice(56), 16);
  return signed ? (w) => BigInt.asIntN(256, BigInt('0x' + w)).toString() : (w) => BigInt('0x' + w).toString();
}

/**
 * Decodes the logs of OpenRead's contracts (market, registry, parameters and, when deployed, the governor, the
 * membership token and the exchange's RoDirectory and StudyCustody) by address. Events whose inputs are all static (addresses, integers, bytes32, bools: every market,
 * registry and parameters event) take a hot path that slices topics and data words directly (about 20× faster
 * than ethers' parseLog); anything else (the governor's ProposalCreated with its arrays and strings) falls back to
 * ethers.
 */
export class OpenReadLogDecoder {
  private readonly byAddress = new Map<string, Interface>();
  private readonly fast = new Map<string, FastEvent>();

  /** per contract address: ABI event name → stored name (see EXCHANGE_EVENT_NAMES) */
  private readonly renamed = new Map<string, Readonly<Record<string, string>>>();

  constructor(addresses: {
    market: string;
    registry: string;
    parameters: string;
    governor?: string;
    membership?: string;
    roDirectory?: string;
    studyCustody?: string;
  }) {
    this.byAddress.set(addresses.market.toLowerCase(), new Interface(loadArtifact('StudyMarket').abi));
    this.byAddress.set(addresses.registry.toLowerCase(), new Interface(loadArtifact('CredentialRegistry').abi));
    this.byAddress.set(addresses.parameters.toLowerCase(), new Interface(loadArtifact('IncentiveParameters').abi));
    if (addresses.governor) this.byAddress.set(addresses.governor.toLowerCase(), new Interface(loadArtifact('OpenReadGovernor').abi));
    if (addresses.membership) this.byAddress.set(addresses.membership.toLowerCase(), new Interface(loadArtifact('MembershipToken').abi));
    if (addresses.roDirectory) this.byAddress.set(addresses.roDirectory.toLowerCase(), new Interface(loadArtifact('RoDirectory').abi));
    if (addresses.studyCustody) {
      this.byAddress.set(addresses.studyCustody.toLowerCase(), new Interface(loadArtifact('StudyCustody').abi));
      this.renamed.set(addresses.studyCustody.toLowerCase(), EXCHANGE_EVENT_NAMES);
    }
    for (const [address, iface] of this.byAddress) {
      const names = this.renamed.get(address) ?? {};
      iface.forEachEvent((ev: EventFragment) => {
        if (ev.anonymous) return;
        const isStatic = ev.inputs.every((i) => /^(address|bool|bytes32|u?int\d+)$/.test(i.type));
        if (!isStatic) return;
        let topic = 1;
        let word = 0;
        this.fast.set(`${address}:${ev.topicHash}`, {
          name: names[ev.name] ?? ev.name,
          inputs: ev.inputs.map((i) => ({
            name: i.name,
            topic: i.indexed ? topic++ : -1,
            word: i.indexed ? -1 : word++,
            read: reader(ev.name, i.name, i.type),
          })),
          topicCount: 1 + ev.inputs.filter((i) => i.indexed).length,
          dataWords: ev.inputs.filter((i) => !i.indexed).length,
        });
      });
    }
  }

  get addresses(): string[] {
    return [...this.byAddress.keys()];
  }

  /** null for a log of an event the ABI does not know (e.g. from a newer contract version): stored nowhere. */
  decode(log: Pick<RpcLog, 'address' | 'topics' | 'data'>): DecodedLog | null {
    const contract = log.address.toLowerCase();
    const fast = log.topics.length ? this.fast.get(`${contract}:${log.topics[0].toLowerCase()}`) : undefined;
    if (fast) return decodeFast(contract, fast, log);
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
    return { contract, name: this.renamed.get(contract)?.[parsed.name] ?? parsed.name, args };
  }
}

/**
 * StudyCustody events stored under another name: the store, the bus and the ledger tell events apart by name, and
 * these ABI names are the market's too (its own balances, its own treasury). Every other event keeps its ABI name.
 */
export const EXCHANGE_EVENT_NAMES: Readonly<Record<string, string>> = {
  Deposited: 'ExchangeDeposited',
  Withdrawn: 'ExchangeWithdrawn',
  TreasuryUpdated: 'ExchangeTreasuryUpdated',
};

function decodeFast(contract: string, ev: FastEvent, log: Pick<RpcLog, 'topics' | 'data'>): DecodedLog | null {
  const data = (log.data.startsWith('0x') ? log.data.slice(2) : log.data).toLowerCase();
  if (log.topics.length !== ev.topicCount || data.length !== ev.dataWords * 64) return null; // not this event's layout
  const args: DecodedLog['args'] = {};
  for (const input of ev.inputs) {
    const word = input.topic >= 0 ? log.topics[input.topic].slice(2).toLowerCase() : data.slice(input.word * 64, input.word * 64 + 64);
    args[input.name] = input.read(word);
  }
  return { contract, name: ev.name, args };
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
