import { KeyObject, createPrivateKey } from 'node:crypto';
import type { Bus, BusMessage, PublishOptions } from '@cordum/bus';
import { type Clock, InvalidError, toError } from '@cordum/core';
import {
  type BusPacket,
  ErrorCode,
  type KeyInput,
  type PacketInit,
  PacketError,
  type PacketVerifier,
  decodePacket,
  encodePacket,
  newPacket,
  signPacket,
} from '@cordum/protocol';

// Packet plumbing shared by the worker and the client: stamp, sign and publish outgoing packets; decode and
// verify incoming ones. Both sides follow the CAP v2 verifier rule (createPacketVerifier): with no key map
// everything is accepted, with one, unsigned and unverifiable packets are dropped.

export type OutgoingPacket = Omit<PacketInit, 'senderId' | 'createdAt'>;

export type PacketSender = {
  readonly senderId: string;
  /** True when outgoing packets carry a signature. */
  readonly signs: boolean;
  /** Stamps (sender, creation time, protocol version), signs when a key is set, and publishes. */
  send(subject: string, packet: OutgoingPacket, options?: PublishOptions): Promise<void>;
};

/**
 * Normalises a signing key once, so a wrong key (not EC P-256, unparsable PEM) fails at construction with a
 * clear message instead of on the first result a worker tries to publish.
 */
export function signingKey(key: KeyInput | undefined, owner: string): KeyObject | undefined {
  if (key === undefined) return undefined;
  try {
    const k = key instanceof KeyObject ? key : createPrivateKey(key);
    // A throwaway signature checks the curve with the same rule signPacket applies.
    signPacket(newPacket({ traceId: 'key-check', senderId: owner, payload: { case: 'jobCancel', value: {} } }), k);
    return k;
  } catch (err) {
    const why = toError(err).message;
    throw new InvalidError(`signing.privateKey of ${owner} is not a usable EC P-256 private key: ${why}`, {
      code: 'config_invalid',
      cause: err,
    });
  }
}

export function createPacketSender(bus: Bus, senderId: string, clock: Clock, key: KeyObject | undefined): PacketSender {
  return {
    senderId,
    signs: key !== undefined,
    async send(subject, packet, options) {
      let built = newPacket({ ...packet, senderId, createdAt: new Date(clock.now()) });
      if (key !== undefined) built = signPacket(built, key);
      await bus.publish(subject, encodePacket(built), options);
    },
  };
}

export type Received =
  | { ok: true; packet: BusPacket; signed: boolean }
  | { ok: false; stage: 'decode' | 'verify'; code: ErrorCode; reason: string; packet: BusPacket | undefined };

/** Decodes a delivery and applies the verifier (if any). Never throws. */
export function receivePacket(msg: BusMessage, verifier: PacketVerifier | undefined): Received {
  let packet: BusPacket;
  try {
    packet = decodePacket(msg.data);
  } catch (err) {
    const e = err instanceof PacketError ? err : undefined;
    return {
      ok: false,
      stage: 'decode',
      code: e?.code ?? ErrorCode.PROTOCOL_MALFORMED_PACKET,
      reason: toError(err).message,
      packet: undefined,
    };
  }
  if (verifier === undefined) return { ok: true, packet, signed: packet.signature.byteLength > 0 };
  const outcome = verifier.verify(packet, msg.data);
  if (!outcome.ok) return { ok: false, stage: 'verify', code: outcome.code, reason: outcome.reason, packet };
  return { ok: true, packet, signed: outcome.signed };
}
