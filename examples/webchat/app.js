// The web page of Directus' "Build a Multi-User Chat" guide, in plain JavaScript (no build step),
// fixed for Directus 12. Names follow the guide (connectionRef, authenticate, loginSubmit,
// receiveMessage, messageSubmit). Every difference from the guide is marked "FIX:" with its reason;
// "§N" cites a section of the project's notes on verified Directus 12.4.0 behaviour
// (shared/directus/PROTOCOL.md).
'use strict';

(() => {
	// FIX: the guide hard-codes 'wss://your-directus-url/websocket'. The page server writes the
	// Directus base URL into config.js, so one page works against any Directus.
	const config = window.WEBCHAT_CONFIG || {};
	const directusUrl = String(config.directusUrl || '').replace(/\/+$/, '');
	const url = directusUrl.replace(/^http/i, 'ws') + '/websocket';
	// FIX: the guide subscribes without a limit, so Directus applies QUERY_LIMIT_DEFAULT (100).
	// We ask for the newest `historyLimit` explicitly (see subscribe()).
	const historyLimit = Number(config.historyLimit) > 0 ? Number(config.historyLimit) : 100;

	const maxShown = Math.max(1000, historyLimit); // messages kept on the page
	const SUBSCRIPTION_UID = 'messages'; // subscription frames carry the uid as a string (§3.1)
	const AUTH_UID = 'auth';

	const $ = (id) => document.getElementById(id);
	const loginForm = $('login-form');
	const emailInput = $('email');
	const passwordInput = $('password');
	const messageForm = $('message-form');
	const messageInput = $('message');
	const list = $('messages');
	const statusLine = $('status');
	const sessionLine = $('session');
	const sessionUser = $('session-user');

	// session: { email, accessToken, refreshToken, expiresAt, ttl } while logged in, else null.
	// Tokens live in memory only: a reload asks for the password again.
	let session = null;
	// The guide's connectionRef.current: the current WebSocket, or null.
	const connectionRef = { current: null };
	let authenticated = false; // the current socket got `auth ok`
	let subscribed = false; // the current socket has our subscription
	let resubscribe = false; // re-subscribe at the next `auth ok` (events were lost, §4.2)
	let refreshBeforeConnect = false; // the last auth failed: get a fresh token before reconnecting
	let refreshTimer = null;
	let reconnectTimer = null;
	let reconnectAttempt = 0;
	let refreshing = null; // the refresh in flight (refresh tokens are single-use, so never two at once)
	let sendSeq = 0;

	// The guide keeps an array (messageHistory) and appends to it, so a reconnect would show every
	// message twice. FIX: messages are kept by id and the list is kept in id order.
	const messages = new Map(); // String(id) → { item, li, edited, deleted }

	// Counters for the end-to-end test (examples/webchat/test/e2e.mjs) and for curious humans.
	const stats = { logins: 0, refreshes: 0, auths: 0, pings: 0, connects: 0, subscribes: 0 };
	// dropConnection abandons the socket as a network failure would, without waiting for a
	// closing handshake (which never completes while offline); the page then reconnects.
	window.webchat = {
		stats,
		dropConnection: () => {
			const ws = connectionRef.current;
			if (!ws) return;
			ws.close();
			socketClosed(ws);
		},
	};

	function setStatus(text, state) {
		statusLine.textContent = text;
		if (state) document.body.dataset.state = state;
	}

	// POST a JSON body to the Directus REST API; returns `data` or throws an Error with `.status`.
	async function post(path, body) {
		const res = await fetch(directusUrl + path, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify(body),
		});
		let json = null;
		try {
			json = await res.json();
		} catch {
			// empty or non-JSON body (e.g. 204 from /auth/logout)
		}
		if (!res.ok) {
			const msg = (json && json.errors && json.errors[0] && json.errors[0].message) || `HTTP ${res.status}`;
			const err = new Error(msg);
			err.status = res.status;
			throw err;
		}
		return json && json.data;
	}

	// ---- login and token refresh -----------------------------------------------------------

	const loginSubmit = async (event) => {
		event.preventDefault();
		const email = emailInput.value.trim();
		const password = passwordInput.value;
		setStatus('Logging in…', 'connecting');
		let data;
		try {
			// FIX: the guide sends email and password in the WebSocket `auth` frame. Directus' reply
			// to that carries no access token and no expiry (§1.2), so the page cannot know when to
			// refresh, and after ACCESS_TOKEN_TTL (15 min by default) the socket silently drops to
			// public rights and loses every event (§4). Logging in over REST returns the expiry.
			data = await post('/auth/login', { email, password, mode: 'json' });
		} catch (err) {
			setStatus(`Login failed: ${err.message}`, 'error');
			return;
		}
		// FIX: the guide keeps the password in component state; we drop it once logged in.
		passwordInput.value = '';
		stats.logins++;
		startSession(email, data);
	};

	function startSession(email, data) {
		stopSession();
		session = { email };
		storeTokens(data);
		sessionUser.textContent = email;
		loginForm.hidden = true; // the guide's "next steps" 1: hide the login form once logged in
		sessionLine.hidden = false;
		messageForm.hidden = false;
		connect();
	}

	function storeTokens(data) {
		const ttl = Number(data.expires) > 0 ? Number(data.expires) : 900000;
		session.accessToken = data.access_token;
		session.refreshToken = data.refresh_token;
		session.ttl = ttl;
		session.expiresAt = Date.now() + ttl;
		scheduleRefresh();
	}

	// FIX: the guide never refreshes. We refresh over REST a little before the access token
	// expires (a quarter of its lifetime early, at most a minute) and re-authenticate the open
	// socket with the new token (§4.5); the subscription survives a re-auth.
	function scheduleRefresh() {
		clearTimeout(refreshTimer);
		const margin = Math.min(60000, session.ttl / 4);
		const delay = Math.max(1000, session.expiresAt - Date.now() - margin);
		refreshTimer = setTimeout(() => refresh(), delay);
	}

	// Refresh tokens are single-use and rotate on every use (§1.2): exactly one refresh at a time,
	// always with the newest refresh token. Resolves true when the session has fresh tokens.
	function refresh() {
		if (refreshing) return refreshing;
		const s = session;
		if (!s) return Promise.resolve(false);
		refreshing = (async () => {
			let data;
			try {
				data = await post('/auth/refresh', { refresh_token: s.refreshToken, mode: 'json' });
			} catch (err) {
				if (session !== s) return false;
				if (err.status >= 400 && err.status < 500) {
					logout('Your session has expired; please log in again.');
				} else {
					// Directus unreachable: try again soon; the socket's reconnect loop runs meanwhile.
					clearTimeout(refreshTimer);
					refreshTimer = setTimeout(() => refresh(), 5000);
				}
				return false;
			}
			if (session !== s) return false;
			storeTokens(data);
			stats.refreshes++;
			const ws = connectionRef.current;
			if (ws && ws.readyState === WebSocket.OPEN) authenticate();
			return true;
		})().finally(() => {
			refreshing = null;
		});
		return refreshing;
	}

	function stopSession() {
		clearTimeout(refreshTimer);
		clearTimeout(reconnectTimer);
		const ws = connectionRef.current;
		connectionRef.current = null; // so its close handler does not reconnect
		if (ws) ws.close();
		authenticated = subscribed = resubscribe = refreshBeforeConnect = false;
		reconnectAttempt = 0;
	}

	function logout(reason) {
		const s = session;
		stopSession();
		session = null;
		if (s && reason === undefined) {
			// Explicit logout: revoke the refresh token (best effort).
			post('/auth/logout', { refresh_token: s.refreshToken, mode: 'json' }).catch(() => {});
		}
		messages.clear();
		list.replaceChildren();
		sessionLine.hidden = true;
		messageForm.hidden = true;
		loginForm.hidden = false;
		setStatus(reason || 'Logged out.', 'logged-out');
		emailInput.focus();
	}

	// ---- the WebSocket -----------------------------------------------------------------------

	function connect() {
		clearTimeout(reconnectTimer);
		authenticated = subscribed = false;
		setStatus('Connecting…', 'connecting');
		const ws = new WebSocket(url);
		connectionRef.current = ws;
		stats.connects++;
		// FIX: the guide writes addEventListener('open', authenticate(formValue)): that *calls*
		// authenticate at once, before the socket is open (send() throws InvalidStateError), and
		// registers its return value, undefined, as the listener. Directus then closes the socket
		// after WEBSOCKETS_REST_AUTH_TIMEOUT (10 s) without auth (§1.1). Pass a function instead.
		ws.addEventListener('open', () => {
			if (connectionRef.current === ws) authenticate();
		});
		ws.addEventListener('message', (message) => {
			if (connectionRef.current === ws) receiveMessage(message);
		});
		// FIX: the guide never notices a closed socket. Directus closes it on a missed heartbeat,
		// a failed auth, or a restart (close codes 1005/1006, never a reason, §6): reconnect with
		// backoff, authenticate and subscribe again.
		ws.addEventListener('close', () => socketClosed(ws));
	}

	function socketClosed(ws) {
		if (connectionRef.current !== ws) return; // replaced, dropped or logged out
		connectionRef.current = null;
		authenticated = subscribed = false;
		if (session) scheduleReconnect();
	}

	function scheduleReconnect() {
		clearTimeout(reconnectTimer);
		// 0.5 s, 1 s, 2 s, … capped at 30 s, with jitter so many pages do not return at once.
		const base = Math.min(30000, 500 * 2 ** reconnectAttempt);
		const delay = Math.round(base * (0.5 + Math.random() / 2));
		reconnectAttempt++;
		setStatus(`Disconnected; reconnecting in ${Math.ceil(delay / 1000)} s…`, 'reconnecting');
		reconnectTimer = setTimeout(reconnect, delay);
	}

	async function reconnect() {
		clearTimeout(reconnectTimer);
		if (!session || connectionRef.current) return;
		// An expired or rejected token would only fail again: refresh it first.
		if (refreshBeforeConnect || Date.now() > session.expiresAt - 2000) {
			refreshBeforeConnect = false;
			const ok = await refresh();
			if (!session || connectionRef.current) return; // logged out, or connected meanwhile
			if (!ok) {
				scheduleReconnect();
				return;
			}
		}
		connect();
	}

	// Back online: do not wait for the backoff timer.
	window.addEventListener('online', () => {
		if (session && !connectionRef.current) {
			reconnectAttempt = 0;
			reconnect();
		}
	});

	const authenticate = () => {
		const ws = connectionRef.current;
		if (!ws || ws.readyState !== WebSocket.OPEN || !session) return;
		if (Date.now() > session.expiresAt - 2000) {
			// The token is (nearly) expired: refresh() authenticates with the new one.
			refresh();
			return;
		}
		// FIX: authenticate with the access token from the REST login instead of email and
		// password (see loginSubmit).
		ws.send(JSON.stringify({ type: 'auth', access_token: session.accessToken, uid: AUTH_UID }));
		stats.auths++;
	};

	function subscribe() {
		connectionRef.current.send(
			JSON.stringify({
				type: 'subscribe',
				collection: 'messages',
				query: {
					fields: ['*', 'user_created.first_name'],
					// FIX: the guide sorts by 'date_created' ascending, and the init then holds the
					// OLDEST 100 messages (§3.1): a chat that has run for a while shows stale history
					// forever. Ask for the newest `historyLimit`, newest first, and reverse on
					// display (the list is kept in id order). `-id` breaks ties in date_created.
					sort: ['-date_created', '-id'],
					limit: historyLimit,
				},
				uid: SUBSCRIPTION_UID,
			})
		);
		stats.subscribes++;
	}

	const receiveMessage = (message) => {
		let data;
		try {
			data = JSON.parse(message.data);
		} catch {
			return;
		}
		const ws = connectionRef.current;

		// FIX: the guide ignores Directus' heartbeat. Directus pings every authenticated socket every
		// WEBSOCKETS_HEARTBEAT_PERIOD (30 s) and closes sockets that send nothing back within a period
		// (§2). An auth frame does not count as an answer; a pong does.
		if (data.type === 'ping') {
			ws.send(JSON.stringify({ type: 'pong' }));
			stats.pings++;
			return;
		}

		if (data.type === 'auth') {
			if (data.status === 'ok') {
				const first = !authenticated;
				authenticated = true;
				refreshBeforeConnect = false;
				if (first || resubscribe || !subscribed) {
					resubscribe = false;
					subscribe();
				}
				return;
			}
			const code = data.error && data.error.code;
			if (code === 'TOKEN_EXPIRED') {
				// FIX: the token ran out on the open socket (the refresh timer did not fire in time,
				// e.g. a suspended laptop). The socket stays open with public rights and events in
				// the gap are lost (§4.2): refresh, re-auth, and re-subscribe to fetch them again.
				authenticated = false;
				resubscribe = true;
				refresh();
				return;
			}
			// AUTH_FAILED / AUTH_TIMEOUT: Directus closes the socket (§1.2, §4.4); the close handler
			// reconnects, and a fresh token is fetched first.
			refreshBeforeConnect = true;
			setStatus(`Authentication failed: ${(data.error && data.error.message) || code}`, 'reconnecting');
			return;
		}

		if (data.type === 'subscription' && data.uid === SUBSCRIPTION_UID) {
			switch (data.event) {
				case 'init':
					subscribed = true;
					reconnectAttempt = 0;
					mergeHistory(Array.isArray(data.data) ? data.data : []);
					setStatus('Connected.', 'live');
					break;
				case 'create':
					// The guide adds data.data[0] only; `data` is an array (§3.2). FIX: add them all.
					for (const item of data.data || []) upsert(item, false);
					break;
				case 'update':
					// FIX: the guide ignores edits. Replace the text and mark it edited.
					for (const item of data.data || []) upsert(item, true);
					break;
				case 'delete':
					// FIX: the guide ignores deletes. Delete events carry bare ids, as number or
					// string, whichever the deleter sent (§3.2).
					for (const id of data.data || []) markDeleted(String(id));
					break;
			}
			return;
		}

		if (data.status === 'error') {
			const msg = (data.error && (data.error.message || data.error.code)) || 'unknown error';
			if (data.type === 'subscribe') {
				// While a token is expired each event arrives as such an error (§4.2).
				setStatus(`Subscription error: ${msg}`, 'error');
			} else if (data.type === 'items') {
				setStatus(`Message not sent: ${msg}`, 'error');
			} else {
				console.warn('Directus:', data);
			}
		}
	};

	// ---- the message list -----------------------------------------------------------------

	function compareIds(a, b) {
		const na = Number(a);
		const nb = Number(b);
		if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
		return a < b ? -1 : a > b ? 1 : 0;
	}

	// The author as the guide shows it ("Alice: text").
	function authorOf(item) {
		// FIX: messages the IRC bridge posts for IRC guests are created by its service account;
		// the guest's nick is in irc_nick, and is the author to show.
		if (typeof item.irc_nick === 'string' && item.irc_nick.trim() !== '') return item.irc_nick.trim();
		const user = item.user_created;
		// FIX: user_created is an object only when the reader may read directus_users; otherwise
		// it is the bare user id (§7). The guide's message.user_created.first_name then shows
		// "undefined" (or throws, for a null user).
		if (user && typeof user === 'object') return user.first_name || 'Unknown';
		if (typeof user === 'string' && user !== '') return `user ${user.slice(0, 8)}`;
		return 'Unknown';
	}

	function render(entry) {
		const { item, li } = entry;
		const author = authorOf(item);
		let text = typeof item.text === 'string' ? item.text : '';
		const ircNick = typeof item.irc_nick === 'string' ? item.irc_nick.trim() : '';
		// The bridge stores a guest's post as "<nick> text", so that the guide's unchanged page (which
		// shows the bridge's service account as the author) stays readable. We show the nick as
		// the author, so the prefix goes.
		if (ircNick && text.startsWith(`<${ircNick}> `)) text = text.slice(ircNick.length + 3);
		const authorSpan = document.createElement('span');
		authorSpan.className = 'author';
		authorSpan.textContent = author;
		const textSpan = document.createElement('span');
		textSpan.className = 'text';
		// Text is always set as text (textContent / text nodes), never parsed as HTML.
		li.replaceChildren();
		li.classList.toggle('irc', ircNick !== '');
		li.classList.toggle('deleted', entry.deleted);
		// FIX: text that starts with "/me " is an IRC action (CTCP ACTION): "* Alice waves".
		const action = !entry.deleted && text.startsWith('/me ');
		li.classList.toggle('action', action);
		if (entry.deleted) {
			textSpan.textContent = 'message deleted';
			li.append(authorSpan, ': ', textSpan);
		} else if (action) {
			textSpan.textContent = text.slice(4);
			li.append('* ', authorSpan, ' ', textSpan);
		} else {
			textSpan.textContent = text;
			li.append(authorSpan, ': ', textSpan);
		}
		if (entry.edited && !entry.deleted) {
			const edited = document.createElement('span');
			edited.className = 'edited';
			edited.textContent = '(edited)';
			li.append(' ', edited);
		}
		const when = item.date_created ? new Date(item.date_created) : null;
		li.title = when && !Number.isNaN(when.getTime()) ? when.toLocaleString() : '';
	}

	// Insert or update one item; returns nothing. isUpdate marks a changed text as edited.
	function upsert(item, isUpdate) {
		if (!item || item.id === undefined || item.id === null) return;
		const key = String(item.id);
		let entry = messages.get(key);
		if (!entry) {
			// An update of a message older than everything shown is of no interest.
			const first = list.firstElementChild;
			if (isUpdate && first && compareIds(key, first.dataset.id) < 0) return;
			const li = document.createElement('li');
			li.dataset.id = key;
			entry = { item, li, edited: false, deleted: false };
			messages.set(key, entry);
			insertInOrder(li, key);
		} else {
			if (isUpdate && entry.item.text !== item.text) entry.edited = true;
			entry.item = { ...entry.item, ...item };
		}
		render(entry);
	}

	function insertInOrder(li, key) {
		const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
		// Usually the newest: walk back from the end.
		let after = list.lastElementChild;
		while (after && compareIds(after.dataset.id, key) > 0) after = after.previousElementSibling;
		if (after) after.after(li);
		else list.prepend(li);
		// A page left open for days must not grow without bound: drop the oldest.
		while (messages.size > maxShown && list.firstElementChild) {
			messages.delete(list.firstElementChild.dataset.id);
			list.firstElementChild.remove();
		}
		if (nearBottom) list.scrollTop = list.scrollHeight;
	}

	function markDeleted(key) {
		const entry = messages.get(key);
		if (!entry || entry.deleted) return;
		entry.deleted = true;
		render(entry);
	}

	// An init is the newest `historyLimit` messages, newest first. On the first connect it fills
	// the list; after a reconnect it fills the gap and catches up on edits and deletes made
	// while we were away (FIX: the guide appends the init again, duplicating every message).
	function mergeHistory(items) {
		if (messages.size > 0 && items.length > 0) {
			const seen = new Set(items.map((item) => String(item.id)));
			// Every message the init covers but does not contain was deleted meanwhile. With fewer
			// items than the limit, the init covers the whole collection.
			let oldest = null;
			for (const item of items) if (oldest === null || compareIds(String(item.id), oldest) < 0) oldest = String(item.id);
			for (const [key, entry] of messages) {
				const covered = items.length < historyLimit || compareIds(key, oldest) >= 0;
				if (covered && !seen.has(key) && !entry.deleted) markDeleted(key);
			}
		}
		const known = messages.size > 0;
		for (const item of items.slice().reverse()) upsert(item, known);
		list.scrollTop = list.scrollHeight;
	}

	// ---- sending ---------------------------------------------------------------------------

	const messageSubmit = (event) => {
		event.preventDefault();
		const text = messageInput.value;
		// Directus stores empty creates as they come (§5); do not send them.
		if (text.trim() === '') return;
		const ws = connectionRef.current;
		if (!ws || ws.readyState !== WebSocket.OPEN || !authenticated) {
			// FIX: the guide would throw here (or send into a closing socket); keep the text instead.
			setStatus('Not connected; the message was not sent. Try again in a moment.', document.body.dataset.state);
			return;
		}
		ws.send(
			JSON.stringify({
				type: 'items',
				collection: 'messages',
				action: 'create',
				data: { text },
				uid: `send-${++sendSeq}`,
			})
		);
		messageInput.value = '';
	};

	loginForm.addEventListener('submit', loginSubmit);
	messageForm.addEventListener('submit', messageSubmit);
	$('logout').addEventListener('click', () => logout());

	if (!directusUrl) setStatus('config.js did not set the Directus URL.', 'error');
})();
