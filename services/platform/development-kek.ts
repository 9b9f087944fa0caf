/**
 * The KEK that seals service-type keys in embedded mode unless SERVICE_TYPE_KEK says otherwise. Public, so it
 * protects nothing: the embedded mode is for development; the cluster requires its own from a Secret.
 */
export const DEVELOPMENT_SERVICE_TYPE_KEK = Buffer.from("rights-platform development KEK!", "latin1").toString("base64");
