#!/usr/bin/env bash
# Offline checks of the units in systemd/ (PLATFORM-NOTES.md §3); CI runs it from scripts/test.sh.
#
#   scripts/check-systemd-units.sh BRAINSEG_BINARY
#
# 1. Every .timer has its .service (verify alone passes a lone timer).
# 2. `systemd-analyze verify` on copies of all units whose ExecStart points at BRAINSEG_BINARY
#    (verify checks that the binary exists here). Fails on a non-zero exit AND on any output,
#    because parse warnings such as an unknown key alone exit 0.
# 3. Every OnCalendar= expression parses (`systemd-analyze calendar`).
# 4. `systemd-analyze security --offline=true` on every .service: fails when the overall exposure
#    is above 2.0.
# 5. The sysusers snippet creates its users and groups in a scratch root (`systemd-sysusers --root`).
# Exits non-zero with a message naming the unit and the problem.
set -euo pipefail
cd "$(dirname "$0")/.."

maximum_exposure="2.0"
binary="${1:-}"
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    echo "usage: $0 BRAINSEG_BINARY (an executable brainseg, e.g. \"\$(swift build --show-bin-path)/brainseg\")" >&2
    exit 2
fi
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing: install the systemd package" >&2; exit 1; }

scratch="$(mktemp -d /tmp/brainseg-units-XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

shopt -s nullglob
units=(systemd/*.service systemd/*.timer)
[ ${#units[@]} -gt 0 ] || { echo "no units in systemd/" >&2; exit 1; }
for unit in "${units[@]}"; do
    sed "s|^ExecStart=/usr/bin/brainseg |ExecStart=$binary |" "$unit" > "$scratch/$(basename "$unit")"
done

# 1. Timer/service pairs.
for timer in systemd/*.timer; do
    service="$(sed -n 's/^Unit=//p' "$timer" | tail -n 1)"
    [ -n "$service" ] || service="$(basename "$timer" .timer).service"
    [ -f "systemd/$service" ] || fail "$timer starts $service, which is not in systemd/"
done

# 2. verify: no error, no warning.
for unit in "$scratch"/*; do
    name="$(basename "$unit")"
    set +e
    output="$(systemd-analyze verify "$unit" 2>&1)"
    status=$?
    set -e
    if [ $status -ne 0 ] || [ -n "$output" ]; then
        fail "systemd-analyze verify $name (exit $status):"
        printf '%s\n' "$output" | sed 's/^/    /' >&2
    fi
done

# 3. Calendar expressions.
for timer in systemd/*.timer; do
    while IFS= read -r expression; do
        systemd-analyze calendar "$expression" >/dev/null 2>&1 || fail "$timer: OnCalendar=$expression does not parse"
    done < <(sed -n 's/^OnCalendar=//p' "$timer")
done

# 4. Security exposure.
for unit in "$scratch"/*.service; do
    name="$(basename "$unit")"
    set +e
    report="$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1)"
    set -e
    exposure="$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' | tail -n 1)"
    if [ -z "$exposure" ]; then
        fail "systemd-analyze security $name printed no exposure level:"
        printf '%s\n' "$report" | tail -n 5 | sed 's/^/    /' >&2
    elif awk -v value="$exposure" -v limit="$maximum_exposure" 'BEGIN { exit !(value > limit) }'; then
        fail "$name: exposure $exposure is above $maximum_exposure; the settings that cost most:"
        printf '%s\n' "$report" | grep '✗' | awk '{ print $NF "\t" $0 }' | sort -n | tail -n 10 | cut -f2- | sed 's/^/    /' >&2
    else
        echo "$name: exposure $exposure (limit $maximum_exposure)"
    fi
done

# 5. sysusers in a scratch root.
if command -v systemd-sysusers >/dev/null; then
    mkdir -p "$scratch/root/etc" "$scratch/root/usr/lib/sysusers.d"
    cp systemd/brainseg.sysusers.conf "$scratch/root/usr/lib/sysusers.d/brainseg.conf"
    if ! output="$(systemd-sysusers --root="$scratch/root" 2>&1)"; then
        fail "systemd-sysusers rejected systemd/brainseg.sysusers.conf:"
        printf '%s\n' "$output" | sed 's/^/    /' >&2
    else
        for name in brainseg brainseg-drop; do
            grep -q "^$name:" "$scratch/root/etc/group" || fail "brainseg.sysusers.conf does not create group $name"
        done
        grep -q "^brainseg:" "$scratch/root/etc/passwd" || fail "brainseg.sysusers.conf does not create user brainseg"
        grep -q "^brainseg-drop:.*:brainseg$" "$scratch/root/etc/group" || fail "user brainseg is not a member of brainseg-drop"
    fi
fi

if [ $failures -ne 0 ]; then
    echo "systemd unit checks: $failures failure(s)" >&2
    exit 1
fi
echo "systemd unit checks: all passed"
