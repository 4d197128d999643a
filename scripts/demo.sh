#!/usr/bin/env bash
# The whole ecspipe story against the local sandbox, as a newcomer would run it:
# start the emulator, init (in a scratch checkout of the app), validate, plan,
# up (twice), release --wait, status, down.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT="${ECSPIPE_DEMO_PORT:-4566}"
LOG=.demo/sandbox.log
mkdir -p .demo

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
unset AWS_PROFILE
# The application's checkout, as a newcomer has one: origin on GitHub, a Dockerfile.
APP=.demo/app
CONFIG=$APP/ecspipe.yaml
rm -rf "$APP" && mkdir -p "$APP" && printf 'FROM nginx\n' >"$APP/Dockerfile"
INIT_FLAGS=()
if command -v git >/dev/null; then
  git -C "$APP" init -q -b main && git -C "$APP" remote add origin git@github.com:acme/demo-app.git
else
  INIT_FLAGS=(--repository acme/demo-app --branch main)  # what init would read from git
fi

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

"$BIN/ecspipe" sandbox --port "$PORT" --handshake-delay 2 >"$LOG" 2>&1 &
SANDBOX=$!
trap 'kill -TERM $SANDBOX 2>/dev/null; wait $SANDBOX 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  grep -q "export AWS_ENDPOINT_URL" "$LOG" 2>/dev/null && break
  kill -0 $SANDBOX 2>/dev/null || { cat "$LOG"; echo "the sandbox did not start" >&2; exit 1; }
  sleep 0.2
done
grep -q "export AWS_ENDPOINT_URL" "$LOG" || { cat "$LOG"; echo "sandbox not ready" >&2; exit 1; }
echo "sandbox running on $AWS_ENDPOINT_URL, seeded with the guide's Part 1: ECS cluster"
echo "demo-cluster, service demo-web-service (container web), ECR repository demo-app."
echo "In the sandbox, a new connection's GitHub handshake completes by itself after 2 s."

step "cd $APP && ecspipe init --service demo-web-service --yes"
"$BIN/ecspipe" init --repo-dir "$APP" -o "$CONFIG" --service demo-web-service --yes \
  "${INIT_FLAGS[@]}"
step ecspipe validate -c $CONFIG
"$BIN/ecspipe" validate -c $CONFIG
step ecspipe plan -c $CONFIG
"$BIN/ecspipe" plan -c $CONFIG
step ecspipe up -c $CONFIG --wait-connection
"$BIN/ecspipe" up -c $CONFIG --wait-connection --timeout 60
step "ecspipe up -c $CONFIG   # again: nothing to change"
"$BIN/ecspipe" up -c $CONFIG
step ecspipe release -c $CONFIG --wait
"$BIN/ecspipe" release -c $CONFIG --wait --timeout 120
step ecspipe status -c $CONFIG
"$BIN/ecspipe" status -c $CONFIG
step ecspipe down -c $CONFIG --yes
"$BIN/ecspipe" down -c $CONFIG --yes
printf '\n\033[1mdemo finished: the sandbox stops now.\033[0m\n'
