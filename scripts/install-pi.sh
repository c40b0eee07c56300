#!/usr/bin/env bash
# Install, update or remove MoodDJ on Raspberry Pi OS (bookworm), idempotently.
#
#   sudo scripts/install-pi.sh             install this checkout as a release and start it
#   scripts/install-pi.sh --dry-run        print every action, change nothing
#   sudo scripts/install-pi.sh --uninstall remove what the installer put; keep config and data
#   sudo scripts/install-pi.sh --purge     --uninstall, and the config, data and user too
#
# Options:
#   --dry-run        print each action ("would: ...") instead of doing it
#   --git URL        install from a clone of URL (kept in /opt/mooddj/src) instead of here
#   --no-firmware    leave /boot/firmware/config.txt alone
#   --no-start       install and enable the unit but do not (re)start it
#   --release-only   only build the release (code, venv, kernel, models, .pyc) and print
#                    its folder; no switch, no restart (`mooddj update` uses this)
#
# Layout: /opt/mooddj/releases/<version>/ (code, bin/mooddj, models, VERSION), beside it
# /opt/mooddj/venvs/<hash of the dependencies> (shared by releases with the same lock),
# /opt/mooddj/current -> the running release, /usr/local/bin/mooddj -> current/bin/mooddj.
# What it does: apt packages (python3-picamera2, python3-venv, python3-lgpio, ...); the
# system user `mooddj` in groups video and gpio; the release (root-owned, read-only to the
# service) with its image kernel and .pyc files; the venv (--system-site-packages, pip
# constrained to scripts/constraints-pi.txt and the system numpy); the models; the config
# /etc/mooddj/config.toml if absent; the firmware block; the systemd units, enabled and
# started. Running it again changes only what is missing or outdated. What it created is
# listed in /etc/mooddj/installed, which --uninstall and --purge read back; apt packages
# are never removed (other programs may use them).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
HERE=$SRC  # the checkout this script runs from (with --git, SRC becomes the clone)
# Locations (environment overrides exist for staging an image and for the tests).
PREFIX=${MOODDJ_PREFIX:-/opt/mooddj}
CONF_DIR=${MOODDJ_CONF_DIR:-/etc/mooddj}
CONF=$CONF_DIR/config.toml
MANIFEST=$CONF_DIR/installed
UNIT_DIR=${MOODDJ_UNIT_DIR:-/etc/systemd/system}
BOOT_CONFIG=${MOODDJ_BOOT_CONFIG:-/boot/firmware/config.txt}
BIN_DIR=${MOODDJ_BIN_DIR:-/usr/local/bin}
STATE_DIR=${MOODDJ_STATE_DIR:-/var/lib/mooddj}
# The system interpreter: its dist-packages hold picamera2, lgpio and the numpy they need.
SYS_PY=${MOODDJ_SYSTEM_PYTHON:-/usr/bin/python3}
SERVICE_USER=${MOODDJ_USER:-mooddj}
# The device groups of the camera and the GPIO chips (systemd/mooddj.service names the same).
read -r -a DEVICE_GROUPS <<< "${MOODDJ_GROUPS:-video gpio}"
UNITS=(mooddj.service mooddj-update.service mooddj-update.path)
APT_PACKAGES=(python3 python3-venv python3-pip python3-picamera2 python3-lgpio
  python3-numpy gcc libc6-dev git rsync sqlite3 ca-certificates)
# Git refuses a checkout owned by another user when run as root; this one is read only.
GIT=(git -c safe.directory='*')

dry_run=0 git_url="" firmware=1 start=1 mode=install
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --git) git_url=${2:?--git needs a URL}; shift ;;
    --no-firmware) firmware=0 ;;
    --no-start) start=0 ;;
    --release-only) mode=release ;;
    --uninstall) mode=uninstall ;;
    --purge) mode=purge ;;
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-pi.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '==> %s\n' "$*"; }

# Every change goes through `act`: in a dry run it prints the command instead.
act() {
  if [ "$dry_run" = 1 ]; then
    printf 'would: %s\n' "$*"
  else
    printf '+ %s\n' "$*"
    "$@"
  fi
}

# Write stdin to a file (mode, owner:group) unless it already has that content.
put_file() {
  local dst=$1 mode=$2 owner=$3 tmp
  tmp=$(mktemp)
  cat > "$tmp"
  if [ -f "$dst" ] && cmp -s "$tmp" "$dst"; then
    rm -f "$tmp"
    return 1
  fi
  if [ "$dry_run" = 1 ]; then
    printf 'would: write %s (mode %s, owner %s)\n' "$dst" "$mode" "$owner"
    rm -f "$tmp"
  else
    printf '+ write %s\n' "$dst"
    install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$dst"
    rm -f "$tmp"
  fi
  return 0
}

