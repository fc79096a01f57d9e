/**
 * The identity roster the protocol engines verify signatures against: who is enrolled, in
 * which role, with which long-term Ed25519 identity key. The PKI produces it from its signed
 * federation roster (pki/); the engines only need this verified, in-memory view.
 */
import { FedsecError } from '../common/errors.ts';
import { assertBytes, assertString, ID_PATTERN } from '../common/validate.ts';

/** A member's role in the federation. */
export type Role = 'node' | 'aggregator' | 'researcher';

/** The roles, for validation. */
export const ROLES: readonly Role[] = ['node', 'aggregator', 'researcher'];

/** One enrolled member as the engines see it. */
export interface RosterMember {
  readonly id: string;
  readonly role: Role;
  /** Ed25519 public key (32 bytes) that signs this member's per-round protocol keys. */
  readonly identityKey: Uint8Array;
}

/** Raised when a message names a member the roster does not hold, or one in the wrong role. */
export class RosterError extends FedsecError {
  constructor(code: 'ERR_UNKNOWN_MEMBER' | 'ERR_WRONG_ROLE' | 'ERR_DUPLICATE_MEMBER', message: string, details?: Record<string, unknown>) {
    super(code, message, details === undefined ? undefined : { details });
  }
}

/** An immutable roster of enrolled identities for one federation. */
export class Roster {
  readonly federation: string;
  readonly #members: ReadonlyMap<string, RosterMember>;

  /** Validates ids (unique, well-formed), roles and 32-byte identity keys. */
  constructor(federation: string, members: readonly RosterMember[]) {
    assertString('federation', federation, 128, ID_PATTERN);
    const m = new Map<string, RosterMember>();
    for (const [i, mem] of members.entries()) {
      assertString(`members[${i}].id`, mem.id, 128, ID_PATTERN);
      if (!ROLES.includes(mem.role)) throw new RosterError('ERR_WRONG_ROLE', `members[${i}].role: unknown role`, { index: i });
      assertBytes(`members[${i}].identityKey`, mem.identityKey, 32);
      if (m.has(mem.id)) throw new RosterError('ERR_DUPLICATE_MEMBER', `member ${mem.id} appears twice`, { id: mem.id });
      m.set(mem.id, Object.freeze({ id: mem.id, role: mem.role, identityKey: Uint8Array.from(mem.identityKey) }));
    }
    this.federation = federation;
    this.#members = m;
  }

  /** The member with this id, or undefined. */
  get(id: string): RosterMember | undefined {
    return this.#members.get(id);
  }

  /** The member with this id (and role, when given); throws a {@link RosterError} otherwise. */
  require(id: string, role?: Role): RosterMember {
    const m = this.#members.get(id);
    if (m === undefined) throw new RosterError('ERR_UNKNOWN_MEMBER', `member ${JSON.stringify(id).slice(0, 140)} is not enrolled in federation ${this.federation}`);
    if (role !== undefined && m.role !== role) throw new RosterError('ERR_WRONG_ROLE', `member ${id} has role ${m.role}, expected ${role}`);
    return m;
  }

  /** All members, optionally of one role, sorted by id. */
  list(role?: Role): RosterMember[] {
    return [...this.#members.values()].filter((m) => role === undefined || m.role === role).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
