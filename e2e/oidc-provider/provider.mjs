// A Keycloak-like OpenID provider on loopback for Shipyard's end-to-end tests.
//
// Built on the `oidc-provider` package and shaped like a Keycloak realm `acme`:
// - issuer `http://127.0.0.1:$OIDC_PORT/realms/acme`, endpoints under `protocol/openid-connect/`
//   (auth, token, userinfo, certs, logout) as Keycloak names them;
// - one confidential client (client_secret_basic or client_secret_post), code flow, PKCE S256
//   required, RS256 ID tokens;
// - Keycloak-style claims (`realm_access`, `resource_access`, `groups`, `preferred_username`,
//   `name`, `email`) in the ID token, at userinfo and in the access token, which is a JWT signed
//   with the same key as the ID token (as Keycloak's is);
// - a login page with Keycloak's element ids (`#username`, `#password`, `#kc-login`), consent
//   granted without asking (Keycloak's default), and logout with `id_token_hint` that needs no
//   confirmation (as in Keycloak).
//
// Environment:
//   OIDC_PORT                      port on 127.0.0.1 (0 or unset: any free port)
//   OIDC_CLIENT_ID                 client id (default `shipyard`)
//   OIDC_CLIENT_SECRET             client secret (required)
//   OIDC_REDIRECT_URI              redirect URI(s), comma-separated (required)
//   OIDC_POST_LOGOUT_REDIRECT_URI  post-logout redirect URI(s), comma-separated (optional)
//   OIDC_ROLE_CLAIMS               where role and group claims go, comma-separated among
//                                  `id_token`, `userinfo`, `access_token` (default: all three;
//                                  `access_token` alone is what Keycloak's default mappers do)
//   OIDC_ACCESS_TOKEN_AUDIENCE     `aud` of access tokens (default `account`, as in Keycloak)
//
// Stdout: one line per request (`METHOD /path STATUS`), and `READY <issuer>` once listening.
// `GET /test/stats` answers counters as JSON (`end_session` counts calls to the logout endpoint,
// `end_session_success` completed logouts). Keys are generated at each start.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const REALM = 'acme';
const ISSUER_PATH = `/realms/${REALM}`;
const OIDC_PATH = '/protocol/openid-connect';
const LOGIN_ACTIONS = `${ISSUER_PATH}/login-actions/`;

function fail(message) {
  console.error(`oidc-provider fixture: ${message}`);
  process.exit(2);
}

function list(value) {
  return (value || '').split(',').map((s) => s.trim()).filter(Boolean);
}

