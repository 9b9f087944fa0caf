/**
 * The KEK that seals service-type keys in embedded mode unless SERVICE_TYPE_KEK says otherwise. Public, so it
 * protects nothing: the embedded mode is for development; the cluster requires its own from a Secret.
 */
export const DEVELOPMENT_SERVICE_TYPE_KEK = Buffer.from("rights-platform development KEK!", "latin1").toString("base64");

/** The same for WHALE_KEK (the back office's secrets): public, development only. */
export const DEVELOPMENT_WHALE_KEK = Buffer.from("rights-platform WHALE dev KEK!!!", "latin1").toString("base64");
