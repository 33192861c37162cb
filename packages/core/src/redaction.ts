// Built-in output scanners, redaction and secret-reference detection. They live in core (not in the
// policy engine) because the gateway and the SDK redact logs, evidence and results too, and those may not
// depend on @cordum/policy. The kernel feeds the findings to the policy's output rules.
//
// Every scanner is linear in the text: candidates are located by a literal anchor ("-----BEGIN", "@",
// "eyJ", a token prefix, a digit run) and then checked, so an adversarial output (a megabyte of letters
// without an "@") cannot make a regex backtrack quadratically inside the kernel.
//
// Findings never carry the secret itself: `detail` describes what was found and where, `matchedPattern`
// names the pattern. They are logged, stored in decision records and sent over the wire.

/** One scanner hit, in the shape of @cordum/policy's OutputFinding (and of the wire OutputFinding). */
export type ScanFinding = {
  /** What was found: private_key, aws_access_key_id, aws_secret_access_key, gcp_service_account_key,
   * azure_storage_key, bearer_token, api_token, jwt, email, credit_card. */
  type: string;
  /** low | medium | high | critical */
  severity: string;
  /** The scanner family output rules select on: `secret` or `pii`. */
  scanner: string;
  /** Start of the match in UTF-16 code units of the scanned string. */
  offset: number;
  length: number;
  /** 0..1: how sure the scanner is that this is the real thing rather than look-alike text. */
  confidence: number;
  detail: string;
  matchedPattern: string;
};

export type ScanFindingType =
  | 'private_key'
  | 'aws_access_key_id'
  | 'aws_secret_access_key'
  | 'gcp_service_account_key'
  | 'azure_storage_key'
  | 'bearer_token'
  | 'api_token'
  | 'jwt'
  | 'email'
  | 'credit_card';

export const SCAN_FINDING_TYPES: readonly ScanFindingType[] = Object.freeze([
  'private_key',
  'aws_access_key_id',
  'aws_secret_access_key',
  'gcp_service_account_key',
  'azure_storage_key',
  'bearer_token',
  'api_token',
  'jwt',
  'email',
  'credit_card',
]);

export type ScanOptions = {
  /** Only report these types (default: all). */
  types?: readonly ScanFindingType[];
  /** Stop after this many findings (default 1,000): enough to decide, bounded for a hostile output. */
  maxFindings?: number;
};

type Emit = (f: ScanFinding) => void;

function finding(
  type: ScanFindingType,
  scanner: 'secret' | 'pii',
  severity: string,
  offset: number,
  length: number,
  confidence: number,
  detail: string,
  matchedPattern: string,
): ScanFinding {
  return { type, severity, scanner, offset, length, confidence, detail, matchedPattern };
}

// ---- private keys (PEM) ---------------------------------------------------------------------------

const PEM_BEGIN = /-----BEGIN ((?:[A-Z0-9]+ ){0,3})PRIVATE KEY(?: BLOCK)?-----/g;

function scanPrivateKeys(text: string, emit: Emit): void {
  PEM_BEGIN.lastIndex = 0;
  for (let m = PEM_BEGIN.exec(text); m !== null; m = PEM_BEGIN.exec(text)) {
    const kind = (m[1] ?? '').trim();
    const label = `${kind === '' ? '' : `${kind} `}PRIVATE KEY`;
    const bodyStart = m.index + m[0].length;
    const endMarker = `-----END ${label}`;
    const end = text.indexOf(endMarker, bodyStart);
    let stop: number;
    let confidence: number;
    if (end >= 0) {
      const close = text.indexOf('-----', end + endMarker.length);
      stop = close >= 0 && close - end < endMarker.length + 16 ? close + 5 : end + endMarker.length;
      confidence = 1;
    } else {
      // A truncated key (output cut at a size limit) is still key material: cover the base64 body that follows,
      // including JSON-escaped line breaks (\n) as in service-account files.
      const body = /^(?:[A-Za-z0-9+/=\s]|\\n|\\r)*/.exec(text.slice(bodyStart, bodyStart + 16_384));
      stop = bodyStart + (body?.[0].length ?? 0);
      confidence = 0.9;
    }
    emit(
      finding('private_key', 'secret', 'critical', m.index, stop - m.index, confidence, `PEM ${label} block`, 'pem_private_key'),
    );
    PEM_BEGIN.lastIndex = stop;
  }
}