const env = process.env;
const port = Number.parseInt(env.OIDC_PORT || '0', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad OIDC_PORT ${env.OIDC_PORT}`);
const clientId = env.OIDC_CLIENT_ID || 'shipyard';
const clientSecret = env.OIDC_CLIENT_SECRET || fail('OIDC_CLIENT_SECRET is required');
const redirectUris = list(env.OIDC_REDIRECT_URI);
if (redirectUris.length === 0) fail('OIDC_REDIRECT_URI is required');
const postLogoutRedirectUris = list(env.OIDC_POST_LOGOUT_REDIRECT_URI);
const roleClaimsIn = new Set(list(env.OIDC_ROLE_CLAIMS || 'id_token,userinfo,access_token'));
for (const where of roleClaimsIn) {
  if (!['id_token', 'userinfo', 'access_token'].includes(where)) fail(`bad OIDC_ROLE_CLAIMS entry ${where}`);
}
const accessTokenAudience = env.OIDC_ACCESS_TOKEN_AUDIENCE || 'account';

// The realm's users. The login name is the username; `sub` is a fixed id, as Keycloak's are
// UUIDs distinct from usernames. Client roles are keyed by the configured client id.
const USERS = [
  {
    username: 'dev-lead', sub: '0b7f0d2e-4a51-4c8e-9d3a-1f6e2c9b7a01', name: 'Dana Dev',
    realmRoles: ['dev-lead'], clientRoles: [], groups: [],
  },
  {
    username: 'qa-lead', sub: '1c8e1e3f-5b62-4d9f-8e4b-2a7f3d0c8b02', name: 'Quinn Qa',
    realmRoles: ['qa'], clientRoles: [], groups: ['/release/qa'],
  },
  {
    username: 'admin', sub: '2d9f2f40-6c73-4ea0-9f5c-3b804e1d9c03', name: 'Ada Admin',
    realmRoles: [], clientRoles: ['release-admin'], groups: [],
  },
  {
    username: 'nobody', sub: '3ea03051-7d84-4fb1-a06d-4c915f2ead04', name: 'No Body',
    realmRoles: [], clientRoles: [], groups: [],
  },
];
const bySub = new Map(USERS.map((u) => [u.sub, u]));
const byUsername = new Map(USERS.map((u) => [u.username, u]));

// Claims of a user, Keycloak-style. Empty role lists and groups are left out (Keycloak's mappers
// add nothing for them); every user has the `account` client's default roles, as in Keycloak.
function roleClaims(user) {
  const out = {};
  if (user.realmRoles.length) out.realm_access = { roles: [...user.realmRoles] };
  const resourceAccess = {};
  if (user.clientRoles.length) resourceAccess[clientId] = { roles: [...user.clientRoles] };
  resourceAccess.account = { roles: ['manage-account', 'view-profile'] };
  out.resource_access = resourceAccess;
  if (user.groups.length) out.groups = [...user.groups];
  return out;
}

function profileClaims(user) {
  const [given, family] = user.name.split(' ');
  return {
    sub: user.sub,
    preferred_username: user.username,
    name: user.name,
    given_name: given,
    family_name: family,
    email: `${user.username}@acme.example`,
    email_verified: true,
  };
}

const ROLE_CLAIM_NAMES = ['realm_access', 'resource_access', 'groups'];
// Which claims each scope releases. The role claims are released with `openid` itself so that
// `openid profile email` returns them (Keycloak's `roles` scope is a default scope); `roles` is
// accepted as a scope name too.
const CLAIMS = {
  openid: ['sub', ...ROLE_CLAIM_NAMES],
  profile: ['preferred_username', 'name', 'given_name', 'family_name'],
  email: ['email', 'email_verified'],
  roles: [...ROLE_CLAIM_NAMES],
};

function claimsFor(user, use) {
  return {
    ...profileClaims(user),
    ...(roleClaimsIn.has(use) ? roleClaims(user) : {}),
  };
}

// Keys: one RSA key, made at start.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = crypto.randomBytes(8).toString('hex');
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
const publicKey = crypto.createPublicKey(privateKey);

// JWT access tokens are not stored by oidc-provider; to refuse them at userinfo once their grant
// is revoked (logout revokes it, as a Keycloak logout ends the session), their grant is kept here.
const grantOfJti = new Map();
const revokedGrants = new Set();

const stats = {
  authorization: 0, login: 0, login_failed: 0, token: 0, userinfo: 0, end_session: 0, end_session_success: 0,
};

function htmlEscape(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>${htmlEscape(title)}</title>
</head>
<body>
  <div id="kc-header-wrapper">${REALM.toUpperCase()}</div>
  <h1 id="kc-page-title">${htmlEscape(title)}</h1>
  ${body}
</body>
</html>`;
}

