import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CommandEnvelope } from './gen/podploy/agent/v1/agent';
import {
  CommandRejected,
  MAX_CLOCK_SKEW_MS,
  MAX_COMMAND_TTL_MS,
  MemoryNonceStore,
  signCommand,
  verifyCommand,
  verifySignatureOnly,
  type RejectionReason,
} from './signing';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const NODE = 'node-a';
const NOW = 1_800_000_000_000;
const command = { nodeId: NODE, actor: 'alice', setLabels: { labels: { role: 'web' } } };

function rejection(fn: () => unknown): RejectionReason {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CommandRejected);
    return (err as CommandRejected).reason;
  }
  throw new Error('expected a rejection');
}

describe('signCommand', () => {
  it('fills a random nonce and the time window', () => {
    const a = CommandEnvelope.decode(signCommand(command, privateKey, { ttlMs: 5_000, now: NOW }).payload);
    const b = CommandEnvelope.decode(signCommand(command, privateKey, { ttlMs: 5_000, now: NOW }).payload);
    expect(a.nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.issuedAtMs).toBe(NOW);
    expect(a.expiresAtMs).toBe(NOW + 5_000);
    expect(a.setLabels?.labels).toEqual({ role: 'web' });
  });
});

describe('verifyCommand', () => {
  const verifyAt = (signed: ReturnType<typeof signCommand>, now = NOW, nonces = new MemoryNonceStore(() => now), key = publicKey) =>
    verifyCommand(signed, key, { nodeId: NODE, now, nonces });

  it('accepts a fresh command for this node and returns its envelope', () => {
    const env = verifyAt(signCommand(command, privateKey, { now: NOW }));
    expect(env).toMatchObject({ nodeId: NODE, actor: 'alice', setLabels: { labels: { role: 'web' } } });
  });

  it('accepts a PEM public key', () => {
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const nonces = new MemoryNonceStore(() => NOW);
    expect(verifyCommand(signCommand(command, privateKey, { now: NOW }), pem, { nodeId: NODE, now: NOW, nonces }).actor).toBe('alice');
  });

  it('accepts a command issued slightly in the future (clock skew)', () => {
    expect(verifyAt(signCommand(command, privateKey, { now: NOW + MAX_CLOCK_SKEW_MS - 1 })).actor).toBe('alice');
  });

  it('rejects an empty signature as unsigned', () => {
    const signed = signCommand(command, privateKey, { now: NOW });
    expect(rejection(() => verifyAt({ ...signed, signature: Buffer.alloc(0) }))).toBe('unsigned');
  });

  it('rejects a tampered payload', () => {
    const signed = signCommand(command, privateKey, { now: NOW });
    const env = CommandEnvelope.decode(signed.payload);
    const tampered = CommandEnvelope.encode({ ...env, setLabels: { labels: { role: 'db' } } }).finish();
    expect(rejection(() => verifyAt({ ...signed, payload: Buffer.from(tampered) }))).toBe('bad_signature');
    const flipped = Buffer.from(signed.payload);
    flipped[flipped.length - 1] ^= 1;
    expect(rejection(() => verifyAt({ ...signed, payload: flipped }))).toBe('bad_signature');
  });

  it('rejects a command signed by another key', () => {
    expect(rejection(() => verifyAt(signCommand(command, other.privateKey, { now: NOW })))).toBe('bad_signature');
  });

  it('rejects a garbage signature of the wrong length', () => {
    const signed = signCommand(command, privateKey, { now: NOW });
    expect(rejection(() => verifyAt({ ...signed, signature: Buffer.from('nope') }))).toBe('bad_signature');
  });

  it('rejects a signed payload that does not decode', () => {
    const payload = Buffer.from([0xff, 0xff, 0xff]);
    expect(rejection(() => verifyAt({ payload, signature: sign(null, payload, privateKey) }))).toBe('malformed');
  });

  it('rejects a signed envelope without nonce', () => {
    expect(rejection(() => verifyAt(signCommand({ ...command, nonce: '' }, privateKey, { now: NOW })))).toBe('malformed');
  });

  it('rejects a command for another node', () => {
    expect(rejection(() => verifyAt(signCommand({ ...command, nodeId: 'node-b' }, privateKey, { now: NOW })))).toBe('wrong_node');
  });

  it('rejects an expired command', () => {
    const signed = signCommand(command, privateKey, { now: NOW, ttlMs: 1_000 });
    expect(rejection(() => verifyAt(signed, NOW + 1_001))).toBe('expired');
  });

  it('rejects a command issued too far in the future', () => {
    expect(rejection(() => verifyAt(signCommand(command, privateKey, { now: NOW + MAX_CLOCK_SKEW_MS + 1 })))).toBe('not_yet_valid');
  });

  it('rejects a command valid for longer than the maximum', () => {
    expect(rejection(() => verifyAt(signCommand(command, privateKey, { now: NOW, ttlMs: MAX_COMMAND_TTL_MS + 1 })))).toBe('ttl_too_long');
    expect(verifyAt(signCommand(command, privateKey, { now: NOW, ttlMs: MAX_COMMAND_TTL_MS })).actor).toBe('alice');
  });

  it('rejects a replayed nonce', () => {
    const nonces = new MemoryNonceStore(() => NOW);
    const signed = signCommand(command, privateKey, { now: NOW });
    verifyAt(signed, NOW, nonces);
    expect(rejection(() => verifyAt(signed, NOW + 10, nonces))).toBe('replayed');
  });

  it('does not record the nonce of a rejected command', () => {
    const nonces = new MemoryNonceStore(() => NOW);
    expect(rejection(() => verifyAt(signCommand({ ...command, nodeId: 'node-b' }, privateKey, { now: NOW }), NOW, nonces))).toBe('wrong_node');
    expect(nonces.size).toBe(0);
  });
});

describe('verifySignatureOnly', () => {
  it('accepts an expired command it obeyed before, with the same nonce again', () => {
    const signed = signCommand(command, privateKey, { ttlMs: 5_000, now: NOW - 3_600_000 });
    expect(verifySignatureOnly(signed, publicKey, NODE).setLabels?.labels).toEqual({ role: 'web' });
    expect(verifySignatureOnly(signed, publicKey, NODE).actor).toBe('alice');
  });

  it('refuses a changed payload, another key, no signature and another node', () => {
    const signed = signCommand(command, privateKey, { now: NOW });
    const tampered = { ...signed, payload: Buffer.from(signed.payload) };
    tampered.payload[tampered.payload.length - 1] ^= 1;
    expect(rejection(() => verifySignatureOnly(tampered, publicKey, NODE))).toBe('bad_signature');
    expect(rejection(() => verifySignatureOnly(signed, other.publicKey, NODE))).toBe('bad_signature');
    expect(rejection(() => verifySignatureOnly({ ...signed, signature: Buffer.alloc(0) }, publicKey, NODE))).toBe('unsigned');
    expect(rejection(() => verifySignatureOnly(signed, publicKey, 'node-b'))).toBe('wrong_node');
  });
});

describe('MemoryNonceStore', () => {
  it('forgets nonces whose command has expired', () => {
    let now = NOW;
    const store = new MemoryNonceStore(() => now);
    store.add('a', NOW + 100);
    store.add('b', NOW + 1_000);
    expect(store.has('a')).toBe(true);
    now = NOW + 500;
    expect(store.has('a')).toBe(false);
    expect(store.has('b')).toBe(true);
    expect(store.size).toBe(1);
  });
});
