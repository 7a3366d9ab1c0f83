// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A real OpenID Provider (panva's oidc-provider) for the auth-oidc tests, on
// loopback. Two issuers: the main one and an "other" one (a different issuer
// with its own keys, for tokens WebEncode must refuse). Prints
// "ready <port> <other port>" once both listen; exits when stdin closes.
//
//   node server.mjs --redirect-uri http://127.0.0.1:8080/v1/auth/callback
//
// Clients: "we-dashboard" (public, PKCE S256, authorization code + refresh)
// and client-credentials clients for tests: "we-admin", "we-viewer",
// "we-nobody" (no role) and "we-short" (tokens live 1 s), all with secret
// "test-secret". Access tokens are JWTs for the resource indicator asked for
// (default urn:webencode) with realm_access.roles from the account or client.
//
// Test hooks (main issuer only):
//   POST /admin/rotate?keep=0|1  new signing keys (keep=1 keeps the old ones
//                                in the JWKS); answers the new kids
//   POST /admin/alg?alg=ES256    algorithm of access tokens from now on
//   GET  /admin/stats            {"jwks_fetches": n}
import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const args = process.argv.slice(2);
function arg(name, def) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
}
const redirectUri = arg('--redirect-uri', 'http://127.0.0.1:8080/v1/auth/callback');
const host = '127.0.0.1';
const AUDIENCE = 'urn:webencode';
const CLIENT_ROLES = {
  'we-admin': ['webencode-admin'],
  'we-viewer': ['webencode-viewer'],
  'we-nobody': [],
  'we-short': ['webencode-admin'],
};
const ACCOUNT_ROLES = { ada: ['webencode-admin', 'other'], otto: ['webencode-operator'] };

function newKey(alg) {
  const pair = alg === 'ES256'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = pair.privateKey.export({ format: 'jwk' });
  jwk.kid = `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`;
  jwk.alg = alg;
  jwk.use = 'sig';
  return jwk;
}

function makeProvider(issuer, state) {
  const provider = new Provider(issuer, {
    jwks: { keys: state.keys },
    clients: [
      {
        client_id: 'we-dashboard',
        token_endpoint_auth_method: 'none',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
      ...Object.keys(CLIENT_ROLES).map((id) => ({
        client_id: id,
        client_secret: 'test-secret',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      })),
    ],
    pkce: { required: () => true, methods: ['S256'] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'api'],
    claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'] },
    cookies: { keys: ['webencode-test-cookie-key'] },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => {
          if (!resource.startsWith('urn:')) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'api',
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: client && client.clientId === 'we-short' ? 1 : 300,
            jwt: { sign: { alg: state.alg } },
          };
        },
      },
    },
    findAccount: (ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, preferred_username: id, name: id, email: `${id}@example.test` }),
    }),
    extraTokenClaims: (ctx, token) => {
      const roles = token.accountId
        ? ACCOUNT_ROLES[token.accountId] || ['webencode-viewer']
        : CLIENT_ROLES[token.clientId] || [];
      const claims = { realm_access: { roles } };
      if (token.accountId) {
        claims.preferred_username = token.accountId;
        claims.email = `${token.accountId}@example.test`;
      }
      return claims;
    },
    // refresh tokens for the dashboard client, consent or not
    issueRefreshToken: (ctx, client, code) => client.grantTypeAllowed('refresh_token'),
  });
  return provider;
}

function serve(port, state, admin) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${host}`);
    if (url.pathname === '/jwks') state.jwksFetches += 1;
    if (admin && url.pathname.startsWith('/admin/')) {
      res.setHeader('content-type', 'application/json');
      if (url.pathname === '/admin/rotate' && req.method === 'POST') {
        const fresh = [newKey('RS256'), newKey('ES256')];
        state.keys = url.searchParams.get('keep') === '1' ? [...fresh, ...state.keys] : fresh;
        state.provider = makeProvider(state.issuer, state);
        res.end(JSON.stringify({ kids: fresh.map((k) => k.kid) }));
      } else if (url.pathname === '/admin/alg' && req.method === 'POST') {
        state.alg = url.searchParams.get('alg');
        state.provider = makeProvider(state.issuer, state);
        res.end(JSON.stringify({ alg: state.alg }));
      } else if (url.pathname === '/admin/stats') {
        res.end(JSON.stringify({ jwks_fetches: state.jwksFetches, kids: state.keys.map((k) => k.kid) }));
      } else {
        res.statusCode = 404;
        res.end('{}');
      }
      return;
    }
    state.provider.callback()(req, res);
  });
  return new Promise((resolve) => {
    server.listen(port, host, () => resolve(server));
  });
}

async function start(port, admin) {
  const state = { keys: [newKey('RS256'), newKey('ES256')], alg: 'RS256', jwksFetches: 0 };
  const server = await serve(port, state, admin);
  state.issuer = `http://${host}:${server.address().port}`;
  state.provider = makeProvider(state.issuer, state);
  return server.address().port;
}

const main = await start(Number(arg('--port', '0')), true);
const other = await start(Number(arg('--other-port', '0')), false);
process.stdout.write(`ready ${main} ${other}\n`);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
