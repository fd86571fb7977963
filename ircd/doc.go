// Package ircd is a small IRC server with exactly one channel. It knows nothing of Directus:
// every decision about accounts and storage goes to a Backend (implemented by the bridge).
//
// # Connections
//
// Serve accepts on any net.Listener (plain TCP, a crypto/tls listener: the daemon wraps its
// TLS listeners, or internal/wsirc's WebSocket listener, whose connections carry one line per
// WebSocket message and report a trusted proxy's forwarded client as RemoteAddr); ServeConn
// serves one connection in the calling goroutine, which is that connection's only reader. A
// second goroutine writes. Limits and per-address counts apply to every listener alike.
// Commands run one after another in the reader, in the order the client sent them, so
// everything a command causes (a Backend.Post and the Deliver after it, an error reply) is
// queued before the reply to a later command such as PING.
//
// A command's replies go through the connection's response buffer (responsebuffer.go, after
// ergo's): collected while the handler runs and queued when it returns, which is where
// labeled-response is applied. JOIN flushes its replies early, before the deliveries it held.
// Client.Notice and Client.Fail are for the backend and any goroutine: they are queued at
// once and are not part of a command's labeled reply (handlers reply with numeric, send and
// fail). A command that closes the connection (QUIT, a refusal with UserError.Disconnect)
// has its replies queued before the ERROR.
//
// The outgoing queue holds at most Config.SendQueueLen lines and Config.SendQueueBytes bytes.
// Deliveries from others (Deliver, Broadcast, private messages, membership events) never wait: a client
// whose queue is already full when a delivery comes is dropped with "ERROR :SendQ exceeded"; a
// delivery that finds room is taken whole, even past the bound, so the size of one message
// never drops a client that reads. The client's own replies wait while the queue is
// more than half full (lines or bytes), so a long answer (NAMES, history) is paced by the
// client's own reading. Each write has a deadline (Config.WriteTimeout).
//
// One server-wide ticker handles registration timeouts, PINGs after Config.PingInterval of
// silence and "Ping timeout" after a further Config.PingTimeout.
//
// # Limits
//
// A line is at most 512 bytes including CR LF, plus 8191 bytes of tags once message-tags is
// negotiated; a longer line is answered with 417 ERR_INPUTTOOLONG and ignored, and the
// connection goes on. Of the client-only tags of a PRIVMSG, NOTICE or TAGMSG, those that do
// not fit the 4094 bytes a server may relay are left out (in name order; a TAGMSG none of
// whose tags fit gets 417), so a message is never dropped for its tags. Lines with NUL or a
// stray CR are ignored with FAIL * INVALID_LINE (a server NOTICE without standard-replies);
// lines that are not valid UTF-8 with FAIL <command> INVALID_UTF8 (UTF8ONLY: for every
// client), except NICK and USER before registration, which are taken with the bad bytes
// replaced (the NICK then gets 432), so that no client waits for the registration timeout.
// Flood control: Config.FloodRate lines per second with Config.FloodBurst of burst; beyond that
// commands are delayed (fakelag), and when one uninterrupted run of delays adds up to more than
// Config.FloodMaxLag the client is dropped with "Excess Flood". PONG is exempt.
// Config.MaxClients and Config.MaxClientsPerIP (0: unlimited) are checked at accept; a refused
// connection gets an ERROR saying why.
//
// # Registration
//
// CAP LS [302] (302: values, multi-line LS), REQ, ACK/NAK, LIST, END; PASS, NICK, USER;
// SASL PLAIN through AUTHENTICATE when sasl was requested (900/903 on success, 904 with the
// backend's UserText on failure, 905 too long, 906 aborted, 907 already, 908 mechanisms; after 3
// failures the connection is closed). An authzid that is set and differs from the authcid
// (ignoring case) is refused with 904 without asking the backend. After registration
// AUTHENTICATE is 907 for a connection with an account and 904 (not counted as a failure) for
// a guest. USER needs four parameters and a non-empty realname (461). Registration completes
// when NICK and USER are in and CAP negotiation has ended: Backend.Register gets PASS, the
// requested nick and the SASL identity.
// A refusal is answered with 464 and ERROR carrying UserText, then the connection closes.
// Commands other than CAP/PASS/NICK/USER/AUTHENTICATE/PING/PONG/QUIT before that get 451
// (irssi sends "JOIN :" early; it is not disconnected).
//
// A Backend that implements RegistrationObserver is told of each connection that completed
// registration (before the welcome). Backend.Disconnected is called once for every connection
// whose Register succeeded, when it closes (also when it never got a nick).
//
// Then 001-005, LUSERS (whose "max" is the most nicks at once since the start) and MOTD (422
// without one); 900 is sent after a PASS login too when the Identity has an Account. The
// welcome uses the backend's forced nick (Identity.Nick) when there is one. CASEMAPPING is
// ascii everywhere.
//
// # Nicks and several connections of one account
//
// Nicks are claimed when registration completes, not at NICK. A requested nick that is taken
// gets 433 and the client may send another NICK (Register is not called again). A forced nick
// held by a connection of the same non-empty Account is shared: that connection attaches to
// the nick (like ergo's multiclient). NAMES, WHO and WHOIS show the nick once; others see JOIN
// when the first of its connections joins and PART/QUIT when the last one leaves; Broadcast
// reaches every joined connection except the exact `except` one, so the sender's other
// connections do see its messages; a private message to the nick reaches all its connections.
// AWAY and SETNAME belong to the nick, shared by its connections. A forced nick held by a
// different account, or by a guest, is answered with 433 and ERROR, and the connection closes;
// for a guest (no Account) a taken forced nick is treated like a requested one instead (433,
// pick another). Guests keep Identity.NickSuffix: it is appended to any nick they ask for. A
// Backend that implements NickChecker is asked about every nick a connection without an
// account claims or changes to; a refusal is 432 with its UserText (a refused forced nick of
// a guest lets the client pick another, as a taken one does).
//
// A QUIT gives the nick up before the ERROR reply is queued, so a client that reconnects as
// soon as it reads the ERROR finds its nick free.
// Client-requested nicks are ASCII nick characters plus Unicode letters and digits, up to 32
// bytes; a nick the backend forces may also contain other printable characters except space
// and ",*?!@." (and may not start with one of ":#&$+~%@").
//
// Hostmasks are nick!user@host: user is Identity.User, else derived from the account or nick;
// host is Identity.Host, else Config.DefaultHost. For a Broadcast Message without User/Host,
// those of the connected user with that nick are used, else the same defaults.
//
// # Commands
//
// CAP, PASS, NICK, USER, AUTHENTICATE, PING, PONG, QUIT, JOIN, PART, NAMES, TOPIC, MODE, WHO
// (with WHOX), WHOIS, USERHOST, ISON, AWAY, LIST, MOTD, LUSERS, VERSION, TIME, INFO, PRIVMSG,
// NOTICE, TAGMSG, SETNAME, CHATHISTORY, REDACT, BATCH. Others get 421.
//
//   - JOIN of the channel asks Backend.Join; a refusal is 474 with UserText. The joiner gets the
//     JOIN, 332/333, 353/366 and the replay of the newest Config.History messages, then what
//     was said while Backend.Join ran (held for it, without what the replay had, by msgid). A client with
//     draft/chathistory gets no replay (as with ergo): it asks for history with CHATHISTORY. Any other channel: 403
//     "No such channel; this server has only #chat". JOIN 0 parts.
//   - TOPIC shows the configured topic (332/333, 331 when empty); setting it is 482. Reload
//     changes it with a TOPIC from the server.
//   - MODE #chat shows +nt (324, 329) and empty ban/exception/invite lists; changes are 482.
//     MODE <own nick> shows 221 and accepts +i/-i (no effect); other flags are 501, other
//     users' modes 502. The nick a client asked for before being given another one counts as
//     its own (irssi sends MODE <requested nick> +i after a forced nick).
//   - NICK after registration: 447 when Identity.NickLocked, else 432/433 as usual.
//   - PRIVMSG/NOTICE to the channel go to Backend.Post (CTCP ACTION as Outgoing.Action with the
//     inner text; other CTCP to the channel is refused with 404). A refusal of a PRIVMSG is 404
//     with UserText. NOTICE gets no automatic error reply (RFC 2812); with standard-replies it
//     gets FAIL NOTICE CANNOT_SEND. Stored and Queued need no reply; a later failure of a
//     Queued message comes from the backend through Client.Fail. Not joined: 404. For a
//     Stored message Posted.Message is the stored message: the server delivers it to the
//     other members (Deliver) and echoes it to the sender with the same msgid and time (the
//     backend's item id and creation time); a Queued message is echoed at once without a
//     msgid and delivered by the backend once stored.
//   - PRIVMSG/NOTICE to a nick is delivered directly to that nick's connections and is NOT
//     stored anywhere (and not passed to the backend); 401 for an unknown nick, 301 when away.
//     It carries a msgid made by the server ("pm-" and 24 random hex digits), the same in the
//     echo.
//   - A PRIVMSG/NOTICE to several targets reaches each distinct (casefolded) target once.
//   - A user whose first connection joins while away is announced to away-notify members with
//     AWAY right after the JOIN.
//   - TAGMSG (with message-tags) is relayed directly, never stored: to the channel's joined
//     connections with message-tags, or to a nick's connections. Client-only tags on channel
//     PRIVMSG/NOTICE are passed to the backend in Outgoing.Tags.
//   - CHATHISTORY LATEST <channel> <*|ref> <limit>, BEFORE|AFTER|AROUND <channel> <ref> <limit>,
//     BETWEEN <channel> <ref> <ref> <limit>, TARGETS <timestamp> <timestamp> <limit>
//     (draft/chathistory; any registered client may use it). A ref is msgid=<id> or
//     timestamp=<RFC 3339 time> (ISUPPORT MSGREFTYPES=msgid,timestamp). The limit is capped at
//     100 (ISUPPORT CHATHISTORY=100). The backend must implement HistoryBackend; it returns the
//     messages oldest first, and they are sent like the JOIN replay (split and cut to
//     Config.MaxLines, time/msgid/account tags) in a chathistory batch, an empty batch when
//     there are none; TARGETS answers "CHATHISTORY TARGETS <channel> <time of its newest
//     message>" in a draft/chathistory-targets batch. Refusals: FAIL CHATHISTORY
//     INVALID_PARAMS (unknown subcommand, missing parameters, limit not a positive number),
//     INVALID_TARGET <subcommand> <target> (not the channel), INVALID_MSGREFTYPE <subcommand>
//     <ref> (not msgid= or timestamp=, or a msgid in TARGETS), MESSAGE_ERROR <subcommand>
//     <channel> [<ref>] (a msgid the client cannot see: ErrUnknownMsgID; the backend failed;
//     no HistoryBackend).
//   - REDACT <channel> <msgid> [:reason] (draft/message-redaction) asks the backend
//     (Redactor) to delete the message; the backend announces it with Server.Redact: a REDACT
//     from the deleter (the server when unknown) to members with draft/message-redaction, the
//     Redaction's Notice as a server NOTICE to the others. Refusals: FAIL REDACT <code>
//     <target> <msgid> :reason with INVALID_TARGET, UNKNOWN_MSGID (ErrUnknownMsgID),
//     REDACT_FORBIDDEN (ErrRedactForbidden, or no Redactor), TEMPORARILY_UNAVAILABLE (other
//     backend errors).
//   - BATCH +<id> draft/multiline <channel> … BATCH -<id> (draft/multiline, value
//     max-bytes=4096,max-lines=20): the PRIVMSG (or NOTICE) lines tagged batch=<id> are joined
//     with line breaks (without one for a line tagged draft/multiline-concat) and posted as
//     ONE Outgoing when the batch closes, with the BATCH line's client tags. Refusals, at the
//     close and with nothing posted: FAIL BATCH MULTILINE_MAX_LINES, MULTILINE_MAX_BYTES,
//     MULTILINE_INVALID_TARGET (a line to another target, or a batch not to the channel),
//     MULTILINE_INVALID (PRIVMSG and NOTICE mixed, no text, another batch type, a second
//     open batch, closing an unknown batch).
//
// # Capabilities
//
// account-notify (accounts never change after registration, so it never fires), account-tag,
// away-notify, batch (history replay in a chathistory batch), cap-notify, echo-message (the
// sender's own connection gets its message back after Post succeeds, with the msgid and time
// of the stored message, or at once for private messages and held channel messages),
// extended-join, labeled-response, message-tags, multi-prefix (no prefixes exist: PREFIX= is
// empty), sasl=PLAIN, server-time, setname, standard-replies, userhost-in-names,
// draft/chathistory (CHATHISTORY, no JOIN replay), draft/message-redaction (REDACT),
// draft/multiline (multiline batches both ways). These three are offered whatever the
// backend; without HistoryBackend or Redactor the commands answer FAIL.
//
// labeled-response: a command with a label tag from a client that negotiated the capability
// gets its replies labeled. One reply line carries the label (a PING's PONG, the echo of a
// PRIVMSG with echo-message, an error numeric); several go in a BATCH +<ref>
// labeled-response whose opening line carries the label (JOIN, WHO, NAMES, CHATHISTORY; a
// chathistory batch is nested in it); none is answered with "ACK" carrying the label (a
// PRIVMSG without echo-message, PONG). A client without batch gets a reply of several lines
// unlabeled. Deliveries from others that arrive meanwhile are never labeled; the lines JOIN
// held come after its replies, inside the open batch but without its tag.
//
// # Channel traffic
//
// Deliver (a stored message: a client's, returned by Post, or one the backend learnt of) and
// Broadcast (server notices) serialise a Message once per capability variant (message-tags,
// server-time, account-tag) and queue the bytes to every member without blocking, one
// message at a time, so every member sees the same order. They copy the member list under
// the server lock and queue after releasing it, so a JOIN, QUIT or nick lookup never waits
// for a fan-out to thousands of clients. A member who leaves meanwhile may still get the
// message (as if it was said just before). Deliver adds the message to the JOIN replay under
// the same lock as the copy, so a joiner gets each message once: in its replay, or live (a
// joiner in the copy has it held and dropped by msgid if its replay had it). Edited and
// Redact change the replay and tell the channel. Text is split at line
// breaks ("\r\n", "\n", "\r"), then at spaces or character boundaries to fit 512 bytes with
// the source prefix (and the ACTION framing); NUL and \x01 are dropped and invalid UTF-8
// replaced, so no text can inject a line. The msgid tag goes on the first line of a split
// message. A message takes at most Config.MaxLines lines after splitting: a longer one keeps
// MaxLines-1 and ends with "[N more lines not shown; read the whole message <FullTextAt>]",
// from the same source; the history replay is cut the same way. A Message with Command NOTICE
// goes out as a NOTICE. Replayed history carries the time tag for server-time clients and a
// "[15:04] " prefix (Config.HistoryTimeFormat) for the others.
//
// A live message whose text has several lines (not an ACTION) goes to clients with
// draft/multiline and batch as one draft/multiline batch: the BATCH line carries msgid, time
// and account, each text line is one PRIVMSG/NOTICE (a line too long for one IRC line is cut
// into pieces, those after the first tagged draft/multiline-concat), cut to Config.MaxLines the
// same way; the echo-message copy too. Other clients get the separate lines. History (JOIN
// replay and CHATHISTORY) always sends separate lines, inside its chathistory batch.
//
// # Shutdown
//
// Shutdown stops accepting and keeps reading every connection for half a second, so the lines a
// client sent before it are handled (a channel message reaches Backend.Post, which may store or
// refuse it), then sends ERROR :server shutting down after the replies and closes.
//
// # Logging
//
// zerolog; the parameters of commands are never logged (PASS and AUTHENTICATE carry secrets).
package ircd