function loginPage(action, username, error) {
  return page('Sign in to your account', `
  <form id="kc-form-login" action="${htmlEscape(action)}" method="post">
    <label for="username">Username or email</label>
    <input id="username" name="username" type="text" value="${htmlEscape(username || '')}" autofocus autocomplete="off">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="off">
    ${error ? `<span id="input-error" aria-live="polite">${htmlEscape(error)}</span>` : ''}
    <input id="kc-login" name="login" type="submit" value="Sign In">
  </form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(body);
}

function sendJson(res, status, value, headers = {}) {
  send(res, status, 'application/json', JSON.stringify(value), headers);
}

let provider;

// GET  /realms/acme/login-actions/<uid>: the login page, or consent granted at once.
// POST /realms/acme/login-actions/<uid>: the login form's answer.
async function loginActions(req, res, url) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    send(res, 400, 'text/html; charset=utf-8', page('We are sorry...', `<p id="kc-error-message">${htmlEscape(err.message)}</p>`));
    return;
  }
  const { prompt, params, grantId, session } = details;
  const action = url.pathname;

  if (prompt.name === 'login') {
    if (req.method === 'POST') {
      const form = await readForm(req);
      const username = (form.get('username') || '').trim();
      const user = byUsername.get(username);
      if (!user) {
        stats.login_failed += 1;
        send(res, 200, 'text/html; charset=utf-8', loginPage(action, username, 'Invalid username or password.'));
        return;
      }
      stats.login += 1;
      await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
      return;
    }
    send(res, 200, 'text/html; charset=utf-8', loginPage(action, params.login_hint));
    return;
  }

  if (prompt.name === 'consent') {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    if (missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    return;
  }

  send(res, 501, 'text/plain', `unsupported prompt ${prompt.name}`);
}

// Userinfo for JWT access tokens. oidc-provider's own userinfo endpoint accepts only opaque
// tokens without an audience; Keycloak's accepts its JWT access tokens, so these are answered
// here after checking signature, issuer, expiry and the `openid` scope.
function verifyAccessJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, p, s] = parts;
  let header;
  let payload;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (header.alg !== 'RS256' || header.kid !== kid) return undefined;
  const ok = crypto.verify('RSA-SHA256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'));
  if (!ok) return undefined;
  if (payload.iss !== provider.issuer) return undefined;
  if (typeof payload.exp !== 'number' || payload.exp * 1000 < Date.now()) return undefined;
  if (revokedGrants.has(grantOfJti.get(payload.jti))) return undefined;
  return payload;
}

function jwtUserinfo(res, token) {
  const invalid = (desc) => sendJson(res, 401, { error: 'invalid_token', error_description: desc }, {
    'www-authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="${desc}"`,
  });
  const payload = verifyAccessJwt(token);
  if (!payload) return invalid('invalid token');
  const scopes = new Set((payload.scope || '').split(' '));
  if (!scopes.has('openid')) return invalid('missing openid scope');
  const user = bySub.get(payload.sub);
  if (!user) return invalid('user not found');
  const all = claimsFor(user, 'userinfo');
  const out = {};
  for (const scope of scopes) {
    for (const name of CLAIMS[scope] || []) {
      if (all[name] !== undefined) out[name] = all[name];
    }
  }
  return sendJson(res, 200, out);
}

