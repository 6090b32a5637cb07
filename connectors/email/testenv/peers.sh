#!/usr/bin/env bash
# Real mail peers for the connectors/email tests: Debian's dovecot (IMAP + IDLE, LMTP) and OpenSMTPD
# (SMTP relay delivering by LMTP into dovecot), started without systemd, on 127.0.0.1 only, with all
# their state (config, Maildirs, queue, logs, pids) under one directory per test run.
#
# Usage:
#   peers.sh install            install the Debian packages and the vmail user (idempotent; needs root).
#                               CI runs this before `go test` so the email tests never skip.
#   peers.sh start DIR          start dovecot + opensmtpd for one test run; state lives in DIR.
#                               Ports come from IMAP_PORT IMAPS_PORT LMTP_PORT SMTP_PORT (defaults
#                               11143 11993 12424 12525); all users log in with PASSWORD (default
#                               "test-secret"). Prints the ports when the peers accept connections.
#   peers.sh stop DIR           stop exactly the processes started for DIR.
#   peers.sh stop-dovecot DIR   stop only dovecot (an IMAP/LMTP outage; opensmtpd keeps queueing).
#   peers.sh start-dovecot DIR  start dovecot again with the same configuration.
#   peers.sh flush DIR          make opensmtpd retry its queue now (after start-dovecot).
#
# Several runs can coexist: opensmtpd keeps its queue in /var/spool/smtpd and its control socket in
# /run, both compiled in, so each instance runs in its own mount namespace with DIR's directories
# mounted over those paths.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PKGS=(dovecot-imapd dovecot-lmtpd opensmtpd openssl util-linux)

die() { echo "peers.sh: $*" >&2; exit 1; }

install_peers() {
  local need=()
  for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if ((${#need[@]})); then
    [ "$(id -u)" = 0 ] || die "installing ${need[*]} needs root"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  id vmail >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin vmail
  mkdir -p /var/spool/smtpd
}

wait_port() {
  for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  die "port $1 did not open; see the logs under $ROOT"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

render() { # template output
  sed -e "s|@ROOT@|$ROOT|g" -e "s|@IMAP_PORT@|$IMAP_PORT|g" -e "s|@IMAPS_PORT@|$IMAPS_PORT|g" \
      -e "s|@LMTP_PORT@|$LMTP_PORT|g" -e "s|@SMTP_PORT@|$SMTP_PORT|g" -e "s|@PASSWORD@|$PASSWORD|g" "$1" > "$2"
}

setup() {
  command -v dovecot >/dev/null && command -v smtpd >/dev/null || die "dovecot/opensmtpd are not installed: run '$0 install'"
  id vmail >/dev/null 2>&1 || die "user vmail is missing: run '$0 install'"
  # dovecot's unprivileged login processes and the vmail user must be able to reach DIR.
  mkdir -p "$ROOT/dovecot/run" "$ROOT/dovecot/state" "$ROOT/mail" "$ROOT/smtpd/spool" "$ROOT/smtpd/run"
  chmod 755 "$ROOT" "$ROOT/dovecot" "$ROOT/smtpd"
  chmod 711 "$ROOT/smtpd/spool"
  chown vmail:vmail "$ROOT/mail"
  if [ ! -f "$ROOT/dovecot/cert.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=127.0.0.1' \
      -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
      -keyout "$ROOT/dovecot/key.pem" -out "$ROOT/dovecot/cert.pem" 2>/dev/null
    chmod 600 "$ROOT/dovecot/key.pem"
  fi
  render "$HERE/dovecot.conf.in" "$ROOT/dovecot/dovecot.conf"
  render "$HERE/smtpd.conf.in" "$ROOT/smtpd/smtpd.conf"
  printf '@ vmail\n' > "$ROOT/smtpd/virtuals"
  printf '%s\n' "$IMAP_PORT $IMAPS_PORT $LMTP_PORT $SMTP_PORT" > "$ROOT/ports"
}

start_dovecot() {
  if ! alive "$ROOT/dovecot/dovecot.pid"; then
    dovecot -F -c "$ROOT/dovecot/dovecot.conf" >>"$ROOT/dovecot/stdout.log" 2>&1 &
    echo $! > "$ROOT/dovecot/dovecot.pid"
  fi
  wait_port "$IMAP_PORT"; wait_port "$LMTP_PORT"
}

start_smtpd() {
  if alive "$ROOT/smtpd/smtpd.pid"; then wait_port "$SMTP_PORT"; return; fi
  [ -d /var/spool/smtpd ] || die "/var/spool/smtpd is missing: run '$0 install'"
  # unshare without --fork execs: the pid recorded is smtpd's own.
  unshare -m --propagation private /bin/sh -c '
    mount --bind "$1/smtpd/spool" /var/spool/smtpd &&
    mount --bind "$1/smtpd/run" /run &&
    exec smtpd -d -f "$1/smtpd/smtpd.conf"' sh "$ROOT" >>"$ROOT/smtpd/smtpd.log" 2>&1 &
  echo $! > "$ROOT/smtpd/smtpd.pid"
  wait_port "$SMTP_PORT"
}

descendants() { # pid: its children, grandchildren, ...
  local c
  for c in $(pgrep -P "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}

# stop_pid stops the process in pidfile and every process it started: dovecot's imap processes
# outlive their master and would keep serving connected clients, which is no outage at all.
stop_pid() { # pidfile
  alive "$1" || { rm -f "$1"; return 0; }
  local pid pids p
  pid=$(cat "$1")
  pids="$pid $(descendants "$pid")"
  kill $pids 2>/dev/null || true
  for _ in $(seq 1 100); do
    local left=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
    [ -z "$left" ] && { rm -f "$1"; return 0; }
    sleep 0.1
  done
  kill -9 $pids 2>/dev/null || true
  rm -f "$1"
}

cmd=${1:-}; ROOT=${2:-}
case "$cmd" in
  install) install_peers; exit 0 ;;
  start|stop|stop-dovecot|start-dovecot|flush) [ -n "$ROOT" ] || die "usage: $0 $cmd DIR" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
mkdir -p "$ROOT"; ROOT=$(cd "$ROOT" && pwd)
if [ -f "$ROOT/ports" ]; then read -r d_imap d_imaps d_lmtp d_smtp < "$ROOT/ports"; fi
IMAP_PORT=${IMAP_PORT:-${d_imap:-11143}}; IMAPS_PORT=${IMAPS_PORT:-${d_imaps:-11993}}
LMTP_PORT=${LMTP_PORT:-${d_lmtp:-12424}}; SMTP_PORT=${SMTP_PORT:-${d_smtp:-12525}}
PASSWORD=${PASSWORD:-test-secret}

case "$cmd" in
  start)
    setup; start_dovecot; start_smtpd
    echo "peers up in $ROOT: imap $IMAP_PORT imaps $IMAPS_PORT lmtp $LMTP_PORT smtp $SMTP_PORT" ;;
  stop) # both take a couple of seconds to wind down: in parallel
    stop_pid "$ROOT/smtpd/smtpd.pid" & stop_pid "$ROOT/dovecot/dovecot.pid"; wait ;;
  stop-dovecot) stop_pid "$ROOT/dovecot/dovecot.pid" ;;
  start-dovecot) start_dovecot ;;
  flush)
    alive "$ROOT/smtpd/smtpd.pid" || die "opensmtpd is not running for $ROOT"
    nsenter -t "$(cat "$ROOT/smtpd/smtpd.pid")" -m smtpctl schedule all >/dev/null ;;
esac
