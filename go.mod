module github.com/directus-ircd/directus-ircd

go 1.26

require (
	github.com/ergochat/irc-go v0.6.0
	github.com/gorilla/websocket v1.5.3
	github.com/mattn/go-isatty v0.0.20
	github.com/rs/zerolog v1.35.1
	golang.org/x/sys v0.29.0
	golang.org/x/text v0.30.0
	golang.org/x/time v0.14.0
	gopkg.in/yaml.v3 v3.0.1
)

require github.com/mattn/go-colorable v0.1.14 // indirect
