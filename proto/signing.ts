// Signed commands: the control plane signs every state-changing command with its Ed25519 key;
// the agent verifies the signature over exactly the payload bytes before it decodes anything,
// then checks node, time window and nonce. Pure Node crypto.
import { createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { CommandEnvelope, SignedCommand } from './gen/podploy/agent/v1/agent';

export const MAX_COMMAND_TTL_MS = 10 * 60_000;
export const MAX_CLOCK_SKEW_MS = 60_000;
export const DEFAULT_COMMAND_TTL_MS = 60_000;
const NONCE_BYTES = 16;

export type RejectionReason =
  | 'unsigned'
  | 'bad_signature'
  | 'malformed'
  | 'wrong_node'
  | 'expired'
  | 'not_yet_valid'
  | 'ttl_too_long'
  | 'replayed';

export class CommandRejected extends Error {
  constructor(
    readonly reason: RejectionReason,
    message: string,
  ) {
    super(`${reason}: ${message}`);
    this.name = 'CommandRejected';
  }
}

// Remembers nonces until their command expires; a command whose nonce is remembered is refused.
export interface NonceStore {
  has(nonce: string): boolean;
  add(nonce: string, expiresAtMs: number): void;
}

export class MemoryNonceStore implements NonceStore {
  private readonly seen = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  has(nonce: string): boolean {
    this.prune();
    return this.seen.has(nonce);
  }

  add(nonce: string, expiresAtMs: number): void {
    this.prune();
    this.seen.set(nonce, expiresAtMs);
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [nonce, expiresAt] of this.seen) if (expiresAt < now) this.seen.delete(nonce);
  }
}

export type UnsignedCommand = Omit<CommandEnvelope, 'nonce' | 'issuedAtMs' | 'expiresAtMs'> &
  Partial<Pick<CommandEnvelope, 'nonce' | 'issuedAtMs' | 'expiresAtMs'>>;

export interface SignOptions {
  ttlMs?: number;
  now?: number;
}

// Fills nonce, issuedAtMs and expiresAtMs where absent, encodes the envelope and signs the bytes.
export function signCommand(command: UnsignedCommand, privateKey: KeyObject, opts: SignOptions = {}): SignedCommand {
  const issuedAtMs = command.issuedAtMs ?? opts.now ?? Date.now();
  const envelope = CommandEnvelope.fromPartial({
    ...command,
    nonce: command.nonce ?? randomBytes(NONCE_BYTES).toString('hex'),
    issuedAtMs,
    expiresAtMs: command.expiresAtMs ?? issuedAtMs + (opts.ttlMs ?? DEFAULT_COMMAND_TTL_MS),
  });
  const payload = Buffer.from(CommandEnvelope.encode(envelope).finish());
  return { payload, signature: sign(null, payload, privateKey) };
}

export interface VerifyOptions {
  nodeId: string;
  nonces: NonceStore;
  now?: number;
}

// Returns the envelope of a command this node must obey, and records its nonce; throws
// CommandRejected otherwise.
export function verifyCommand(signed: SignedCommand, publicKey: KeyObject | string, opts: VerifyOptions): CommandEnvelope {
  const now = opts.now ?? Date.now();
  if (!signed.signature || signed.signature.length === 0) throw new CommandRejected('unsigned', 'the command carries no signature');
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  if (!signatureValid(signed, key)) {
    throw new CommandRejected('bad_signature', 'the signature does not match the payload and the control plane key');
  }

  let envelope: CommandEnvelope;
  try {
    envelope = CommandEnvelope.decode(signed.payload);
  } catch (err) {
    throw new CommandRejected('malformed', `the payload does not decode: ${(err as Error).message}`);
  }
  if (!envelope.nonce) throw new CommandRejected('malformed', 'the command has no nonce');
  if (envelope.expiresAtMs <= envelope.issuedAtMs) throw new CommandRejected('malformed', 'the command expires before it was issued');

  if (envelope.nodeId !== opts.nodeId) {
    throw new CommandRejected('wrong_node', `the command is for node "${envelope.nodeId}", this is "${opts.nodeId}"`);
  }
  if (envelope.expiresAtMs - envelope.issuedAtMs > MAX_COMMAND_TTL_MS) {
    throw new CommandRejected('ttl_too_long', `the command is valid for ${envelope.expiresAtMs - envelope.issuedAtMs} ms, at most ${MAX_COMMAND_TTL_MS} ms is accepted`);
  }
  if (envelope.issuedAtMs > now + MAX_CLOCK_SKEW_MS) {
    throw new CommandRejected('not_yet_valid', `the command was issued ${envelope.issuedAtMs - now} ms in the future; check the clocks`);
  }
  if (now > envelope.expiresAtMs) {
    throw new CommandRejected('expired', `the command expired ${now - envelope.expiresAtMs} ms ago`);
  }
  if (opts.nonces.has(envelope.nonce)) throw new CommandRejected('replayed', `nonce ${envelope.nonce} was already used`);
  opts.nonces.add(envelope.nonce, envelope.expiresAtMs);
  return envelope;
}

// The envelope of a command this node obeyed before (its nonce and time window were checked
// then), e.g. re-read from the agent's persisted desired state: the signature, the payload's
// form and the node only. Throws CommandRejected.
export function verifySignatureOnly(signed: SignedCommand, publicKey: KeyObject | string, nodeId: string): CommandEnvelope {
  if (!signed.signature || signed.signature.length === 0) throw new CommandRejected('unsigned', 'the command carries no signature');
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  if (!signatureValid(signed, key)) throw new CommandRejected('bad_signature', 'the signature does not match the payload and the control plane key');
  let envelope: CommandEnvelope;
  try {
    envelope = CommandEnvelope.decode(signed.payload);
  } catch (err) {
    throw new CommandRejected('malformed', `the payload does not decode: ${(err as Error).message}`);
  }
  if (envelope.nodeId !== nodeId) throw new CommandRejected('wrong_node', `the command is for node "${envelope.nodeId}", this is "${nodeId}"`);
  return envelope;
}

function signatureValid(signed: SignedCommand, key: KeyObject): boolean {
  try {
    return verify(null, signed.payload, key, signed.signature);
  } catch {
    return false;
  }
}
