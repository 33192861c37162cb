// The output policy in-process: scan a job's output with the core scanners, let the bundle's output rules
// decide, and write the redacted copy through the pointer store. The safety kernel's CheckOutput handler and
// a scheduler in embedded mode both use this one function.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  type Clock,
  createMetrics,
  createSilentLogger,
  isRetryable,
  type Logger,
  type Metrics,
  type OutputPolicyPoint,
  RetryableError,
  redactText,
  type ScanFinding,
  scanText,
  systemClock,
  toError,
} from '@cordum/core';
import { type OutputDecision, type OutputFinding, toWireOutputDecision } from '@cordum/policy';
import { type OutputCheckRequest, type OutputCheckResponse, OutputCheckResponseSchema, type OutputFindingSchema } from '@cordum/protocol';
import type { Payload, PointerStore } from '@cordum/store';
import type { PolicyRuntime } from './runtime.js';

export type EmbeddedOutputPolicyOptions = {
  /** Reads the full output behind result_ptr when the request carries less, and writes the redacted copy. */
  pointers: PointerStore;
  /** Bytes of an output that are scanned (the rest is released as it is, and the reason says so). Default 4 MiB. */
  maxScanBytes?: number | undefined;
  /** Variant name of the redacted copy (`redis://res:<job>:<variant>`). Default 'redacted'. */
  redactedVariant?: string | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  metrics?: Metrics | undefined;
};

export const DEFAULT_MAX_SCAN_BYTES = 4 * 1024 * 1024;

/** A finding located in bytes: content findings in the output, metadata findings in their field. */
type Located = OutputFinding & { inContent: boolean };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The scan window's text: UTF-8 when it is valid UTF-8 (cut at a character boundary), else one char per byte. */
function decodeWindow(bytes: Uint8Array, limit: number): { text: string; utf8: boolean; scanned: number } {
  let end = Math.min(bytes.length, limit);
  if (end < bytes.length) {
    // Never split a UTF-8 sequence: back off over continuation bytes to the start of the character.
    while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  }
  const window = bytes.subarray(0, end);
  try {
    return { text: utf8.decode(window), utf8: true, scanned: end };
  } catch {
    return { text: Buffer.from(window.buffer, window.byteOffset, window.byteLength).toString('latin1'), utf8: false, scanned: end };
  }
}

/** Findings with UTF-16 offsets in text, re-expressed as byte offsets (what the wire and other languages use). */
function toByteOffsets(text: string, isUtf8: boolean, findings: readonly ScanFinding[]): ScanFinding[] {
  if (!isUtf8) return [...findings];
  const byteAt = (i: number, from: { char: number; byte: number }): number =>
    from.byte + Buffer.byteLength(text.slice(from.char, i), 'utf8');
  // Findings are sorted by offset, so positions are computed incrementally (linear in the text).
  let mark = { char: 0, byte: 0 };
  return findings.map((f) => {
    const start = byteAt(f.offset, mark);
    mark = { char: f.offset, byte: start };
    const end = byteAt(f.offset + f.length, mark);
    return { ...f, offset: start, length: end - start };
  });
}

function scanField(field: string, value: string): Located[] {
  if (value === '') return [];
  const found = toByteOffsets(value, true, scanText(value));
  return found.map((f) => ({ ...f, detail: `${field}: ${f.detail}`, inContent: false }));
}

/** Masks byte ranges of the whole output (one char per byte, so offsets are byte offsets). */
function redactBytes(bytes: Uint8Array, findings: readonly Located[]): Buffer {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  return Buffer.from(redactText(text, findings), 'latin1');
}

function wireFinding(f: OutputFinding): MessageInitShape<typeof OutputFindingSchema> {
  return {
    type: f.type,
    severity: f.severity,
    detail: f.detail,
    offset: BigInt(f.offset),
    length: BigInt(f.length),
    scanner: f.scanner,
    confidence: f.confidence,
    matchedPattern: f.matchedPattern,
  };
}

/**
 * CheckOutput in-process. The content is the request's output_content, or the payload behind result_ptr when
 * the request carries none or less than output_size_bytes (a client capped it) and the payload belongs to the
 * request's tenant. Findings come from the content (byte offsets) and from error_message (offsets within it,
 * detail prefixed `error_message:`).
 *
 * REDACT writes the whole output with every content finding masked to `redis://res:<job>:redacted` and
 * returns that pointer. When the whole output is not available (a capped request and no readable pointer),
 * a REDACT becomes QUARANTINE: a partial output must not replace the real one, and an unredacted one must
 * not be released. A store outage is a RetryableError (safety_unavailable): the result waits.
 */
