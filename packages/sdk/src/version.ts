/**
 * Version announced in the Handshake's sdk_version. Kept by hand because src/ cannot import package.json
 * (it is outside rootDir); version.test.ts fails when the two drift.
 */
export const SDK_VERSION = '0.1.0';

/** The Handshake sdk_version string: which SDK and which release of it. */
export const SDK_VERSION_STRING = `cordum-ts/${SDK_VERSION}`;
