// A real OpenID provider for Blink's sign-on tests: the certified `oidc-provider` package, on 127.0.0.1.
//
//   node tests/oidc/provider.mjs PORT BLINK_BASE_URL      (or the PORT and BLINK_BASE_URL environment variables)
//
// Prints `READY <issuer>` on stdout once it listens. Clients registered for Blink (all with the redirect URI
// BLINK_BASE_URL/auth/login/callback): `blink` (client_secret_basic), `blink-post` (client_secret_post) and
// `blink-public` (none, PKCE only); their secret is `blink-test-secret`.
//
// The interaction URL serves a real HTML login page: "Username" (id="login"; it becomes the account id and `sub`),
// optional "Name", "Email" and "Groups" (comma-separated, released as the `groups` claim), and a "Sign in" button.
// Tests may post the same form directly (the scripted path). Consent is given automatically.
import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.PORT);
const blinkBase = (process.argv[3] ?? process.env.BLINK_BASE_URL ?? 'http://localhost:3000').replace(/\/$/, '');
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs PORT BLINK_BASE_URL');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

// A signing key of this process's own, so a restarted provider has rotated its keys (the package's built-in
// development key never changes).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };

// What each username last signed in with: their claims.
const accounts = new Map();

const client = (client_id, token_endpoint_auth_method) => ({
  client_id,
  ...(token_endpoint_auth_method === 'none' ? {} : { client_secret: 'blink-test-secret' }),
  token_endpoint_auth_method,
  redirect_uris: [`${blinkBase}/auth/login/callback`],
  post_logout_redirect_uris: [`${blinkBase}/app/sign-in?problem=signed-out`],
  grant_types: ['authorization_code'],
  response_types: ['code'],
});

const provider = new Provider(issuer, {
  clients: [
    client('blink', 'client_secret_basic'),
    client('blink-post', 'client_secret_post'),
    client('blink-public', 'none'),
  ],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'groups'],
    email: ['email', 'email_verified'],
  },
  // Scope claims go into the ID token too (Blink reads the ID token only).
  conformIdTokenClaims: false,
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, preferred_username: id, ...(accounts.get(id) ?? {}) }),
  }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  cookies: { keys: ['blink-tests-only-cookie-key'] },
  jwks: { keys: [signingKey] },
  pkce: { required: () => true },
});
provider.proxy = false;

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function loginPage(uid, clientId) {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Test identity provider: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<main>
<h1>Sign in to ${escape(clientId)}</h1>
<form method="post" action="/interaction/${escape(uid)}/login">
  <p><label for="login">Username</label> <input id="login" name="login" autocomplete="username" required></p>
  <p><label for="name">Name</label> <input id="name" name="name" autocomplete="name"></p>
  <p><label for="email">Email</label> <input id="email" name="email" type="email" autocomplete="email"></p>
  <p><label for="groups">Groups</label> <input id="groups" name="groups" aria-describedby="groups-help">
     <small id="groups-help">Comma-separated, e.g. blink-admins</small></p>
  <p><button type="submit">Sign in</button></p>
</form>
</main>
</body>
</html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    res.writeHead(400).end('interaction mismatch');
    return;
  }
  if (details.prompt.name === 'login') {
    if (action !== 'login') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(uid, details.params.client_id));
      return;
    }
    const form = await readForm(req);
    const login = (form.get('login') ?? '').trim();
    if (!login) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('Username is required');
      return;
    }
    const claims = {};
    if (form.get('name')) claims.name = form.get('name');
    if (form.get('email')) Object.assign(claims, { email: form.get('email'), email_verified: true });
    const groups = (form.get('groups') ?? '').split(',').map((g) => g.trim()).filter(Boolean);
    if (groups.length) claims.groups = groups;
    accounts.set(login, claims);
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }
  // Consent, given automatically: Blink is a first-party application.
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const saved = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId: saved } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, issuer);
  const match = pathname.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
  if (!match) {
    callback(req, res);
    return;
  }
  interaction(req, res, match[1], req.method === 'POST' ? match[2] : undefined).catch((error) => {
    console.error(error);
    if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${error.message}`);
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
