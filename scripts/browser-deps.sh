#!/usr/bin/env bash
# Idempotently install what the browser tests need:
#   * Debian's chromium at /usr/bin/chromium (+ a font covering Vietnamese)
#   * axe-core under tests/browser/node_modules (pinned by tests/browser/package.json)
# Playwright itself comes from PyPI; never run `playwright install` here
# (browser downloads are blocked) -- tests use executable_path=/usr/bin/chromium.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
BROWSER_DIR="$ROOT/tests/browser"
AXE="$BROWSER_DIR/node_modules/axe-core/axe.min.js"
# DejaVu covers Latin Extended Additional (Vietnamese) and is small.
FONT_PKG="fonts-dejavu-core"

log() { printf 'browser-deps: %s\n' "$*" >&2; }

# --- chromium ---------------------------------------------------------------
if [[ -x "$CHROMIUM" ]] && dpkg-query -W -f='${Status}' "$FONT_PKG" 2>/dev/null | grep -q 'ok installed'; then
    :
elif [[ "$(id -u)" -eq 0 ]]; then
    log "installing chromium and $FONT_PKG via apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium "$FONT_PKG" >/dev/null
    if [[ ! -x "$CHROMIUM" ]]; then
        log "ERROR: apt-get finished but $CHROMIUM is still missing"
        exit 1
    fi
else
    if [[ ! -x "$CHROMIUM" ]]; then
        log "ERROR: $CHROMIUM not found and not running as root."
        log "Install it with: sudo apt-get install -y chromium $FONT_PKG"
        exit 1
    fi
    log "warning: $FONT_PKG not installed (Vietnamese text may render as boxes)"
fi

# --- axe-core ----------------------------------------------------------------
if [[ ! -f "$AXE" ]]; then
    if ! command -v npm >/dev/null 2>&1; then
        log "ERROR: npm is required to install axe-core into tests/browser/ but was not found."
        log "Install Node.js/npm (e.g. apt-get install -y npm) and re-run."
        exit 1
    fi
    log "installing axe-core into tests/browser/node_modules"
    if [[ -f "$BROWSER_DIR/package-lock.json" ]]; then
        npm ci --prefix "$BROWSER_DIR" --no-audit --no-fund --loglevel=error
    else
        npm install --prefix "$BROWSER_DIR" --no-audit --no-fund --loglevel=error
    fi
    if [[ ! -f "$AXE" ]]; then
        log "ERROR: npm finished but $AXE is missing"
        exit 1
    fi
fi

log "ok: $("$CHROMIUM" --version 2>/dev/null || echo chromium), axe-core $(node -p "require('$BROWSER_DIR/node_modules/axe-core/package.json').version" 2>/dev/null || echo '?')"