# Remember something this installer created, for --uninstall/--purge ("kind value").
record() {
  [ "$dry_run" = 1 ] && return 0
  install -d -m 0755 "$CONF_DIR"
  grep -qxF "$1" "$MANIFEST" 2>/dev/null || printf '%s\n' "$1" >> "$MANIFEST"
}
recorded() { sed -n "s/^$1 //p" "$MANIFEST" 2>/dev/null || true; }

if [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "install-pi.sh: run as root (sudo $0), or add --dry-run to see what it would do" >&2
  exit 1
fi
if [ "$dry_run" = 1 ]; then say "dry run: nothing will be changed"; fi

# Uninstall: every step below in reverse ---------------------------------------
if [ "$mode" = uninstall ] || [ "$mode" = purge ]; then
  say "systemd units"
  for unit in "${UNITS[@]}"; do
    if [ -e "$UNIT_DIR/$unit" ]; then
      act systemctl disable --now "$unit" || true
      act rm -f "$UNIT_DIR/$unit"
    fi
  done
  act systemctl daemon-reload || true
  say "mooddj on PATH"
  if [ -L "$BIN_DIR/mooddj" ] && [[ "$(readlink "$BIN_DIR/mooddj")" == "$PREFIX"/* ]]; then
    act rm -f "$BIN_DIR/mooddj"
  fi
  say "firmware block"
  for cfg in $(recorded firmware); do
    if [ -f "$cfg" ] && grep -q '^# >>> mooddj$' "$cfg"; then
      act sed -i '/^# >>> mooddj$/,/^# <<< mooddj$/d' "$cfg"
      echo "   reboot once to return the camera and GPIO pins to the defaults"
    fi
  done
  say "code, venvs and models in $PREFIX"
  [ -e "$PREFIX" ] && act rm -rf "$PREFIX"
  if [ "$mode" = uninstall ]; then
    say "kept: $CONF_DIR (config), $STATE_DIR (database, key, backups), user $SERVICE_USER"
    echo "   --purge removes them too"
    exit 0
  fi
  say "configuration, data and the service user"
  [ -e "$STATE_DIR" ] && act rm -rf "$STATE_DIR"
  if id "$SERVICE_USER" >/dev/null 2>&1 && recorded user | grep -qx "$SERVICE_USER"; then
    act userdel "$SERVICE_USER"
  fi
  for group in $(recorded group); do
    getent group "$group" >/dev/null && act groupdel "$group"
  done
  [ -e "$CONF_DIR" ] && act rm -rf "$CONF_DIR"
  say "done"
  exit 0
fi

# 1. System packages --------------------------------------------------------
if [ "$mode" = install ]; then
  say "system packages"
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    act apt-get update
    act env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${missing[@]}"
  else
    echo "   all present: ${APT_PACKAGES[*]}"
  fi

  # 2. Service user -----------------------------------------------------------
  say "service user $SERVICE_USER (groups ${DEVICE_GROUPS[*]})"
  for group in "${DEVICE_GROUPS[@]}"; do
    if ! getent group "$group" >/dev/null; then
      act groupadd --system "$group"
      record "group $group"
    fi
  done
  if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    act useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --groups "$(IFS=,; echo "${DEVICE_GROUPS[*]}")" "$SERVICE_USER"
    record "user $SERVICE_USER"
  else
    for group in "${DEVICE_GROUPS[@]}"; do
      id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx "$group" \
        || act usermod -aG "$group" "$SERVICE_USER"
    done
  fi
fi

# 3. The release: code in /opt/mooddj/releases/<version> ------------------------
if [ -n "$git_url" ]; then
  if [ -d "$PREFIX/src/.git" ]; then
    act "${GIT[@]}" -C "$PREFIX/src" pull --ff-only
  else
    act mkdir -p "$PREFIX"
    act "${GIT[@]}" clone "$git_url" "$PREFIX/src"
  fi
  [ "$dry_run" = 1 ] && [ ! -d "$PREFIX/src" ] || SRC=$PREFIX/src
fi
# The version: the nearest tag (or the commit), "-dirty" for uncommitted changes.
if version=$("${GIT[@]}" -C "$SRC" describe --tags --always --dirty 2>/dev/null); then
  commit=$("${GIT[@]}" -C "$SRC" rev-parse HEAD)
  commit_date=$("${GIT[@]}" -C "$SRC" log -1 --format=%cI)
  source=${git_url:-$("${GIT[@]}" -C "$SRC" config --get remote.origin.url || echo "$SRC")}
else
  version="unversioned" commit="" commit_date="" source=$SRC
fi
REL=$PREFIX/releases/$version
say "release $version in $REL"
act mkdir -p "$REL"
# Built and fetched files (kernel, .pyc, models) are excluded, so --delete keeps them.
act rsync -a --delete --chown=root:root --exclude=/.venv --exclude=.git \
  --exclude=__pycache__ --exclude='*.tflite' --exclude=.pytest_cache --exclude=/.cache \
  --exclude=/artifacts --exclude='/tests/media' --exclude=/mooddj.egg-info \
  --exclude=/appliance/vision/native/_warp.so --exclude=/bin --exclude=/VERSION \
  "$SRC/" "$REL/"
printf 'version = "%s"\ncommit = "%s"\ndate = "%s"\nsource = "%s"\n' \
  "$version" "$commit" "$commit_date" "$source" | put_file "$REL/VERSION" 0644 root:root || true

# 4. Virtual environment, shared by the releases with the same dependencies --------
deps_hash=$(cat "$SRC/pyproject.toml" "$SRC/scripts/constraints-pi.txt" | sha256sum | cut -c1-12)
# MOODDJ_VENV: an existing venv with the dependencies (an image's, or a test's) is used as is.
VENV=${MOODDJ_VENV:-$PREFIX/venvs/$deps_hash}
PY=$VENV/bin/python
say "virtual environment $VENV (system site packages for picamera2)"
if [ -n "${MOODDJ_VENV:-}" ]; then
  echo "   given by MOODDJ_VENV: used as it is"
elif [ ! -f "$VENV/.complete" ]; then
  [ -e "$VENV" ] && act rm -rf "$VENV"  # a venv whose pip step failed: start over
  act "$SYS_PY" -m venv --system-site-packages "$VENV"
  # The Pi's lock (scripts/lock-pi), numpy pinned to the one picamera2 is built against.
  numpy_version=$("$SYS_PY" -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true)
  if [ "$dry_run" = 1 ]; then
    printf 'would: write %s/constraints.txt (scripts/constraints-pi.txt, numpy==%s)\n' \
      "$VENV" "${numpy_version:-<as locked>}"
    printf 'would: write %s/requirements.txt (pyproject dependencies and the pi extra)\n' \
      "$VENV"
  else
    if [ -n "$numpy_version" ]; then
      sed "s/^numpy==.*/numpy==$numpy_version/" "$SRC/scripts/constraints-pi.txt"
    else
      cat "$SRC/scripts/constraints-pi.txt"
    fi > "$VENV/constraints.txt"
    "$SYS_PY" -c 'import sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["pi"]))' \
      "$SRC/pyproject.toml" > "$VENV/requirements.txt"
  fi
  act "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    --constraint "$VENV/constraints.txt" --requirement "$VENV/requirements.txt"
  act touch "$VENV/.complete"
else
  echo "   up to date (dependencies unchanged)"
fi
# bin/mooddj: this release's code with that venv; the unit and PATH run it through `current`.
entry=$(sed -n 's/^mooddj = "\(.*\)"$/\1/p' "$SRC/pyproject.toml")
act mkdir -p "$REL/bin"
cat <<EOF | put_file "$REL/bin/mooddj" 0755 root:root || true
#!/bin/sh
# MoodDJ $version: the code beside this file with its venv (written by install-pi.sh).
PYTHONPATH=$REL exec $PY -P -c 'import sys; from ${entry%%:*} import ${entry##*:} as m; sys.argv[0] = "mooddj"; sys.exit(m())' "\$@"
EOF
# The mood loop's image kernel (appliance/vision/native/warp.c), built into the release.
act env PYTHONPATH="$REL" "$PY" -P -m appliance.vision.native

# 5. Models: the running release's or this checkout's copy, then checked or fetched ----
say "models (checked against their SHA-256)"
for f in "$PREFIX"/current/models/*.tflite "$SRC"/models/*.tflite "$HERE"/models/*.tflite; do
  [ -f "$f" ] && [ ! -e "$REL/models/$(basename "$f")" ] && act cp "$f" "$REL/models/"
done
act "$PY" "$REL/scripts/fetch-models" --cache "$PREFIX/cache/wheels"
# Read-only code: compiled once here, not at each start of the service.
act "$PY" -m compileall -q -j 2 "$REL/appliance"

if [ "$mode" = release ]; then
  echo "release: $REL"
  exit 0
fi

# 6. Switch: current -> this release (previous -> the one before); mooddj on PATH ---
say "current release -> $version"
running=$(readlink "$PREFIX/current" 2>/dev/null || true)
if [ "$running" != "releases/$version" ]; then
  if [ -n "$running" ]; then act ln -sfn "$running" "$PREFIX/previous"; fi
  act ln -sfn "releases/$version" "$PREFIX/current.new"
  act mv -T "$PREFIX/current.new" "$PREFIX/current"
fi
if [ "$(readlink "$BIN_DIR/mooddj" 2>/dev/null)" != "$PREFIX/current/bin/mooddj" ]; then
  act mkdir -p "$BIN_DIR"
  act ln -sfn "$PREFIX/current/bin/mooddj" "$BIN_DIR/mooddj"
fi

# 7. Configuration ------------------------------------------------------------
say "configuration $CONF"
act install -d -m 0755 -o root -g root "$CONF_DIR"
if [ ! -e "$CONF" ]; then
  if [ "$dry_run" = 1 ]; then
    printf 'would: write %s (every key commented at its default; root:%s 0640)\n' \
      "$CONF" "$SERVICE_USER"
  else
    PYTHONPATH="$REL" "$PY" -P -m appliance.core.config_doc --toml \
      | put_file "$CONF" 0640 "root:$SERVICE_USER" || true
  fi
else
  echo "   $CONF exists: kept as it is"
fi

# 8. Firmware (camera, GPIO pull-ups) -------------------------------------------
reboot_needed=0
if [ "$firmware" = 1 ]; then
  boot_cfg=$BOOT_CONFIG
  if [ ! -f "$boot_cfg" ] && [ -f /boot/config.txt ]; then boot_cfg=/boot/config.txt; fi
  say "firmware block in $boot_cfg"
  if [ -f "$boot_cfg" ] && grep -q '^# >>> mooddj' "$boot_cfg"; then
    echo "   already present"
  elif [ "$dry_run" = 1 ]; then
    printf 'would: append %s to %s (reboot needed)\n' "$SRC/firmware-config/config.txt" \
      "$boot_cfg"
  else
    { echo "# >>> mooddj"; cat "$SRC/firmware-config/config.txt"; echo "# <<< mooddj"; } \
      >> "$boot_cfg"
    echo "+ appended the mooddj block to $boot_cfg"
    reboot_needed=1
  fi
  record "firmware $boot_cfg"
fi

# 9. systemd units --------------------------------------------------------------
say "systemd units in $UNIT_DIR"
unit_changed=0
act mkdir -p "$UNIT_DIR"
for unit in "${UNITS[@]}"; do
  if put_file "$UNIT_DIR/$unit" 0644 root:root < "$SRC/systemd/$unit"; then
    unit_changed=1
  fi
done
if [ "$unit_changed" = 1 ] || [ "$dry_run" = 1 ]; then
  act systemctl daemon-reload
fi
# The owner's page asks for an update through mooddj-update.path (see that unit).
if [ "$start" = 1 ]; then
  was_active=0
  systemctl is-active --quiet mooddj 2>/dev/null && was_active=1
  act systemctl enable --now mooddj.service mooddj-update.path
  # An update of a running box: load the new code.
  if [ "$was_active" = 1 ]; then act systemctl try-restart mooddj.service; fi
else
  act systemctl enable mooddj.service mooddj-update.path
fi

# Old releases: the current one and the previous one stay (for a rollback), and their venvs.
previous=$(readlink "$PREFIX/previous" 2>/dev/null || true)
for old in "$PREFIX"/releases/*; do
  [ -d "$old" ] || continue
  case "releases/${old##*/}" in
    "releases/$version" | "$previous") ;;
    *) act rm -rf "$old" ;;
  esac
done
for venv in "$PREFIX"/venvs/*; do
  [ -d "$venv" ] || continue
  grep -qsF "$venv/" "$PREFIX"/releases/*/bin/mooddj || act rm -rf "$venv"
done

say "done"
if [ "$reboot_needed" = 1 ]; then
  echo "Reboot once to apply the camera and GPIO settings: sudo reboot"
fi
echo "Check it: sudo -u $SERVICE_USER mooddj doctor; logs: journalctl -u mooddj -f"
# The name the box advertises over mDNS (web.hostname), not this machine's hostname.
address=$(MOODDJ_CONFIG=$CONF PYTHONPATH="$REL" "$PY" -P -c '
from appliance.core import config
web = config.load().web
print(web.hostname + ".local" + ("" if web.port == 80 else f":{web.port}"))' 2>/dev/null \
  || echo "mooddj.local")
echo "Then open http://$address/ on a phone in the same network."
