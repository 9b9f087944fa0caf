/**
 * Credentials the sandbox simulators accept. They guard nothing (the simulators are test equipment), and the
 * embedded mode, the tests and `npm run sandbox` agree on them through this one place.
 */
export const SANDBOX_PSBC = { appId: "sandbox-psbc", appSecret: "sandbox-psbc-secret" };
export const SANDBOX_BLUE_BROTHERS = { appId: "sandbox-bb", appSecret: "sandbox-bb-secret" };
