// Browser end-to-end test of the web chat page against a real Directus and the directus-ircd
// daemon: web ⇄ IRC. Started by TestWebchatEndToEnd (examples/webchat/e2e_test.go), which sets:
//
//   WEBCHAT_URL        the page (served by examples/webchat)
//   IRC_ADDR           the daemon's IRC listener, host:port
//   DIRECTUS_URL       Directus base URL (admin REST calls: seeding, edit, delete)
//   DIRECTUS_ADMIN_EMAIL, DIRECTUS_ADMIN_PASSWORD
//   HEARTBEAT_SECONDS  Directus' WEBSOCKETS_HEARTBEAT_PERIOD (default 30)
//   TOKEN_TTL_SECONDS  Directus' ACCESS_TOKEN_TTL in seconds (default 900)
//   HISTORY_LIMIT      the page's history limit (default 100)
//   ARTIFACTS_DIR      where screenshots go (default ./artifacts next to this file)
//   CHROMIUM           the browser (default /usr/bin/chromium)
//   E2E_GUEST          "1": also talk as an IRC guest (the daemon must allow guests to post)
//   E2E_TIMEOUT_MS     how long any one wait may take (default 20000)
//
// Every wait is for an event (a DOM state, an IRC line); the only deliberate pause is the idle
// period past the heartbeat and the token lifetime, which is what is being tested there.
import { chromium } from 'playwright-core';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
function required(name) {
	if (!env[name]) {
		console.error(`e2e: ${name} is not set (run this through TestWebchatEndToEnd: go test ./examples/webchat)`);
		process.exit(2);
	}
	return env[name];
}
const WEBCHAT_URL = required('WEBCHAT_URL');
const IRC_ADDR = required('IRC_ADDR');
const DIRECTUS_URL = required('DIRECTUS_URL').replace(/\/+$/, '');
const ADMIN_EMAIL = env.DIRECTUS_ADMIN_EMAIL || 'admin@example.com';
const ADMIN_PASSWORD = env.DIRECTUS_ADMIN_PASSWORD || 'adminpass';
const HEARTBEAT_S = Number(env.HEARTBEAT_SECONDS || 30);
const TTL_S = Number(env.TOKEN_TTL_SECONDS || 900);
const HISTORY_LIMIT = Number(env.HISTORY_LIMIT || 100);
const ARTIFACTS = path.resolve(env.ARTIFACTS_DIR || path.join(here, 'artifacts'));
const CHROMIUM = env.CHROMIUM || '/usr/bin/chromium';
const GUEST = env.E2E_GUEST === '1';
const T = Number(env.E2E_TIMEOUT_MS || 20000);
const CHANNEL = '#chat';

