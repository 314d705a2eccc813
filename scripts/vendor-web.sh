#!/usr/bin/env bash
# vendor-web.sh refreshes the third-party browser files the dashboard embeds,
# so `go build` and `go test` never need npm. Run it from anywhere in the
# repository after changing a version below, then commit the result.
#
#   scripts/vendor-web.sh
#
# htmx is pinned to 2.x on purpose: npm's "latest" htmx is 4.x, a rewrite
# the dashboard does not use. uPlot draws the agent page's metric charts on
# a canvas; it styles elements through the CSSOM only, which the dashboard's
# strict Content-Security-Policy (no inline styles) allows. xterm.js and
# its fit addon draw the remote terminal page (see docs/remote-access.md).
set -euo pipefail

HTMX_VERSION=2.0.11
HTMX_SSE_VERSION=2.2.4
UPLOT_VERSION=1.6.32
XTERM_VERSION=6.0.0
XTERM_FIT_VERSION=0.11.0

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/internal/web/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v npm >/dev/null || { echo "vendor-web.sh: npm is required" >&2; exit 1; }

cd "$work"
npm pack --silent "htmx.org@$HTMX_VERSION" "htmx-ext-sse@$HTMX_SSE_VERSION" "uplot@$UPLOT_VERSION" \
	"@xterm/xterm@$XTERM_VERSION" "@xterm/addon-fit@$XTERM_FIT_VERSION" >/dev/null
mkdir htmx sse uplot xterm xtermfit
tar -xzf "htmx.org-$HTMX_VERSION.tgz" -C htmx
tar -xzf "htmx-ext-sse-$HTMX_SSE_VERSION.tgz" -C sse
tar -xzf "uplot-$UPLOT_VERSION.tgz" -C uplot
tar -xzf "xterm-xterm-$XTERM_VERSION.tgz" -C xterm
tar -xzf "xterm-addon-fit-$XTERM_FIT_VERSION.tgz" -C xtermfit

# Take exactly the built files; fail loudly if a release moved them.
htmx_src=htmx/package/dist/htmx.min.js
sse_src=sse/package/dist/sse.min.js
[ -f "$sse_src" ] || sse_src=sse/package/dist/sse.js
uplot_js=uplot/package/dist/uPlot.iife.min.js
uplot_css=uplot/package/dist/uPlot.min.css
xterm_js=xterm/package/lib/xterm.js
xterm_css=xterm/package/css/xterm.css
xterm_fit=xtermfit/package/lib/addon-fit.js
for f in "$htmx_src" "$sse_src" "$uplot_js" "$uplot_css" "$xterm_js" "$xterm_css" "$xterm_fit"; do
	[ -f "$f" ] || { echo "vendor-web.sh: $f not found in the npm package" >&2; exit 1; }
done

mkdir -p "$dest"
install -m 0644 "$htmx_src" "$dest/htmx.min.js"
install -m 0644 "$sse_src" "$dest/htmx-ext-sse.js"
install -m 0644 "$uplot_js" "$dest/uPlot.iife.min.js"
install -m 0644 "$uplot_css" "$dest/uPlot.min.css"
# The built bundles end with a source map comment naming a file that is
# not shipped; drop it so browsers do not ask for it.
sed '/^\/\/# sourceMappingURL=/d' "$xterm_js" >"$dest/xterm.js"
sed '/^\/\/# sourceMappingURL=/d' "$xterm_fit" >"$dest/addon-fit.js"
install -m 0644 "$xterm_css" "$dest/xterm.css"
chmod 0644 "$dest/xterm.js" "$dest/addon-fit.js"

sum() {
	if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
cat >"$dest/VERSIONS" <<TXT
# Vendored browser files, written by scripts/vendor-web.sh. Do not edit by hand.
# file               package        version   sha256
htmx.min.js          htmx.org       $HTMX_VERSION    $(sum "$dest/htmx.min.js")
htmx-ext-sse.js      htmx-ext-sse   $HTMX_SSE_VERSION     $(sum "$dest/htmx-ext-sse.js")
uPlot.iife.min.js    uplot          $UPLOT_VERSION    $(sum "$dest/uPlot.iife.min.js")
uPlot.min.css        uplot          $UPLOT_VERSION    $(sum "$dest/uPlot.min.css")
xterm.js             @xterm/xterm   $XTERM_VERSION     $(sum "$dest/xterm.js")
xterm.css            @xterm/xterm   $XTERM_VERSION     $(sum "$dest/xterm.css")
addon-fit.js         @xterm/addon-fit $XTERM_FIT_VERSION  $(sum "$dest/addon-fit.js")
TXT
echo "vendored into $dest:"
cat "$dest/VERSIONS"
