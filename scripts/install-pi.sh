#!/usr/bin/env bash
# Install or update MoodDJ on Raspberry Pi OS (bookworm), idempotently.
#
#   sudo scripts/install-pi.sh             install/update from this checkout
#   scripts/install-pi.sh --dry-run        print every action, change nothing
#
# Options:
#   --dry-run        print each action ("would: ...") instead of doing it
#   --git URL        clone (or fast-forward) URL into /opt/mooddj instead of copying
#   --no-firmware    leave /boot/firmware/config.txt alone
#   --no-start       install and enable the unit but do not (re)start it
#
# What it does: apt packages (python3-picamera2, python3-venv, python3-lgpio, ...);
# the system user `mooddj` in groups video and gpio; the code in /opt/mooddj
# (root-owned, read-only to the service); a venv with --system-site-packages and
# pip constrained to the system numpy; the models (scripts/fetch-models);
# /etc/mooddj/config.toml if absent; the firmware fragment; the systemd unit,
# enabled and started. Running it again changes only what is missing or outdated.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
# Locations (environment overrides exist for staging an image; the unit expects these).
PREFIX=${MOODDJ_PREFIX:-/opt/mooddj}
VENV=$PREFIX/.venv
CONF_DIR=${MOODDJ_CONF_DIR:-/etc/mooddj}
CONF=$CONF_DIR/config.toml
UNIT_DST=${MOODDJ_UNIT_PATH:-/etc/systemd/system/mooddj.service}
BOOT_CONFIG=${MOODDJ_BOOT_CONFIG:-/boot/firmware/config.txt}
# The system interpreter: its dist-packages hold picamera2, lgpio and the numpy they need.
SYS_PY=${MOODDJ_SYSTEM_PYTHON:-/usr/bin/python3}
SERVICE_USER=mooddj
APT_PACKAGES=(python3 python3-venv python3-pip python3-picamera2 python3-lgpio
  python3-numpy gcc libc6-dev git rsync sqlite3 ca-certificates)

dry_run=0 git_url="" firmware=1 start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --git) git_url=${2:?--git needs a URL}; shift ;;
    --no-firmware) firmware=0 ;;
    --no-start) start=0 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

if [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "install-pi.sh: run as root (sudo $0), or add --dry-run to see what it would do" >&2
  exit 1
fi
if [ "$dry_run" = 1 ]; then say "dry run: nothing will be changed"; fi

# 1. System packages --------------------------------------------------------
say "system packages"
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  act apt-get update
  act env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "   all present: ${APT_PACKAGES[*]}"
fi

# 2. Service user -------------------------------------------------------------
say "service user $SERVICE_USER (groups video, gpio)"
for group in video gpio; do
  getent group "$group" >/dev/null || act groupadd --system "$group"
done
if ! id "$SERVICE_USER" >/dev/null 2>&1; then
  act useradd --system --user-group --home-dir /var/lib/mooddj --no-create-home \
    --shell /usr/sbin/nologin --groups video,gpio "$SERVICE_USER"
else
  for group in video gpio; do
    id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx "$group" \
      || act usermod -aG "$group" "$SERVICE_USER"
  done
fi

# 3. Code in /opt/mooddj --------------------------------------------------------
say "code in $PREFIX"
if [ -n "$git_url" ]; then
  if [ -d "$PREFIX/.git" ]; then
    act git -C "$PREFIX" pull --ff-only
  else
    act git clone "$git_url" "$PREFIX"
  fi
elif [ "$SRC" != "$PREFIX" ]; then
  act mkdir -p "$PREFIX"
  # The venv and fetched models in /opt/mooddj survive (excluded, never deleted).
  act rsync -a --delete --chown=root:root --exclude=.venv --exclude=.git \
    --exclude=__pycache__ --exclude='*.tflite' --exclude=.pytest_cache \
    --exclude='tests/media' "$SRC/" "$PREFIX/"
else
  echo "   running from $PREFIX itself: nothing to copy"
fi

# 4. Virtual environment ------------------------------------------------------
say "virtual environment $VENV (system site packages for picamera2)"
if [ ! -x "$VENV/bin/python" ]; then
  act "$SYS_PY" -m venv --system-site-packages "$VENV"
fi
# pip must not replace the system numpy that picamera2/simplejpeg were built against.
numpy_version=$("$SYS_PY" -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true)
if [ -n "$numpy_version" ]; then
  constraint="numpy==$numpy_version"
else
  constraint="numpy==<the version of python3-numpy, once installed>"
fi
if [ "$dry_run" = 1 ]; then
  printf 'would: write %s/constraints.txt containing %s\n' "$VENV" "$constraint"
else
  printf '%s\n' "$constraint" > "$VENV/constraints.txt"
fi
# Editable, so the package finds models/ and web/ next to it in /opt/mooddj.
act "$VENV/bin/pip" install --disable-pip-version-check --upgrade-strategy only-if-needed \
  --constraint "$VENV/constraints.txt" --editable "${PREFIX}[pi]"
# The mood loop's image kernel (appliance/vision/native/warp.c), built for this Pi.
act "$VENV/bin/python" -m appliance.vision.native

# 5. Models -------------------------------------------------------------------
say "models (checked against their SHA-256)"
act "$VENV/bin/python" "$PREFIX/scripts/fetch-models"

# 6. Configuration ------------------------------------------------------------
say "configuration $CONF"
act install -d -m 0755 -o root -g root "$CONF_DIR"
if [ ! -e "$CONF" ]; then
  if [ "$dry_run" = 1 ]; then
    printf 'would: write %s (every key commented at its default; root:%s 0640)\n' \
      "$CONF" "$SERVICE_USER"
  else
    "$VENV/bin/python" -m appliance.core.config_doc --toml \
      | put_file "$CONF" 0640 "root:$SERVICE_USER" || true
  fi
else
  echo "   $CONF exists: kept as it is"
fi

# 7. Firmware (camera, GPIO pull-ups) -------------------------------------------
reboot_needed=0
if [ "$firmware" = 1 ]; then
  boot_cfg=$BOOT_CONFIG
  if [ ! -f "$boot_cfg" ] && [ -f /boot/config.txt ]; then boot_cfg=/boot/config.txt; fi
  say "firmware fragment in $boot_cfg"
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
fi

# 8. systemd unit ---------------------------------------------------------------
say "systemd unit $UNIT_DST"
unit_changed=0
if put_file "$UNIT_DST" 0644 root:root < "$SRC/systemd/mooddj.service"; then
  unit_changed=1
fi
if [ "$unit_changed" = 1 ] || [ "$dry_run" = 1 ]; then
  act systemctl daemon-reload
fi
if [ "$start" = 1 ]; then
  was_active=0
  systemctl is-active --quiet mooddj 2>/dev/null && was_active=1
  act systemctl enable --now mooddj.service
  # An update of a running box: load the new code.
  if [ "$was_active" = 1 ]; then act systemctl try-restart mooddj.service; fi
else
  act systemctl enable mooddj.service
fi

say "done"
if [ "$reboot_needed" = 1 ]; then
  echo "Reboot once to apply the camera and GPIO settings: sudo reboot"
fi
echo "Check it: sudo -u $SERVICE_USER $VENV/bin/mooddj doctor; logs: journalctl -u mooddj -f"
echo "Then open http://$(hostname).local/ on a phone in the same network."