const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(2).padStart(7)}s]`, ...a);
function assert(cond, msg) {
	if (!cond) throw new Error(`assertion failed: ${msg}`);
}

// IRC lines containing this are not logged (the seeded history, replayed on JOIN).
let quiet = null;

// ---- a minimal IRC client ------------------------------------------------------------------

function parseLine(raw) {
	let rest = raw;
	let prefix = '';
	if (rest.startsWith('@')) rest = rest.slice(rest.indexOf(' ') + 1).trimStart(); // tags: unused
	if (rest.startsWith(':')) {
		const sp = rest.indexOf(' ');
		prefix = rest.slice(1, sp);
		rest = rest.slice(sp + 1).trimStart();
	}
	const params = [];
	while (rest.length) {
		if (rest.startsWith(':')) {
			params.push(rest.slice(1));
			break;
		}
		const sp = rest.indexOf(' ');
		if (sp < 0) {
			params.push(rest);
			break;
		}
		params.push(rest.slice(0, sp));
		rest = rest.slice(sp + 1).replace(/^ +/, '');
	}
	const command = (params.shift() || '').toUpperCase();
	return { raw, prefix, nick: prefix.split('!')[0], command, params };
}

class IrcClient {
	constructor(label) {
		this.label = label;
		this.lines = [];
		this.waiters = new Set();
		this.buf = '';
		this.closed = false;
	}

	connect(addr) {
		const i = addr.lastIndexOf(':');
		const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
		const port = Number(addr.slice(i + 1));
		return new Promise((resolve, reject) => {
			this.sock = net.connect({ host, port }, resolve);
			this.sock.setEncoding('utf8');
			this.sock.once('error', reject);
			this.sock.on('error', (err) => {
				this.error = err;
			});
			this.sock.on('data', (d) => this.onData(d));
			this.sock.on('close', () => {
				this.closed = true;
				for (const w of [...this.waiters]) w.check();
			});
		});
	}

	send(line) {
		const shown = line.startsWith('AUTHENTICATE ') && line !== 'AUTHENTICATE PLAIN' ? 'AUTHENTICATE <credentials>' : line;
		log(`${this.label} >> ${shown}`);
		this.sock.write(line + '\r\n');
	}

	onData(d) {
		this.buf += d;
		let i;
		while ((i = this.buf.indexOf('\n')) >= 0) {
			const raw = this.buf.slice(0, i).replace(/\r$/, '');
			this.buf = this.buf.slice(i + 1);
			if (raw === '') continue;
			const m = parseLine(raw);
			if (m.command === 'PING') {
				this.sock.write(`PONG :${m.params.at(-1) ?? ''}\r\n`);
				continue;
			}
			if (!(quiet && raw.includes(quiet))) log(`${this.label} << ${raw}`);
			this.lines.push(m);
			for (const w of [...this.waiters]) w.check();
		}
	}

	mark() {
		return this.lines.length;
	}

	// Resolves with the first line from index `from` on that matches `pred`; rejects on `failOn`,
	// an ERROR line, a closed connection, or after `timeout` ms.
	waitFor(desc, pred, { from = 0, failOn = () => false, timeout = T } = {}) {
		return new Promise((resolve, reject) => {
			let idx = from;
			const finish = (fn, v) => {
				clearTimeout(timer);
				this.waiters.delete(w);
				fn(v);
			};
			const w = {
				check: () => {
					for (; idx < this.lines.length; idx++) {
						const m = this.lines[idx];
						if (pred(m)) return finish(resolve, { ...m, index: idx });
						if (m.command === 'ERROR' || failOn(m)) {
							return finish(reject, new Error(`${this.label}: got "${m.raw}" while waiting for ${desc}`));
						}
					}
					if (this.closed) finish(reject, new Error(`${this.label}: connection closed while waiting for ${desc}`));
				},
			};
			const timer = setTimeout(
				() => finish(reject, new Error(`${this.label}: no ${desc} within ${timeout} ms`)),
				timeout
			);
			this.waiters.add(w);
			w.check();
		});
	}

	// A round trip: everything the server did for earlier lines is done (the daemon answers a
	// PING only after the commands before it).
	async sync() {
		const token = `sync-${randomBytes(3).toString('hex')}`;
		const from = this.mark();
		this.send(`PING :${token}`);
		await this.waitFor(`PONG ${token}`, (m) => m.command === 'PONG' && m.params.at(-1) === token, { from });
	}

	quit() {
		if (!this.closed) {
			this.send('QUIT :done');
			this.sock.end();
		}
	}
}

// Numerics that mean registration or login failed, and those that refuse a JOIN.
const registrationFailed = (m) => ['432', '433', '436', '464', '465', '902', '904', '905', '906', '908'].includes(m.command);
const joinFailed = (m) => ['403', '405', '471', '473', '474', '475', '476', '477', '489'].includes(m.command);

// The welcome burst ends with the MOTD (376) or its absence (422).
async function welcome(c, from) {
	const m = await c.waitFor('001', (m) => m.command === '001', { from, failOn: registrationFailed });
	await c.waitFor('end of MOTD (376/422)', (m) => m.command === '376' || m.command === '422', { from: m.index, failOn: registrationFailed });
	return m.params[0];
}

// Registration with SASL PLAIN (an account); returns the nick the server gave us.
async function registerWithSasl(c, email, password, nick) {
	const from = c.mark();
	c.send('CAP LS 302');
	c.send(`NICK ${nick}`);
	c.send(`USER ${nick} 0 * :${nick}`);
	let caps = '';
	let at = from;
	for (;;) {
		const m = await c.waitFor('CAP LS', (m) => m.command === 'CAP' && m.params[1] === 'LS', { from: at });
		caps += ' ' + m.params.at(-1);
		at = m.index + 1;
		if (m.params[2] !== '*') break;
	}
	assert(/(^|\s)sasl(=\S*)?(\s|$)/.test(caps), `server offers sasl (CAP LS: ${caps.trim()})`);
	c.send('CAP REQ :sasl');
	await c.waitFor('CAP ACK sasl', (m) => m.command === 'CAP' && m.params[1] === 'ACK', {
		from: at,
		failOn: (m) => m.command === 'CAP' && m.params[1] === 'NAK',
	});
	c.send('AUTHENTICATE PLAIN');
	await c.waitFor('AUTHENTICATE +', (m) => m.command === 'AUTHENTICATE' && m.params[0] === '+', { from: at, failOn: registrationFailed });
	c.send(`AUTHENTICATE ${Buffer.from(`\0${email}\0${password}`).toString('base64')}`);
	await c.waitFor('900 (logged in)', (m) => m.command === '900', { from: at, failOn: registrationFailed });
	await c.waitFor('903 (SASL success)', (m) => m.command === '903', { from: at, failOn: registrationFailed });
	c.send('CAP END');
	return welcome(c, at);
}

// Registration without a login (a guest).
async function registerAsGuest(c, nick) {
	const from = c.mark();
	c.send(`NICK ${nick}`);
	c.send(`USER ${nick} 0 * :${nick}`);
	return welcome(c, from);
}

async function join(c) {
	const from = c.mark();
	c.send(`JOIN ${CHANNEL}`);
	await c.waitFor(`366 (end of NAMES for ${CHANNEL})`, (m) => m.command === '366', { from, failOn: joinFailed });
}

function waitForPrivmsg(c, from, nick, text, desc) {
	return c.waitFor(desc || `PRIVMSG from ${nick}: ${text}`, (m) => m.command === 'PRIVMSG' && m.params[0] === CHANNEL && m.params[1] === text && m.nick === nick, {
		from,
	});
}

// ---- Directus admin REST (test set-up and edits; the page itself never uses these) -------------

let adminToken = null;
let adminTokenUntil = 0;
async function admin(method, p, body) {
	// The test's Directus has a short ACCESS_TOKEN_TTL: log in again when the token is old.
	if (!adminToken || Date.now() > adminTokenUntil) {
		const t0 = Date.now();
		const res = await fetch(`${DIRECTUS_URL}/auth/login`, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD, mode: 'json' }),
		});
		assert(res.ok, `admin login: HTTP ${res.status}`);
		const data = (await res.json()).data;
		adminToken = data.access_token;
		adminTokenUntil = t0 + Number(data.expires) / 2;
	}
	const res = await fetch(DIRECTUS_URL + p, {
		method,
		headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	assert(res.ok, `${method} ${p}: HTTP ${res.status} ${text.slice(0, 300)}`);
	return text ? JSON.parse(text).data : null;
}

// ---- the page --------------------------------------------------------------------------------

const liTexts = (page) => page.$$eval('#messages li', (els) => els.map((e) => e.textContent));

async function waitForLi(page, text, desc) {
	try {
		await page.waitForFunction(
			(t) => [...document.querySelectorAll('#messages li')].some((li) => li.textContent === t),
			text,
			{ timeout: T }
		);
	} catch (err) {
		const shown = (await liTexts(page)).slice(-10);
		throw new Error(`page: no message "${text}" (${desc}) within ${T} ms; last items: ${JSON.stringify(shown)}`);
	}
	log(`page shows: ${text}`);
}

async function waitForState(page, state, timeout = T) {
	try {
		await page.waitForSelector(`body[data-state="${state}"]`, { timeout });
	} catch (err) {
		const status = await page.evaluate(() => `${document.body.dataset.state}: ${document.getElementById('status').textContent}`);
		throw new Error(`page: not "${state}" within ${timeout} ms (now ${status})`);
	}
}

async function loginOnPage(page, email, password) {
	await page.fill('#email', email);
	await page.fill('#password', password);
	await page.click('#login-form button[type="submit"]');
	await waitForState(page, 'live');
	log(`page: ${email} logged in and subscribed`);
}

async function sendFromPage(page, text) {
	await page.fill('#message', text);
	await page.click('#message-form button[type="submit"]');
	// The form clears the input once the frame is sent.
	await page.waitForFunction(() => document.getElementById('message').value === '', null, { timeout: T });
}

const stats = (page) => page.evaluate(() => ({ ...window.webchat.stats }));

async function idOf(page, text) {
	return page.$$eval('#messages li', (els, t) => (els.find((e) => e.textContent === t) || {}).dataset?.id, text);
}

// ---- the test --------------------------------------------------------------------------------

async function main(ctx) {
	const tag = randomBytes(3).toString('hex');
	const page = ctx.page;

	// History: more messages than the page shows, so that the newest-first fix is visible (the
	// guide's ascending sort would show old 1 … old 100).
	const seeded = HISTORY_LIMIT + 20;
	quiet = `old ${tag} `;
	await admin('POST', '/items/messages', Array.from({ length: seeded }, (_, i) => ({ text: `old ${tag} ${i + 1}` })));
	log(`seeded ${seeded} messages as admin`);

	// 1. Bob logs in on the page and sees the newest history, oldest of it first.
	await page.goto(WEBCHAT_URL);
	await loginOnPage(page, 'bob@example.com', 'bobpass');
	const loggedInAt = Date.now();
	let texts = await liTexts(page);
	assert(texts.length === HISTORY_LIMIT, `history shows ${HISTORY_LIMIT} messages, got ${texts.length}`);
	assert(texts[0].endsWith(`old ${tag} ${seeded - HISTORY_LIMIT + 1}`), `first shown is old ${seeded - HISTORY_LIMIT + 1}, got "${texts[0]}"`);
	assert(texts.at(-1).endsWith(`old ${tag} ${seeded}`), `last shown is old ${seeded}, got "${texts.at(-1)}"`);
	log('page: history is the newest messages in order');

	// A second page, carol's, whose token refresh timer never fires (as on a laptop that slept
	// through it): Directus then reports TOKEN_EXPIRED on the open socket, and the page must
	// refresh, re-authenticate and subscribe again by itself. Only with a short token lifetime.
	let carol = null;
	if (TTL_S < 120) {
		carol = await ctx.browser.newPage();
		carol.on('pageerror', (err) => ctx.pageErrors.push(err));
		await carol.addInitScript(() => {
			const setTimeout = window.setTimeout;
			// The page's refresh timer is the only one it sets between 5 s and 60 s.
			window.setTimeout = function (fn, ms, ...args) {
				if (ms >= 5000 && ms <= 60000) return 0;
				return setTimeout.call(this, fn, ms, ...args);
			};
		});
		await carol.goto(WEBCHAT_URL);
		await loginOnPage(carol, 'carol@example.com', 'carolpass');
	}

	// 2. Alice on IRC (SASL PLAIN, her Directus account); the daemon names her after first_name.
	const alice = new IrcClient('alice');
	ctx.irc.push(alice);
	await alice.connect(IRC_ADDR);
	const aliceNick = await registerWithSasl(alice, 'alice@example.com', 'alicepass', 'alice');
	assert(aliceNick === 'Alice', `alice's nick is Alice, got ${aliceNick}`);
	await join(alice);

	let guest = null;
	let guestNick = null;
	if (GUEST) {
		guest = new IrcClient('guest');
		ctx.irc.push(guest);
		await guest.connect(IRC_ADDR);
		guestNick = await registerAsGuest(guest, 'visitor');
		await join(guest);
	}

	// 3. IRC → web: a message, an action, and text that must not be parsed as HTML.
	const a1 = `hello from IRC ${tag}`;
	alice.send(`PRIVMSG ${CHANNEL} :${a1}`);
	await waitForLi(page, `Alice: ${a1}`, 'IRC message');

	alice.send(`PRIVMSG ${CHANNEL} :\x01ACTION waves ${tag}\x01`);
	await waitForLi(page, `* Alice waves ${tag}`, 'IRC action');

	const html = `<img src=x onerror="window.__xss=1"><b>not bold</b> & co ${tag}`;
	alice.send(`PRIVMSG ${CHANNEL} :${html}`);
	await waitForLi(page, `Alice: ${html}`, 'HTML shown as text');
	const injected = await page.evaluate(
		() => window.__xss !== undefined || document.querySelector('#messages img, #messages b') !== null
	);
	assert(!injected, 'message text is rendered as text, not HTML');

	// 4. web → IRC: Bob's message reaches Alice as a PRIVMSG from Bob.
	const b1 = `hello from the web ${tag}`;
	let from = alice.mark();
	await sendFromPage(page, b1);
	await waitForPrivmsg(alice, from, 'Bob', b1);
	await waitForLi(page, `Bob: ${b1}`, "Bob's own message");

	// 5. An IRC guest: the bridge posts for it with its service account and irc_nick.
	let g1 = null;
	if (guest) {
		g1 = `hi from a guest ${tag}`;
		guest.send(`PRIVMSG ${CHANNEL} :${g1}`);
		await waitForLi(page, `${guestNick}: ${g1}`, 'guest message shown under its IRC nick');
		assert(
			await page.$$eval('#messages li', (els, t) => els.some((e) => e.textContent === t && e.classList.contains('irc')), `${guestNick}: ${g1}`),
			'guest message is marked as from IRC'
		);
		guest.send(`PRIVMSG ${CHANNEL} :\x01ACTION dances ${tag}\x01`);
		await waitForLi(page, `* ${guestNick} dances ${tag}`, 'guest action');
	}

	// 6. Idle past Directus' heartbeat (a missed pong closes the socket after one period) and past
	// the access token's lifetime (without a refresh the socket drops to public rights).
	const idleUntil = loggedInAt + Math.max(HEARTBEAT_S * 2500, TTL_S < 120 ? TTL_S * 1000 + 3000 : 0);
	const needRefresh = TTL_S < 120;
	log(`idling ${((idleUntil - Date.now()) / 1000).toFixed(1)} s (heartbeat ${HEARTBEAT_S} s, token TTL ${TTL_S} s)`);
	await page.waitForFunction(
		({ until, needRefresh }) => Date.now() >= until && window.webchat.stats.pings >= 2 && (!needRefresh || window.webchat.stats.refreshes >= 1),
		{ until: idleUntil, needRefresh },
		{ timeout: idleUntil - Date.now() + T, polling: 250 }
	);
	let s = await stats(page);
	log(`page after idle: ${JSON.stringify(s)}`);
	assert(s.connects === 1, `the socket survived the idle period without reconnecting (connects=${s.connects})`);
	assert(s.pings >= 2, `heartbeat pings were answered (pings=${s.pings})`);
	if (needRefresh) assert(s.refreshes >= 1, `the token was refreshed (refreshes=${s.refreshes})`);
	await waitForState(page, 'live');
	if (carol) {
		// Carol's token expired on the open socket; her page recovered without a reconnect.
		await carol.waitForFunction(() => window.webchat.stats.subscribes >= 2 && document.body.dataset.state === 'live', null, {
			timeout: TTL_S * 1000 + T,
		});
		const cs = await stats(carol);
		log(`carol's page after TOKEN_EXPIRED: ${JSON.stringify(cs)}`);
		assert(cs.refreshes >= 1 && cs.connects === 1, `carol's page refreshed on TOKEN_EXPIRED without reconnecting (${JSON.stringify(cs)})`);
	}

	const a2 = `still here after idling ${tag}`;
	alice.send(`PRIVMSG ${CHANNEL} :${a2}`);
	await waitForLi(page, `Alice: ${a2}`, 'IRC message after idle');
	if (carol) await waitForLi(carol, `Alice: ${a2}`, "IRC message on carol's page after TOKEN_EXPIRED");
	const b2 = `the web is still here ${tag}`;
	from = alice.mark();
	await sendFromPage(page, b2);
	await waitForPrivmsg(alice, from, 'Bob', b2);

	// 7. The connection drops while offline; a message sent meanwhile shows after the reconnect.
	await ctx.browser.setOffline(true);
	await page.evaluate(() => window.webchat.dropConnection());
	await waitForState(page, 'reconnecting');
	log('page: offline and disconnected');
	const a3 = `sent while the page was offline ${tag}`;
	alice.send(`PRIVMSG ${CHANNEL} :${a3}`);
	await alice.sync();
	await ctx.browser.setOffline(false);
	await waitForState(page, 'live');
	await waitForLi(page, `Alice: ${a3}`, 'message from the gap, after reconnecting');
	s = await stats(page);
	assert(s.connects >= 2, `the page reconnected (connects=${s.connects})`);
	texts = await liTexts(page);
	assert(new Set(texts).size === texts.length, 'no message is shown twice after the reconnect');

	// 8. Edits and deletes (by the admin, over REST) show on the page.
	const b1Id = await idOf(page, `Bob: ${b1}`);
	const htmlId = await idOf(page, `Alice: ${html}`);
	assert(b1Id && htmlId, 'messages carry their ids');
	const edited = `edited by the admin ${tag}`;
	await admin('PATCH', `/items/messages/${b1Id}`, { text: edited });
	await waitForLi(page, `Bob: ${edited} (edited)`, 'edit');
	await admin('DELETE', `/items/messages/${htmlId}`);
	await waitForLi(page, 'Alice: message deleted', 'delete');
	await shot(page, 'webchat-live.png');

	// 9. Reload and log in again: the history has everything, in order, newest last.
	await page.reload();
	await waitForState(page, 'logged-out');
	await loginOnPage(page, 'bob@example.com', 'bobpass');
	const expected = [`Alice: ${a1}`, `* Alice waves ${tag}`, `Bob: ${edited}`];
	if (g1) expected.push(`${guestNick}: ${g1}`, `* ${guestNick} dances ${tag}`);
	expected.push(`Alice: ${a2}`, `Bob: ${b2}`, `Alice: ${a3}`);
	texts = await liTexts(page);
	const tail = texts.slice(-expected.length);
	assert(JSON.stringify(tail) === JSON.stringify(expected), `history after reload ends with ${JSON.stringify(expected)}, got ${JSON.stringify(tail)}`);
	assert(texts.length === HISTORY_LIMIT, `history after reload shows ${HISTORY_LIMIT} messages, got ${texts.length}`);
	log('page: history after reload is complete and in order');
	await shot(page, 'webchat-final.png');

	// 10. A user whose role may not read directus_users gets user_created as a bare id (not an
	// object): the page shows "user <id prefix>" instead of failing, and guest nicks still show.
	const policy = await admin('POST', '/policies', { name: `Messages only ${tag}`, icon: 'badge', admin_access: false, app_access: false });
	await admin(
		'POST',
		'/permissions',
		['create', 'read'].map((action) => ({ policy: policy.id, collection: 'messages', action, fields: ['*'], permissions: {}, validation: {}, presets: null }))
	);
	const role = await admin('POST', '/roles', { name: `Messages only ${tag}`, icon: 'badge', policies: [{ policy: policy.id }] });
	await admin('POST', '/users', { email: `erin-${tag}@example.com`, password: 'erinpass', first_name: 'Erin', role: role.id, status: 'active' });
	await page.click('#logout');
	await waitForState(page, 'logged-out');
	await loginOnPage(page, `erin-${tag}@example.com`, 'erinpass');
	texts = await liTexts(page);
	assert(
		texts.some((t) => /^user [0-9a-f]{8}: hello from IRC /.test(t)),
		`alice's message shows as from "user <id>" for a reader without directus_users access: ${JSON.stringify(texts.slice(-expected.length))}`
	);
	if (g1) assert(texts.includes(`${guestNick}: ${g1}`), 'guest messages still show their nick');
	const e1 = `hello from erin ${tag}`;
	from = alice.mark();
	await sendFromPage(page, e1);
	await waitForPrivmsg(alice, from, 'Erin', e1);
	await page.waitForFunction(
		(t) => [...document.querySelectorAll('#messages li')].some((li) => /^user [0-9a-f]{8}: /.test(li.textContent) && li.textContent.endsWith(`: ${t}`)),
		e1,
		{ timeout: T }
	);
	log('page: a reader without directus_users access sees ids as authors');
	await shot(page, 'webchat-no-users-read.png');
}

