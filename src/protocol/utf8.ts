/**
 * UTF-8 through the WHATWG Encoding API (every runtime has it): one encoder and one strict decoder
 * for the whole package instead of one per module, which also keeps the browser bundle small.
 * Pure: the instances hold no state between calls.
 */

/** Encodes strings as UTF-8. */
export const utf8Encoder = /* @__PURE__ */ new TextEncoder();

/** Decodes UTF-8 and throws on malformed bytes (never replaces them silently). */
export const utf8StrictDecoder = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });
