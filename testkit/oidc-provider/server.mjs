// panva's oidc-provider as Hearth's test authorization server, over HTTPS on 127.0.0.1.
//
// Environment:
//   HEARTH_OP_CERT, HEARTH_OP_KEY  PEM certificate and key (the tests pin the certificate)
//   HEARTH_OP_KEYS                 file with the signing keys (a private JWKS); written with
//                                  fresh keys when it does not exist (a key rotation is:
//                                  delete it and restart)
//   HEARTH_OP_PORT                 port to listen on (0 or unset: any); prints "READY <port>"
//
// Configured for a public native client `hearth-cli` (loopback redirect, PKCE S256
// required), PAR, DPoP with nonces, refresh-token rotation (reuse revokes the grant),
// revocation, the device grant, RFC 9207 `iss`, RP-initiated logout, and JWT access tokens
// (ES256) for the resource `https://api.hearth.test` when a sign-in asks for it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';

import Provider from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`server.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

const keysFile = env('HEARTH_OP_KEYS');
if (!fs.existsSync(keysFile)) {
  const kid = crypto.randomBytes(8).toString('hex');
  const jwk = (pair, alg) => ({ ...pair.privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg}-${kid}` });
  const keys = [
    jwk(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }), 'RS256'),
    jwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'ES256'),
  ];
  fs.writeFileSync(keysFile, JSON.stringify({ keys }), { mode: 0o600 });
}
const jwks = JSON.parse(fs.readFileSync(keysFile, 'utf8'));

const server = https.createServer({
  cert: fs.readFileSync(env('HEARTH_OP_CERT')),
  key: fs.readFileSync(env('HEARTH_OP_KEY')),
});

server.listen(Number(process.env.HEARTH_OP_PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}`;
  const resource = 'https://api.hearth.test';
  const provider = new Provider(issuer, {
    jwks,
    clients: [
      {
        client_id: 'hearth-cli',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
        post_logout_redirect_uris: ['http://127.0.0.1/logged-out'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
      },
    ],
    pkce: { methods: ['S256'], required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'api:read'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => ({
        sub: id,
        email: `${id}@hearth.test`,
        email_verified: true,
        name: `User ${id}`,
        preferred_username: id,
      }),
    }),
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    // Every sign-in of this client gets a refresh token, rotated on every use.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    ttl: { AccessToken: 600, IdToken: 600, RefreshToken: 86400, DeviceCode: 600, Interaction: 600, Session: 3600, Grant: 86400 },
    features: {
      devInteractions: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      dPoP: { enabled: true, nonceSecret: crypto.randomBytes(32), requireNonce: () => true },
      revocation: { enabled: true },
      deviceFlow: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Without a `resource` parameter the access token is opaque (and good at
        // userinfo); with `resource=https://api.hearth.test` it is a JWT for that API.
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'api:read',
          audience: resource,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
  // The interaction cookies are Secure over HTTPS.
  provider.proxy = false;
  server.on('request', provider.callback());
  console.log(`READY ${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
