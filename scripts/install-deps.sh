#!/usr/bin/env bash
# Installs what copybench needs beyond cargo, idempotently (run as root by CI and developers):
#   - Debian's chromium, used headless (and offline) by copybench-plot's browser test;
#   - the npm registry's `echarts` package, in the version charming 0.6 targets, under
#     <repo>/assets/node_modules (git-ignored). copybench-plot inlines its dist/echarts.min.js
#     into every report so that reports render with no network access;
#   - the peers `copybench peers` measures itself against, all Debian packages: iperf3, iperf
#     (2.x), sockperf and nuttcp (netperf is non-free and neper is not packaged).
# Running it again changes nothing once both are in place.
set -euo pipefail

# charming 0.6 references echarts 5.5.1 (its CDN link and bundled asset); keep them in step.
ECHARTS_VERSION=5.5.1

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
assets="$repo/assets"

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps.sh: run as root (apt-get installs chromium), e.g. sudo $0" >&2
    exit 1
fi

apt_packages=()
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
# scripts/pmu-check.sh reads the results JSON with jq.
command -v jq >/dev/null 2>&1 || apt_packages+=(jq)
# Chart labels need a font; a minimal image may have none.
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || apt_packages+=(fonts-dejavu-core)
# Peers for `copybench peers` (package name = command name for all four).
for peer in iperf3 iperf sockperf nuttcp; do
    command -v "$peer" >/dev/null 2>&1 || apt_packages+=("$peer")
done
if ((${#apt_packages[@]})); then
    echo "install-deps.sh: installing ${apt_packages[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${apt_packages[@]}"
else
    echo "install-deps.sh: chromium, npm, fonts and the peers (iperf3, iperf, sockperf, nuttcp) already installed"
fi

installed_version() {
    local manifest="$assets/node_modules/echarts/package.json"
    [[ -f $manifest ]] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$manifest" 2>/dev/null || true
}

js="$assets/node_modules/echarts/dist/echarts.min.js"
if [[ $(installed_version) == "$ECHARTS_VERSION" && -s $js ]]; then
    echo "install-deps.sh: echarts $ECHARTS_VERSION already in $assets"
else
    echo "install-deps.sh: installing echarts@$ECHARTS_VERSION from the npm registry into $assets"
    mkdir -p "$assets"
    npm install --prefix "$assets" --no-audit --no-fund --save-exact "echarts@$ECHARTS_VERSION"
    if [[ $(installed_version) != "$ECHARTS_VERSION" || ! -s $js ]]; then
        echo "install-deps.sh: echarts $ECHARTS_VERSION did not land at $js" >&2
        exit 1
    fi
fi
echo "install-deps.sh: done (chromium: $(command -v chromium); echarts: $js)"