// ---- cloud access keys ----------------------------------------------------------------------------

const AWS_KEY_ID = /(?<![A-Za-z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;
const AWS_SECRET_LABELLED =
  /(?:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;
const BASE64_40 = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
/** How far from an access key id a bare 40-character secret is taken to be its pair. */
const AWS_PAIR_WINDOW = 300;

function looksRandom(s: string): boolean {
  return /[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9/+]/.test(s);
}

function scanCloudKeys(text: string, emit: Emit): void {
  const keyIds: number[] = [];
  AWS_KEY_ID.lastIndex = 0;
  for (let m = AWS_KEY_ID.exec(text); m !== null; m = AWS_KEY_ID.exec(text)) {
    // AWS's documentation keys end in EXAMPLE; still reported (someone pasted it), but with low confidence.
    const example = m[0].endsWith('EXAMPLE');
    const kind = m[1] === 'ASIA' ? 'temporary (ASIA)' : 'long-term (AKIA)';
    emit(
      finding('aws_access_key_id', 'secret', 'high', m.index, m[0].length, example ? 0.3 : 0.9, `AWS ${kind} access key id`, 'aws_access_key_id'),
    );
    keyIds.push(m.index);
  }

  const labelled = new Set<number>();
  AWS_SECRET_LABELLED.lastIndex = 0;
  for (let m = AWS_SECRET_LABELLED.exec(text); m !== null; m = AWS_SECRET_LABELLED.exec(text)) {
    const value = m[1] ?? '';
    const at = m.index + m[0].length - value.length;
    labelled.add(at);
    emit(finding('aws_secret_access_key', 'secret', 'critical', at, value.length, 0.9, 'AWS secret access key (labelled)', 'aws_secret_access_key'));
  }

  if (keyIds.length > 0) {
    BASE64_40.lastIndex = 0;
    for (let m = BASE64_40.exec(text); m !== null; m = BASE64_40.exec(text)) {
      if (labelled.has(m.index) || !looksRandom(m[0])) continue;
      const at = m.index;
      if (keyIds.some((k) => Math.abs(k - at) <= AWS_PAIR_WINDOW)) {
        emit(
          finding('aws_secret_access_key', 'secret', 'critical', at, 40, 0.7, 'AWS secret access key next to an access key id', 'aws_key_pair'),
        );
      }
    }
  }

  // GCP service-account key files: the private key is a PEM block (found above); the key id names it.
  if (/"type"\s*:\s*"service_account"/.test(text)) {
    const ids = /"private_key_id"\s*:\s*"([0-9a-f]{40})"/g;
    for (let m = ids.exec(text); m !== null; m = ids.exec(text)) {
      const value = m[1] ?? '';
      const at = m.index + m[0].length - 1 - value.length;
      emit(
        finding('gcp_service_account_key', 'secret', 'critical', at, value.length, 0.95, 'GCP service-account key (private_key_id)', 'gcp_service_account_json'),
      );
    }
  }

  // Azure storage account keys: 64 random bytes, base64 (88 characters ending in ==).
  const azure =
    /(?:AccountKey=|(?:azure_?storage_?(?:account_?)?key|storage_?account_?key)["']?\s*[:=]\s*["']?)([A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])/gi;
  for (let m = azure.exec(text); m !== null; m = azure.exec(text)) {
    const value = m[1] ?? '';
    const at = m.index + m[0].length - value.length;
    const inConnectionString = m[0].toLowerCase().startsWith('accountkey=');
    emit(
      finding(
        'azure_storage_key',
        'secret',
        'critical',
        at,
        value.length,
        inConnectionString ? 0.95 : 0.9,
        inConnectionString ? 'Azure storage account key in a connection string' : 'Azure storage account key (labelled)',
        inConnectionString ? 'azure_connection_string' : 'azure_storage_key',
      ),
    );
  }
}

// ---- bearer and API tokens ------------------------------------------------------------------------

const AUTH_HEADER = /\bAuthorization["']?\s*[:=]\s*["']?Bearer\s+([A-Za-z0-9\-._~+/]{8,}=*)/gi;
const BARE_BEARER = /\bBearer\s+([A-Za-z0-9\-._~+/]{20,}=*)/g;

/**
 * Token formats recognised by their prefix. Each entry is one issuer's documented format; names describe
 * the format, not the vendor, so core stays vendor-neutral.
 */
const PREFIXED_TOKENS: readonly { pattern: RegExp; name: string; confidence: number }[] = [
  { pattern: /(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9_])/g, name: 'gh*_', confidence: 0.95 },
  { pattern: /(?<![A-Za-z0-9_])[a-z]{2,12}_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}(?![A-Za-z0-9_])/g, name: '*_pat_', confidence: 0.95 },
  { pattern: /(?<![A-Za-z0-9_-])xox[abposr]-[A-Za-z0-9-]{10,250}(?![A-Za-z0-9-])/g, name: 'xox*-', confidence: 0.9 },
  { pattern: /(?<![A-Za-z0-9_-])sk-(?:[a-z]{2,8}-)?[A-Za-z0-9_-]{20,200}(?![A-Za-z0-9_-])/g, name: 'sk-', confidence: 0.8 },
  { pattern: /(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[A-Za-z0-9]{16,200}(?![A-Za-z0-9_])/g, name: 'sk_live_', confidence: 0.95 },
  { pattern: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/g, name: 'AIza', confidence: 0.9 },
  { pattern: /(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,200}(?![A-Za-z0-9_-])/g, name: 'glpat-', confidence: 0.95 },
  { pattern: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])/g, name: 'npm_', confidence: 0.9 },
  { pattern: /(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,200}(?![A-Za-z0-9_])/g, name: 'hf_', confidence: 0.85 },
  { pattern: /(?<![A-Za-z0-9_.-])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g, name: 'SG.', confidence: 0.95 },
];

function scanTokens(text: string, emit: Emit): void {
  const headerTokens = new Set<number>();
  AUTH_HEADER.lastIndex = 0;
  for (let m = AUTH_HEADER.exec(text); m !== null; m = AUTH_HEADER.exec(text)) {
    const value = m[1] ?? '';
    const at = m.index + m[0].length - value.length;
    headerTokens.add(at);
    emit(finding('bearer_token', 'secret', 'high', at, value.length, 0.95, 'bearer token in an Authorization header', 'authorization_bearer'));
  }
  BARE_BEARER.lastIndex = 0;
  for (let m = BARE_BEARER.exec(text); m !== null; m = BARE_BEARER.exec(text)) {
    const value = m[1] ?? '';
    const at = m.index + m[0].length - value.length;
    // Prose ("Bearer authentication is configured by …") has no digits; a token has.
    if (headerTokens.has(at) || !/[0-9]/.test(value)) continue;
    emit(finding('bearer_token', 'secret', 'high', at, value.length, 0.7, 'bearer token', 'bearer'));
  }
  for (const { pattern, name, confidence } of PREFIXED_TOKENS) {
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      // Identifiers such as sk-learn-classifier-for-documents are words, not keys: a key mixes in digits.
      if (name === 'sk-' && !(/[0-9]/.test(m[0]) && /[A-Za-z]/.test(m[0].slice(3)))) continue;
      emit(finding('api_token', 'secret', 'high', m.index, m[0].length, confidence, `API token with prefix ${name}`, `token_prefix:${name}`));
    }
  }
}

// ---- JWTs -----------------------------------------------------------------------------------------

const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{2,65536}\.[A-Za-z0-9_-]{0,8192}(?![A-Za-z0-9_-])/g;

function decodeJsonObject(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function scanJwts(text: string, emit: Emit): void {
  JWT.lastIndex = 0;
  for (let m = JWT.exec(text); m !== null; m = JWT.exec(text)) {
    const [header = '', payload = ''] = m[0].split('.');
    const h = decodeJsonObject(header);
    // A JOSE header is a JSON object naming its algorithm; base64 that merely starts with eyJ is not a token.
    if (h === null || typeof h['alg'] !== 'string') continue;
    const claims = decodeJsonObject(payload) !== null;
    emit(
      finding(
        'jwt',
        'secret',
        'high',
        m.index,
        m[0].length,
        claims ? 0.95 : 0.6,
        `JWT (alg ${h['alg'].slice(0, 16)})${claims ? '' : ', payload not JSON'}`,
        'jwt',
      ),
    );
  }
}

// ---- emails ---------------------------------------------------------------------------------------

const LOCAL_CHAR = /[A-Za-z0-9._%+-]/;
const DOMAIN_CHAR = /[A-Za-z0-9.-]/;
const EMAIL = /^[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$/;
/** "TLDs" that are really file extensions: icon@2x.png is an image name, not an address. */
const FILE_EXTENSIONS = new Set([
  'png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'bmp', 'css', 'js', 'mjs', 'ts', 'json', 'yaml', 'yml',
  'txt', 'lock', 'log', 'html', 'xml', 'map', 'tgz', 'zip',
]);

const TOKEN_BREAK = /[\s"'<>()[\]{}]/;
const URL_AUTHORITY_PREFIX = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#@]*$/;

/** True when text[at] begins the userinfo part of a URL (scheme://[user[:password]]@host). */
function isUrlUserinfo(text: string, at: number): boolean {
  let start = at;
  while (start > 0 && at - start < 2048 && !TOKEN_BREAK.test(text[start - 1] ?? '')) start--;
  return URL_AUTHORITY_PREFIX.test(text.slice(start, at));
}

function scanEmails(text: string, emit: Emit): void {
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    let start = at;
    while (start > 0 && at - start < 64 && LOCAL_CHAR.test(text[start - 1] ?? '')) start--;
    let end = at + 1;
    while (end < text.length && end - at < 255 && DOMAIN_CHAR.test(text[end] ?? '')) end++;
    // Trailing dots and hyphens are sentence punctuation, not part of the domain.
    while (end > at + 1 && /[.-]/.test(text[end - 1] ?? '')) end--;
    // Leading dots are not part of the local part either (".alice@x.org" quotes alice@x.org).
    while (start < at && /[._%+-]/.test(text[start] ?? '')) start++;
    const candidate = text.slice(start, end);
    if (!EMAIL.test(candidate)) continue;
    const tld = candidate.slice(candidate.lastIndexOf('.') + 1).toLowerCase();
    if (FILE_EXTENSIONS.has(tld)) continue;
    // URL userinfo (https://deploy@registry.example.com/, https://user:pass@host/) is a login on a host, not
    // a mail address. An address elsewhere in a URL (a path or query: /users/alice@example.org) is still
    // personal data and is reported.
    if (isUrlUserinfo(text, start)) continue;
    emit(finding('email', 'pii', 'low', start, candidate.length, 0.9, 'email address', 'email'));
  }
}

// ---- credit cards ---------------------------------------------------------------------------------

/** Runs of digits with single space or hyphen separators: candidates for card numbers. */
const DIGIT_RUN = /\d+(?:[ -]\d+)*/g;

/** True when the digits pass the Luhn checksum (ISO/IEC 7812). */
export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** The card network for an issuer prefix and length, or null. Luhn alone passes one number in ten. */
function cardNetwork(digits: string): string | null {
  const n = digits.length;
  const p2 = Number(digits.slice(0, 2));
  const p3 = Number(digits.slice(0, 3));
  const p4 = Number(digits.slice(0, 4));
  if (digits[0] === '4' && (n === 13 || n === 16 || n === 19)) return 'visa';
  if (((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) && n === 16) return 'mastercard';
  if ((p2 === 34 || p2 === 37) && n === 15) return 'amex';
  if ((p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649)) && n >= 16 && n <= 19) return 'discover';
  if (p4 >= 3528 && p4 <= 3589 && n >= 16 && n <= 19) return 'jcb';
  if (((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38) && n >= 14 && n <= 19) return 'diners';
  if (p2 === 62 && n >= 16 && n <= 19) return 'unionpay';
  return null;
}

function scanCards(text: string, emit: Emit): void {
  DIGIT_RUN.lastIndex = 0;
  for (let m = DIGIT_RUN.exec(text); m !== null; m = DIGIT_RUN.exec(text)) {
    // Part of a longer token (an id such as order-4111111111111111, x4111…, or a decimal 1.4111…) is not a
    // card number.
    const before = text[m.index - 1] ?? '';
    const after = text.slice(m.index + m[0].length, m.index + m[0].length + 2);
    if (/[A-Za-z0-9_.-]/.test(before) || /^(?:[A-Za-z_]|[.,]\d)/.test(after)) continue;
    // Try spans of whole groups, longest first: "4111 1111 1111 1111 12 25" holds a card followed by an
    // expiry date, which a check of the whole run would miss. A card has at most 19 digits, so a span never
    // covers more than 19 groups: a long run (a row of numbers, a date and time before the card) costs a
    // bounded amount of work per group, and no run is too long to be searched.
    const groups: { text: string; at: number }[] = [];
    const sep = /[ -]/g;
    let last = 0;
    for (let s = sep.exec(m[0]); s !== null; s = sep.exec(m[0])) {
      groups.push({ text: m[0].slice(last, s.index), at: m.index + last });
      last = s.index + 1;
    }
    groups.push({ text: m[0].slice(last), at: m.index + last });
    for (let i = 0; i < groups.length; i++) {
      let best = cardFrom(groups, i);
      if (best === null) continue;
      // A span that starts inside this one and reaches further is the card: in "10 30 00 4111 1111 1111 1111"
      // the digits from "30" happen to form a valid number too, and taking it would leave the card's last
      // group unmasked.
      for (let k = i + 1; k <= best.j; k++) {
        const later = cardFrom(groups, k);
        if (later !== null && later.j > best.j) {
          best = later;
          i = k;
        }
      }
      const first = groups[i]!;
      const lastGroup = groups[best.j]!;
      const length = lastGroup.at + lastGroup.text.length - first.at;
      emit(
        finding('credit_card', 'pii', 'high', first.at, length, 0.95, `${best.network} card number ending ${best.digits.slice(-4)}`, 'card_number_luhn'),
      );
      i = best.j;
    }
  }
}

/**
 * True for the ways card numbers are written: one run of digits, groups of four (the last may be shorter),
 * or 4-6-5 / 4-6-4 (15- and 14-digit cards). Arbitrary spans of a number table ("7 8 9 10 11 12 …") pass
 * Luhn one time in ten; requiring a card's grouping keeps them from being reported.
 */
function cardGrouping(lengths: readonly number[]): boolean {
  const n = lengths.length;
  if (n === 1) return true;
  if (n === 3 && lengths[0] === 4 && lengths[1] === 6 && (lengths[2] === 5 || lengths[2] === 4)) return true;
  for (let k = 0; k < n - 1; k++) if (lengths[k] !== 4) return false;
  return lengths[n - 1]! >= 1 && lengths[n - 1]! <= 4;
}

/** The longest card number made of whole groups starting at group i, or null. */
function cardFrom(groups: readonly { text: string }[], i: number): { j: number; digits: string; network: string } | null {
  // Every issuer range starts with 2-6: other groups cannot begin a card.
  const lead = groups[i]!.text.charCodeAt(0);
  if (lead < 50 || lead > 54) return null;
  const ends: { j: number; digits: string }[] = [];
  const lengths: number[] = [];
  let digits = '';
  for (let j = i; j < groups.length; j++) {
    digits += groups[j]!.text;
    lengths.push(groups[j]!.text.length);
    if (digits.length > 19) break;
    if (digits.length >= 13 && cardGrouping(lengths)) ends.push({ j, digits });
  }
  for (let k = ends.length - 1; k >= 0; k--) {
    const { j, digits: candidate } = ends[k]!;
    const network = cardNetwork(candidate);
    if (network !== null && !/^(\d)\1+$/.test(candidate) && luhnValid(candidate)) return { j, digits: candidate, network };
  }
  return null;
}

// ---- entry points ---------------------------------------------------------------------------------

const SCANNERS: readonly { types: readonly ScanFindingType[]; scan: (text: string, emit: Emit) => void }[] = [
  { types: ['private_key'], scan: scanPrivateKeys },
  { types: ['aws_access_key_id', 'aws_secret_access_key', 'gcp_service_account_key', 'azure_storage_key'], scan: scanCloudKeys },
  { types: ['bearer_token', 'api_token'], scan: scanTokens },
  { types: ['jwt'], scan: scanJwts },
  { types: ['email'], scan: scanEmails },
  { types: ['credit_card'], scan: scanCards },
];

const DEFAULT_MAX_FINDINGS = 1000;

class Enough extends Error {}

/**
 * Runs the built-in scanners over text. Findings are sorted by offset (then longest first); offsets and
 * lengths are in UTF-16 code units of `text`. Overlaps are kept (a bearer token that is also a JWT is
 * reported by both): they describe different facts, and redactText merges them.
 */
export function scanText(text: string, options: ScanOptions = {}): ScanFinding[] {
  const wanted = options.types === undefined ? null : new Set(options.types);
  const max = options.maxFindings ?? DEFAULT_MAX_FINDINGS;
  const out: ScanFinding[] = [];
  const emit: Emit = (f) => {
    if (wanted !== null && !wanted.has(f.type as ScanFindingType)) return;
    out.push(f);
    if (out.length >= max) throw new Enough();
  };
  try {
    for (const s of SCANNERS) {
      if (wanted === null || s.types.some((t) => wanted.has(t))) s.scan(text, emit);
    }
  } catch (err) {
    if (!(err instanceof Enough)) throw err;
  }
  return out.sort((a, b) => a.offset - b.offset || b.length - a.length);
}

export type RedactOptions = {
  /** Replacement text, or a function of the finding (default `[REDACTED:<type>]`). */
  mask?: string | ((finding: ScanFinding) => string);
};

/**
 * Replaces every finding's span with the mask. Overlapping or touching spans are merged first and masked
 * once (with the mask of the finding that starts first); spans outside the text are clamped.
 */
export function redactText(
  text: string,
  findings: readonly Pick<ScanFinding, 'offset' | 'length' | 'type'>[],
  options: RedactOptions = {},
): string {
  const mask = options.mask ?? ((f: ScanFinding) => `[REDACTED:${f.type}]`);
  const spans = findings
    .map((f) => ({ start: Math.max(0, Math.min(text.length, f.offset)), end: Math.max(0, Math.min(text.length, f.offset + f.length)), f }))
    .filter((s) => s.end > s.start)
    .sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let cursor = 0;
  for (let i = 0; i < spans.length; ) {
    const head = spans[i]!;
    let end = head.end;
    let j = i + 1;
    while (j < spans.length && spans[j]!.start <= end) {
      end = Math.max(end, spans[j]!.end);
      j++;
    }
    out += text.slice(cursor, head.start);
    out += typeof mask === 'string' ? mask : mask(head.f as ScanFinding);
    cursor = end;
    i = j;
  }
  return out + text.slice(cursor);
}

/** A `secret://` reference found in a JSON value: where (a JSON Pointer) and the reference itself. */
export type SecretRef = { path: string; ref: string };

const SECRET_REF = /secret:\/\/[^\s"'<>\\`]+/g;
const MAX_SECRET_REF_DEPTH = 64;

function pointerToken(key: string | number): string {
  return String(key).replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * Every `secret://…` reference anywhere in a JSON value (strings at any depth, inside longer text too; object
 * keys are not searched). References are how secrets travel (`secret://vault/path#key`): finding one means the
 * job carries secrets, which policy sees as `secrets_present`. Nesting deeper than 64 levels is not searched.
 */
export function findSecretRefs(value: unknown): SecretRef[] {
  const out: SecretRef[] = [];
  const seen = new Set<object>();
  const walk = (v: unknown, path: string, depth: number): void => {
    if (typeof v === 'string') {
      SECRET_REF.lastIndex = 0;
      for (let m = SECRET_REF.exec(v); m !== null; m = SECRET_REF.exec(v)) {
        // Sentence punctuation after a reference is not part of it.
        const ref = m[0].replace(/[.,;:)\]}]+$/, '');
        if (ref.length > 'secret://'.length) out.push({ path, ref });
      }
      return;
    }
    if (typeof v !== 'object' || v === null || depth >= MAX_SECRET_REF_DEPTH || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${path}/${i}`, depth + 1));
      return;
    }
    for (const [k, item] of Object.entries(v)) walk(item, `${path}/${pointerToken(k)}`, depth + 1);
  };
  walk(value, '', 0);
  return out;
}

/** True when findSecretRefs would find anything. */
export function hasSecretRefs(value: unknown): boolean {
  return findSecretRefs(value).length > 0;
}