async function shot(page, name) {
	const file = path.join(ARTIFACTS, name);
	await page.screenshot({ path: file, fullPage: true });
	log(`screenshot: ${file}`);
}

const ctx = { irc: [], page: null, browser: null, pageErrors: [] };
let exitCode = 0;
const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'webchat-e2e-'));
try {
	mkdirSync(ARTIFACTS, { recursive: true });
	for (const f of ['webchat-failure.png', 'webchat-live.png', 'webchat-final.png', 'webchat-no-users-read.png']) {
		rmSync(path.join(ARTIFACTS, f), { force: true }); // no stale screenshots from an earlier run
	}
	ctx.browser = await chromium.launchPersistentContext(userDataDir, {
		executablePath: CHROMIUM,
		headless: true,
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			'--disable-quic',
			'--no-first-run',
		],
		viewport: { width: 900, height: 700 },
	});
	ctx.page = ctx.browser.pages()[0] || (await ctx.browser.newPage());
	const pageErrors = ctx.pageErrors;
	ctx.page.on('pageerror', (err) => {
		pageErrors.push(err);
		log(`page error: ${err.message}`);
	});
	ctx.page.on('console', (msg) => {
		// Connection failures while offline are expected and logged by the browser itself.
		if (msg.type() === 'error' || msg.type() === 'warning') log(`page console ${msg.type()}: ${msg.text()}`);
	});
	await main(ctx);
	assert(pageErrors.length === 0, `no uncaught errors on the page (${pageErrors.map((e) => e.message).join('; ')})`);
	log('e2e: PASS');
} catch (err) {
	exitCode = 1;
	console.error(`e2e: FAIL: ${err.stack || err}`);
	if (ctx.page) {
		try {
			await shot(ctx.page, 'webchat-failure.png');
			log(`page status: ${await ctx.page.evaluate(() => `${document.body.dataset.state}: ${document.getElementById('status').textContent}`)}`);
			log(`page stats: ${JSON.stringify(await stats(ctx.page))}`);
			log(`page messages (last 15): ${JSON.stringify((await liTexts(ctx.page)).slice(-15))}`);
		} catch (e) {
			console.error(`e2e: could not capture the failure state: ${e.message}`);
		}
	}
} finally {
	for (const c of ctx.irc) c.quit();
	if (ctx.browser) await ctx.browser.close().catch(() => {});
	rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(exitCode);
