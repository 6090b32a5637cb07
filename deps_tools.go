//go:build tools

// Temporary: pins every dependency the parallel work will import, so go.mod/go.sum are settled once.
package deps

import (
	_ "github.com/FerretDB/FerretDB/ferretdb"
	_ "github.com/a-h/templ"
	_ "github.com/chromedp/chromedp"
	_ "github.com/emersion/go-imap/v2/imapclient"
	_ "github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	_ "github.com/emersion/go-message/mail"
	_ "github.com/emersion/go-smtp"
	_ "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/gorilla/websocket"
	_ "github.com/jhillyerd/enmime/v2"
	_ "github.com/labstack/echo/v4"
	_ "github.com/labstack/echo/v4/middleware"
	_ "github.com/microcosm-cc/bluemonday"
	_ "github.com/nicksnyder/go-i18n/v2/i18n"
	_ "github.com/nyaruka/phonenumbers"
	_ "github.com/oklog/ulid/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "go.mongodb.org/mongo-driver/v2/mongo"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/text/language"
	_ "modernc.org/sqlite"
)