function logoutPage(ctx, form) {
  // With an id_token_hint Keycloak logs out without asking; so does this page, by submitting the
  // confirmation form at once. Without one it asks, with Keycloak's `#kc-logout` button.
  const confirmForm = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
  if (ctx.oidc.params.id_token_hint) {
    ctx.body = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Logging out</title>
<script>document.addEventListener('DOMContentLoaded', function () { document.forms[0].submit(); });</script>
</head><body>${confirmForm}<noscript><button type="submit" form="op.logoutForm" id="kc-logout">Logout</button></noscript></body></html>`;
    return;
  }
  ctx.body = page('Logging out', `
  <p>Do you want to log out?</p>
  ${confirmForm}
  <button type="submit" form="op.logoutForm" id="kc-logout" name="confirmLogout">Logout</button>`);
}

function loggedOutPage(ctx) {
  ctx.body = page('You are logged out', '<p id="kc-logged-out">You are logged out.</p>');
}

function errorPage(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('We are sorry...', Object.entries(out)
    .map(([key, value]) => `<p class="kc-error" data-key="${htmlEscape(key)}">${htmlEscape(value)}</p>`)
    .join('\n').replace('class="kc-error"', 'id="kc-error-message" class="kc-error"'));
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  res.on('finish', () => console.log(`${req.method} ${url.pathname} ${res.statusCode}`));
  try {
    if (!provider) {
      send(res, 503, 'text/plain', 'starting');
      return;
    }
    if (req.method === 'GET' && url.pathname === '/test/stats') {
      sendJson(res, 200, stats);
      return;
    }
    if (url.pathname.startsWith(LOGIN_ACTIONS)) {
      await loginActions(req, res, url);
      return;
    }
    if (url.pathname !== ISSUER_PATH && !url.pathname.startsWith(`${ISSUER_PATH}/`)) {
      sendJson(res, 404, { error: 'not_found' });
      return;
    }
    const inner = url.pathname.slice(ISSUER_PATH.length) || '/';
    switch (inner) {
      case `${OIDC_PATH}/auth`: stats.authorization += 1; break;
      case `${OIDC_PATH}/token`: stats.token += 1; break;
      case `${OIDC_PATH}/userinfo`: stats.userinfo += 1; break;
      case `${OIDC_PATH}/logout`: stats.end_session += 1; break;
      default: break;
    }
    if (inner === `${OIDC_PATH}/userinfo`) {
      const auth = req.headers.authorization || '';
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      if (m && m[1].split('.').length === 3) {
        jwtUserinfo(res, m[1]);
        return;
      }
    }
    // Mounted under the issuer's path, as a framework's mount would do.
    req.originalUrl = req.url;
    req.url = req.url.slice(ISSUER_PATH.length) || '/';
    if (req.url.startsWith('?')) req.url = `/${req.url}`;
    await provider.callback()(req, res);
  } catch (err) {
    console.error(`error on ${req.method} ${url.pathname}: ${err.stack || err}`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    else res.end();
  }
});

server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}${ISSUER_PATH}`;
  const resource = `${issuer}/resource/${encodeURIComponent(clientId)}`;

  provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      post_logout_redirect_uris: postLogoutRedirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys: [signingJwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    claims: CLAIMS,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'roles'],
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    routes: {
      authorization: `${OIDC_PATH}/auth`,
      token: `${OIDC_PATH}/token`,
      userinfo: `${OIDC_PATH}/userinfo`,
      jwks: `${OIDC_PATH}/certs`,
      end_session: `${OIDC_PATH}/logout`,
      revocation: `${OIDC_PATH}/revoke`,
      introspection: `${OIDC_PATH}/token/introspect`,
    },
    interactions: {
      url: (_ctx, interaction) => `${LOGIN_ACTIONS}${interaction.uid}`,
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: logoutPage,
        postLogoutSuccessSource: loggedOutPage,
      },
      resourceIndicators: {
        enabled: true,
        // Every authorization is for this one resource, so that the access token is a JWT.
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== resource) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'openid profile email roles offline_access',
            audience: accessTokenAudience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 300,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    findAccount: (_ctx, sub) => {
      const user = bySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        claims: (use) => claimsFor(user, use),
      };
    },
    extraTokenClaims: (_ctx, token) => {
      if (token.kind !== 'AccessToken') return undefined;
      const user = bySub.get(token.accountId);
      if (!user) return undefined;
      const { sub: _sub, ...claims } = claimsFor(user, 'access_token');
      return { typ: 'Bearer', azp: token.clientId, ...claims };
    },
    formats: {
      customizers: {
        jwt: (_ctx, token, jwt) => {
          jwt.header = { typ: 'JWT' };
          if (token.grantId) grantOfJti.set(jwt.payload.jti, token.grantId);
        },
      },
    },
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    renderError: (ctx, out) => errorPage(ctx, out),
    ttl: {
      AccessToken: 300,
      AuthorizationCode: 60,
      IdToken: 300,
      RefreshToken: 1800,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
  });

  provider.on('end_session.success', () => { stats.end_session_success += 1; });
  provider.on('grant.revoked', (_ctx, grantId) => { revokedGrants.add(grantId); });
  provider.on('server_error', (_ctx, err) => console.error(`server_error: ${err.stack || err}`));
  for (const event of ['authorization.error', 'grant.error', 'end_session.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => console.error(`${event}: ${err.name}: ${err.message}${err.error_detail ? ` (${err.error_detail})` : ''}`));
  }

  console.log(`READY ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
