// A browser IRC client over WebSocket against the built daemon and a real Directus. Started by
// TestDaemonServesBrowsersOverWebSocket (cmd/directus-ircd/websocket_test.go), which sets:
//
//   PLAYWRIGHT_CORE      path of playwright-core's entry module (installed by dev/test-deps.sh)
//   CHROMIUM             the browser
//   PAGE_URL             a page whose origin is in server.websocket_origins
//   REFUSED_PAGE_URL     a page whose origin is not
//   WS_URL               the daemon's ws:// address
//   DIRECTUS_URL, DIRECTUS_ADMIN_EMAIL, DIRECTUS_ADMIN_PASSWORD
//   TOKEN                a random word that makes this run's messages unique
//
// In the page, alice logs in with SASL PLAIN over `new WebSocket(url, "text.ircv3.net")`, joins
// #chat, sends a line (checked in Directus over REST) and receives a line bob creates over REST.
// A page from another origin cannot open the WebSocket. Every wait is for an event.
const env = process.env;
const { chromium } = await import(env.PLAYWRIGHT_CORE);
const T = 20000;
const DIRECTUS = env.DIRECTUS_URL.replace(/\/+$/, '');
const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(2)}s]`, ...a);
function assert(cond, msg) {
	if (!cond) throw new Error(`assertion failed: ${msg}`);
}

async function rest(method, path, token, body) {
	const res = await fetch(DIRECTUS + path, {
		method,
		headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
		body: body ? JSON.stringify(body) : undefined,
	});
	const json = await res.json().catch(() => ({}));
	if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
	return json.data;
}
const login = async (email, password) => (await rest('POST', '/auth/login', null, { email, password })).access_token;

// openIRC runs in the page: it opens the WebSocket and keeps every message in window.irc.
function openIRC(url) {
	const irc = { lines: [], types: [], closed: null };
	window.irc = irc;
	irc.ws = new WebSocket(url, 'text.ircv3.net');
	irc.ws.onmessage = (e) => {
		irc.types.push(typeof e.data);
		irc.lines.push(e.data);
		const ping = /^(?::\S+ )?PING (.*)$/.exec(e.data);
		if (ping) irc.ws.send(`PONG ${ping[1]}`);
	};
	return new Promise((resolve) => {
		irc.ws.onopen = () => resolve({ open: true, protocol: irc.ws.protocol });
		irc.ws.onclose = (e) => {
			irc.closed = { code: e.code, reason: e.reason };
			resolve({ open: false, code: e.code });
		};
	});
}

class PageIRC {
	constructor(page) {
		this.page = page;
		this.seen = 0; // lines before this index were matched already
	}
	async send(line) {
		log('alice >>', line.startsWith('AUTHENTICATE ') && line !== 'AUTHENTICATE PLAIN' ? 'AUTHENTICATE <credentials>' : line);
		await this.page.evaluate((l) => window.irc.ws.send(l), line);
	}
	// expect waits for the next line matching re (a RegExp source) and returns it.
	async expect(desc, re) {
		const handle = await this.page.waitForFunction(
			({ re, from }) => {
				const irc = window.irc;
				for (let i = from; i < irc.lines.length; i++) {
					if (new RegExp(re).test(irc.lines[i])) return { index: i, line: irc.lines[i] };
				}
				if (irc.closed) return { closed: irc.closed, lines: irc.lines.slice(from) };
				return false;
			},
			{ re, from: this.seen },
			{ timeout: T, polling: 'raf' }
		);
		const got = await handle.jsonValue();
		if (got.closed) throw new Error(`connection closed (${JSON.stringify(got.closed)}) while waiting for ${desc}; got ${JSON.stringify(got.lines)}`);
		this.seen = got.index + 1;
		log('alice <<', got.line);
		return got.line;
	}
}

const browser = await chromium.launch({
	executablePath: env.CHROMIUM,
	headless: true,
	args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
try {
	const page = await browser.newPage();
	await page.goto(env.PAGE_URL);
	const opened = await page.evaluate(openIRC, env.WS_URL);
	assert(opened.open && opened.protocol === 'text.ircv3.net', `WebSocket from the allowed origin: ${JSON.stringify(opened)}`);
	const irc = new PageIRC(page);

	await irc.send('CAP LS 302');
	await irc.send('NICK alice');
	await irc.send('USER alice 0 * :Alice');
	await irc.send('CAP REQ :sasl echo-message');
	await irc.expect('CAP ACK', '^:\\S+ CAP \\S+ ACK :?sasl echo-message$');
	await irc.send('AUTHENTICATE PLAIN');
	await irc.expect('AUTHENTICATE +', '^(:\\S+ )?AUTHENTICATE \\+$');
	await irc.send(`AUTHENTICATE ${Buffer.from('\0alice\0alicepass').toString('base64')}`);
	await irc.expect('903', '^:\\S+ 903 ');
	await irc.send('CAP END');
	await irc.expect('001', '^:\\S+ 001 Alice ');
	await irc.expect('end of MOTD', '^:\\S+ (376|422) ');
	await irc.send('JOIN #chat');
	await irc.expect('end of NAMES', '^:\\S+ 366 \\S+ #chat ');

	// alice's line is created in Directus as alice; echo-message confirms it was stored.
	const aliceText = `hello from a browser ${env.TOKEN}`;
	await irc.send(`PRIVMSG #chat :${aliceText}`);
	await irc.expect('echo of the line', `^(@\\S+ )?:Alice!\\S+ PRIVMSG #chat :${aliceText}$`);
	const admin = await login(env.DIRECTUS_ADMIN_EMAIL, env.DIRECTUS_ADMIN_PASSWORD);
	const q = `/items/messages?fields=text,user_created.email&filter[text][_eq]=${encodeURIComponent(aliceText)}`;
	const stored = await rest('GET', q, admin);
	log('stored in Directus:', JSON.stringify(stored));
	assert(stored.length === 1 && stored[0].user_created?.email === 'alice@example.com', `alice's line in Directus: ${JSON.stringify(stored)}`);

	// bob writes over REST; the browser receives it from his nick.
	const bobText = `hello from REST ${env.TOKEN}`;
	await rest('POST', '/items/messages', await login('bob@example.com', 'bobpass'), { text: bobText });
	await irc.expect("bob's line", `^(@\\S+ )?:Bob!\\S+ PRIVMSG #chat :${bobText}$`);

	await irc.send('QUIT :bye');
	await irc.expect('ERROR after QUIT', '^ERROR ');
	const frames = await page.evaluate(() => ({ types: window.irc.types, lines: window.irc.lines }));
	assert(frames.types.every((t) => t === 'string'), `every message is a text frame: ${frames.types}`);
	assert(frames.lines.every((l) => !/[\r\n]/.test(l) && l !== ''), 'no message carries CR or LF, none is empty');
	log(`${frames.lines.length} text messages, one IRC line each`);

	// A page from an origin outside server.websocket_origins cannot connect.
	const other = await browser.newPage();
	await other.goto(env.REFUSED_PAGE_URL);
	const refused = await other.evaluate(openIRC, env.WS_URL);
	assert(!refused.open, `WebSocket from a refused origin opened: ${JSON.stringify(refused)}`);
	log('refused origin: closed with', refused.code);
} finally {
	await browser.close();
}
log('ok');