export function createEmbeddedOutputPolicy(runtime: PolicyRuntime, options: EmbeddedOutputPolicyOptions): OutputPolicyPoint {
  const maxScanBytes = options.maxScanBytes ?? DEFAULT_MAX_SCAN_BYTES;
  const variant = options.redactedVariant ?? 'redacted';
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createSilentLogger();
  const outcomes = (options.metrics ?? createMetrics()).counter('output_decisions_total', 'Output checks by decision', ['decision']);

  const unavailable = (what: string, err: unknown): RetryableError =>
    new RetryableError(`output policy: ${what}: ${toError(err).message}`, { code: 'safety_unavailable', cause: err, retryAfterMs: 1_000 });

  /** result_ptr names another tenant's data: a crafted or confused pointer, never released unchecked. */
  const foreignPointers = new WeakSet<OutputCheckRequest>();

  /** The payload behind result_ptr if it is the request tenant's own (undefined otherwise). */
  async function readOwn(req: OutputCheckRequest): Promise<Payload | undefined> {
    if (req.resultPtr === '') return undefined;
    let payload: Payload | undefined;
    try {
      payload = await options.pointers.get(req.resultPtr);
    } catch (err) {
      if (isRetryable(err)) throw unavailable(`cannot read ${req.resultPtr}`, err);
      return undefined;
    }
    // Only the tenant's own output: a crafted pointer must not pull another tenant's data into a copy.
    if (payload !== undefined && req.tenant !== '' && payload.tenant !== req.tenant) {
      foreignPointers.add(req);
      return undefined;
    }
    return payload;
  }

  async function resolveContent(
    req: OutputCheckRequest,
    preloaded: Payload | undefined,
  ): Promise<{ bytes: Uint8Array; complete: boolean; stored: Payload | undefined }> {
    if (preloaded !== undefined) return { bytes: preloaded.bytes, complete: true, stored: preloaded };
    const declared = Number(req.outputSizeBytes);
    let bytes = req.outputContent;
    const short = bytes.length === 0 || declared > bytes.length;
    const stored = short ? await readOwn(req) : undefined;
    if (stored !== undefined) bytes = stored.bytes;
    const complete = stored !== undefined || declared <= bytes.length;
    return { bytes, complete, stored };
  }

  async function check(req: OutputCheckRequest, preloaded?: Payload): Promise<OutputCheckResponse> {
    const { input } = runtime.outputInputFor(req);
    const { bytes, complete, stored } = await resolveContent(req, preloaded);
    const window = decodeWindow(bytes, maxScanBytes);
    const content: Located[] = toByteOffsets(window.text, window.utf8, scanText(window.text)).map((f) => ({ ...f, inContent: true }));
    const findings = [...content, ...scanField('error_message', req.errorMessage)];
    const verdict = runtime.evaluateOutput(input, findings);

    let decision: OutputDecision = verdict.decision;
    let reason = verdict.reason;
    const ruleId = verdict.ruleId;
    let redactedPtr = '';
    const partialScan = window.scanned < bytes.length;
    if (foreignPointers.has(req)) {
      outcomes.inc({ decision: 'QUARANTINE' });
      return create(OutputCheckResponseSchema, {
        decision: toWireOutputDecision('QUARANTINE'),
        reason: `result_ptr ${req.resultPtr} belongs to another tenant; the output cannot be checked`,
        ruleId: 'builtin:foreign_result',
        policySnapshot: verdict.snapshot,
        findings: findings.map(wireFinding),
      });
    }
    if (decision === 'REDACT' && content.length > 0) {
      if (!complete) {
        decision = 'QUARANTINE';
        reason = `${reason}; only ${bytes.length} of ${Number(req.outputSizeBytes)} output bytes were available, so no redacted copy can be made`;
      } else {
        // The copy takes the original's tenant, type and lifetime: it replaces that output for readers.
        const original = stored ?? (await readOwn(req));
        // The content in the request is not the output behind result_ptr (a caller capped it and sent the
        // capped size as the full size): the copy replaces the whole output, so decide on the whole output.
        if (stored === undefined && original !== undefined && !sameBytes(original.bytes, bytes)) return check(req, original);
        const tenant = original?.tenant ?? (input.tenant.trim() || runtime.policy().options.defaultTenant);
        const expiresAt = original?.expiresAt ?? null;
        const contentType = original?.contentType ?? req.contentType;
        try {
          redactedPtr = await options.pointers.putResult(
            req.jobId,
            {
              tenant,
              bytes: redactBytes(bytes, content),
              ...(contentType === '' ? {} : { contentType }),
              ...(expiresAt === null ? {} : { ttlMs: Math.max(60_000, expiresAt - clock.now()) }),
            },
            { variant },
          );
        } catch (err) {
          if (isRetryable(err)) throw unavailable('cannot write the redacted output', err);
          logger.warn({ job_id: req.jobId, err: toError(err).message }, 'redacted output not written; output quarantined');
          decision = 'QUARANTINE';
          reason = `${reason}; the redacted copy could not be written (${toError(err).message})`;
        }
      }
    }
    if (partialScan) reason = `${reason} (scanned the first ${window.scanned} of ${bytes.length} bytes)`;
    outcomes.inc({ decision });
    return create(OutputCheckResponseSchema, {
      decision: toWireOutputDecision(decision),
      reason,
      ruleId,
      policySnapshot: verdict.snapshot,
      findings: findings.map(wireFinding),
      redactedPtr,
    });
  }

  return { checkOutput: (req) => check(req) };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}
