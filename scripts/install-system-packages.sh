#!/usr/bin/env bash
# Installs the Debian packages brainseg builds and runs against, if any is missing.
# Non-interactive; waits and retries while another apt/dpkg holds the lock (never kills it).
# Needs root (or sudo). Swift itself is a prerequisite (see README).
set -euo pipefail

packages=(
    libnifti2-dev      # NIfTI-1/-2 reading (header semantics)
    zlib1g-dev         # gzip streams for .nii.gz
    libopenblas-dev    # sgemm under the conv engine (pthread variant)
    libdnnl-dev        # oneDNN: the convolution kernels (fp32 and bf16)
    libsystemd-dev     # sd_notify, watchdog, native journald protocol
    libsqlite3-dev     # the ledger (GRDB)
    libpng-dev         # QC pictures
    pkg-config         # SwiftPM finds openblas and libsystemd through it
    systemd            # systemd-analyze for the unit checks
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages: all present"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi

# apt may be locked by another apt-get (unattended upgrades, another CI step): retry for up to 10 min.
apt_retry() {
    local attempt
    for attempt in $(seq 1 60); do
        if $sudo env DEBIAN_FRONTEND=noninteractive "$@"; then return 0; fi
        if ! $sudo fuser /var/lib/dpkg/lock-frontend /var/lib/apt/lists/lock /var/lib/dpkg/lock >/dev/null 2>&1 \
            && [ "$attempt" -ge 3 ]; then
            return 1
        fi
        echo "apt is busy or failed (attempt $attempt); retrying in 10 s" >&2
        sleep 10
    done
    return 1
}

echo "system packages: installing ${missing[*]}"
apt_retry apt-get update -q
apt_retry apt-get install -y -q --no-install-recommends "${missing[@]}"
